//! `Condition`: wait for a change that another process makes under a lock.

use std::io;
use std::marker::PhantomData;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use forkway_ipc::shm::{futex_wait, futex_wake, Deadline, Locked};

use crate::error::AcquireError;
use crate::lock::{Lock, LockGuard, Region};

/// The condition's futex word and its sleepers, after the lock cell in the region.
#[repr(C)]
struct CondCell {
    /// Bumped by every notify; waiters sleep while it keeps the value they saw.
    seq: AtomicU32,
    sleepers: AtomicU32,
}

/// A condition variable shared between processes, with its own lock. Python's
/// `multiprocessing.Condition`.
///
/// Waiting and notifying are methods of the guard, so "wait without holding the lock" (Python's
/// `RuntimeError`/`AssertionError`) does not compile.
///
/// ```
/// use std::time::Duration;
/// use forkway_sync::Condition;
///
/// let cond = Condition::new()?;
/// let mut held = cond.acquire().expect("acquire");
/// // Nobody notifies: the wait times out and returns false, holding the lock again.
/// assert!(!held.wait_timeout(Duration::from_millis(10)).expect("wait"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct Condition {
    region: Region,
}

/// The condition's lock, held: wait and notify through it.
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct ConditionGuard<'a> {
    cond: &'a Condition,
    guard: Option<LockGuard<'a>>,
    _not_send: PhantomData<*const ()>,
}

impl Condition {
    /// A new condition with its own lock.
    ///
    /// # Errors
    /// The OS error when the shared memory cannot be mapped.
    pub fn new() -> io::Result<Condition> {
        Ok(Condition {
            region: Region::new(std::mem::size_of::<CondCell>())?,
        })
    }

    fn cell(&self) -> &CondCell {
        // SAFETY: the data area of the region holds a zero-initialized CondCell (all atomics)
        // for as long as the region lives.
        unsafe { &*self.region.data().cast::<CondCell>() }
    }

    /// The condition's lock (Python's `Condition(lock)` shares one; here, take it from here).
    pub fn get_lock(&self) -> Lock {
        Lock::from_region(self.region.clone())
    }

    fn wrap<'a>(
        &'a self,
        r: Result<LockGuard<'a>, AcquireError<LockGuard<'a>>>,
    ) -> Result<ConditionGuard<'a>, AcquireError<ConditionGuard<'a>>> {
        let make = |g| ConditionGuard {
            cond: self,
            guard: Some(g),
            _not_send: PhantomData,
        };
        match r {
            Ok(g) => Ok(make(g)),
            Err(AcquireError::OwnerDied(g)) => Err(AcquireError::OwnerDied(make(g))),
            Err(AcquireError::NotRecoverable) => Err(AcquireError::NotRecoverable),
            Err(AcquireError::Timeout) => Err(AcquireError::Timeout),
            Err(AcquireError::WouldBlock) => Err(AcquireError::WouldBlock),
            Err(AcquireError::Deadlock) => Err(AcquireError::Deadlock),
        }
    }

    /// Takes the lock.
    ///
    /// # Errors
    /// As [`Lock::acquire`].
    pub fn acquire(&self) -> Result<ConditionGuard<'_>, AcquireError<ConditionGuard<'_>>> {
        self.wrap(crate::lock::lock_region(
            &self.region,
            Some(Deadline::never()),
        ))
    }

    /// Takes the lock, waiting at most `timeout`.
    ///
    /// # Errors
    /// As [`Lock::acquire_timeout`].
    pub fn acquire_timeout(
        &self,
        timeout: Duration,
    ) -> Result<ConditionGuard<'_>, AcquireError<ConditionGuard<'_>>> {
        self.wrap(crate::lock::lock_region(
            &self.region,
            Some(Deadline::after(timeout)),
        ))
    }
}

impl ConditionGuard<'_> {
    fn wait_until(&mut self, deadline: Deadline) -> Result<bool, AcquireError<()>> {
        let cell = self.cond.cell();
        let seen = cell.seq.load(Ordering::SeqCst);
        cell.sleepers.fetch_add(1, Ordering::SeqCst);
        // Release the lock for the wait; `seen` was read while holding it, so a notify made
        // after the release changes the word and the kernel refuses to sleep on the old value.
        drop(self.guard.take());
        let notified = loop {
            futex_wait(&cell.seq, seen, deadline.left());
            if cell.seq.load(Ordering::SeqCst) != seen {
                break true;
            }
            if deadline.passed() {
                break false;
            }
            // A signal or a spurious wake-up: the word is unchanged, sleep again.
        };
        cell.sleepers.fetch_sub(1, Ordering::SeqCst);
        let reacquired = self.cond.region.acquire(Some(Deadline::never()))?;
        self.guard = Some(crate::lock::guard_from(&self.cond.region, reacquired));
        match reacquired {
            Locked::Clean => Ok(notified),
            // We hold the lock again, but a holder died while we slept: say so.
            Locked::OwnerDied => Err(AcquireError::OwnerDied(())),
        }
    }

    /// Releases the lock, sleeps until notified, and takes the lock back.
    ///
    /// # Errors
    /// [`AcquireError::OwnerDied`]`(())` when, while we slept, a holder died: we hold the lock
    /// again; check the state and call [`mark_consistent`](ConditionGuard::mark_consistent).
    pub fn wait(&mut self) -> Result<(), AcquireError<()>> {
        self.wait_until(Deadline::never()).map(drop)
    }

    /// As [`wait`](ConditionGuard::wait), at most `timeout`: true if notified, false on
    /// timeout (Python's `wait(timeout)`). The lock is held again either way.
    ///
    /// # Errors
    /// As [`wait`](ConditionGuard::wait).
    pub fn wait_timeout(&mut self, timeout: Duration) -> Result<bool, AcquireError<()>> {
        self.wait_until(Deadline::after(timeout))
    }

    /// Waits until `ready()` is true (checked under the lock before each wait), at most
    /// `timeout`; returns the last result of `ready` (Python's `wait_for`).
    ///
    /// # Errors
    /// As [`wait`](ConditionGuard::wait).
    pub fn wait_for(
        &mut self,
        mut ready: impl FnMut() -> bool,
        timeout: Option<Duration>,
    ) -> Result<bool, AcquireError<()>> {
        let deadline = Deadline::from_timeout(timeout);
        loop {
            if ready() {
                return Ok(true);
            }
            if deadline.passed() {
                return Ok(false);
            }
            self.wait_until(deadline)?;
        }
    }

    /// Wakes up to `n` processes waiting on this condition (they run once we release the lock).
    pub fn notify(&self, n: u32) {
        let cell = self.cond.cell();
        cell.seq.fetch_add(1, Ordering::SeqCst);
        if n > 0 && cell.sleepers.load(Ordering::SeqCst) > 0 {
            futex_wake(&cell.seq, n);
        }
    }

    /// Wakes every waiter.
    pub fn notify_all(&self) {
        self.notify(i32::MAX as u32);
    }

    /// After an owner-died report: the state is fine (or repaired); the lock goes on.
    pub fn mark_consistent(&mut self) {
        if let Some(g) = self.guard.as_mut() {
            g.mark_consistent();
        }
    }
}

impl std::fmt::Debug for Condition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Condition")
            .field("sleepers", &self.cell().sleepers.load(Ordering::Relaxed))
            .finish()
    }
}

impl std::fmt::Debug for ConditionGuard<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConditionGuard").finish_non_exhaustive()
    }
}
