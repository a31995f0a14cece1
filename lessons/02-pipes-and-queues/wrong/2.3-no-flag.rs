// wrong: never raises consumers_asleep, so no put wakes a consumer asleep in get().
        loop {
            let guard = self.lock_until(deadline)?;
            if guard.state().count > 0 {
                return Some(guard);
            }
            if deadline.passed() {
                return None;
            }
            // Read the word, say we may sleep, and only then look once more: a put this second
            // look misses committed after our flag was up, so it sees the flag and changes the
            // word, and the futex_wait below returns at once instead of sleeping through that
            // put.
            let header = guard.header;
            let seen = header.not_empty.load(Ordering::SeqCst);
            if guard.state().count > 0 {
                return Some(guard);
            }
            drop(guard);
            futex_wait(&header.not_empty, seen, deadline.left());
        }
