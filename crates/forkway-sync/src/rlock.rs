//! `RLock`: the re-entrant lock, on the same robust mutex as `Lock` (lock.rs), whose word names
//! the holder; what it adds is the depth, kept beside the mutex in the shared region.

use std::io;
use std::marker::PhantomData;
use std::sync::atomic::Ordering;
use std::time::Duration;

use forkway_sys::{Deadline, Locked};

use crate::error::{AcquireError, ReleaseError};
use crate::lock::{forget_guard, owner_name, would_block, Owner, Region};

/// A re-entrant lock: the thread holding it may acquire it again; it is free when every
/// acquire was matched by a release. Python's `multiprocessing.RLock`.
///
/// ```
/// use forkway_sync::RLock;
///
/// let rlock = RLock::new()?;
/// let outer = rlock.acquire().expect("acquire");
/// let inner = rlock.acquire().expect("again"); // the same thread: fine
/// assert_eq!(rlock.depth(), 2);
/// drop(inner);
/// drop(outer);
/// assert_eq!(rlock.depth(), 0);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct RLock {
    region: Region,
}

/// One level of an [`RLock`] held by this thread; releases that level when dropped.
#[must_use = "the level is released as soon as the guard is dropped"]
pub struct RLockGuard<'a> {
    rlock: &'a RLock,
    inconsistent: bool,
    _not_send: PhantomData<*const ()>,
}

impl RLock {
    /// A new, free re-entrant lock.
    ///
    /// # Errors
    /// The OS error when the shared memory cannot be mapped.
    pub fn new() -> io::Result<RLock> {
        Ok(RLock::from_region(Region::new(0)?))
    }

    /// The re-entrant lock over `region` (an ordinary one, or one in a memfd that can travel).
    pub(crate) fn from_region(region: Region) -> RLock {
        RLock { region }
    }

    pub(crate) fn region(&self) -> &Region {
        &self.region
    }

    fn acquire_until(&self, deadline: Deadline) -> Result<RLockGuard<'_>, AcquireError<RLockGuard<'_>>> {
        let cell = self.region.cell();
        let guard = |inconsistent| RLockGuard {
            rlock: self,
            inconsistent,
            _not_send: PhantomData,
        };
        if self.region.held_by_me() {
            cell.depth.fetch_add(1, Ordering::Relaxed);
            return Ok(guard(false));
        }
        let how = self.region.acquire(deadline).map_err(forget_guard)?;
        cell.depth.store(1, Ordering::Relaxed);
        match how {
            Locked::Clean => Ok(guard(false)),
            Locked::OwnerDied => Err(AcquireError::OwnerDied(guard(true))),
        }
    }

    /// Acquires (again, if this thread holds it), waiting as long as it takes.
    ///
    /// # Errors
    /// [`AcquireError::OwnerDied`] (you hold it: see there), [`AcquireError::NotRecoverable`].
    pub fn acquire(&self) -> Result<RLockGuard<'_>, AcquireError<RLockGuard<'_>>> {
        self.acquire_until(Deadline::never())
    }

    /// Acquires, waiting at most `timeout`.
    ///
    /// # Errors
    /// [`AcquireError::Timeout`]; otherwise as [`RLock::acquire`].
    pub fn acquire_timeout(&self, timeout: Duration) -> Result<RLockGuard<'_>, AcquireError<RLockGuard<'_>>> {
        self.acquire_until(Deadline::after(timeout))
    }

    /// Acquires only if that needs no waiting.
    ///
    /// # Errors
    /// [`AcquireError::WouldBlock`]; otherwise as [`RLock::acquire`].
    pub fn try_acquire(&self) -> Result<RLockGuard<'_>, AcquireError<RLockGuard<'_>>> {
        self.acquire_until(Deadline::now()).map_err(would_block)
    }

    /// Releases one level held by this thread without a guard (after [`RLockGuard::leak`]).
    ///
    /// # Errors
    /// [`ReleaseError::NotHeld`] when nobody holds it; [`ReleaseError::NotOwner`] when another
    /// thread or process does (Python: `AssertionError: attempt to release recursive lock not
    /// owned by thread`).
    pub fn release(&self) -> Result<(), ReleaseError> {
        self.region.check_held()?;
        if self.region.cell().depth.fetch_sub(1, Ordering::Relaxed) == 1 {
            self.region.release()?;
        }
        Ok(())
    }

    /// How many times the holder has acquired it (0 when free). Python's `repr` shows it.
    pub fn depth(&self) -> u32 {
        if self.region.locked() {
            self.region.cell().depth.load(Ordering::Relaxed)
        } else {
            0
        }
    }

    /// Who holds it now, if anyone (a snapshot; as [`Lock::owner`](crate::Lock::owner)).
    pub fn owner(&self) -> Option<Owner> {
        self.region.owner()
    }
}

impl RLockGuard<'_> {
    /// See [`LockGuard::mark_consistent`](crate::LockGuard::mark_consistent).
    pub fn mark_consistent(&mut self) {
        if self.inconsistent {
            self.rlock.region.make_consistent();
            self.inconsistent = false;
        }
    }

    /// Keeps this level held past the guard's life; release it with [`RLock::release`].
    pub fn leak(self) {
        std::mem::forget(self);
    }
}

impl Drop for RLockGuard<'_> {
    fn drop(&mut self) {
        let _ = self.rlock.release();
    }
}

impl std::fmt::Debug for RLock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RLock")
            .field("owner", &self.owner())
            .field("depth", &self.depth())
            .finish()
    }
}

impl std::fmt::Debug for RLockGuard<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RLockGuard").finish_non_exhaustive()
    }
}

/// Python's `repr`: `<RLock(None, 0)>`, `<RLock(MainProcess, 2)>`,
/// `<RLock(SomeOtherProcess, nonzero)>` (another process's depth is its own business).
impl std::fmt::Display for RLock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let owner = self.owner();
        let mine = owner == Some(Owner::me());
        let depth = match owner {
            None => "0".to_owned(),
            Some(_) if mine => self.depth().to_string(),
            Some(_) => "nonzero".to_owned(),
        };
        write!(f, "<RLock({}, {depth})>", owner_name(owner))
    }
}
