//! # forkway-start — lesson 7: start methods
//!
//! Python starts a process in one of three ways, chosen with `get_context(method)` or, once per
//! program, `set_start_method(method)`:
//!
//! - **fork** copies the caller. Fast, and the child inherits everything — including, in a
//!   program with threads, locks that another thread held at that instant and that nobody in
//!   the child will ever release. Python 3.12 warns about it; 3.14 stopped using it by default.
//! - **forkserver** asks a small server, forked early while the program had one thread, to
//!   fork the child. Every child is a copy of that clean server. Python 3.14's default on Linux.
//! - **spawn** runs the program again and has it call the target. Nothing is inherited.
//!
//! forkway-process (lesson 1) only forks. This crate adds the other two, behind one
//! [`Process`] handle:
//!
//! ```
//! use forkway_start::{get_context, StartMethod};
//!
//! fn work(n: u64) -> Result<(), String> {
//!     if n == 7 { Ok(()) } else { Err(format!("expected 7, got {n}")) }
//! }
//!
//! for method in [StartMethod::Fork, StartMethod::Forkserver] {
//!     let mut p = get_context(Some(method)).process(work, (7,));
//!     p.start()?;
//!     p.join()?;
//!     assert_eq!(p.exitcode(), Some(0), "{method}");
//! }
//! # Ok::<(), forkway_start::StartError>(())
//! ```
//!
//! ## What a target may be
//! Under forkserver and spawn the child does not share the caller's memory, so a target is a
//! fn item or a closure that captures nothing, and its data goes in the `args` tuple, which
//! travels serialized (as Python pickles `args`). The same rule as the pool's tasks, and the
//! same compile-time refusal of a capturing closure, with the reason in the error:
//!
//! ```compile_fail
//! let offset = 10u64;
//! // error: a forkserver or spawn target must be a fn item or a closure that captures
//! // nothing: the child does not share the caller's memory …
//! let p = forkway_start::get_context(None).process(move |x: u64| i32::from(x == offset), (3u64,));
//! ```
//!
//! ## Queues and locks
//! An ordinary `Queue` or `Lock` reaches a child only by inheritance, so only under fork; one
//! made with `Queue::new_sendable()` or `Lock::new_sendable()` lives in a memfd and can be
//! passed in the args tuple under every method (its descriptor travels with `SCM_RIGHTS` to
//! the forkserver, or is inherited across `execve` by a spawned child). So can every other shared
//! primitive made with its `new_sendable` constructor: `JoinableQueue`, `RawLock`, `RLock`,
//! `Semaphore` (and `Semaphore::bounded_sendable`), `Event`, `Condition`, `Barrier`, `Value`, `Array`,
//! `RawValue` and `RawArray`, and `SimpleQueue::new_sendable()` (its locks' memfd and its pipe's
//! two ends travel); an ordinary one is refused at `start()` with Python's reason. Either end
//! of a `Pipe` (`forkway_ipc::pipe`, `simplex`) travels as it is, with no special constructor:
//! it is a descriptor already. A connection or queue put *inside a message* (through a queue or
//! another connection) is refused instead: only a target's arguments carry descriptors.
//!
//! ## Spawn needs an entry hook
//! A spawned child runs the program from `main`, so `main` must call [`bootstrap`] first (in a
//! test: the test's first line). Forgetting it is [`StartError::MissingEntryHook`].
//!
//! | Python | forkway |
//! |---|---|
//! | `get_context('spawn')`, `get_context()` | [`get_context(Some(StartMethod::Spawn))`](get_context), [`get_context(None)`](get_context) |
//! | `set_start_method('forkserver')` | [`set_start_method(StartMethod::Forkserver)`](set_start_method) (once) |
//! | `get_start_method()`, `get_all_start_methods()` | [`get_start_method()`], [`get_all_start_methods()`] |
//! | `ctx.Process(target=f, args=(x, y))` | [`ctx.process(f, (x, y))`](Context::process) |
//! | `p.start()`, `p.join()`, `p.exitcode`, `p.terminate()` | the same on [`Process`] |
//! | `active_children()` (children of every method) | [`active_children()`] |
//! | `multiprocessing.forkserver.ensure_running()` | [`forkserver::ensure_running()`](forkserver::ensure_running) |
//! | `if __name__ == '__main__':` | [`bootstrap()`] first thing in `main` |
//! | `ctx.Queue()`, `ctx.Lock()`, `ctx.Event()`, `ctx.Value('i', 0)`, … as arguments | `Queue::new_sendable()`, `Lock::new_sendable()`, `Event::new_sendable()`, `Value::new_sendable(0)`, … in the args tuple |
//! | `ctx.SimpleQueue()`, `a, b = ctx.Pipe()` as arguments | `SimpleQueue::new_sendable()`, `forkway_ipc::pipe()` (either end) in the args tuple |
//! | `ctx.Pool(4)` | `forkway_pool::Pool::builder().processes(4).context(ctx).build()` |
//!
//! Linux only: memfds, pidfds, `SCM_RIGHTS`, `/proc/self/exe`.

#[cfg(not(target_os = "linux"))]
compile_error!("forkway-start needs Linux (memfd, pidfd, SCM_RIGHTS, /proc/self/exe)");

mod children;
mod context;
mod error;
pub mod forkserver;
mod process;
mod sibling;
mod spawn;
mod sys;
mod target;

pub use children::{active_children, ActiveChild, ServedChildHandle};
pub use context::{
    get_all_start_methods, get_context, get_start_method, set_start_method, Context, StartMethod,
    DEFAULT_START_METHOD,
};
pub use error::StartError;
pub use process::Process;
pub use spawn::{bootstrap, SPAWN_FD_VAR};
pub use target::Target;
