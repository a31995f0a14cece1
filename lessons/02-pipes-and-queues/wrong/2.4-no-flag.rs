// wrong: never raises producers_asleep, so no get wakes a producer asleep in put() on a full queue.
        loop {
            let guard = self.lock_until(deadline).ok_or(NoRoom::Full)?;
            let maxsize = guard.header.maxsize;
            if maxsize == 0 || guard.state().count < maxsize {
                return Ok(guard);
            }
            if deadline.passed() {
                return Err(NoRoom::Full);
            }
            let header = guard.header;
            let seen = header.not_full.load(Ordering::SeqCst);
            if guard.state().count < maxsize {
                return Ok(guard);
            }
            drop(guard);
            futex_wait(&header.not_full, seen, deadline.left());
        }
