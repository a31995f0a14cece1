// wrong: never looks at the deadline, so get_timeout on an empty queue spins forever.
        loop {
            let guard = self.lock();
            if guard.state().count > 0 {
                return Some(guard);
            }
            // Read the word *while holding the lock*: a put after we unlock must change it, so
            // the futex_wait below returns at once instead of sleeping through that put.
            let header = guard.header;
            let seen = header.not_empty.load(Ordering::SeqCst);
            let _waiting = Waiting::new(&header.empty_waiters);
            drop(guard);
            futex_wait(&header.not_empty, seen, deadline.left());
        }

