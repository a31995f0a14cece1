//! # forkway-trace — see what every process did
//!
//! A timeline recorder for programs made of many processes. Set `FORKWAY_TRACE=trace.json`
//! (or call [`start`]) and every forkway process of the tree records what it does: processes
//! started, joined, killed and how they exited; locks waited for, held, released, and found
//! with a dead owner; semaphore, event, condition and barrier waits; queue puts and gets with
//! their sizes and waits; pool tasks; manager calls. When the root process exits (or calls
//! [`finish`]) the per-process records are merged into one file in the
//! [Chrome trace event format](https://docs.google.com/document/d/1CvAClvFfyA5R-PhYUmn5OOQtYMH4h6I0nSsKchNAySU),
//! which <https://ui.perfetto.dev> and `chrome://tracing` open. [`svg::render`] draws the
//! same events as a swimlane picture: `cargo xtask trace <example>` does both.
//!
//! ```no_run
//! forkway_trace::start("target/forkway-trace/mine.json")?;
//! // … start processes, take locks, pass messages …
//! let merged = forkway_trace::finish()?; // Some(path) in the root process
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! ## Cost
//! Disabled, an instrumentation point costs one relaxed load of a global byte and a branch
//! ([`begin`], [`enabled`]): nothing is formatted, no clock is read, no lock is taken. The
//! first check in a process reads `FORKWAY_TRACE` once (a cold path).
//!
//! ## Why a recorder of our own and not `tracing`
//! The `tracing` ecosystem was the obvious candidate, and its disabled cost (a relaxed load of
//! the callsite's interest) would do. It fails on `fork`: subscribers that write files
//! (`tracing-chrome`, `tracing-appender`'s non-blocking writer) hand events to a background
//! thread, and a forked child has no threads but the one that forked, so a child's events
//! would never be written; their internal locks (a registry's sharded slab, a channel) may be
//! held by another thread at the moment of the fork and stay locked for ever in the child.
//! Making that fork-safe means replacing the subscriber, the writer and the span registry:
//! what is left is this crate's few hundred lines, which know about `fork` (a
//! `pthread_atfork` child handler gives each child a fresh buffer and its own file) and need
//! no thread.
//!
//! ## Where events go, and how many a `SIGKILL` can lose
//! Each process has its own part, `<trace>.parts/<pid>.jsonl`, one JSON object a line, and
//! writes it through a `MAP_SHARED` mapping of the file: an event is formatted into a reused
//! line buffer and copied into the mapping, with no system call (the file grows by doubling,
//! with `ftruncate` and `mremap`). Memory of a shared file mapping *is* the kernel's page cache,
//! so an event is in the file the moment it is recorded.
//!
//! So a process killed by `SIGKILL` (or any signal) loses nothing it had recorded: at most
//! the one event it was copying at that instant, which then is a torn line that the merge
//! skips (and counts). There is no user-space batch to lose. (A *batched* writer with
//! `write(2)` would lose its whole last batch; a `write(2)` per event would cost a system
//! call per operation.) What it never got to record is another matter: a wait is recorded
//! when it ends, so a process killed while it waits has no span for that wait (a lock it held
//! shows as held until its end: the renderer closes the span there). A child records its name
//! and `start` first thing after the fork; its end (`reaped`, with the exit code or `-signal`)
//! is recorded by the parent that reaps it, so a killed process always has an end. A process that ends normally trims the zeroes after
//! its last event; a killed one leaves them, and the merge skips them.
//!
//! A child inherits its parent's mapping with `fork`: a `pthread_atfork` child handler lets
//! go of it unwritten (it is the parent's part) and the child opens its own on its first
//! event. The root merges the parts at exit (or at [`finish`]) into the trace file and
//! removes them.
//!
//! Timestamps are `CLOCK_MONOTONIC` in microseconds: one clock for every process of the
//! machine, so the lanes line up.
//!
//! ## Limits
//! - One root per trace file. A traced program that runs *another* program (not a fork) with
//!   `FORKWAY_TRACE` still set makes that program a second root of the same file, and the two
//!   overwrite each other's parts: give the other program its own file.
//! - Events that children record after the root merged (a root that does not join its
//!   children before [`finish`]) are not in the trace.
//! - A pool worker's death is its lane's `reaped` with the signal, not a separate event.

#![cfg_attr(not(target_os = "linux"), allow(unused))]

mod json;
pub mod merge;
mod recorder;
pub mod svg;

pub use json::Arg;
pub use merge::{merge_dir, read_trace, Event, MergeReport};
pub use recorder::{
    after_clone_in_child, begin, complete, enabled, finish, flush_before_exit, hold_begin, hold_end, instant,
    instant_on, name_process, now_us, start, Stamp,
};
