//! Children that are not copies of this process: a program started with `posix_spawn` (or any
//! other way that hands back a pid), adopted as a [`Process`] like a forked one.
//!
//! `fork` copies the parent's page tables, so it costs more the more memory the parent holds. A
//! child that will `execve` at once needs none of that copy: `posix_spawn` starts it without one
//! (glibc uses `clone(CLONE_VM | CLONE_VFORK)`). The caller starts such a child itself and this
//! module makes it a child like any other: the same `join`, `exitcode`, `terminate`, `kill`,
//! `is_alive` and `sentinel`, listed by [`active_children`](crate::active_children), terminated
//! (daemon) or waited for (non-daemon) when the program exits.
//!
//! Nothing runs in this process's image in the child, so none of `start`'s fork precautions
//! apply: no locks to hold across the call, no buffers to flush, no state to reset in the child,
//! and no close-on-fork list to honour (every descriptor forkway registers there is also
//! close-on-exec, which the exec applies). What the child must set up for itself (dying with its
//! parent, for a daemon) is the started program's business.

use std::os::fd::IntoRawFd;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use nix::errno::Errno;
use nix::unistd::Pid;

use crate::error::ProcessError;
use crate::inner::Status;
use crate::process::{install_exit_handler, Process};
use crate::{state, sys};

impl Process {
    /// A process whose child the caller starts itself, with [`start_exec`](Process::start_exec)
    /// (`start` refuses it: there is no target to fork). Named `Process-N` as any other; set
    /// the name and the daemon flag with [`with_name`](Process::with_name) and
    /// [`with_daemon`](Process::with_daemon).
    pub fn for_exec() -> Process {
        let mut p = Process::from_target(Box::new(|| 127));
        *p.target_slot() = None;
        p
    }

    /// Starts the child with `start`, which creates it (say with `posix_spawn`) and returns its
    /// pid, then adopts it: from here it is this process's child for every method of
    /// `Process`, for [`active_children`](crate::active_children) and for the exit cleanup.
    ///
    /// `start` must return the pid of a child of *this* process that nobody else will reap. When
    /// it fails, nothing is registered and the `Process` may be started again.
    ///
    /// ```
    /// use forkway_process::{Process, ProcessError};
    ///
    /// let mut p = Process::for_exec().with_name("true");
    /// p.start_exec(|| {
    ///     let child = std::process::Command::new("true").spawn().map_err(|e| ProcessError::Os {
    ///         op: "spawn",
    ///         source: nix::errno::Errno::from_raw(e.raw_os_error().unwrap_or(0)),
    ///     })?;
    ///     // The `Child` is forgotten: reaping is the `Process`'s job now.
    ///     Ok::<u32, ProcessError>(child.id())
    /// })?;
    /// p.join()?;
    /// assert_eq!(p.exitcode(), Some(0));
    /// # Ok::<(), ProcessError>(())
    /// ```
    ///
    /// # Errors
    /// What `start` returns; before it runs, the errors of [`start`](Process::start) that are
    /// not about forking: [`StartedTwice`](ProcessError::StartedTwice),
    /// [`Closed`](ProcessError::Closed), [`NotCreator`](ProcessError::NotCreator),
    /// [`DaemonicChildren`](ProcessError::DaemonicChildren).
    pub fn start_exec<E>(&mut self, start: impl FnOnce() -> Result<u32, E>) -> Result<(), E>
    where
        E: From<ProcessError>,
    {
        let inner = Arc::clone(self.inner());
        match inner.status() {
            Status::Initial => {}
            Status::Closed => return Err(ProcessError::Closed.into()),
            _ => return Err(ProcessError::StartedTwice.into()),
        }
        if !inner.is_ours() {
            return Err(ProcessError::NotCreator.into());
        }
        if state::lock().daemon {
            return Err(ProcessError::DaemonicChildren.into());
        }
        install_exit_handler();
        // Not under the state lock: `start` may take as long as an exec takes, and a thread
        // that forks meanwhile must not wait for it. Nobody can reap the child before it is
        // registered: forkway only ever waits for the pids it registered.
        let pid = start()?;
        let pid = i32::try_from(pid)
            .ok()
            .filter(|&p| p > 0)
            .ok_or(ProcessError::Os {
                op: "start_exec",
                source: Errno::EINVAL,
            })?;
        inner.pid.store(pid, Ordering::SeqCst);
        if let Some(fd) = sys::pidfd_open(Pid::from_raw(pid)) {
            inner.pidfd.store(fd.into_raw_fd(), Ordering::SeqCst);
        }
        *inner.lock_status() = Status::Running;
        state::lock().children.push(inner);
        Ok(())
    }
}
