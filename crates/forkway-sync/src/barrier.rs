//! `Barrier`: N processes wait for each other, then all go on together.

use std::io;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use forkway_sys::{futex_wait, futex_wake_all, Deadline, Locked, RobustMutex, Shm, LOCK_GRACE};
use thiserror::Error;

/// Why a barrier wait did not pass.
#[derive(Debug, Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum BarrierError {
    /// The barrier is broken: a party timed out, `abort` was called, or `reset` released the
    /// waiters (Python's `BrokenBarrierError`). `reset` makes it usable again.
    #[error("the barrier is broken")]
    Broken,
    /// This party's own timeout passed (waiting for the others, or for the barrier's internal
    /// lock held by a stopped process); the barrier is now broken for the others too.
    #[error("timed out waiting at the barrier (it is now broken)")]
    Timeout,
}

#[repr(C)]
struct BarrierCell {
    mutex: RobustMutex,
    /// The futex word: bumped each time the barrier opens (or a reset releases the waiters).
    generation: AtomicU32,
    /// Parties waiting in the current generation.
    arrived: AtomicU32,
    /// 1 while broken.
    broken: AtomicU32,
    /// The generation a `reset` ended: its waiters report `Broken`.
    reset_generation: AtomicU32,
    /// Set with `reset_generation` (generation 0 is a real generation).
    reset_valid: AtomicU32,
    parties: u32,
}

/// A barrier for `parties` processes (or threads). Python's `multiprocessing.Barrier`.
///
/// `wait` returns a distinct index in `0..parties`, in arrival order: the last to arrive gets
/// `parties - 1` and opens the barrier for everyone.
///
/// ```
/// use forkway_sync::Barrier;
///
/// let alone = Barrier::new(1)?;
/// assert_eq!(alone.wait(), Ok(0)); // one party: always passes at once
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// A party that dies while others wait is not detected (as in Python): give `wait` a timeout
/// when a party may die.
#[derive(Clone)]
pub struct Barrier {
    pub(crate) shm: Arc<Shm>,
}

/// Releases the barrier's internal lock on drop (it is held only for a few instructions).
struct Held<'a>(&'a RobustMutex);

impl Drop for Held<'_> {
    fn drop(&mut self) {
        self.0.unlock();
    }
}

impl Barrier {
    /// A barrier for `parties` parties.
    ///
    /// # Errors
    /// `InvalidInput` for 0 parties (Python accepts it and then can never pass); the OS error
    /// when the shared memory cannot be mapped.
    pub fn new(parties: u32) -> io::Result<Barrier> {
        Barrier::create(parties, false)
    }

