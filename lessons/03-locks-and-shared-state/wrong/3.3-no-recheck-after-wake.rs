// wrong: after waking it tries to take a permit once and returns, instead of looking again and sleeping again.
        let cell = self.cell();
        if self.take() {
            return true;
        }
        if deadline.passed() {
            return false;
        }
        let _waiting = Waiting::new(&cell.waiters);
        futex_wait(&cell.value, 0, deadline.left());
        self.take()

