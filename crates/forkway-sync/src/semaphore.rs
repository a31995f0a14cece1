//! `Semaphore` and `BoundedSemaphore` on one futex word in shared memory.

use std::io;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use forkway_sys::{futex_wait, futex_wake_all, Deadline, Shm, Waiting};

use crate::error::ReleaseError;

#[repr(C)]
struct SemCell {
    /// The counter itself, and the futex word waiters sleep on while it is 0.
    value: AtomicU32,
    waiters: AtomicU32,
    /// The bound of a bounded semaphore; 0 for none.
    max: u32,
}

/// A counter of permits shared between processes: `acquire` takes one (waiting while there are
/// none), `release` gives one back. Python's `Semaphore` and, with [`Semaphore::bounded`],
/// `BoundedSemaphore`.
///
/// ```
/// use forkway_sync::Semaphore;
///
/// let sem = Semaphore::new(2)?;
/// sem.acquire();
/// sem.acquire();
/// assert!(!sem.try_acquire()); // no permit left
/// sem.release()?;
/// assert_eq!(sem.value(), 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// A semaphore has no owner: any process may release, and a process that dies holding a permit
/// does not give it back (as in Python). For mutual exclusion with owner-death detection, use a
/// [`Lock`](crate::Lock).
#[derive(Clone)]
pub struct Semaphore {
    pub(crate) shm: Arc<Shm>,
}

/// A permit taken with [`Semaphore::access`], given back when dropped (Python's `with sem:`).
#[must_use = "the permit is released as soon as the guard is dropped"]
pub struct SemaphoreGuard<'a> {
    sem: &'a Semaphore,
}

impl Semaphore {
    /// `max` 0 for no bound; `sendable`: on a memfd that can travel (`sendable.rs`).
    pub(crate) fn create(value: u32, max: u32, sendable: bool) -> io::Result<Semaphore> {
        let shm = crate::sendable::page(sendable)?;
        // SAFETY: a fresh, zeroed mapping shared with nobody yet; `max` is written once here.
        unsafe {
            let cell = shm.ptr().cast::<SemCell>();
            (*cell).value.store(value, Ordering::Relaxed);
            std::ptr::addr_of_mut!((*cell).max).write(max);
        }
        Ok(Semaphore { shm: Arc::new(shm) })
    }

    /// A semaphore with `value` permits; `release` may add more without limit.
    ///
    /// # Errors
    /// The OS error when the shared memory cannot be mapped.
    pub fn new(value: u32) -> io::Result<Semaphore> {
        Semaphore::create(value, 0, false)
    }

    /// A bounded semaphore: releasing more permits than `value` is an error. Python's
    /// `BoundedSemaphore(value)`.
    ///
    /// # Errors
    /// `InvalidInput` for a bound of 0 (it could never be acquired); the OS error when the
    /// shared memory cannot be mapped.
    pub fn bounded(value: u32) -> io::Result<Semaphore> {
        Semaphore::create_bounded(value, false)
    }

