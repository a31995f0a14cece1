// wrong: checks the deadline before trying to take a permit, so acquire_timeout(0) fails even when one is free.
        let cell = self.cell();
        loop {
            if deadline.passed() {
                return false;
            }
            if self.take() {
                return true;
            }
            let _waiting = Waiting::new(&cell.waiters);
            // Sleep only while the value is still 0: a release in between changes the word and
            // the kernel refuses to sleep.
            futex_wait(&cell.value, 0, deadline.left());
        }

