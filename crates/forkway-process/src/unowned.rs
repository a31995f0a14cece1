//! Children that are copies of this process but not its children: made by a `clone` system
//! call with `CLONE_PARENT`, whose copy is the child of this process's parent.
//!
//! A forkserver uses it: the child it makes for a caller becomes the caller's own child, which
//! the caller joins as it joins a fork child (with `waitid`, the real exit code, `SIGCHLD`).
//! Inside the copy everything is as after [`start`](Process::start): the same state reset, the
//! same bootstrap, the same `_exit`. In this process nothing is registered: the child is not
//! ours to wait for, and its parent adopts it (see
//! [`start_exec`](Process::start_exec)).

use nix::errno::Errno;

use crate::error::ProcessError;
use crate::inner::Status;
use crate::process::{child_setup, install_exit_handler, Process};
use crate::{child, state, sys};

/// Where a fork-like call returned (see [`Process::start_unowned`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cloned {
    /// In the new process.
    Child,
    /// In the calling process; the new process has this pid.
    Parent(u32),
}

impl Process {
    /// Runs the target in a copy of this process that `clone` makes in place of `fork`, and
    /// that is not this process's child: its parent is `parent` (name and pid), which the child
    /// reports as its [`parent_process`](crate::parent_process) and which must adopt it. Returns
    /// the child's pid. This `Process` does not track the child: it stays unstarted, and a
    /// later `start` says it was started already.
    ///
    /// # Errors
    /// As [`start`](Process::start); [`Fork`](ProcessError::Fork) with the error `clone`
    /// returns, and then the target is kept, as after a failed fork.
    ///
    /// # Safety
    /// `clone` must return `Cloned::Child` in a copy of this process that has only the calling
    /// thread and that glibc can run in as in a forked child (its cached thread id set, its
    /// robust mutex list registered with the kernel: what glibc's `fork` does and a raw
    /// `clone` does not), and `Cloned::Parent(pid)` in this process. The copy must not share
    /// this process's memory (no `CLONE_VM`). Other threads of this process must not fork or
    /// start processes meanwhile: as in [`start`](Process::start), this process's locks are
    /// held across the call, but `pthread_atfork` handlers do not run (forkway's own, the
    /// trace's, is run by hand).
    pub unsafe fn start_unowned(
        &mut self,
        parent: (String, u32),
        clone: impl FnOnce() -> Result<Cloned, Errno>,
    ) -> Result<u32, ProcessError> {
        match self.inner().status() {
            Status::Initial => {}
            Status::Closed => return Err(ProcessError::Closed),
            _ => return Err(ProcessError::StartedTwice),
        }
        if !self.inner().is_ours() {
            return Err(ProcessError::NotCreator);
        }
        child::install_panic_hook();
        install_exit_handler();
        child::flush_std_streams();
        // Held across the clone, as `start` holds them across fork (see `state`).
        let stdout = std::io::stdout().lock();
        let stderr = std::io::stderr().lock();
        let mut st = state::lock();
        if st.daemon {
            return Err(ProcessError::DaemonicChildren);
        }
        st.authkey();
        let Some(target) = self.target_slot().take() else {
            return Err(ProcessError::StartedTwice);
        };
        let daemon = self.daemon();
        let name = self.name();
        let identity = self.inner().identity.clone();
        match clone() {
            Err(errno) => {
                *self.target_slot() = Some(target);
                Err(ProcessError::Fork(errno))
            }
            Ok(Cloned::Child) => {
                // What a fork runs first in the child: its `pthread_atfork` child handlers.
                forkway_trace::after_clone_in_child();
                let (parent_name, parent_pid) = parent;
                st.become_child(name, identity, daemon, parent_pid);
                // `become_child` names the cloning process as the parent; it is not. Leaked,
                // not freed, for the reason `become_child` gives.
                std::mem::forget(st.parent.replace((parent_name, parent_pid)));
                drop(st);
                drop(stderr);
                drop(stdout);
                child_setup(daemon, parent_pid);
                // As in `start`: the child never unwinds into the caller's code.
                let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| child::run_child(target)));
                sys::exit_now(1)
            }
            Ok(Cloned::Parent(pid)) => {
                drop(st);
                drop(stderr);
                drop(stdout);
                child::drop_moved_target(target);
                Ok(pid)
            }
        }
    }
}
