// wrong: forgets to untrack the take, so a consumer that acknowledged its task and exited is later blamed for it.
        let tasks = self.tasks();
        let mut now = tasks.unfinished.load(Ordering::SeqCst);
        loop {
            if now == 0 {
                return Err(TaskDoneError);
            }
            match tasks
                .unfinished
                .compare_exchange(now, now - 1, Ordering::SeqCst, Ordering::SeqCst)
            {
                Ok(_) => break,
                Err(seen) => now = seen,
            }
        }
        if now == 1 {
            // The last task: wake every joiner. (The word changed, so one that was about to
            // sleep on the old value will not.)
            futex_wake_all(&tasks.unfinished);
        }
        Ok(())

