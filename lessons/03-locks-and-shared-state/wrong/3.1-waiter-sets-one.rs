// wrong: a waiter sets the word to 1 instead of 2 before sleeping, so unlock thinks nobody waits and never wakes it.
        let word = self.word();
        if word
            .compare_exchange(FREE, LOCKED, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
        {
            return;
        }
        while word.swap(LOCKED, Ordering::Acquire) != FREE {
            futex_wait(word, LOCKED, None);
        }
