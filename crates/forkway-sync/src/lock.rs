//! `Lock`, and the shared region it and `RLock` (rlock.rs) are built on: robust, process-shared
//! mutexes in shared memory.
//!
//! The mutex is forkway-sys's robust futex mutex: the kernel keeps, for every thread, a list of
//! the robust mutexes it holds (the one glibc registers, which ours join), and when the thread
//! dies it marks each one "owner died" and wakes a waiter. That is what Python's semaphore-based
//! `Lock` lacks.
//!
//! Who holds a lock is read from the mutex word, which holds the holder's kernel thread id for
//! the kernel's sake anyway: `locked()`, `owner()`, the deadlock check, the release errors and
//! `RLock`'s recursion need no record of their own, so acquire and release write nothing beyond
//! the mutex.

use std::io;
use std::marker::PhantomData;
use std::sync::atomic::AtomicU32;
use std::sync::Arc;
use std::time::Duration;

use forkway_sys::{Deadline, LockError, Locked, RobustMutex, Shm, ThisThread, UnlockError};

use crate::error::{AcquireError, ReleaseError};

/// A lock's holder: a thread of a process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Owner {
    /// The process.
    pub pid: u32,
    /// The thread (its kernel id; equal to `pid` for a process's main thread).
    pub tid: u32,
}

impl Owner {
    /// The calling thread (cached per thread, and right in forked children: see
    /// [`forkway_sys::pid_tid`]).
    #[inline]
    pub fn me() -> Owner {
        Owner::of(ThisThread::get())
    }

    #[inline]
    fn of(me: ThisThread) -> Owner {
        Owner {
            pid: me.pid(),
            tid: me.tid(),
        }
    }

    /// The holder named by thread id `tid` in a mutex word. The word has no room for the pid,
    /// so it is looked up (`Tgid` in `/proc/<tid>/status`) — only for the caller's "who holds
    /// it?", never on acquire or release. Where `/proc` cannot say (not mounted, or the thread
    /// ended a moment ago), the thread id stands in for it: a process's main thread has
    /// `tid == pid`.
    fn holding(tid: u32) -> Owner {
        let me = ThisThread::get();
        if tid == me.tid() {
            return Owner::of(me);
        }
        let pid = std::fs::read_to_string(format!("/proc/{tid}/status"))
            .ok()
            .and_then(|status| {
                status
                    .lines()
                    .find_map(|l| l.strip_prefix("Tgid:"))
                    .and_then(|pid| pid.trim().parse().ok())
            })
            .unwrap_or(tid);
        Owner { pid, tid }
    }
}

/// The shared part of a lock: lives at the start of its mapping.
#[repr(C)]
pub(crate) struct LockCell {
    /// Its word names the holder (see the module's documentation).
    mutex: RobustMutex,
    /// `RLock`'s recursion depth. Touched only by the holder.
    pub(crate) depth: AtomicU32,
}

/// A mapping with a [`LockCell`] at offset 0 (and, for `Value`/`Array`, data after it).
#[derive(Clone)]
pub(crate) struct Region {
    shm: Arc<Shm>,
    /// The cell at the start of `shm`, kept at hand: one load instead of two on every acquire
    /// and release.
    cell: std::ptr::NonNull<LockCell>,
    /// The memfd behind `shm` when the region can travel to a forkserver or spawn child.
    pub(crate) memfd: Option<Arc<std::os::fd::OwnedFd>>,
}

// SAFETY: `cell` points into the mapping that `shm` keeps alive, and the cell is made of
// atomics and the robust mutex, which are meant to be shared between threads (and processes).
unsafe impl Send for Region {}
// SAFETY: as for `Send`.
unsafe impl Sync for Region {}

impl Region {
    /// Maps `extra` bytes after the lock cell and initializes the cell.
    pub(crate) fn new(extra: usize) -> io::Result<Region> {
        Region::create(extra, false)
    }

    /// Like [`Region::new`], in a memfd that can travel (see `sendable.rs`).
    pub(crate) fn new_sendable(extra: usize) -> io::Result<Region> {
        Region::create(extra, true)
    }

    fn create(extra: usize, sendable: bool) -> io::Result<Region> {
        let len = (Region::DATA + extra).max(1).next_multiple_of(4096);
        let (shm, memfd) = if sendable {
            let (shm, fd) = Shm::new_memfd(len)?;
            (shm, Some(Arc::new(fd)))
        } else {
            (Shm::new(len)?, None)
        };
        // SAFETY: a fresh, zeroed, page-aligned mapping, big enough, shared with nobody yet.
        unsafe { RobustMutex::init(std::ptr::addr_of_mut!((*shm.ptr().cast::<LockCell>()).mutex))? };
        Ok(Region::wrap(shm, memfd))
    }

