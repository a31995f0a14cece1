// wrong: sleeps "while the flag is 1", so the kernel never lets it sleep and it spins until the event is set.
        loop {
            if self.is_set() {
                return true;
            }
            if deadline.passed() {
                return false;
            }
            // Sleep only while the flag is still 0: a `set` in between changes the word, and
            // the kernel refuses to sleep on a value that is no longer there.
            futex_wait(self.flag(), 1, deadline.left());
        }

