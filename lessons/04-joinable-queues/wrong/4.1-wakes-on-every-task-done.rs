// wrong: wakes the joiners after every task_done, not only the last: a system call for nothing each time.
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
        futex_wake_all(&tasks.unfinished);
        Ok(())
