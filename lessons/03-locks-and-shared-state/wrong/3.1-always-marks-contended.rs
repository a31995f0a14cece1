// wrong: skips the fast path and always swaps in 2, so every unlock thinks somebody may sleep and makes a system call.
        let word = self.word();
        while word.swap(CONTENDED, Ordering::Acquire) != FREE {
            futex_wait(word, CONTENDED, None);
        }
