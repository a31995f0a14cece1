// wrong: spins on the word instead of sleeping in the kernel, burning a CPU while it waits.
        let word = self.word();
        while word
            .compare_exchange(FREE, LOCKED, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            std::hint::spin_loop();
        }
        let _ = (CONTENDED, futex_wait as fn(&AtomicU32, u32, Option<std::time::Duration>));
