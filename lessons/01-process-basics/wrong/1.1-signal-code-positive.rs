// wrong: a death by signal gives the signal number itself, not its negation.
    match status {
        WaitStatus::Exited(_pid, code) => Some(code),
        WaitStatus::Signaled(_pid, signal, _core_dumped) => Some(signal as i32),
        _ => None,
    }
