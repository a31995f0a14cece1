// wrong: every status that is not a signal counts as a clean exit, even "still alive".
    match status {
        WaitStatus::Exited(_pid, code) => Some(code),
        WaitStatus::Signaled(_pid, signal, _core_dumped) => Some(-(signal as i32)),
        _ => Some(0),
    }
