//! The parent's side of one child, shared between its `Process` handle and the list of active
//! children: its status, reaping it and signalling it. `Process` (process.rs) is the public
//! handle over it; `active_children()` and the exit handler reach the same state from the list,
//! which is why it lives apart from the handle.

use std::os::fd::BorrowedFd;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::sys::signal::{kill, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag};
use nix::unistd::Pid;

use forkway_trace::Arg;

use crate::error::ProcessError;
use crate::exitcode::exitcode_from_status;
use crate::state;
use crate::sys;

/// How long a daemon (or a process dropped during a panic) gets to exit after SIGTERM before
/// it is sent SIGKILL.
pub(crate) const TERMINATE_GRACE: Duration = Duration::from_secs(1);

/// Where a process is in its life. Python calls these initial, started, stopped and closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Status {
    Initial,
    Running,
    Stopped(i32),
    /// Reaped by someone else; the exit code is unknowable.
    Lost,
    Closed,
}

/// The part of a process that is shared between its `Process` handle and the list of active
/// children (so `active_children()` can reap it and `join` still sees the exit code).
///
/// The fields are the crate's, not private: `Process::start` (the code chapter 1 shows) fills
/// them in around `fork` itself, and accessors would hide what it does.
pub(crate) struct Inner {
    pub(crate) name: Mutex<String>,
    pub(crate) identity: Vec<u32>,
    pub(crate) daemon: AtomicBool,
    /// The pid of the process that created this object; only it may start, join or signal it.
    pub(crate) creator: u32,
    /// 0 until started.
    pub(crate) pid: AtomicI32,
    /// A pidfd on the child, -1 before start or when the kernel has no pidfds.
    pub(crate) pidfd: AtomicI32,
    pub(crate) status: Mutex<Status>,
    /// Whether the trace has its `exit` event yet (it is recorded once, by whoever reaps).
    pub(crate) exit_traced: AtomicBool,
}

impl Inner {
    pub(crate) fn lock_status(&self) -> MutexGuard<'_, Status> {
        self.status.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn status(&self) -> Status {
        *self.lock_status()
    }

    pub(crate) fn pid(&self) -> Pid {
        Pid::from_raw(self.pid.load(Ordering::SeqCst))
    }

    pub(crate) fn name(&self) -> String {
        self.name.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub(crate) fn daemon(&self) -> bool {
        self.daemon.load(Ordering::SeqCst)
    }

    pub(crate) fn is_ours(&self) -> bool {
        self.creator == std::process::id()
    }

    pub(crate) fn pidfd(&self) -> Option<BorrowedFd<'_>> {
        let fd = self.pidfd.load(Ordering::SeqCst);
        // SAFETY: the pidfd stays open until this Inner is dropped (or, in a child, until
        // `forget_pidfd_in_child`, after which the value is -1), so it outlives `&self`.
        (fd >= 0).then(|| unsafe { sys::borrow(fd) })
    }

    /// In a forked child: the inherited pidfd belongs to a sibling that is not our child.
    /// Close it and make sure nothing in this process uses the number again.
    pub(crate) fn forget_pidfd_in_child(&self) {
        sys::close_raw(self.pidfd.swap(-1, Ordering::SeqCst));
    }

    /// Reaps the child if it has exited, without blocking. Returns its exit code, or `None`
    /// while it runs.
    pub(crate) fn try_reap(self: &Arc<Self>) -> Result<Option<i32>, ProcessError> {
        let mut status = self.lock_status();
        let pid = match *status {
            Status::Running => self.pid(),
            Status::Stopped(code) => return Ok(Some(code)),
            Status::Initial => return Ok(None),
            Status::Lost => {
                return Err(ProcessError::Lost {
                    pid: self.pid().as_raw() as u32,
                })
            }
            Status::Closed => return Err(ProcessError::Closed),
        };
        // ANCHOR: try_reap
        // ANCHOR: exercise_1_2
        let reaped = match waitpid(pid, Some(WaitPidFlag::WNOHANG)) {
            // `StillAlive` (and stopped/continued) map to None: not an ending, keep waiting.
            Ok(wait_status) => exitcode_from_status(wait_status),
            Err(Errno::ECHILD) => {
                *status = Status::Lost;
                drop(status);
                state::lock().forget_child(self);
                return Err(ProcessError::Lost {
                    pid: pid.as_raw() as u32,
                });
            }
            Err(source) => {
                return Err(ProcessError::Os {
                    op: "waitpid",
                    source,
                })
            }
        };
        if let Some(code) = reaped {
            *status = Status::Stopped(code);
            // Release our lock before taking the global one: no code path holds both.
            drop(status);
            state::lock().forget_child(self);
        }
        Ok(reaped)
        // ANCHOR_END: exercise_1_2
        // ANCHOR_END: try_reap
    }

