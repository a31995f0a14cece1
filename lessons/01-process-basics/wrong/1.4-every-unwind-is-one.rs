// wrong: every unwind gives exit code 1, so an exit(n) request is taken for a panic.
    let code = match panic::catch_unwind(AssertUnwindSafe(target)) {
        Ok(code) => code,
        Err(_payload) => 1,
    };
    crate::process::exit_cleanup();
    flush_std_streams();
    crate::sys::exit_now(os_exit_byte(code))
