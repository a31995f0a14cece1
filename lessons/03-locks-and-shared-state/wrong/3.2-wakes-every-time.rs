// wrong: wakes on every unlock, even when the word was 1 and nobody can be asleep (a system call the futex lock exists to avoid).
        let word = self.word();
        if word.swap(FREE, Ordering::Release) == FREE {
            return Err(ReleaseError::NotHeld);
        }
        futex_wake(word, 1);
        Ok(())
