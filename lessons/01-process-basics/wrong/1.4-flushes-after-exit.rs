// wrong: flushes the std streams after _exit, that is never: a line without a newline is lost.
    let code = match panic::catch_unwind(AssertUnwindSafe(target)) {
        Ok(code) => code,
        Err(payload) => exit_code_of_unwind(payload),
    };
    crate::process::exit_cleanup();
    #[allow(unreachable_code)]
    {
        crate::sys::exit_now(os_exit_byte(code));
        flush_std_streams();
    }
