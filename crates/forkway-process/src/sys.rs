//! The Linux layer: every system call forkway-process makes that nix does not wrap, behind small
//! safe functions. Everything above this module is ordinary safe Rust.
//!
//! Linux only: `pidfd_open(2)` (5.3+), `prctl(PR_SET_PDEATHSIG)` and `/proc`. On other systems
//! the crate does not build (see the `compile_error!` in `lib.rs`).

use std::io;
use std::os::fd::{BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::unistd::Pid;

/// Opens a pidfd for `pid`: a file descriptor that becomes readable when the process exits.
///
/// Returns `None` when the kernel or a seccomp filter refuses (`ENOSYS`, `EPERM`); callers then
/// fall back to polling `waitpid`. A pidfd never blocks anybody's EOF, unlike Python's sentinel
/// pipe, which a concurrently forked sibling can inherit and hold open.
pub(crate) fn pidfd_open(pid: Pid) -> Option<OwnedFd> {
    // SAFETY: pidfd_open takes a pid and a flags word and returns a new fd or -1; no memory
    // is passed to the kernel.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid.as_raw(), libc::PIDFD_NONBLOCK) };
    if fd < 0 {
        return None;
    }
    let fd = RawFd::try_from(fd).ok()?;
    // SAFETY: the kernel just returned this fd to us and nobody else owns it.
    Some(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Waits until at least one of `fds` is readable or `timeout` passes, and returns the indices of
/// the readable ones (empty on timeout). `None` waits forever. EINTR restarts the wait with the
/// time that is left.
pub(crate) fn wait_readable(fds: &[BorrowedFd<'_>], timeout: Option<Duration>) -> io::Result<Vec<usize>> {
    let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
    loop {
        let mut pollfds: Vec<PollFd<'_>> = fds.iter().map(|fd| PollFd::new(*fd, PollFlags::POLLIN)).collect();
        let remaining = match deadline {
            None => PollTimeout::NONE,
            Some(d) => {
                let left = d.saturating_duration_since(Instant::now());
                // Round up so that a 0.3 ms remainder does not become a busy 0 ms poll.
                let ms = left.as_micros().div_ceil(1000).min(i32::MAX as u128) as i32;
                PollTimeout::try_from(ms).unwrap_or(PollTimeout::MAX)
            }
        };
        match poll(&mut pollfds, remaining) {
            Ok(0) => {
                if deadline.is_some_and(|d| Instant::now() >= d) {
                    return Ok(Vec::new());
                }
            }
            Ok(_) => {
                return Ok(pollfds
                    .iter()
                    .enumerate()
                    .filter(|(_, p)| p.revents().is_some_and(|r| !r.is_empty()))
                    .map(|(i, _)| i)
                    .collect());
            }
            Err(Errno::EINTR) => continue,
            Err(e) => return Err(e.into()),
        }
    }
}

/// How many threads this process has right now, from `/proc/self/task`.
pub(crate) fn thread_count() -> Option<usize> {
    std::fs::read_dir("/proc/self/task").ok().map(|d| d.count())
}

/// True when this process has certainly never had a second thread: glibc's
/// `__libc_single_threaded` (2.32+), which `pthread_create` clears for good and `fork` sets
/// again in the child. False means "may have threads": count them with [`thread_count`].
#[cfg(target_env = "gnu")]
pub(crate) fn never_threaded() -> bool {
    extern "C" {
        static __libc_single_threaded: libc::c_char;
    }
    // SAFETY: a `char` glibc exports to be read like this. Its creator clears it before a new
    // thread exists, so any thread that runs alongside another one reads it as false.
    unsafe { std::ptr::read_volatile(&raw const __libc_single_threaded) != 0 }
}

/// Without glibc's flag, every question goes to `/proc`.
#[cfg(not(target_env = "gnu"))]
pub(crate) fn never_threaded() -> bool {
    false
}

/// Writes all of `bytes` to file descriptor 2 with raw `write(2)` calls.
///
/// Used in a forked child to report a panic. It bypasses `std::io::stderr()` on purpose: under
/// `cargo test`, libtest captures `eprintln!` per thread, so a child's message would vanish into
/// a copy of the test's capture buffer that nobody reads.
pub(crate) fn write_stderr_raw(mut bytes: &[u8]) {
    // SAFETY: fd 2 is either open (we write to it) or closed (write fails with EBADF, which we
    // ignore); BorrowedFd does not close it.
    let fd = unsafe { BorrowedFd::borrow_raw(2) };
    while !bytes.is_empty() {
        match nix::unistd::write(fd, bytes) {
            Ok(0) => return,
            Ok(n) => bytes = &bytes[n..],
            Err(Errno::EINTR) => continue,
            Err(_) => return,
        }
    }
}

/// Asks the kernel to send `signal` to this process when its parent dies (Linux `prctl`).
///
/// Note the kernel's definition of "parent dies": the *thread* that forked us exits. A daemon
/// started from a short-lived thread therefore dies with that thread.
pub(crate) fn set_parent_death_signal(signal: nix::sys::signal::Signal) -> io::Result<()> {
    // SAFETY: PR_SET_PDEATHSIG takes a signal number by value; no pointers are involved.
    let rc = unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, signal as libc::c_ulong, 0, 0, 0) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Number of online CPUs, as Python's `os.cpu_count()` reports it (not the affinity mask).
pub(crate) fn online_cpus() -> Option<usize> {
    // SAFETY: sysconf only reads a configuration value.
    let n = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) };
    usize::try_from(n).ok().filter(|&n| n > 0)
}

/// Closes a raw fd that this process owns and nobody else will use again.
pub(crate) fn close_raw(fd: RawFd) {
    if fd >= 0 {
        // SAFETY: the caller hands over sole ownership of `fd`; wrapping it in an OwnedFd and
        // dropping it closes it exactly once.
        drop(unsafe { OwnedFd::from_raw_fd(fd) });
    }
}

/// Borrows a raw fd held in an atomic for the duration of a call.
///
/// # Safety
/// `fd` must be open and must stay open for the lifetime `'a`.
pub(crate) unsafe fn borrow<'a>(fd: RawFd) -> BorrowedFd<'a> {
    // SAFETY: guaranteed by the caller.
    unsafe { BorrowedFd::borrow_raw(fd) }
}

/// Ends this process at once with `code`: no destructors, no `atexit` handlers, no stdio flush.
/// The only correct way out of a forked child (Python's `os._exit`).
pub(crate) fn exit_now(code: i32) -> ! {
    forkway_trace::instant(
        "process",
        "exit",
        0,
        &[("code", forkway_trace::Arg::Int(code.into()))],
    );
    forkway_trace::flush_before_exit();
    // SAFETY: `_exit` is async-signal-safe and takes an int; it never returns.
    unsafe { libc::_exit(code) }
}
