// wrong: a child stopped by a signal (SIGSTOP) is taken for one killed by it.
    match status {
        WaitStatus::Exited(_pid, code) => Some(code),
        WaitStatus::Signaled(_pid, signal, _) | WaitStatus::Stopped(_pid, signal) => {
            Some(-(signal as i32))
        }
        _ => None,
    }
