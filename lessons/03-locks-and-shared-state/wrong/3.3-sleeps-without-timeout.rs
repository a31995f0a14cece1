// wrong: sleeps without the time left, so acquire_timeout never returns while no permit comes.
        let cell = self.cell();
        loop {
            if self.take() {
                return true;
            }
            if deadline.passed() {
                return false;
            }
            let _waiting = Waiting::new(&cell.waiters);
            // Sleep only while the value is still 0: a release in between changes the word and
            // the kernel refuses to sleep.
            futex_wait(&cell.value, 0, None);
        }

