//! # forkway-sys — the OS floor under the lessons
//!
//! The few operating-system primitives that forkway's queues (lesson 2), locks (lesson 3),
//! joinable queues (lesson 4) and pool (lesson 5) all stand on:
//!
//! | item | what | used by |
//! |---|---|---|
//! | [`Shm`] | an anonymous `MAP_SHARED` mapping, inherited across `fork`, unmapped on drop | every shared-memory object |
//! | [`RobustMutex`] | a process-shared robust futex mutex that reports a dead holder instead of hanging | `Queue`, `SimpleQueue`, `Lock`, `Barrier` |
//! | [`pid_tid`] | the calling thread's pid and tid, cached per thread and right after `fork` | every `Lock` acquire and release (as [`ThisThread`]) |
//! | [`futex_wait`], [`futex_wake`], [`futex_wake_all`], [`Waiting`], [`futex_calls`] | sleeping on a word of shared memory, and counting the system calls that took | every blocking wait |
//! | [`Deadline`], [`LOCK_GRACE`] | "wait until", saturating, for every timed call | every `_timeout` and `_nowait` |
//! | [`current_pid`] | the process's pid without a system call, right in forked children too | connections closed at fork, lock owners |
//! | [`fds`] | the side lists of descriptors that travel beside encoded values | sendable `Queue` and `Lock` (lesson 7) |
//!
//! ## Why a crate of its own
//! This is the `parking_lot_core` model: `parking_lot`'s locks are built on a small crate that
//! holds only the parking machinery, so that the locks themselves read as algorithms. Here the
//! locks of lesson 3 need shared memory, a robust mutex and futexes, and so do the queues of
//! lesson 2; neither lesson should depend on the other for its floor, and `Deadline` is not an
//! inter-process-communication concept. So the floor lives below both, and every lesson crate
//! depends on it.
//!
//! ## Why it is not an exercise
//! What is here is thin, `unsafe` wrapping of system calls (`mmap`, `futex(2)`, the kernel's
//! robust-futex list): worth reading once, and the chapters point to it, but
//! there is no algorithm in it for a learner to write. The algorithms built on it — the futex
//! lock, the semaphore, the queue's ring — are the exercises.
//!
//! Linux only, like the rest of forkway.

mod deadline;
pub mod fds;
mod futex;
mod mapping;
mod robust_mutex;
mod thread;

pub use deadline::{Deadline, LOCK_GRACE};
pub use futex::{futex_calls, futex_wait, futex_wake, futex_wake_all, FutexCalls, Waiting};
pub use mapping::Shm;
pub use robust_mutex::{LockError, Locked, RobustMutex, UnlockError};
pub use thread::{current_pid, pid_tid, ThisThread};
