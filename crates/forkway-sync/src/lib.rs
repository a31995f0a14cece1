//! # forkway-sync — lesson 3: locks and shared state
//!
//! Processes share no memory — unless they ask for it. This crate maps shared memory before the
//! fork and puts synchronization primitives in it, as Python's `multiprocessing` does with
//! `Lock`, `RLock`, `Semaphore`, `Event`, `Value` and `Array`.
//!
//! | Python | forkway |
//! |---|---|
//! | `lock = Lock()`, `with lock:` | `let lock = Lock::new()?`, `let _g = lock.acquire()…` (a guard) |
//! | `lock.acquire(timeout=t)`, `lock.acquire(False)` | [`Lock::acquire_timeout`], [`Lock::try_acquire`] |
//! | `RLock()` | [`RLock`] |
//! | `Semaphore(n)`, `BoundedSemaphore(n)` | [`Semaphore::new`], [`Semaphore::bounded`] |
//! | `Event()` | [`Event`] |
//! | `Condition()`, `wait`, `wait_for`, `notify(n)`, `notify_all` | [`Condition`], [`ConditionGuard`] |
//! | `Barrier(n)`, `wait`, `abort`, `reset` | [`Barrier`] |
//! | `Value('i', 0)`, `Array('d', 10)` | [`Value::new`], [`Array::zeroed`], [`Array::from_slice`] |
//! | `with v.get_lock(): v.value += 1` | `*v.lock().expect("lock") += 1` |
//!
//! Where Python deadlocks, forkway reports: a process that dies holding a [`Lock`] or [`RLock`]
//! (even by SIGKILL) hands the next acquirer [`AcquireError::OwnerDied`] with the lock held —
//! Rust's poisoning model — so it can check the shared state, mark it consistent and go on.
//!
//! Everything is created before the fork and inherited. The memory is an anonymous shared
//! mapping: nothing to name, nothing to leak, freed by the kernel with the last process using it.
//! For the children of lesson 7's forkserver and spawn methods, which inherit nothing, every
//! primitive also has a `new_sendable` constructor: it lives in a memfd and
//! can be passed as a target's argument (see `sendable.rs`).
//!
//! Linux only, like the rest of forkway.

mod barrier;
mod condition;
mod error;
mod event;
mod lock;
mod raw_lock;
mod rlock;
mod semaphore;
mod sendable;
mod value;

/// The address of a shared object: the same in every process forked after it was made, so it
/// names the object across the lanes of a trace.
pub(crate) fn trace_id<T>(shared: &T) -> u64 {
    shared as *const T as u64
}

pub use barrier::{Barrier, BarrierError};
pub use condition::{Condition, ConditionGuard};
pub use error::{AcquireError, ReleaseError};
pub use event::Event;
pub use lock::{Lock, LockGuard, Owner};
pub use raw_lock::RawLock;
pub use rlock::{RLock, RLockGuard};
pub use semaphore::{Semaphore, SemaphoreGuard};
pub use value::{Array, ArrayGuard, RawArray, RawValue, Shareable, Value, ValueGuard};

/// Python's message for trying to send a synchronization object to another process.
pub const INHERITANCE_ONLY: &str =
    "Synchronized objects should only be shared between processes through inheritance";
