// wrong: tests the count the wrong way round, so joiners are woken while tasks remain and not when the last is done (they only notice at their next look).
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
        self.untrack_take();
        if now != 1 {
            futex_wake_all(&tasks.unfinished);
        }
        Ok(())
