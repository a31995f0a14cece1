// wrong: the child _exits without the exit cleanup, so its daemons outlive it and its other children are not waited for.
    let code = match panic::catch_unwind(AssertUnwindSafe(target)) {
        Ok(code) => code,
        Err(payload) => exit_code_of_unwind(payload),
    };
    flush_std_streams();
    crate::sys::exit_now(os_exit_byte(code))
