//! From the kernel's wait status to Python's `exitcode`.
//!
//! `waitpid(2)` reports *how* a child ended: it called `_exit(n)`, or a signal killed it. Python
//! folds both into one integer: `n` for an exit, `-N` for signal `N`. That integer is what
//! `Process::exitcode` returns, here as in Python.

use nix::sys::wait::WaitStatus;

/// Python's `exitcode` for a wait status: `Some(n)` when the child called `_exit(n)`,
/// `Some(-N)` when signal `N` killed it, `None` when the status does not mean "terminated"
/// (still running, stopped, continued).
///
/// ```
/// use forkway_process::exitcode_from_status;
/// use nix::sys::signal::Signal;
/// use nix::sys::wait::WaitStatus;
/// use nix::unistd::Pid;
///
/// let pid = Pid::from_raw(42);
/// assert_eq!(exitcode_from_status(WaitStatus::Exited(pid, 3)), Some(3));
/// assert_eq!(exitcode_from_status(WaitStatus::Signaled(pid, Signal::SIGTERM, false)), Some(-15));
/// assert_eq!(exitcode_from_status(WaitStatus::StillAlive), None);
/// ```
// ANCHOR: exitcode_from_status
pub fn exitcode_from_status(status: WaitStatus) -> Option<i32> {
    // ANCHOR: exercise_1_1
    match status {
        WaitStatus::Exited(_pid, code) => Some(code),
        WaitStatus::Signaled(_pid, signal, _core_dumped) => Some(-(signal as i32)),
        // Stopped, continued and "still alive" are not endings: keep waiting.
        _ => None,
    }
    // ANCHOR_END: exercise_1_1
}
// ANCHOR_END: exitcode_from_status

/// The byte the kernel keeps of an exit code: `_exit(256)` is seen as 0 and `_exit(-1)` as 255,
/// exactly as `sys.exit(256)` and `sys.exit(-1)` in Python.
pub fn os_exit_byte(code: i32) -> i32 {
    code & 0xFF
}
