//! Errors of the start methods.

use forkway_process::ProcessError;
use thiserror::Error;

/// What can go wrong when choosing a start method or starting, waiting for or signalling a
/// [`Process`](crate::Process) made by a [`Context`](crate::Context).
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum StartError {
    /// [`set_start_method`](crate::set_start_method) after the method was already set or
    /// used (Python: `RuntimeError`).
    #[error("context has already been set")]
    ContextAlreadySet,
    /// A method name that is none of `fork`, `forkserver`, `spawn` (Python: `ValueError`).
    #[error("cannot find context for '{0}'")]
    UnknownMethod(String),
    /// A spawn start in a program that never called [`bootstrap`](crate::bootstrap): the
    /// spawned child would run `main` from the top instead of the target.
    #[error(
        "the spawn start method re-runs this program, which must call forkway_start::bootstrap() \
         first thing in main (or at the top of the test that spawns)"
    )]
    MissingEntryHook,
    /// The target's arguments could not be serialized (Python: a pickling error).
    #[error("the target's arguments cannot be sent to the child: {0}")]
    Args(#[source] forkway_ipc::EncodeError),
    /// The forkserver could not be started or reached, or it refused a request.
    #[error("forkserver: {op} failed: {source}")]
    Forkserver {
        /// What was attempted.
        op: &'static str,
        /// Why it failed.
        #[source]
        source: std::io::Error,
    },
    /// The forkserver ended before it could report the exit code of child `pid`.
    #[error("the forkserver ended before it reported the exit code of child {pid}")]
    ExitStatusLost {
        /// The child's process id.
        pid: u32,
    },
    /// Preparing a spawned child failed (the executable, the payload).
    #[error("spawn: {op} failed: {source}")]
    Spawn {
        /// What was attempted.
        op: &'static str,
        /// Why it failed.
        #[source]
        source: std::io::Error,
    },
    /// A failure of the underlying process (misuse such as joining before start keeps
    /// forkway-process's error and Python's message).
    #[error(transparent)]
    Process(#[from] ProcessError),
}

impl StartError {
    /// True for the errors that mean "this API was used in the wrong order or place".
    pub fn is_misuse(&self) -> bool {
        match self {
            StartError::ContextAlreadySet | StartError::UnknownMethod(_) | StartError::MissingEntryHook => {
                true
            }
            StartError::Process(e) => e.is_misuse(),
            _ => false,
        }
    }
}
