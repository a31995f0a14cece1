// wrong: waitpid without WNOHANG blocks until the child ends, so a poll never returns while it runs.
        let reaped = match waitpid(pid, None) {
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
        if let Some(code) = reaped {
            *status = Status::Stopped(code);
            drop(status);
            state::lock().forget_child(self);
        }
        Ok(reaped)