    /// Sends `signal` to the child unless it has already been reaped.
    pub(crate) fn send_signal(&self, signal: Signal, op: &'static str) -> Result<(), ProcessError> {
        forkway_trace::instant(
            "process",
            op,
            0,
            &[("target", Arg::Int(self.pid().as_raw().into()))],
        );
        let status = self.lock_status();
        // ANCHOR: send_signal
        // ANCHOR: exercise_1_3
        match *status {
            Status::Initial => Err(ProcessError::NotStarted { op }),
            Status::Closed => Err(ProcessError::Closed),
            // Reaped: the kernel may already have given this pid to an unrelated process.
            // Signalling it now could kill a stranger, so this is a no-op, as in Python.
            Status::Stopped(_) | Status::Lost => Ok(()),
            // Not reaped, so the pid is still our child's (an exited child keeps its pid as a
            // zombie until reaped), and we hold the status lock, so nobody can reap it under us.
            Status::Running => {
                kill(self.pid(), signal).map_err(|source| ProcessError::Os { op: "kill", source })
            }
        }
        // ANCHOR_END: exercise_1_3
        // ANCHOR_END: send_signal
    }

    /// Waits up to `timeout` (forever for `None`) for the child to exit and reaps it; whether
    /// it did (false: the time ran out, which is no error).
    pub(crate) fn wait(self: &Arc<Self>, timeout: Option<Duration>) -> Result<bool, ProcessError> {
        let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
        // Without a pidfd we poll waitpid, backing off from 1 ms to 50 ms.
        let mut backoff = Duration::from_millis(1);
        // A running child with a pidfd: wait for the pidfd first, then reap with one waitpid
        // (asking waitpid first would only find it running, in one more system call).
        if let (Some(fd), Status::Running) = (self.pidfd(), self.status()) {
            let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
            sys::wait_readable(&[fd], left).map_err(|e| ProcessError::Os {
                op: "poll",
                source: Errno::from_raw(e.raw_os_error().unwrap_or(0)),
            })?;
        }
        loop {
            if let Some(code) = self.try_reap()? {
                self.trace_exit(code);
                return Ok(true);
            }
            let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
            if left == Some(Duration::ZERO) {
                return Ok(false);
            }
            match self.pidfd() {
                Some(fd) => {
                    sys::wait_readable(&[fd], left).map_err(|e| ProcessError::Os {
                        op: "poll",
                        source: Errno::from_raw(e.raw_os_error().unwrap_or(0)),
                    })?;
                }
                None => {
                    std::thread::sleep(left.map_or(backoff, |l| l.min(backoff)));
                    backoff = (backoff * 2).min(Duration::from_millis(50));
                }
            }
        }
    }

    /// Records on the child's lane of the trace that it was reaped, and its exit code, once. The
    /// child records its own `exit`, unless a signal killed it: then this is its only end.
    pub(crate) fn trace_exit(&self, code: i32) {
        if forkway_trace::enabled() && !self.exit_traced.swap(true, Ordering::Relaxed) {
            let pid = self.pid().as_raw() as u32;
            forkway_trace::instant_on(pid, "process", "reaped", 0, &[("code", Arg::Int(code.into()))]);
        }
    }

    /// SIGTERM, a grace period, then SIGKILL; always reaps. Used for daemons at drop and exit.
    pub(crate) fn stop(self: &Arc<Self>, grace: Duration) {
        if self.send_signal(Signal::SIGTERM, "terminate").is_err() {
            return;
        }
        let _ = self.wait(Some(grace));
        if self.status() == Status::Running {
            let _ = self.send_signal(Signal::SIGKILL, "kill");
            let _ = self.wait(None);
        }
    }
}

impl Inner {
    /// Stops and reaps the child using no exercise code at all: `Process`'s drop during a panic
    /// runs this, because a second panic while unwinding (say, an unfinished exercise's
    /// `todo!()`) would abort the whole program instead of failing one test.
    pub(crate) fn stop_during_panic(self: &Arc<Self>, grace: Duration) {
        let mut status = self.lock_status();
        if *status != Status::Running {
            return;
        }
        let pid = self.pid();
        let _ = kill(pid, Signal::SIGTERM);
        let deadline = Instant::now() + grace;
        let mut exited = false;
        while Instant::now() < deadline {
            if !matches!(
                waitpid(pid, Some(WaitPidFlag::WNOHANG)),
                Ok(nix::sys::wait::WaitStatus::StillAlive)
            ) {
                exited = true;
                break;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        if !exited {
            let _ = kill(pid, Signal::SIGKILL);
            let _ = waitpid(pid, None);
        }
        // The exact code no longer matters to anyone: the handle is going away.
        *status = Status::Lost;
        drop(status);
        state::lock().forget_child(self);
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        sys::close_raw(self.pidfd.swap(-1, Ordering::SeqCst));
    }
}
