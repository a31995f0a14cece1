// wrong: ignores the requested signal and always sends SIGKILL.
        let _ = signal;
        match *status {
            Status::Initial => Err(ProcessError::NotStarted { op }),
            Status::Closed => Err(ProcessError::Closed),
            Status::Stopped(_) | Status::Lost => Ok(()),
            Status::Running => kill(self.pid(), Signal::SIGKILL)
                .map_err(|source| ProcessError::Os { op: "kill", source }),
        }
