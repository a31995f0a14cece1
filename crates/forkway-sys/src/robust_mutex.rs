//! A robust, process-shared pthread mutex, placed in shared memory.

use std::cell::UnsafeCell;
use std::io;
use std::time::Duration;

use crate::Deadline;

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
#[non_exhaustive]
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
                    // "Do not wait" is a timed lock at an instant long past, not trylock:
                    // glibc's trylock answers ENOTRECOVERABLE with the mutex left locked by
                    // the caller, and every process that then waits for it waits for ever.
                    let long_ago = libc::timespec {
                        tv_sec: 0,
                        tv_nsec: 0,
                    };
                    // SAFETY: as in `lock`; `long_ago` outlives the call.
                    unsafe { libc::pthread_mutex_timedlock(self.raw.get(), &long_ago) }
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

    /// [`lock_until`](RobustMutex::lock_until), after trying the lock a few times in user space
    /// (a few microseconds at most): for a mutex held only briefly, such as a queue's, which
    /// holds it to copy one message.
    ///
    /// glibc's robust mutexes never spin, so without this a collision between a producer and a
    /// consumer puts the loser to sleep in the kernel (a futex wait) and makes the holder's
    /// unlock a system call to wake it — microseconds for a sub-microsecond wait.
    ///
    /// Only for a mutex whose every [`Locked::OwnerDied`] is made consistent before it is
    /// unlocked, so that it is never not-recoverable: the spin uses `pthread_mutex_trylock`,
    /// which on a not-recoverable robust mutex answers `ENOTRECOVERABLE` but leaves the mutex
    /// locked by the caller (a FIXME in glibc's source), and every later locker would wait
    /// for ever.
    ///
    /// # Errors
    /// As [`lock_until`](RobustMutex::lock_until).
    pub fn lock_spinning_until(&self, deadline: Deadline) -> Result<Locked, LockError> {
        const TRIES: u32 = 16;
        const PAUSES: u32 = 16;
        if !deadline.passed() {
            for _ in 0..TRIES {
                // SAFETY: as in `lock`.
                match unsafe { libc::pthread_mutex_trylock(self.raw.get()) } {
                    0 => return Ok(Locked::Clean),
                    libc::EOWNERDEAD => return Ok(Locked::OwnerDied),
                    libc::EBUSY => {}
                    // Anything else: the usual path answers it as it always has.
                    _ => break,
                }
                for _ in 0..PAUSES {
                    std::hint::spin_loop();
                }
            }
        }
        self.lock_until(deadline)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Shm;

    /// A mapping with an initialized mutex at its start. The mutex is not `Sync` (it lives in
    /// shared memory, where processes share it, not references), so threads share the mapping.
    fn mapped_mutex() -> Shm {
        let shm = Shm::new(4096).expect("map");
        // SAFETY: a fresh, zeroed, page-aligned mapping that nothing uses yet.
        unsafe { RobustMutex::init(shm.ptr().cast()) }.expect("init");
        shm
    }

    fn mutex(shm: &Shm) -> &RobustMutex {
        // SAFETY: `mapped_mutex` initialized it; it lives as long as `shm`.
        unsafe { &*shm.ptr().cast::<RobustMutex>() }
    }

    #[test]
    fn lock_try_lock_and_timeout() {
        let shm = mapped_mutex();
        assert_eq!(mutex(&shm).lock(), Locked::Clean);
        std::thread::scope(|s| {
            s.spawn(|| {
                assert_eq!(mutex(&shm).try_lock(), None);
                assert_eq!(mutex(&shm).lock_until(Deadline::now()), Err(LockError::Timeout));
            });
        });
        mutex(&shm).unlock();
        assert_eq!(mutex(&shm).try_lock(), Some(Locked::Clean));
        mutex(&shm).unlock();
    }

    #[test]
    fn a_dead_holder_is_reported_not_waited_for() {
        let shm = mapped_mutex();
        // A thread that ends holding a robust mutex is a dead owner, as a killed process is.
        std::thread::scope(|s| {
            s.spawn(|| assert_eq!(mutex(&shm).lock(), Locked::Clean));
        });
        let m = mutex(&shm);
        assert_eq!(
            m.lock_until(Deadline::after(Duration::from_secs(10))),
            Ok(Locked::OwnerDied)
        );
        m.make_consistent();
        m.unlock();
        assert_eq!(m.lock(), Locked::Clean);
        m.unlock();
    }
}
