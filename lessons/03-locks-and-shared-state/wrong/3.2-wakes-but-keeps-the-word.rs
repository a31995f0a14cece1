// wrong: when the word is 2 it wakes a sleeper but leaves the word at 2, so the woken one finds it still held.
        let word = self.word();
        match word.compare_exchange(LOCKED, FREE, Ordering::Release, Ordering::Relaxed) {
            Ok(_) => Ok(()),
            Err(FREE) => Err(ReleaseError::NotHeld),
            Err(_) => {
                futex_wake(word, 1);
                Ok(())
            }
        }