    /// Maps a region that another process made with [`Region::new_sendable`].
    pub(crate) fn from_memfd(fd: std::os::fd::OwnedFd) -> io::Result<Region> {
        let shm = Shm::map_fd(std::os::fd::AsFd::as_fd(&fd))?;
        if shm.size() < Region::DATA {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "the lock's memfd is too small",
            ));
        }
        Ok(Region::wrap(shm, Some(Arc::new(fd))))
    }

    fn wrap(shm: Shm, memfd: Option<Arc<std::os::fd::OwnedFd>>) -> Region {
        let cell = std::ptr::NonNull::new(shm.ptr().cast::<LockCell>())
            .unwrap_or_else(|| unreachable!("a mapping is never at address 0"));
        Region {
            shm: Arc::new(shm),
            cell,
            memfd,
        }
    }

    /// Where data starts: after the cell, aligned for anything.
    pub(crate) const DATA: usize = std::mem::size_of::<LockCell>().next_multiple_of(64);

    #[inline]
    pub(crate) fn cell(&self) -> &LockCell {
        // SAFETY: initialized in `new`; the mapping lives as long as `self`; every field is an
        // atomic or the mutex.
        unsafe { self.cell.as_ref() }
    }

    pub(crate) fn data(&self) -> *mut u8 {
        // SAFETY: DATA is inside the mapping (see `new`).
        unsafe { self.shm.ptr().add(Region::DATA) }
    }

    /// The live holder, if any (a snapshot).
    pub(crate) fn owner(&self) -> Option<Owner> {
        self.cell().mutex.holder().map(Owner::holding)
    }

    /// Whether it is held, by a live thread or by a dead one nobody took over from yet.
    pub(crate) fn locked(&self) -> bool {
        self.cell().mutex.is_locked()
    }

    /// Whether the calling thread holds it.
    #[inline]
    pub(crate) fn held_by_me(&self) -> bool {
        self.cell().mutex.is_held_by(ThisThread::get())
    }

    /// `Ok` when the calling thread holds it, else the release error saying why not.
    pub(crate) fn check_held(&self) -> Result<(), ReleaseError> {
        let mutex = &self.cell().mutex;
        if mutex.is_held_by(ThisThread::get()) {
            Ok(())
        } else if mutex.is_locked() {
            Err(ReleaseError::NotOwner)
        } else {
            Err(ReleaseError::NotHeld)
        }
    }

    /// Takes the mutex for the calling thread, waiting until `deadline` ([`Deadline::now`]:
    /// not at all). A miss is [`AcquireError::Timeout`]; the `try_` forms rename it.
    #[inline]
    pub(crate) fn acquire(&self, deadline: Deadline) -> Result<Locked, AcquireError<()>> {
        let cell = self.cell();
        // One look-up of the caller serves the deadlock check and the mutex.
        let thread = ThisThread::get();
        if cell.mutex.is_held_by(thread) {
            return Err(AcquireError::Deadlock);
        }
        let start = forkway_trace::begin();
        let how = cell.mutex.lock_until_as(thread, deadline);
        if let Some(start) = start {
            trace_acquire(cell, start, how);
        }
        how.map_err(|e| match e {
            LockError::Timeout => AcquireError::Timeout,
            // Not recoverable, or a reason this lock does not know yet: either way the lock
            // cannot be taken, and saying so is the safe answer.
            _ => AcquireError::NotRecoverable,
        })
    }

    /// Releases the mutex held by the calling thread.
    #[inline(always)]
    pub(crate) fn release(&self) -> Result<(), ReleaseError> {
        self.cell().release()
    }

    pub(crate) fn make_consistent(&self) {
        self.cell().mutex.make_consistent();
    }
}

impl LockCell {
    /// Releases the mutex held by the calling thread.
    #[inline(always)]
    fn release(&self) -> Result<(), ReleaseError> {
        match self.mutex.try_unlock_as(ThisThread::get()) {
            Ok(()) => {
                forkway_trace::hold_end("lock", "lock held", crate::trace_id(self), &[]);
                Ok(())
            }
            Err(e) => Err(release_error(e)),
        }
    }
}

#[cold]
fn release_error(e: UnlockError) -> ReleaseError {
    match e {
        UnlockError::NotLocked => ReleaseError::NotHeld,
        _ => ReleaseError::NotOwner,
    }
}

