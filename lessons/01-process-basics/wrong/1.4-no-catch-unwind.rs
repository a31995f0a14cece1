// wrong: runs the target without catch_unwind, so a panic unwinds out of the child into the parent's code.
    let code = target();
    crate::process::exit_cleanup();
    flush_std_streams();
    crate::sys::exit_now(os_exit_byte(code))
