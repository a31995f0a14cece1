//! `Event`: a flag in shared memory that processes can wait for.

use std::io;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use forkway_sys::{futex_wait, futex_wake_all, Deadline, Shm};

/// A flag shared between processes: `set` wakes everyone waiting; `wait` returns at once while
/// it is set. Python's `multiprocessing.Event`.
///
/// ```
/// use std::time::Duration;
/// use forkway_sync::Event;
///
/// let ready = Event::new()?;
/// assert!(!ready.wait_timeout(Duration::ZERO));
/// ready.set();
/// assert!(ready.wait_timeout(Duration::ZERO));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct Event {
    pub(crate) shm: Arc<Shm>,
}

impl Event {
    /// A new, unset event.
    ///
    /// # Errors
    /// The OS error when the shared memory cannot be mapped.
    pub fn new() -> io::Result<Event> {
        Event::create(false)
    }

    /// An unset event on an anonymous mapping, or (`sendable`) on a memfd that can travel
    /// (`sendable.rs`).
    pub(crate) fn create(sendable: bool) -> io::Result<Event> {
        let shm = crate::sendable::page(sendable)?;
        Ok(Event { shm: Arc::new(shm) })
    }

    fn flag(&self) -> &AtomicU32 {
        // SAFETY: the mapping is zeroed (unset) at creation, aligned, and lives as long as self.
        unsafe { &*self.shm.ptr().cast::<AtomicU32>() }
    }

    /// Sets the flag and wakes every waiter.
    pub fn set(&self) {
        if self.flag().swap(1, Ordering::Release) == 0 {
            futex_wake_all(self.flag());
        }
    }

    /// Clears the flag: later waits wait.
    pub fn clear(&self) {
        self.flag().store(0, Ordering::Release);
    }

    /// Whether the flag is set now.
    pub fn is_set(&self) -> bool {
        self.flag().load(Ordering::Acquire) == 1
    }

    // ANCHOR: event_wait
    /// Waits until the flag is set, at most until `deadline`; whether it is set.
    fn wait_until(&self, deadline: Deadline) -> bool {
        // ANCHOR: exercise_3_4
        loop {
            if self.is_set() {
                return true;
            }
            if deadline.passed() {
                return false;
            }
            // Sleep only while the flag is still 0: a `set` in between changes the word, and
            // the kernel refuses to sleep on a value that is no longer there.
            futex_wait(self.flag(), 0, deadline.left());
        }
        // ANCHOR_END: exercise_3_4
    }
    // ANCHOR_END: event_wait

    /// Waits until the flag is set (at once if it is).
    pub fn wait(&self) {
        self.traced_wait_until(Deadline::never());
    }

    /// `wait_until`, recorded as an `event wait` span on the trace.
    fn traced_wait_until(&self, deadline: Deadline) -> bool {
        let start = forkway_trace::begin();
        let set = self.wait_until(deadline);
        if let Some(start) = start {
            let outcome = forkway_trace::Arg::Str(if set { "set" } else { "timeout" });
            forkway_trace::complete(
                start,
                "sync",
                "event wait",
                crate::trace_id(self.flag()),
                &[("outcome", outcome)],
            );
        }
        set
    }

    /// Waits at most `timeout`; true if the flag is set. Python's `wait(timeout)`.
    pub fn wait_timeout(&self, timeout: Duration) -> bool {
        self.traced_wait_until(Deadline::after(timeout))
    }
}

impl std::fmt::Debug for Event {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Event").field("set", &self.is_set()).finish()
    }
}
