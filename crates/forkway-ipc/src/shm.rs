//! Shared memory inherited across `fork`, a robust process-shared mutex in it, and futex waits:
//! the building blocks of [`Queue`](crate::Queue), public because lesson 3's locks build on them.
//!
//! The mapping is anonymous and `MAP_SHARED`: it has no name, no file and no descriptor, so there
//! is nothing to leak. The kernel frees it when the last process that has it mapped unmaps it or
//! dies, however it dies. Processes share it only by inheriting it — which is exactly Python's
//! rule that queues are shared by inheritance.

use std::cell::UnsafeCell;
use std::io;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// A `MAP_SHARED | MAP_ANONYMOUS` mapping, unmapped on drop.
pub struct Shm {
    ptr: NonNull<u8>,
    len: usize,
}

// SAFETY: the mapping is plain memory; every access to it goes through atomics or under the
// robust mutex that lives in it.
unsafe impl Send for Shm {}
// SAFETY: as above.
unsafe impl Sync for Shm {}

impl Shm {
    /// Maps `len` bytes of zeroed shared memory. `MAP_NORESERVE` makes it a reservation of
    /// address space: pages cost memory only once touched, so a queue may reserve gigabytes and
    /// use kilobytes.
    pub fn new(len: usize) -> io::Result<Shm> {
        // SAFETY: a fresh anonymous mapping at an address the kernel picks; no existing memory
        // is affected.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                -1,
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let ptr = NonNull::new(ptr.cast()).ok_or_else(|| io::Error::other("mmap returned null"))?;
        Ok(Shm { ptr, len })
    }

    /// Maps the largest of `want`, `want/2`, … down to `min` that the kernel grants.
    pub fn reserve(want: usize, min: usize) -> io::Result<Shm> {
        let mut len = want;
        loop {
            match Shm::new(len) {
                Err(e) if len / 2 >= min && e.raw_os_error() == Some(libc::ENOMEM) => len /= 2,
                other => return other,
            }
        }
    }

    /// Maps `len` bytes of zeroed shared memory backed by a fresh memfd, and returns the memfd
    /// too. The memfd lets a process that was *not* forked from this one — a forkserver or
    /// spawn child — map the same memory ([`Shm::map_fd`]); it is close-on-exec, and sparse:
    /// pages cost memory only once touched, as with [`Shm::new`].
    pub fn new_memfd(len: usize) -> io::Result<(Shm, std::os::fd::OwnedFd)> {
        use std::os::fd::{AsRawFd, FromRawFd};
        // SAFETY: memfd_create takes a NUL-terminated name and flags; it returns a new fd or -1.
        let raw = unsafe { libc::memfd_create(c"forkway-shm".as_ptr(), libc::MFD_CLOEXEC) };
        if raw < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: the kernel just gave us this descriptor; nobody else owns it.
        let fd = unsafe { std::os::fd::OwnedFd::from_raw_fd(raw) };
        let size = libc::off_t::try_from(len).map_err(io::Error::other)?;
        // SAFETY: ftruncate on our own descriptor; no memory is passed.
        if unsafe { libc::ftruncate(fd.as_raw_fd(), size) } != 0 {
            return Err(io::Error::last_os_error());
        }
        let shm = Shm::map_fd(std::os::fd::AsFd::as_fd(&fd))?;
        Ok((shm, fd))
    }

    /// Maps the whole of `fd`, a memfd made by [`Shm::new_memfd`] (in this process or another).
    pub fn map_fd(fd: std::os::fd::BorrowedFd<'_>) -> io::Result<Shm> {
        use std::os::fd::AsRawFd;
        let len = usize::try_from(std::fs::File::from(fd.try_clone_to_owned()?).metadata()?.len())
            .map_err(io::Error::other)?;
        if len == 0 {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "an empty memfd"));
        }
        // SAFETY: a fresh shared mapping of the file at an address the kernel picks; no
        // existing memory is affected.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_NORESERVE,
                fd.as_raw_fd(),
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let ptr = NonNull::new(ptr.cast()).ok_or_else(|| io::Error::other("mmap returned null"))?;
        Ok(Shm { ptr, len })
    }

    /// The start of the mapping.
    pub fn ptr(&self) -> *mut u8 {
        self.ptr.as_ptr()
    }

    /// The mapping's size in bytes.
    pub fn size(&self) -> usize {
        self.len
    }

    /// Gives the pages of `[from, to)` back to the kernel; they read as zeros afterwards.
    pub fn release(&self, from: usize, to: usize) {
        let page = 4096;
        let from = from.next_multiple_of(page);
        if to <= from || to > self.len {
            return;
        }
        // SAFETY: the range is inside our mapping and page-aligned; the caller holds the lock
        // that makes the range unused by every process. A failure only means the memory stays.
        unsafe {
            libc::madvise(self.ptr().add(from).cast(), to - from, libc::MADV_REMOVE);
        }
    }
}

