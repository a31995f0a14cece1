//! Errors of acquiring and releasing.

use thiserror::Error;

/// Why an acquire did not simply succeed.
#[derive(Error)]
#[non_exhaustive]
pub enum AcquireError<G> {
    /// The previous holder died holding the lock (killed, crashed, or exited without
    /// releasing). **You hold the lock now**: the guard is inside. The data it protects may be
    /// half-updated — check or repair it, then call the guard's `mark_consistent()`. Dropping
    /// the guard without doing so makes the lock unusable for everyone
    /// ([`AcquireError::NotRecoverable`]): nobody vouched for the data. Python deadlocks here.
    #[error("the previous owner died holding the lock")]
    OwnerDied(G),
    /// A holder died and the next one released without marking the state consistent.
    #[error("the lock is not recoverable: an owner died and nobody marked the state consistent")]
    NotRecoverable,
    /// The timeout passed with the lock still held by someone else.
    #[error("timed out")]
    Timeout,
    /// `try_acquire` on a held lock.
    #[error("the lock is held")]
    WouldBlock,
    /// This thread already holds this (non-recursive) lock: waiting would never end. Python's
    /// `Lock` deadlocks here; use an `RLock` to re-acquire.
    #[error("this thread already holds the lock: acquiring it again would deadlock")]
    Deadlock,
}

impl<G> AcquireError<G> {
    /// The guard, when the owner died (the lock is held); `None` for the other errors.
    pub fn into_guard(self) -> Option<G> {
        match self {
            AcquireError::OwnerDied(g) => Some(g),
            _ => None,
        }
    }
}

/// Debug without requiring `G: Debug`, so `acquire().unwrap()` works.
impl<G> std::fmt::Debug for AcquireError<G> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match self {
            AcquireError::OwnerDied(_) => "OwnerDied",
            AcquireError::NotRecoverable => "NotRecoverable",
            AcquireError::Timeout => "Timeout",
            AcquireError::WouldBlock => "WouldBlock",
            AcquireError::Deadlock => "Deadlock",
        };
        write!(f, "AcquireError::{kind}")
    }
}

/// Why a release failed.
#[derive(Debug, Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum ReleaseError {
    /// The lock or semaphore was not held (Python: `ValueError: semaphore or lock released too
    /// many times`).
    #[error("semaphore or lock released too many times")]
    NotHeld,
    /// Another thread or process holds it (Python's `RLock`: `AssertionError: attempt to
    /// release recursive lock not owned by thread`).
    #[error("attempt to release a lock not owned by this thread")]
    NotOwner,
}
