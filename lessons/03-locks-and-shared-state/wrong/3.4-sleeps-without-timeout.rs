// wrong: sleeps without the time left, so wait_timeout on an unset event never returns.
        loop {
            if self.is_set() {
                return true;
            }
            if deadline.passed() {
                return false;
            }
            // Sleep only while the flag is still 0: a `set` in between changes the word, and
            // the kernel refuses to sleep on a value that is no longer there.
            futex_wait(self.flag(), 0, None);
        }

