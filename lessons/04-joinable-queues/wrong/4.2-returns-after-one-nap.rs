// wrong: sleeps once and returns, so join comes back while tasks are still unfinished.
        let tasks = self.tasks();
        loop {
            let unfinished = tasks.unfinished.load(Ordering::SeqCst);
            if unfinished == 0 {
                return Ok(true);
            }
            if let Some((pid, unacknowledged)) = self.dead_consumer() {
                return Err(JoinError::ConsumerDied { pid, unacknowledged });
            }
            if deadline.passed() {
                return Ok(false);
            }
            // Sleep while the count is unchanged, waking now and then to look for dead
            // consumers (a death changes no word we could sleep on).
            let nap = deadline.left().map_or(CHECK_EVERY, |left| left.min(CHECK_EVERY));
            futex_wait(&tasks.unfinished, unfinished, Some(nap));
            return Ok(true);
        }