/// Records an acquire on the trace: the wait, its outcome, and the start of the hold.
#[cold]
fn trace_acquire(cell: &LockCell, start: forkway_trace::Stamp, how: Result<Locked, LockError>) {
    use forkway_trace::Arg;
    let obj = crate::trace_id(cell);
    let outcome = match how {
        Ok(Locked::Clean) => "acquired",
        Ok(Locked::OwnerDied) => "owner died",
        Err(LockError::Timeout) => "timeout",
        Err(_) => "failed",
    };
    forkway_trace::complete(
        start,
        "lock",
        "lock acquire",
        obj,
        &[("outcome", Arg::Str(outcome))],
    );
    if how.is_ok() {
        if matches!(how, Ok(Locked::OwnerDied)) {
            forkway_trace::instant("lock", "owner died", obj, &[]);
        }
        forkway_trace::hold_begin(obj);
    }
}

/// A mutual-exclusion lock shared between processes. Python's `multiprocessing.Lock`.
///
/// Create it before starting the processes that use it; clones share the same lock. Acquiring
/// returns a guard that releases on drop — Python's `with lock:`.
///
/// ```
/// use forkway_sync::Lock;
///
/// let lock = Lock::new()?;
/// {
///     // (An acquire error may carry the guard, which borrows the lock: it cannot travel up
///     // with `?` into a `Box<dyn Error>`. Handle it, or `expect` as here.)
///     let _held = lock.acquire().expect("acquire");
///     assert!(lock.locked());
///     assert!(lock.try_acquire().is_err());
/// }
/// assert!(!lock.locked());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// Unlike Python's, a forkway `Lock` belongs to the thread that acquired it: only that thread
/// may release it (a lock that anyone may release cannot tell a dead holder from a slow one).
/// For signalling between processes, use a [`Semaphore`](crate::Semaphore) or an
/// [`Event`](crate::Event).
#[derive(Clone)]
pub struct Lock {
    region: Region,
}

/// Proof that this thread holds a [`Lock`]; releases it when dropped.
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct LockGuard<'a> {
    /// The lock's cell itself rather than its `Region`: one load fewer on release.
    cell: &'a LockCell,
    /// Set when the previous owner died and nobody marked the state consistent yet.
    inconsistent: bool,
    /// A robust mutex must be unlocked by the thread that locked it (it sits in that thread's
    /// robust list): the guard stays put.
    _not_send: PhantomData<*const ()>,
}

impl Lock {
    /// A new, unlocked lock.
    ///
    /// # Errors
    /// The OS error when the shared memory cannot be mapped.
    pub fn new() -> io::Result<Lock> {
        Ok(Lock {
            region: Region::new(0)?,
        })
    }

    pub(crate) fn from_region(region: Region) -> Lock {
        Lock { region }
    }

    pub(crate) fn region(&self) -> &Region {
        &self.region
    }

    #[inline]
    fn acquire_until(&self, deadline: Deadline) -> Result<LockGuard<'_>, AcquireError<LockGuard<'_>>> {
        lock_region(&self.region, deadline)
    }

    /// Acquires, waiting as long as it takes.
    ///
    /// # Errors
    /// [`AcquireError::OwnerDied`] (you hold the lock: see there), [`AcquireError::Deadlock`]
    /// when this thread holds it already, [`AcquireError::NotRecoverable`].
    #[inline]
    pub fn acquire(&self) -> Result<LockGuard<'_>, AcquireError<LockGuard<'_>>> {
        self.acquire_until(Deadline::never())
    }

    /// Acquires, waiting at most `timeout`. Python's `acquire(timeout=t)`.
    ///
    /// # Errors
    /// [`AcquireError::Timeout`]; otherwise as [`Lock::acquire`].
    pub fn acquire_timeout(&self, timeout: Duration) -> Result<LockGuard<'_>, AcquireError<LockGuard<'_>>> {
        self.acquire_until(Deadline::after(timeout))
    }

    /// Acquires only if the lock is free now. Python's `acquire(False)`.
    ///
    /// # Errors
    /// [`AcquireError::WouldBlock`]; otherwise as [`Lock::acquire`].
    pub fn try_acquire(&self) -> Result<LockGuard<'_>, AcquireError<LockGuard<'_>>> {
        self.acquire_until(Deadline::now()).map_err(would_block)
    }

    /// Releases a lock this thread holds without a guard (after [`LockGuard::leak`]): Python's
    /// `release()`.
    ///
    /// # Errors
    /// [`ReleaseError::NotHeld`] on an unlocked lock ("released too many times");
    /// [`ReleaseError::NotOwner`] when another thread or process holds it.
    #[inline]
    pub fn release(&self) -> Result<(), ReleaseError> {
        self.region.release()
    }

