// wrong: signals the pid even after the child was reaped, when it may belong to a stranger.
        match *status {
            Status::Initial => Err(ProcessError::NotStarted { op }),
            Status::Closed => Err(ProcessError::Closed),
            _ => kill(self.pid(), signal).map_err(|source| ProcessError::Os { op: "kill", source }),
        }