impl Drop for Shm {
    fn drop(&mut self) {
        // SAFETY: we own the mapping and nothing borrows it past the owner's lifetime.
        unsafe {
            libc::munmap(self.ptr().cast(), self.len);
        }
    }
}

/// A process-shared, robust pthread mutex, placed in shared memory.
///
/// Robust means: when its holder dies (even by SIGKILL), the kernel marks it and the next
/// `lock` succeeds with "owner died" instead of waiting forever (Python's `Lock` deadlocks
/// there). Our data structures commit every change with one atomic store, so the state a dead
/// holder leaves is always the last committed one and locking simply goes on.
#[repr(C)]
pub struct RobustMutex {
    raw: UnsafeCell<libc::pthread_mutex_t>,
}

/// Why [`RobustMutex::lock_until`] did not lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockError {
    /// The deadline passed first.
    Timeout,
    /// A previous holder died and its successor unlocked without calling `make_consistent`.
    NotRecoverable,
}

/// How a lock was obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Locked {
    /// The usual case.
    Clean,
    /// The previous holder died holding it; the mutex is usable again now.
    OwnerDied,
}

impl RobustMutex {
    /// Initializes a mutex in place.
    ///
    /// # Safety
    /// `this` must point to writable memory that no process uses as a mutex yet.
    pub unsafe fn init(this: *mut RobustMutex) -> io::Result<()> {
        let mut attr = std::mem::MaybeUninit::<libc::pthread_mutexattr_t>::uninit();
        let check = |rc: libc::c_int| {
            if rc == 0 {
                Ok(())
            } else {
                Err(io::Error::from_raw_os_error(rc))
            }
        };
        // SAFETY: attr is initialized by pthread_mutexattr_init before any other use and
        // destroyed after; `this` is valid per the caller's contract.
        unsafe {
            check(libc::pthread_mutexattr_init(attr.as_mut_ptr()))?;
            let result = check(libc::pthread_mutexattr_setpshared(
                attr.as_mut_ptr(),
                libc::PTHREAD_PROCESS_SHARED,
            ))
            .and_then(|()| {
                check(libc::pthread_mutexattr_setrobust(
                    attr.as_mut_ptr(),
                    libc::PTHREAD_MUTEX_ROBUST,
                ))
            })
            .and_then(|()| check(libc::pthread_mutex_init((*this).raw.get(), attr.as_ptr())));
            libc::pthread_mutexattr_destroy(attr.as_mut_ptr());
            result
        }
    }

    /// Locks, waiting as long as it takes; a dead holder is reported, not waited for.
    pub fn lock(&self) -> Locked {
        // SAFETY: the mutex was initialized by `init` and lives in a mapping that outlives self.
        let rc = unsafe { libc::pthread_mutex_lock(self.raw.get()) };
        self.after_lock(rc).expect("pthread_mutex_lock on a robust mutex")
    }

