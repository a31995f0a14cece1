//! The module-level functions of Python's `multiprocessing`: `current_process()`,
//! `parent_process()`, `active_children()`, `cpu_count()` and `connection.wait()` for processes.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use nix::sys::signal::Signal;

use crate::error::ProcessError;
use crate::inner::{Inner, Status};
use crate::process::Process;
use crate::state::{self, PARENT_PIDFD};
use crate::sys;

/// A snapshot of the running process, as Python's `current_process()` describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CurrentProcess {
    /// `MainProcess` in the program's first process, else the name its `Process` had at start.
    pub name: String,
    /// This process's id (`os.getpid()`).
    pub pid: u32,
    /// Whether this process is a daemon.
    pub daemon: bool,
}

/// Describes the running process.
///
/// ```
/// let me = forkway_process::current_process();
/// assert_eq!(me.name, "MainProcess");
/// assert_eq!(me.pid, std::process::id());
/// ```
pub fn current_process() -> CurrentProcess {
    let st = state::lock();
    CurrentProcess {
        name: st.name.clone(),
        pid: std::process::id(),
        daemon: st.daemon,
    }
}

/// This process's authentication key: Python's `current_process().authkey`. 32 random bytes
/// made in the first process that needs them (at the latest when it starts its first child), and
/// inherited by every process forked from it — so processes of one program can authenticate
/// to each other (a manager and its clients) without sending the key anywhere.
///
/// ```
/// let key = forkway_process::authkey();
/// assert_eq!(key.len(), 32);
/// assert_eq!(forkway_process::authkey(), key, "the same key for the life of the process");
/// ```
pub fn authkey() -> Vec<u8> {
    state::lock().authkey().to_vec()
}

/// Replaces this process's authkey (Python: `current_process().authkey = b'…'`); children
/// started afterwards inherit the new one.
pub fn set_authkey(key: &[u8]) {
    state::lock().authkey = Some(key.to_vec());
}

/// The process that started this one, seen from a child. Python's `parent_process()`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParentProcess {
    /// The parent's name (`MainProcess` for the program's first process).
    pub name: String,
    /// The parent's process id.
    pub pid: u32,
}

impl ParentProcess {
    /// Whether the parent is still running. Race-free: it watches a pidfd on the parent, opened
    /// only while the parent was certainly alive, so a recycled pid cannot fool it.
    pub fn is_alive(&self) -> bool {
        let fd = parent_pidfd(self.pid);
        if fd < 0 {
            // No pidfd: either the parent was gone before we could open one, or the kernel
            // has none. `getppid` changes when we are re-parented, which happens at its death.
            return nix::unistd::getppid().as_raw() as u32 == self.pid;
        }
        // SAFETY: PARENT_PIDFD is only closed when this process forks a child of its own and
        // in that child; here it is open for the duration of the call.
        let fd = unsafe { sys::borrow(fd) };
        matches!(sys::wait_readable(&[fd], Some(Duration::ZERO)), Ok(ready) if ready.is_empty())
    }

    /// Waits up to `timeout` (forever for `None`) for the parent to exit; returns whether it did.
    pub fn join(&self, timeout: Option<Duration>) -> bool {
        let fd = parent_pidfd(self.pid);
        if fd < 0 {
            return !self.is_alive();
        }
        // SAFETY: as in `is_alive`.
        let fd = unsafe { sys::borrow(fd) };
        matches!(sys::wait_readable(&[fd], timeout), Ok(ready) if !ready.is_empty())
    }
}

/// This process's pidfd on its parent `parent_pid`, opened on first use; -1 when the parent is
/// gone (or the kernel has no pidfds).
///
/// Opened lazily rather than at every fork: most children never ask. It is still race-free:
/// the pidfd is opened first, and kept only if `getppid` still names the parent afterwards. The
/// parent was then alive when the pidfd was made (a dead parent's child is re-parented before
/// its pid can be reused), so the pidfd names the parent itself, never a process that took its pid.
fn parent_pidfd(parent_pid: u32) -> std::os::fd::RawFd {
    let fd = PARENT_PIDFD.load(Ordering::SeqCst);
    if fd >= 0 {
        return fd;
    }
    let Some(opened) = sys::pidfd_open(nix::unistd::Pid::from_raw(parent_pid as i32)) else {
        return -1;
    };
    if nix::unistd::getppid().as_raw() as u32 != parent_pid {
        return -1;
    }
    let opened = std::os::fd::IntoRawFd::into_raw_fd(opened);
    match PARENT_PIDFD.compare_exchange(-1, opened, Ordering::SeqCst, Ordering::SeqCst) {
        Ok(_) => opened,
        Err(theirs) => {
            // Another thread opened one first: keep theirs.
            sys::close_raw(opened);
            theirs
        }
    }
}

