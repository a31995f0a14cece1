// wrong: unlocking a free lock succeeds silently instead of saying it was released too many times.
        let word = self.word();
        if word.swap(FREE, Ordering::Release) == CONTENDED {
            futex_wake(word, 1);
        }
        Ok(())
