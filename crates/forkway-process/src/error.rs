//! Errors of `Process` and friends.
//!
//! Python reports most misuse of a `Process` with `assert` statements (an `AssertionError`) or a
//! `ValueError`. forkway gives each misuse its own variant and keeps Python's message text, so a
//! learner who searches for the message finds both worlds.

use thiserror::Error;

/// What can go wrong when creating, starting, waiting for or signalling a [`Process`](crate::Process).
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ProcessError {
    /// `start()` on a process that was already started (Python: `AssertionError`).
    #[error("cannot start a process twice")]
    StartedTwice,
    /// `join()`, `terminate()` or `kill()` before `start()` (Python: `AssertionError` for join).
    #[error("can only {op} a started process")]
    NotStarted {
        /// The operation that was attempted, e.g. `"join"`.
        op: &'static str,
    },
    /// Changing `daemon` after `start()` (Python: `AssertionError`).
    #[error("process has already started")]
    AlreadyStarted,
    /// A daemonic process tried to start a child (Python: `AssertionError`).
    #[error("daemonic processes are not allowed to have children")]
    DaemonicChildren,
    /// `join()` or a signal from a process that did not create this `Process` — typically a
    /// child that captured a copy of the handle (Python: `AssertionError`).
    #[error("can only {op} a child process")]
    NotAChild {
        /// The operation that was attempted, e.g. `"join"`.
        op: &'static str,
    },
    /// `start()` in a process other than the one that created the object (Python: `AssertionError`).
    #[error("can only start a process object created by current process")]
    NotCreator,
    /// `close()` while the child still runs (Python: `ValueError`).
    #[error(
        "Cannot close a process while it is still running. You should first call join() or terminate()."
    )]
    StillRunning,
    /// Any use of a closed process object (Python: `ValueError`).
    #[error("process object is closed")]
    Closed,
    /// `sentinel()` before `start()` (Python: `ValueError`).
    #[error("process not started")]
    NoSentinel,
    /// The kernel refused to create a process (`EAGAIN`: too many processes, `ENOMEM`).
    #[error("fork failed: {0}")]
    Fork(#[source] nix::Error),
    /// A system call failed in a way the caller cannot fix by using the API differently.
    #[error("{op} failed: {source}")]
    Os {
        /// The system call, e.g. `"waitpid"`.
        op: &'static str,
        /// The error the kernel returned.
        #[source]
        source: nix::Error,
    },
    /// The child was reaped by someone else, so its exit code is unknowable. This happens when
    /// the program sets `SIGCHLD` to `SIG_IGN` or calls `waitpid(-1, …)` behind forkway's back.
    #[error(
        "child {pid} was reaped by someone else (is SIGCHLD ignored, or does other code call waitpid(-1)?)"
    )]
    Lost {
        /// The child's process id.
        pid: u32,
    },
}

impl ProcessError {
    /// True for the errors that mean "this API was used in the wrong order or place", the ones
    /// Python raises as `AssertionError` or `ValueError`. False for OS failures.
    pub fn is_misuse(&self) -> bool {
        !matches!(
            self,
            ProcessError::Fork(_) | ProcessError::Os { .. } | ProcessError::Lost { .. }
        )
    }
}