    pub(crate) fn create_bounded(value: u32, sendable: bool) -> io::Result<Semaphore> {
        if value == 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "a bounded semaphore needs a bound of at least 1",
            ));
        }
        Semaphore::create(value, value, sendable)
    }

    fn cell(&self) -> &SemCell {
        // SAFETY: initialized in `create`; lives as long as `self`; atomics and a constant.
        unsafe { &*self.shm.ptr().cast::<SemCell>() }
    }

    /// Takes a permit if one is there now.
    fn take(&self) -> bool {
        let value = &self.cell().value;
        let mut v = value.load(Ordering::Relaxed);
        while v > 0 {
            match value.compare_exchange_weak(v, v - 1, Ordering::Acquire, Ordering::Relaxed) {
                Ok(_) => return true,
                Err(now) => v = now,
            }
        }
        false
    }

    // ANCHOR: acquire_until
    /// Takes a permit, sleeping while there is none, at most until `deadline`.
    fn acquire_until(&self, deadline: Deadline) -> bool {
        // ANCHOR: exercise_3_3
        let cell = self.cell();
        loop {
            if self.take() {
                return true;
            }
            if deadline.passed() {
                return false;
            }
            let _waiting = Waiting::new(&cell.waiters);
            // Sleep only while the value is still 0: a release in between changes the word and
            // the kernel refuses to sleep.
            futex_wait(&cell.value, 0, deadline.left());
        }
        // ANCHOR_END: exercise_3_3
    }
    // ANCHOR_END: acquire_until

    /// Takes a permit, waiting as long as it takes.
    pub fn acquire(&self) {
        self.traced_acquire_until(Deadline::never());
    }

    /// `acquire_until`, recorded as a `semaphore acquire` span on the trace.
    fn traced_acquire_until(&self, deadline: Deadline) -> bool {
        let start = forkway_trace::begin();
        let got = self.acquire_until(deadline);
        if let Some(start) = start {
            let obj = crate::trace_id(self.cell());
            let outcome = forkway_trace::Arg::Str(if got { "acquired" } else { "timeout" });
            forkway_trace::complete(start, "sync", "semaphore acquire", obj, &[("outcome", outcome)]);
        }
        got
    }

    /// Takes a permit, waiting at most `timeout`; false if none came. Python's
    /// `acquire(timeout=t)`.
    pub fn acquire_timeout(&self, timeout: Duration) -> bool {
        self.traced_acquire_until(Deadline::after(timeout))
    }

    /// Takes a permit only if one is there now. Python's `acquire(False)`.
    pub fn try_acquire(&self) -> bool {
        self.take()
    }

    /// Takes a permit and returns a guard that gives it back.
    pub fn access(&self) -> SemaphoreGuard<'_> {
        self.acquire();
        SemaphoreGuard { sem: self }
    }

    /// Gives a permit back (any process may).
    ///
    /// # Errors
    /// [`ReleaseError::NotHeld`] when a bounded semaphore is already at its bound ("released too
    /// many times"). An unbounded one never fails.
    pub fn release(&self) -> Result<(), ReleaseError> {
        let cell = self.cell();
        let mut v = cell.value.load(Ordering::Relaxed);
        loop {
            if cell.max != 0 && v >= cell.max {
                return Err(ReleaseError::NotHeld);
            }
            match cell
                .value
                .compare_exchange_weak(v, v + 1, Ordering::Release, Ordering::Relaxed)
            {
                Ok(_) => break,
                Err(now) => v = now,
            }
        }
        if cell.waiters.load(Ordering::SeqCst) > 0 {
            // All, not one: a woken waiter killed before it takes the permit would swallow a
            // single wake-up. The others go back to sleep if the permit is gone.
            futex_wake_all(&cell.value);
        }
        Ok(())
    }

    /// The number of permits now (a snapshot). Python's `get_value()`.
    pub fn value(&self) -> u32 {
        self.cell().value.load(Ordering::Relaxed)
    }

    /// The bound of a bounded semaphore.
    pub fn max(&self) -> Option<u32> {
        (self.cell().max != 0).then_some(self.cell().max)
    }
}

impl Drop for SemaphoreGuard<'_> {
    fn drop(&mut self) {
        // We took a permit, so there is room for it even in a bounded semaphore — unless
        // someone else over-released meanwhile, which their release reported.
        let _ = self.sem.release();
    }
}

/// Python's `repr`: `<Semaphore(value=2)>`, `<BoundedSemaphore(value=1, maxvalue=1)>`.
impl std::fmt::Display for Semaphore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.max() {
            None => write!(f, "<Semaphore(value={})>", self.value()),
            Some(max) => write!(f, "<BoundedSemaphore(value={}, maxvalue={max})>", self.value()),
        }
    }
}

impl std::fmt::Debug for Semaphore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Semaphore")
            .field("value", &self.value())
            .field("max", &self.max())
            .finish()
    }
}