    /// Locks, waiting at most until `deadline`, and *without* repairing a dead owner's state:
    /// on [`Locked::OwnerDied`] the caller holds the lock and must call
    /// [`make_consistent`](RobustMutex::make_consistent) before unlocking, or the mutex becomes
    /// unusable for good ([`LockError::NotRecoverable`] for every later caller) — POSIX's way of
    /// saying "nobody vouched for the data this lock protects".
    ///
    /// # Errors
    /// [`LockError::Timeout`] when the deadline passed; [`LockError::NotRecoverable`].
    pub fn lock_until(&self, deadline: Deadline) -> Result<Locked, LockError> {
        loop {
            let rc = match deadline.left() {
                // SAFETY: as in `lock`.
                None => unsafe { libc::pthread_mutex_lock(self.raw.get()) },
                Some(left) if left.is_zero() => {
                    // SAFETY: as in `lock`.
                    unsafe { libc::pthread_mutex_trylock(self.raw.get()) }
                }
                Some(left) => {
                    // timedlock takes a CLOCK_REALTIME instant: wait in slices of at most 100 ms
                    // and re-check our monotonic deadline, so a clock jump cannot stretch it.
                    let slice = left.min(Duration::from_millis(100));
                    let mut now = std::mem::MaybeUninit::<libc::timespec>::uninit();
                    // SAFETY: clock_gettime writes a timespec into valid memory.
                    unsafe { libc::clock_gettime(libc::CLOCK_REALTIME, now.as_mut_ptr()) };
                    // SAFETY: initialized by clock_gettime just above.
                    let now = unsafe { now.assume_init() };
                    let nanos = now.tv_nsec as u64 + u64::from(slice.subsec_nanos());
                    let until = libc::timespec {
                        tv_sec: now.tv_sec
                            + slice.as_secs() as libc::time_t
                            + (nanos / 1_000_000_000) as libc::time_t,
                        tv_nsec: (nanos % 1_000_000_000) as libc::c_long,
                    };
                    // SAFETY: as in `lock`; `until` outlives the call.
                    unsafe { libc::pthread_mutex_timedlock(self.raw.get(), &until) }
                }
            };
            return match rc {
                0 => Ok(Locked::Clean),
                libc::EOWNERDEAD => Ok(Locked::OwnerDied),
                libc::ENOTRECOVERABLE => Err(LockError::NotRecoverable),
                libc::EBUSY | libc::ETIMEDOUT if deadline.passed() => Err(LockError::Timeout),
                libc::EBUSY | libc::ETIMEDOUT | libc::EINTR => continue,
                rc => panic!(
                    "pthread_mutex_lock on a robust mutex: {}",
                    io::Error::from_raw_os_error(rc)
                ),
            };
        }
    }

    /// After [`Locked::OwnerDied`]: declares the protected state consistent again, so the
    /// mutex goes on working after the next unlock.
    pub fn make_consistent(&self) {
        // SAFETY: the caller holds the mutex after EOWNERDEAD; anything else returns EINVAL,
        // which is harmless.
        unsafe {
            libc::pthread_mutex_consistent(self.raw.get());
        }
    }

    /// Tries to lock without waiting: `None` when another live thread holds it.
    pub fn try_lock(&self) -> Option<Locked> {
        // SAFETY: as in `lock`.
        let rc = unsafe { libc::pthread_mutex_trylock(self.raw.get()) };
        if rc == libc::EBUSY {
            return None;
        }
        Some(
            self.after_lock(rc)
                .expect("pthread_mutex_trylock on a robust mutex"),
        )
    }

    fn after_lock(&self, rc: libc::c_int) -> io::Result<Locked> {
        match rc {
            0 => Ok(Locked::Clean),
            libc::EOWNERDEAD => {
                // SAFETY: we hold the mutex (EOWNERDEAD means we acquired it); marking it
                // consistent is the documented recovery.
                let rc = unsafe { libc::pthread_mutex_consistent(self.raw.get()) };
                if rc != 0 {
                    return Err(io::Error::from_raw_os_error(rc));
                }
                Ok(Locked::OwnerDied)
            }
            // ENOTRECOVERABLE cannot happen: every EOWNERDEAD is made consistent above.
            rc => Err(io::Error::from_raw_os_error(rc)),
        }
    }

    /// Unlocks. Only the thread that locked may call it.
    pub fn unlock(&self) {
        // SAFETY: the caller holds the lock (the guards below make that structural).
        unsafe {
            libc::pthread_mutex_unlock(self.raw.get());
        }
    }
}

