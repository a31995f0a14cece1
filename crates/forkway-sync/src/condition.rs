//! `Condition`: wait for a change that another process makes under a lock.

use std::io;
use std::marker::PhantomData;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use forkway_sys::{futex_wait, futex_wake_all, Deadline, Locked};

use crate::error::AcquireError;
use crate::lock::{Lock, LockGuard, Region};

/// The condition's shared state, after the lock cell in the region. Every field except the
/// futex word's sleep is read and written under the condition's lock.
///
/// `notify(n)` must wake at most `n` waiters, and a wait that reports `true` must have been one
/// of them. A bare futex word cannot say that (a bump wakes every sleeper, and a waiter between
/// unlocking and sleeping sees the bump too), so notifies hand out *grants*, counted under the
/// lock: `notify(n)` moves `min(n, waiting)` waiters from `waiting` to `pending`, and a waiter
/// returns `true` only by taking one pending grant (under the lock again), or `false` by leaving
/// `waiting` once its deadline passed. So `waiting + pending` is the number of waiters, and
/// exactly `min(n, waiting)` of them see `true` for each notify.
///
/// A waiter may take only a grant made after it started waiting: its ticket is the value of
/// `seq` when it started, and `last_grant` the value of `seq` after the last notify that
/// granted anything. (Any such waiter may take any such grant: who of the notified waiters
/// wakes first does not matter, the count does.)
#[repr(C)]
struct CondCell {
    /// Bumped by every notify: the futex word waiters sleep on, and the clock of tickets.
    seq: AtomicU32,
    /// Waiters not (yet) granted a notify.
    waiting: AtomicU32,
    /// Grants made by notifies and not yet taken by a waiter.
    pending: AtomicU32,
    /// `seq` just after the last notify that granted something.
    last_grant: AtomicU32,
}
/// A condition variable shared between processes, with its own lock. Python's
/// `multiprocessing.Condition`.
///
/// Waiting and notifying are methods of the guard, so "wait without holding the lock" (Python's
/// `RuntimeError`/`AssertionError`) does not compile.
///
/// `notify(n)` wakes exactly `min(n, waiting)` waiters, and only their waits return `true`; a
/// wait that returns `false` waited its whole timeout. A waiter killed while it waits is not
/// detected (as in Python): it still counts as waiting, so a later notify may spend a wake-up
/// on it.
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
    pub(crate) region: Region,
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
            region: Region::new(Condition::EXTRA)?,
        })
    }

    /// The bytes after the lock cell that the condition's state takes.
    pub(crate) const EXTRA: usize = std::mem::size_of::<CondCell>();

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
        self.wrap(crate::lock::lock_region(&self.region, Deadline::never()))
    }

    /// Takes the lock, waiting at most `timeout`.
    ///
    /// # Errors
    /// As [`Lock::acquire_timeout`].
    pub fn acquire_timeout(
        &self,
        timeout: Duration,
    ) -> Result<ConditionGuard<'_>, AcquireError<ConditionGuard<'_>>> {
        self.wrap(crate::lock::lock_region(&self.region, Deadline::after(timeout)))
    }
}

impl ConditionGuard<'_> {
    fn wait_until(&mut self, deadline: Deadline) -> Result<bool, AcquireError<()>> {
        let cell = self.cond.cell();
        // We hold the lock: no notify can run between taking the ticket and counting ourselves.
        let ticket = cell.seq.load(Ordering::SeqCst);
        cell.waiting.fetch_add(1, Ordering::SeqCst);
        loop {
            // Read while holding the lock: a notify made after the release changes the word,
            // and the kernel refuses to sleep on the old value.
            let seen = cell.seq.load(Ordering::SeqCst);
            drop(self.guard.take());
            futex_wait(&cell.seq, seen, deadline.left());
            // Whatever woke us (a notify, maybe for others; a signal; the deadline), the answer
            // is decided under the lock, where notifies make their grants.
            let reacquired = self.cond.region.acquire(Deadline::never())?;
            self.guard = Some(crate::lock::guard_from(&self.cond.region, reacquired));
            let granted_after_us = (cell.last_grant.load(Ordering::SeqCst).wrapping_sub(ticket) as i32) > 0;
            let outcome = if granted_after_us && cell.pending.load(Ordering::SeqCst) > 0 {
                cell.pending.fetch_sub(1, Ordering::SeqCst);
                Some(true)
            } else if deadline.passed() || reacquired == Locked::OwnerDied {
                cell.waiting.fetch_sub(1, Ordering::SeqCst);
                Some(false)
            } else {
                // Not for us (yet): sleep again for what is left of the timeout.
                None
            };
            if reacquired == Locked::OwnerDied {
                // We hold the lock again, but a holder died while we slept: say so.
                return Err(AcquireError::OwnerDied(()));
            }
            if let Some(notified) = outcome {
                return Ok(notified);
            }
        }
    }

    /// Releases the lock, sleeps until notified, and takes the lock back.
    ///
    /// # Errors
    /// [`AcquireError::OwnerDied`]`(())` when, while we slept, a holder died: we hold the lock
    /// again; check the state and call [`mark_consistent`](ConditionGuard::mark_consistent).
    pub fn wait(&mut self) -> Result<(), AcquireError<()>> {
        self.traced_wait_until(Deadline::never()).map(drop)
    }

    /// `wait_until`, recorded as a `condition wait` span on the trace.
    fn traced_wait_until(&mut self, deadline: Deadline) -> Result<bool, AcquireError<()>> {
        let start = forkway_trace::begin();
        let result = self.wait_until(deadline);
        if let Some(start) = start {
            let outcome = forkway_trace::Arg::Str(match result {
                Ok(true) => "notified",
                Ok(false) => "timeout",
                Err(_) => "owner died",
            });
            let obj = crate::trace_id(self.cond.cell());
            forkway_trace::complete(start, "sync", "condition wait", obj, &[("outcome", outcome)]);
        }
        result
    }

    /// As [`wait`](ConditionGuard::wait), at most `timeout`: true if notified, false on
    /// timeout (Python's `wait(timeout)`). The lock is held again either way.
    ///
    /// # Errors
    /// As [`wait`](ConditionGuard::wait).
    pub fn wait_timeout(&mut self, timeout: Duration) -> Result<bool, AcquireError<()>> {
        self.traced_wait_until(Deadline::after(timeout))
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
            self.traced_wait_until(deadline)?;
        }
    }

    /// Wakes `min(n, waiting)` of the processes waiting on this condition (they run once we
    /// release the lock); exactly that many of their waits return `true`. Python's `notify(n)`.
    pub fn notify(&self, n: u32) {
        let cell = self.cond.cell();
        let granted = n.min(cell.waiting.load(Ordering::SeqCst));
        if granted == 0 {
            return;
        }
        cell.waiting.fetch_sub(granted, Ordering::SeqCst);
        cell.pending.fetch_add(granted, Ordering::SeqCst);
        let now = cell.seq.fetch_add(1, Ordering::SeqCst).wrapping_add(1);
        cell.last_grant.store(now, Ordering::SeqCst);
        // All, not `granted`: the kernel may wake a waiter that came after this notify (it
        // finds no grant for it and sleeps again) instead of one this notify was for. A woken
        // waiter needs the lock we hold, so they go one by one after our release.
        futex_wake_all(&cell.seq);
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
            .field("waiting", &self.cell().waiting.load(Ordering::Relaxed))
            .finish()
    }
}

impl std::fmt::Debug for ConditionGuard<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConditionGuard").finish_non_exhaustive()
    }
}