    /// `sendable`: on a memfd that can travel (`sendable.rs`).
    pub(crate) fn create(parties: u32, sendable: bool) -> io::Result<Barrier> {
        if parties == 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "a barrier needs at least one party",
            ));
        }
        let shm = crate::sendable::page(sendable)?;
        let cell = shm.ptr().cast::<BarrierCell>();
        // SAFETY: a fresh zeroed mapping, shared with nobody yet.
        unsafe {
            RobustMutex::init(std::ptr::addr_of_mut!((*cell).mutex))?;
            std::ptr::addr_of_mut!((*cell).parties).write(parties);
        }
        Ok(Barrier { shm: Arc::new(shm) })
    }

    fn cell(&self) -> &BarrierCell {
        // SAFETY: initialized in `new`; atomics, the mutex and a constant.
        unsafe { &*self.shm.ptr().cast::<BarrierCell>() }
    }

    /// The internal lock guards only counters that are always consistent, so a holder's death
    /// needs no repair (`lock` marks it consistent).
    fn lock(&self) -> Held<'_> {
        let cell = self.cell();
        cell.mutex.lock();
        Held(&cell.mutex)
    }

    /// As [`lock`](Barrier::lock), but gives up at `deadline` (at the earliest [`LOCK_GRACE`]
    /// from now): a party holding the lock that was stopped (SIGSTOP, a debugger) must not
    /// stretch another party's timeout.
    fn lock_until(&self, deadline: Deadline) -> Option<Held<'_>> {
        let cell = self.cell();
        match cell.mutex.lock_until(deadline.at_least(LOCK_GRACE)) {
            Ok(Locked::Clean) => Some(Held(&cell.mutex)),
            Ok(Locked::OwnerDied) => {
                cell.mutex.make_consistent();
                Some(Held(&cell.mutex))
            }
            // NotRecoverable cannot happen (every owner death is made consistent at once).
            Err(_) => None,
        }
    }

    /// Our timeout passed: break the barrier for the others. Without the lock (its holder is
    /// stuck), `broken` alone is enough: every waiter and `reset` read it, and `reset` clears
    /// the count of arrivals we leave behind.
    fn time_out(&self, arrived: bool, held: Option<Held<'_>>) -> BarrierError {
        let cell = self.cell();
        cell.broken.store(1, Ordering::SeqCst);
        if arrived && held.is_some() {
            cell.arrived.fetch_sub(1, Ordering::Relaxed);
        }
        drop(held);
        futex_wake_all(&cell.generation);
        BarrierError::Timeout
    }

    fn wait_until(&self, deadline: Deadline) -> Result<u32, BarrierError> {
        let cell = self.cell();
        let Some(held) = self.lock_until(deadline) else {
            return Err(self.time_out(false, None));
        };
        if cell.broken.load(Ordering::Relaxed) != 0 {
            return Err(BarrierError::Broken);
        }
        let index = cell.arrived.fetch_add(1, Ordering::Relaxed);
        let generation = cell.generation.load(Ordering::Relaxed);
        if index + 1 == cell.parties {
            cell.arrived.store(0, Ordering::Relaxed);
            cell.generation.fetch_add(1, Ordering::SeqCst);
            drop(held);
            futex_wake_all(&cell.generation);
            return Ok(index);
        }
        drop(held);
        loop {
            futex_wait(&cell.generation, generation, deadline.left());
            let held = self.lock_until(deadline);
            if cell.generation.load(Ordering::SeqCst) != generation {
                let was_reset = cell.reset_valid.load(Ordering::Relaxed) != 0
                    && cell.reset_generation.load(Ordering::Relaxed) == generation;
                return if was_reset {
                    Err(BarrierError::Broken)
                } else {
                    Ok(index)
                };
            }
            if cell.broken.load(Ordering::Relaxed) != 0 {
                return Err(BarrierError::Broken);
            }
            if held.is_none() || deadline.passed() {
                return Err(self.time_out(true, held));
            }
        }
    }

    /// Runs `f` holding the barrier's internal lock: lets tests stop a process inside it.
    #[doc(hidden)]
    pub fn hold_lock_for_tests<R>(&self, f: impl FnOnce() -> R) -> R {
        let _held = self.lock();
        f()
    }

    /// Waits for the other parties; returns this party's arrival index.
    ///
    /// # Errors
    /// [`BarrierError::Broken`] when the barrier is or becomes broken.
    pub fn wait(&self) -> Result<u32, BarrierError> {
        self.traced_wait_until(Deadline::never())
    }

    /// `wait_until`, recorded as a `barrier wait` span on the trace.
    fn traced_wait_until(&self, deadline: Deadline) -> Result<u32, BarrierError> {
        let start = forkway_trace::begin();
        let result = self.wait_until(deadline);
        if let Some(start) = start {
            let outcome = forkway_trace::Arg::Str(if result.is_ok() { "passed" } else { "broken" });
            forkway_trace::complete(
                start,
                "sync",
                "barrier wait",
                crate::trace_id(self.cell()),
                &[("outcome", outcome)],
            );
        }
        result
    }

    /// Waits at most `timeout`.
    ///
    /// # Errors
    /// [`BarrierError::Timeout`] for this party when the time is up (the barrier is then
    /// broken, and the others get [`BarrierError::Broken`]).
    pub fn wait_timeout(&self, timeout: Duration) -> Result<u32, BarrierError> {
        self.traced_wait_until(Deadline::after(timeout))
    }

    /// Breaks the barrier: current and future waiters get [`BarrierError::Broken`] until
    /// [`reset`](Barrier::reset).
    pub fn abort(&self) {
        let _held = self.lock();
        self.cell().broken.store(1, Ordering::Relaxed);
        futex_wake_all(&self.cell().generation);
    }

    /// Makes the barrier usable again; parties waiting now get [`BarrierError::Broken`].
    pub fn reset(&self) {
        let cell = self.cell();
        let _held = self.lock();
        if cell.arrived.load(Ordering::Relaxed) > 0 {
            cell.reset_generation
                .store(cell.generation.load(Ordering::Relaxed), Ordering::Relaxed);
            cell.reset_valid.store(1, Ordering::Relaxed);
            cell.generation.fetch_add(1, Ordering::SeqCst);
            futex_wake_all(&cell.generation);
        }
        cell.arrived.store(0, Ordering::Relaxed);
        cell.broken.store(0, Ordering::Relaxed);
    }

    /// The number of parties.
    pub fn parties(&self) -> u32 {
        self.cell().parties
    }

    /// How many parties wait now (a snapshot).
    pub fn n_waiting(&self) -> u32 {
        let _held = self.lock();
        if self.cell().broken.load(Ordering::Relaxed) != 0 {
            0
        } else {
            self.cell().arrived.load(Ordering::Relaxed)
        }
    }

    /// Whether the barrier is broken.
    pub fn broken(&self) -> bool {
        self.cell().broken.load(Ordering::Relaxed) != 0
    }
}

impl std::fmt::Debug for Barrier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Barrier")
            .field("parties", &self.parties())
            .field("n_waiting", &self.n_waiting())
            .field("broken", &self.broken())
            .finish()
    }
}
