//! # forkway-process — lesson 1: processes
//!
//! Python's `multiprocessing.Process` rebuilt on `fork(2)`: start a child that runs a closure,
//! wait for it, stop it, read its exit code. The semantics are Python's (exit codes, names,
//! daemons, the misuse errors and their messages) except where Python has a known trap, and
//! those places say so.
//!
//! | Python | forkway |
//! |---|---|
//! | `Process(target=f, args=(x,))` | `Process::new(move \|\| f(x))` |
//! | `Process(name="w", daemon=True)` | `Process::new(f).with_name("w").with_daemon(true)` |
//! | `class P(Process): def run(self)` | `impl Run for P` + `Process::from_run(p)` |
//! | `p.start()`, `p.join()`, `p.join(1.5)` | `p.start()?`, `p.join()?`, `p.join_timeout(d)?` |
//! | `p.is_alive()`, `p.exitcode`, `p.pid` | `p.is_alive()`, `p.exitcode()`, `p.pid()` |
//! | `p.terminate()`, `p.kill()` | `p.terminate()?`, `p.kill()?` |
//! | `sys.exit(3)` in the child | [`exit(3)`](exit), or return `3` from the target |
//! | `current_process()`, `parent_process()` | [`current_process()`], [`parent_process()`] |
//! | `active_children()`, `cpu_count()` | [`active_children()`], [`cpu_count()`] |
//! | `connection.wait([p.sentinel, …])` | [`wait(&[&p, …], timeout)`](wait) |
//!
//! ```
//! use forkway_process::{current_process, Process};
//!
//! let mut workers: Vec<Process> = (0..4)
//!     .map(|i| Process::new(move || if i == 3 { forkway_process::exit(7) }))
//!     .collect();
//! for w in &mut workers {
//!     w.start()?;
//! }
//! for w in &workers {
//!     w.join()?;
//! }
//! let codes: Vec<_> = workers.iter().map(|w| w.exitcode()).collect();
//! assert_eq!(codes, [Some(0), Some(0), Some(0), Some(7)]);
//! assert_eq!(current_process().name, "MainProcess");
//! # Ok::<(), forkway_process::ProcessError>(())
//! ```
//!
//! Linux only: it relies on pidfds, `prctl(PR_SET_PDEATHSIG)` and `/proc`.

#[cfg(not(target_os = "linux"))]
compile_error!("forkway-process needs Linux (pidfd, prctl(PR_SET_PDEATHSIG), /proc)");

mod child;
pub mod clofork;
mod error;
mod exec;
mod exitcode;
mod functions;
mod inner;
mod process;
mod state;
mod sys;
mod unowned;

pub use child::{
    exit, panic_message, requested_exit_code, set_child_panic_handler, target_moved_to_child, IntoExitCode,
};
pub use error::ProcessError;
pub use exitcode::{exitcode_from_status, os_exit_byte};
pub use functions::{
    active_children, authkey, cpu_count, current_process, parent_process, set_authkey, wait, ActiveChild,
    CurrentProcess, ParentProcess,
};
pub use process::{Process, Run};
pub use unowned::Cloned;

/// The signal type used by [`Process::signal`], re-exported so callers need not depend on nix.
pub use nix::sys::signal::Signal;
