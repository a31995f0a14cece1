// wrong: sleeps on the futex without the time left, so get_timeout on an empty queue never returns.
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
            header.consumers_asleep.store(1, Ordering::SeqCst);
            if guard.state().count > 0 {
                return Some(guard);
            }
            drop(guard);
            futex_wait(&header.not_empty, seen, None);
        }
