// wrong: terminating a process that was never started silently succeeds.
        match *status {
            Status::Initial | Status::Stopped(_) | Status::Lost => Ok(()),
            Status::Closed => Err(ProcessError::Closed),
            Status::Running => {
                kill(self.pid(), signal).map_err(|source| ProcessError::Os { op: "kill", source })
            }
        }
