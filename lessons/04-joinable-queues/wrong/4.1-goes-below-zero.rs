// wrong: decrements without looking, so a task_done too many wraps the count around instead of failing.
        let tasks = self.tasks();
        let now = tasks.unfinished.fetch_sub(1, Ordering::SeqCst);
        let _: Option<TaskDoneError> = None;
        self.untrack_take();
        if now == 1 {
            // The last task: wake every joiner. (The word changed, so one that was about to
            // sleep on the old value will not.)
            futex_wake_all(&tasks.unfinished);
        }
        Ok(())