/// The parent of this process, `None` in the main process.
pub fn parent_process() -> Option<ParentProcess> {
    let st = state::lock();
    st.parent.as_ref().map(|(name, pid)| ParentProcess {
        name: name.clone(),
        pid: *pid,
    })
}

/// A started child that was still running when [`active_children`] looked.
#[derive(Clone)]
pub struct ActiveChild {
    inner: Arc<Inner>,
}

impl ActiveChild {
    /// The child's name.
    pub fn name(&self) -> String {
        self.inner.name()
    }
    /// The child's process id.
    pub fn pid(&self) -> u32 {
        self.inner.pid().as_raw() as u32
    }
    /// Whether it is a daemon.
    pub fn daemon(&self) -> bool {
        self.inner.daemon()
    }
    /// Whether it still runs (reaps it if not).
    pub fn is_alive(&self) -> bool {
        matches!(self.inner.try_reap(), Ok(None))
    }
    /// Sends SIGTERM, unless the child has been reaped already.
    ///
    /// # Errors
    /// [`ProcessError::Os`] if `kill(2)` fails.
    pub fn terminate(&self) -> Result<(), ProcessError> {
        self.inner.send_signal(Signal::SIGTERM, "terminate")
    }
    /// Sends SIGKILL, unless the child has been reaped already.
    ///
    /// # Errors
    /// [`ProcessError::Os`] if `kill(2)` fails.
    pub fn kill(&self) -> Result<(), ProcessError> {
        self.inner.send_signal(Signal::SIGKILL, "kill")
    }
}

impl std::fmt::Debug for ActiveChild {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ActiveChild")
            .field("name", &self.name())
            .field("pid", &self.pid())
            .finish()
    }
}

/// The children this process started that are still running. Like Python, it reaps the ones
/// that have finished as a side effect, so calling it now and then leaves no zombies behind.
pub fn active_children() -> Vec<ActiveChild> {
    let children: Vec<Arc<Inner>> = state::lock().children.clone();
    children
        .into_iter()
        .filter(|c| matches!(c.try_reap(), Ok(None)))
        .map(|inner| ActiveChild { inner })
        .collect()
}

/// The number of online CPUs (Python's `cpu_count()`), at least 1.
pub fn cpu_count() -> usize {
    sys::online_cpus()
        .or_else(|| std::thread::available_parallelism().ok().map(usize::from))
        .unwrap_or(1)
}

/// Waits until at least one of `processes` has exited or `timeout` passes (`None`: forever),
/// and returns the indices of those that have exited, reaped and with their exit code set.
/// An empty result means the time ran out. Python's `connection.wait()` on sentinels.
///
/// # Errors
/// [`NotStarted`](ProcessError::NotStarted) if one of them was never started; the errors of
/// [`Process::join`].
pub fn wait(processes: &[&Process], timeout: Option<Duration>) -> Result<Vec<usize>, ProcessError> {
    let deadline = timeout.and_then(|t| std::time::Instant::now().checked_add(t));
    let mut backoff = Duration::from_millis(1);
    loop {
        let mut done = Vec::new();
        for (i, p) in processes.iter().enumerate() {
            if p.inner().status() == Status::Initial {
                return Err(ProcessError::NotStarted { op: "wait for" });
            }
            if !p.inner().is_ours() {
                return Err(ProcessError::NotAChild { op: "wait for" });
            }
            if p.inner().try_reap()?.is_some() {
                done.push(i);
            }
        }
        let left = deadline.map(|d| d.saturating_duration_since(std::time::Instant::now()));
        if !done.is_empty() || left == Some(Duration::ZERO) {
            return Ok(done);
        }
        let fds: Option<Vec<_>> = processes.iter().map(|p| p.inner().pidfd()).collect();
        match fds {
            Some(fds) => {
                sys::wait_readable(&fds, left).map_err(|e| ProcessError::Os {
                    op: "poll",
                    source: nix::errno::Errno::from_raw(e.raw_os_error().unwrap_or(0)),
                })?;
            }
            None => {
                std::thread::sleep(left.map_or(backoff, |l| l.min(backoff)));
                backoff = (backoff * 2).min(Duration::from_millis(50));
            }
        }
    }
}
