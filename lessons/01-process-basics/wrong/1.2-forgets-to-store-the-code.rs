// wrong: the exit code is returned but never stored, so the reaped child still looks running.
        let reaped = match waitpid(pid, Some(WaitPidFlag::WNOHANG)) {
            Ok(wait_status) => exitcode_from_status(wait_status),
            Err(Errno::ECHILD) => {
                *status = Status::Lost;
                drop(status);
                state::lock().forget_child(self);
                return Err(ProcessError::Lost {
                    pid: pid.as_raw() as u32,
                });
            }
            Err(source) => {
                return Err(ProcessError::Os {
                    op: "waitpid",
                    source,
                })
            }
        };
        if reaped.is_some() {
            drop(status);
            state::lock().forget_child(self);
        }
        Ok(reaped)
