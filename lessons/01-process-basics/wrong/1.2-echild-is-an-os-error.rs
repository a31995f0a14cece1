// wrong: a child someone else reaped (ECHILD) is reported as an OS error and stays "running".
        let reaped = match waitpid(pid, Some(WaitPidFlag::WNOHANG)) {
            Ok(wait_status) => exitcode_from_status(wait_status),
            Err(source) => {
                return Err(ProcessError::Os {
                    op: "waitpid",
                    source,
                })
            }
        };
        if let Some(code) = reaped {
            *status = Status::Stopped(code);
            drop(status);
            state::lock().forget_child(self);
        }
        Ok(reaped)
