// wrong: decrements first and checks afterwards, so the refused call has already changed the count.
        let tasks = self.tasks();
        let now = tasks.unfinished.fetch_sub(1, Ordering::SeqCst);
        if now == 0 {
            return Err(TaskDoneError);
        }
        self.untrack_take();
        if now == 1 {
            // The last task: wake every joiner. (The word changed, so one that was about to
            // sleep on the old value will not.)
            futex_wake_all(&tasks.unfinished);
        }
        Ok(())

