//! Futex waits and wakes on a word in shared memory, and the waiter count that goes with them.

use std::cell::Cell;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

/// How many futex system calls one thread has made since it started.
///
/// The point of a futex lock is that the kernel is asked only when somebody must sleep or be
/// woken: an uncontended lock and unlock make no system call at all. That is a property of the
/// code, not of its timing, so it can be checked exactly by counting, on every run and on any
/// machine. The count is per thread (a test's thread sees only its own calls, whatever runs
/// beside it) and costs one thread-local add next to a system call that costs far more.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FutexCalls {
    /// `FUTEX_WAIT` calls ([`futex_wait`]): times this thread asked to sleep.
    pub waits: u64,
    /// `FUTEX_WAKE` calls ([`futex_wake`], [`futex_wake_all`]): times it asked to wake others.
    pub wakes: u64,
}

thread_local! {
    static CALLS: Cell<FutexCalls> = const { Cell::new(FutexCalls { waits: 0, wakes: 0 }) };
}

/// The futex system calls the calling thread has made so far (see [`FutexCalls`]). Take it
/// before and after the code you watch, and compare.
///
/// ```
/// use std::sync::atomic::AtomicU32;
/// use forkway_sys::{futex_calls, futex_wake};
///
/// let before = futex_calls();
/// futex_wake(&AtomicU32::new(0), 1); // nobody sleeps there; the call is made all the same
/// assert_eq!(futex_calls().wakes - before.wakes, 1);
/// assert_eq!(futex_calls().waits, before.waits);
/// ```
pub fn futex_calls() -> FutexCalls {
    CALLS.with(Cell::get)
}

fn count(f: impl FnOnce(&mut FutexCalls)) {
    CALLS.with(|c| {
        let mut calls = c.get();
        f(&mut calls);
        c.set(calls);
    });
}

/// Sleeps while `*word == expected`, at most `timeout` (`None`: no limit). Returns when woken,
/// when the word already differs, on a signal, or when the time is up: callers re-check their
/// condition and their deadline in a loop, so every return is safe.
///
/// The futex is *shared* (no `FUTEX_PRIVATE_FLAG`): the kernel keys it on the physical page,
/// so waiters and wakers in different processes meet.
pub fn futex_wait(word: &AtomicU32, expected: u32, timeout: Option<Duration>) {
    count(|c| c.waits += 1);
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
    count(|c| c.wakes += 1);
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
