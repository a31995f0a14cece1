// wrong: checks the deadline before the flag, so wait_timeout(0) on a set event says false.
        loop {
            if deadline.passed() {
                return false;
            }
            if self.is_set() {
                return true;
            }
            // Sleep only while the flag is still 0: a `set` in between changes the word, and
            // the kernel refuses to sleep on a value that is no longer there.
            futex_wait(self.flag(), 0, deadline.left());
        }

