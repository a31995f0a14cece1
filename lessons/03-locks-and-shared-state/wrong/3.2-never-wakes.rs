// wrong: stores 0 but never wakes a sleeper when the word was 2.
        let word = self.word();
        match word.swap(FREE, Ordering::Release) {
            FREE => Err(ReleaseError::NotHeld),
            _ => Ok(()),
        }
