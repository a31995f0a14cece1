//! `RawLock`: the three-state futex mutex, the lock every other lock is made of.
//!
//! One 32-bit word in shared memory says everything:
//!
//! ```text
//!   0 ── free
//!   1 ── held, nobody waiting        lock: CAS 0 → 1 (no system call)
//!   2 ── held, somebody may wait     unlock: swap → 0; if it was 2, wake one sleeper
//! ```
//!
//! The uncontended path is one atomic instruction each way; the kernel is involved only when
//! someone must sleep (Ulrich Drepper, "Futexes Are Tricky", mutex #2).

use std::io;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use forkway_sys::{futex_wait, futex_wake, Shm};

use crate::error::ReleaseError;

const FREE: u32 = 0;
const LOCKED: u32 = 1;
const CONTENDED: u32 = 2;

/// The bare futex mutex, with Python `Lock`'s semantics: any process may release it, and
/// nothing detects a holder that dies (it then stays locked, as in Python). Fast; use
/// [`Lock`](crate::Lock) when a holder may be killed.
///
/// ```
/// use forkway_sync::RawLock;
///
/// let lock = RawLock::new()?;
/// lock.lock();
/// assert!(!lock.try_lock());
/// lock.unlock()?;
/// assert!(lock.unlock().is_err()); // released too many times
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct RawLock {
    pub(crate) shm: Arc<Shm>,
}

impl RawLock {
    /// A new, free lock.
    ///
    /// # Errors
    /// The OS error when the shared memory cannot be mapped.
    pub fn new() -> io::Result<RawLock> {
        RawLock::create(false)
    }

    /// A free lock on an anonymous mapping, or (`sendable`) on a memfd that can travel
    /// (`sendable.rs`).
    pub(crate) fn create(sendable: bool) -> io::Result<RawLock> {
        let shm = crate::sendable::page(sendable)?;
        Ok(RawLock { shm: Arc::new(shm) })
    }

    fn word(&self) -> &AtomicU32 {
        // SAFETY: a zeroed (FREE), aligned word at the start of a mapping that lives as long
        // as `self`.
        unsafe { &*self.shm.ptr().cast::<AtomicU32>() }
    }

    // ANCHOR: raw_lock
    /// Takes the lock, sleeping in the kernel while another process holds it.
    pub fn lock(&self) {
        // ANCHOR: exercise_3_1
        let word = self.word();
        // Fast path: free → held, one atomic instruction, no system call.
        if word
            .compare_exchange(FREE, LOCKED, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
        {
            return;
        }
        // Slow path: say "someone is waiting" (2) and sleep while the word stays 2. The swap
        // also takes the lock if it was freed meanwhile (it returns 0) — then we hold it, with
        // the word at 2: at worst our unlock makes one useless wake-up call.
        while word.swap(CONTENDED, Ordering::Acquire) != FREE {
            futex_wait(word, CONTENDED, None);
        }
        // ANCHOR_END: exercise_3_1
    }
    // ANCHOR_END: raw_lock

    // ANCHOR: raw_unlock
    /// Releases the lock (any process may, as with Python's `Lock`), waking one sleeper if
    /// there may be one.
    ///
    /// # Errors
    /// [`ReleaseError::NotHeld`] when it was not locked ("released too many times").
    pub fn unlock(&self) -> Result<(), ReleaseError> {
        // ANCHOR: exercise_3_2
        let word = self.word();
        match word.swap(FREE, Ordering::Release) {
            FREE => Err(ReleaseError::NotHeld),
            LOCKED => Ok(()),
            _ => {
                // Was CONTENDED: somebody may sleep on the word. Wake one; it will set the
                // word back to 2 when it takes the lock, so the next unlock wakes the next.
                futex_wake(word, 1);
                Ok(())
            }
        }
        // ANCHOR_END: exercise_3_2
    }
    // ANCHOR_END: raw_unlock

    /// Whether the word says "held, and somebody may be waiting" (2): what a process that found
    /// the lock held must set before it sleeps, so that `unlock` knows to wake it. A snapshot,
    /// for tests and for watching the protocol at work.
    pub fn contended(&self) -> bool {
        self.word().load(Ordering::Relaxed) == CONTENDED
    }

    /// Takes the lock only if it is free now.
    pub fn try_lock(&self) -> bool {
        self.word()
            .compare_exchange(FREE, LOCKED, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
    }

    /// Whether some process holds it now (a snapshot).
    pub fn locked(&self) -> bool {
        self.word().load(Ordering::Relaxed) != FREE
    }
}

impl std::fmt::Debug for RawLock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RawLock").field("locked", &self.locked()).finish()
    }
}
