// wrong: a put never waits for room: the queue's maxsize is ignored.
        loop {
            let guard = self.lock_until(deadline).ok_or(NoRoom::Full)?;
            let maxsize = guard.header.maxsize;
            if maxsize == 0 || maxsize > 0 {
                return Ok(guard);
            }
            if deadline.passed() {
                return Err(NoRoom::Full);
            }
            let header = guard.header;
            let seen = header.not_full.load(Ordering::SeqCst);
            header.producers_asleep.store(1, Ordering::SeqCst);
            if maxsize > 0 {
                return Ok(guard);
            }
            drop(guard);
            futex_wait(&header.not_full, seen, deadline.left());
        }