/// Sleeps while `*word == expected`, at most `timeout` (`None`: no limit). Returns when woken,
/// when the word already differs, on a signal, or when the time is up: callers re-check their
/// condition and their deadline in a loop, so every return is safe.
///
/// The futex is *shared* (no `FUTEX_PRIVATE_FLAG`): the kernel keys it on the physical page,
/// so waiters and wakers in different processes meet.
pub fn futex_wait(word: &AtomicU32, expected: u32, timeout: Option<Duration>) {
    let ts = timeout.map(|t| libc::timespec {
        tv_sec: t.as_secs().min(i64::MAX as u64) as libc::time_t,
        tv_nsec: t.subsec_nanos() as libc::c_long,
    });
    let ts_ptr = ts
        .as_ref()
        .map_or(std::ptr::null(), |t| t as *const libc::timespec);
    // SAFETY: FUTEX_WAIT reads the aligned u32 behind `word`, which lives as long as the call;
    // the timespec is either null or points to a local that outlives the call.
    unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            libc::FUTEX_WAIT,
            expected,
            ts_ptr,
            std::ptr::null::<u32>(),
            0u32,
        );
    }
}

/// Wakes every process sleeping on `word`.
///
/// All, not one: a woken waiter that is SIGKILLed before it acts would swallow a single
/// wake-up, and the others would sleep on with work waiting.
pub fn futex_wake_all(word: &AtomicU32) {
    futex_wake(word, i32::MAX as u32);
}

/// Wakes at most `n` processes sleeping on `word`.
pub fn futex_wake(word: &AtomicU32, n: u32) {
    // SAFETY: FUTEX_WAKE only uses the address as a key; it reads no memory through it.
    unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            libc::FUTEX_WAKE,
            n.min(i32::MAX as u32) as i32,
            std::ptr::null::<libc::timespec>(),
            std::ptr::null::<u32>(),
            0u32,
        );
    }
}

/// How long a timed operation waits at least for an internal lock that other processes hold
/// only for a few instructions or one copy (a queue's, a barrier's), even when its own timeout
/// is zero: a `_nowait` call must not fail merely because another process was inside such a
/// section. Waiting longer than this means the holder is stopped or stuck, and the timeout wins.
pub const LOCK_GRACE: Duration = Duration::from_millis(100);

/// A point in time to wait until, or "never". Every timed wait in forkway goes through one.
///
/// Construction saturates: a timeout too large to add to the clock (`Duration::MAX`, or just
/// centuries) is a deadline that never passes, never an overflow panic. So a huge timeout means
/// "wait for ever", as in Python.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Deadline(Option<Instant>);

impl Deadline {
    /// A deadline that has already passed: "do not wait" (the `_nowait` and `try_` forms).
    pub fn now() -> Deadline {
        Deadline(Some(Instant::now()))
    }

    /// A deadline that never passes: wait as long as it takes.
    pub fn never() -> Deadline {
        Deadline(None)
    }

    /// `timeout` from now; a timeout the clock cannot represent is [`Deadline::never`].
    pub fn after(timeout: Duration) -> Deadline {
        Deadline(Instant::now().checked_add(timeout))
    }

    /// [`Deadline::after`] for `Some(timeout)`, [`Deadline::never`] for `None` (the
    /// `timeout: Option<Duration>` parameters of Python-style APIs).
    pub fn from_timeout(timeout: Option<Duration>) -> Deadline {
        timeout.map_or(Deadline::never(), Deadline::after)
    }

    /// The later of `self` and `grace` from now: what a wait for a lock that other processes
    /// hold only briefly gets, so that a zero timeout does not fail merely because another
    /// process was in the middle of a short critical section.
    pub fn at_least(self, grace: Duration) -> Deadline {
        match self.0 {
            None => self,
            Some(at) => {
                let floor = Deadline::after(grace);
                match floor.0 {
                    Some(floor_at) if floor_at <= at => self,
                    _ => floor,
                }
            }
        }
    }

    /// Time left: `None` for no limit, `Some(ZERO)` once passed.
    pub fn left(&self) -> Option<Duration> {
        self.0.map(|d| d.saturating_duration_since(Instant::now()))
    }

    /// Whether the deadline is behind us.
    pub fn passed(&self) -> bool {
        self.left() == Some(Duration::ZERO)
    }
}

/// Increments a waiter count on creation and decrements it on drop, so an early return (or a
/// panic) never leaves a count behind in this process.
pub struct Waiting<'a>(&'a AtomicU32);

impl<'a> Waiting<'a> {
    /// Counts one more waiter until the returned value is dropped.
    pub fn new(count: &'a AtomicU32) -> Waiting<'a> {
        count.fetch_add(1, Ordering::SeqCst);
        Waiting(count)
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}
