//! A mutex that a forked child can always take.
//!
//! A process-wide table behind a `std::sync::Mutex` deadlocks a child forked while another
//! thread of the parent held the lock: the child has a copy of the locked mutex and no thread
//! that will ever unlock it (every test binary forks from many threads at once). This lock
//! records the pid of the process that holds it; a holder that is not this process is a
//! parent's thread that does not exist here, and its lock is taken over. Sections under it are
//! a few operations on a `Vec`, never I/O, so waiting for it spins.

use std::cell::UnsafeCell;
use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicU32, Ordering};

pub(crate) struct ForkSafeMutex<T> {
    /// The pid of the process holding the lock, 0 when free.
    holder: AtomicU32,
    value: UnsafeCell<T>,
}

// SAFETY: the value is only reached through a guard, and `holder` lets one guard exist at a
// time within a process (the copy a child takes over is its own memory).
unsafe impl<T: Send> Sync for ForkSafeMutex<T> {}

impl<T> ForkSafeMutex<T> {
    pub(crate) const fn new(value: T) -> ForkSafeMutex<T> {
        ForkSafeMutex {
            holder: AtomicU32::new(0),
            value: UnsafeCell::new(value),
        }
    }

    pub(crate) fn lock(&self) -> Guard<'_, T> {
        let me = std::process::id();
        loop {
            match self
                .holder
                .compare_exchange_weak(0, me, Ordering::Acquire, Ordering::Relaxed)
            {
                Ok(_) => return Guard { mutex: self },
                Err(held) if held != 0 && held != me => {
                    // Locked at fork by a thread of an ancestor: it will never unlock here.
                    if self
                        .holder
                        .compare_exchange(held, me, Ordering::Acquire, Ordering::Relaxed)
                        .is_ok()
                    {
                        return Guard { mutex: self };
                    }
                }
                Err(_) => std::thread::yield_now(),
            }
        }
    }
}

pub(crate) struct Guard<'a, T> {
    mutex: &'a ForkSafeMutex<T>,
}

impl<T> Deref for Guard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: this guard is the only one in this process while it lives.
        unsafe { &*self.mutex.value.get() }
    }
}

impl<T> DerefMut for Guard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as in `deref`, and `&mut self` makes this borrow unique.
        unsafe { &mut *self.mutex.value.get() }
    }
}

impl<T> Drop for Guard<'_, T> {
    fn drop(&mut self) {
        self.mutex.holder.store(0, Ordering::Release);
    }
}
