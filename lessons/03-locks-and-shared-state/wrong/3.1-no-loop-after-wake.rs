// wrong: after one futex_wait it returns as if woken meant "now it is mine", without taking the word.
        let word = self.word();
        if word
            .compare_exchange(FREE, LOCKED, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
        {
            return;
        }
        if word.swap(CONTENDED, Ordering::Acquire) != FREE {
            futex_wait(word, CONTENDED, None);
        }