    /// Whether some thread of some process holds the lock now (a snapshot). A lock whose holder
    /// died stays locked until the next acquire takes it over (with
    /// [`AcquireError::OwnerDied`]).
    pub fn locked(&self) -> bool {
        self.region.locked()
    }

    /// Who holds the lock now, if anyone (a snapshot; Python shows it in the lock's `repr`).
    /// `None` also when its holder died and nobody took it over yet: the kernel erased the
    /// holder's thread id from the mutex word when the thread ended. The word holds only the
    /// thread id; the pid of another thread's process is looked up in `/proc`.
    pub fn owner(&self) -> Option<Owner> {
        self.region.owner()
    }
}

/// Acquires `region`'s lock and wraps the outcome in a guard.
#[inline]
pub(crate) fn lock_region(
    region: &Region,
    deadline: Deadline,
) -> Result<LockGuard<'_>, AcquireError<LockGuard<'_>>> {
    let how = region.acquire(deadline).map_err(forget_guard)?;
    let guard = guard_from(region, how);
    match how {
        Locked::Clean => Ok(guard),
        Locked::OwnerDied => Err(AcquireError::OwnerDied(guard)),
    }
}

/// The guard for a lock `region.acquire` just took.
#[inline]
pub(crate) fn guard_from(region: &Region, how: Locked) -> LockGuard<'_> {
    LockGuard {
        cell: region.cell(),
        inconsistent: how == Locked::OwnerDied,
        _not_send: PhantomData,
    }
}

/// A `try_acquire`'s miss: the lock was held when we looked, no timeout was involved.
pub(crate) fn would_block<G>(e: AcquireError<G>) -> AcquireError<G> {
    match e {
        AcquireError::Timeout => AcquireError::WouldBlock,
        other => other,
    }
}

/// Turns an error without a guard into the guard-typed error (it never carries one).
pub(crate) fn forget_guard<G>(e: AcquireError<()>) -> AcquireError<G> {
    match e {
        AcquireError::OwnerDied(()) => unreachable!("region.acquire reports owner death as Ok"),
        AcquireError::NotRecoverable => AcquireError::NotRecoverable,
        AcquireError::Timeout => AcquireError::Timeout,
        AcquireError::WouldBlock => AcquireError::WouldBlock,
        AcquireError::Deadlock => AcquireError::Deadlock,
    }
}

impl LockGuard<'_> {
    /// After [`AcquireError::OwnerDied`]: declares the protected state consistent again, so the
    /// lock goes on working after this guard releases it.
    pub fn mark_consistent(&mut self) {
        if self.inconsistent {
            self.cell.mutex.make_consistent();
            self.inconsistent = false;
        }
    }

    /// Keeps the lock held past the guard's life; release it later with [`Lock::release`]
    /// (Python's explicit `acquire()` … `release()` style).
    pub fn leak(self) {
        std::mem::forget(self);
    }
}

impl Drop for LockGuard<'_> {
    #[inline(always)]
    fn drop(&mut self) {
        // Releasing a lock we hold cannot fail.
        let _ = self.cell.release();
    }
}

impl std::fmt::Debug for Lock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lock").field("owner", &self.owner()).finish()
    }
}

/// Python's name for a lock's owner, seen from the calling thread: `None`, this process's name
/// (with `|thread` when the caller is not the main thread), `SomeOtherThread` or
/// `SomeOtherProcess`.
pub(crate) fn owner_name(owner: Option<Owner>) -> String {
    let Some(owner) = owner else {
        return "None".to_owned();
    };
    let me = Owner::me();
    if owner.pid != me.pid {
        "SomeOtherProcess".to_owned()
    } else if owner.tid != me.tid {
        "SomeOtherThread".to_owned()
    } else {
        let name = forkway_process::current_process().name;
        let thread = std::thread::current();
        match thread.name() {
            _ if me.tid == me.pid => name,
            Some("main") | None => format!("{name}|Thread"),
            Some(thread) => format!("{name}|{thread}"),
        }
    }
}

/// Python's `repr`: `<Lock(owner=None)>`, `<Lock(owner=MainProcess)>`,
/// `<Lock(owner=SomeOtherProcess)>`…
impl std::fmt::Display for Lock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "<Lock(owner={})>", owner_name(self.owner()))
    }
}

impl std::fmt::Debug for LockGuard<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LockGuard")
            .field("inconsistent", &self.inconsistent)
            .finish()
    }
}
