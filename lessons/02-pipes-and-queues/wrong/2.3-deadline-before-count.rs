// wrong: checks the deadline before looking for an item, so get_nowait never sees one.
        loop {
            let guard = self.lock_until(deadline)?;
            if deadline.passed() {
                return None;
            }
            if guard.state().count > 0 {
                return Some(guard);
            }
            // Read the word, count ourselves as a waiter, and only then look once more: a put
            // this second look misses committed after we were counted, so it sees the count
            // and changes the word, and the futex_wait below returns at once instead of
            // sleeping through that put.
            let header = guard.header;
            let seen = header.not_empty.load(Ordering::SeqCst);
            let _waiting = Waiting::new(&header.empty_waiters);
            if guard.state().count > 0 {
                return Some(guard);
            }
            drop(guard);
            futex_wait(&header.not_empty, seen, deadline.left());
        }
