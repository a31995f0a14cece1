//! `active_children()` across start methods.
//!
//! Fork and spawn children, and forkserver children cloned as ours, are forkway-process
//! children of this process, and forkway-process lists them. A forkserver child whose exit
//! code the server relays is the *server's* child, so forkway-process cannot see it;
//! Python lists it all the same (its `_children` set holds every `Process` started, whatever
//! the method, until it is found ended). So this process keeps its own list of the forkserver
//! children it asked for, and [`active_children`] joins the two lists.

use std::fmt;
use std::os::fd::AsFd;
use std::sync::atomic::{AtomicPtr, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use forkway_process::{ProcessError, Signal};

use crate::process::Served;
use crate::{sys, StartError};

/// A forkserver child this process started, as the list keeps it.
pub(crate) struct ServedChild {
    pub(crate) name: String,
    pub(crate) daemon: bool,
    pub(crate) served: Arc<Served>,
}

impl ServedChild {
    fn is_alive(&self) -> bool {
        !matches!(
            sys::wait_readable(self.served.pidfd.as_fd(), Some(Duration::ZERO)),
            Ok(true)
        )
    }
}

/// The list of one process. A forked child inherits its parent's copy, possibly locked by a
/// parent thread at the instant of the fork; it must never touch that copy's mutex, so the
/// list records its owner and a child that finds another pid there makes its own (the
/// inherited one is leaked: a few bytes per fork). The `CLIENT` pattern of `forkserver.rs`.
struct Registry {
    owner: u32,
    children: Mutex<Vec<Arc<ServedChild>>>,
}

static REGISTRY: AtomicPtr<Registry> = AtomicPtr::new(std::ptr::null_mut());

fn registry() -> &'static Registry {
    let me = std::process::id();
    loop {
        let current = REGISTRY.load(Ordering::SeqCst);
        // SAFETY: a non-null REGISTRY points to a leaked, never freed `Registry`.
        if let Some(r) = unsafe { current.as_ref() } {
            if r.owner == me {
                return r;
            }
        }
        let fresh = Box::into_raw(Box::new(Registry {
            owner: me,
            children: Mutex::new(Vec::new()),
        }));
        match REGISTRY.compare_exchange(current, fresh, Ordering::SeqCst, Ordering::SeqCst) {
            // SAFETY: just leaked; never freed.
            Ok(_) => return unsafe { &*fresh },
            Err(_) => {
                // Another thread installed one first: use it.
                // SAFETY: `fresh` came from Box::into_raw above and was never shared.
                drop(unsafe { Box::from_raw(fresh) });
            }
        }
    }
}

/// Records a forkserver child just started; forgets the ones that ended.
pub(crate) fn register(child: ServedChild) {
    let mut children = registry().children.lock().unwrap_or_else(|p| p.into_inner());
    children.retain(|c| c.is_alive());
    children.push(Arc::new(child));
}

/// A started child that was still running when [`active_children`] looked, whatever its start
/// method.
#[derive(Clone)]
pub enum ActiveChild {
    /// A fork or spawn child, or a forkserver child cloned as ours: a child of this very
    /// process.
    Own(forkway_process::ActiveChild),
    /// A forkserver child whose exit code the server relays: the server's child, watched
    /// through its pidfd.
    Served(ServedChildHandle),
}

/// A forkserver child seen by [`active_children`].
#[derive(Clone)]
pub struct ServedChildHandle(Arc<ServedChild>);

impl ActiveChild {
    /// The child's name (`ForkServerProcess-3`, or the one it was given).
    pub fn name(&self) -> String {
        match self {
            ActiveChild::Own(c) => c.name(),
            ActiveChild::Served(c) => c.0.name.clone(),
        }
    }

    /// The child's process id.
    pub fn pid(&self) -> u32 {
        match self {
            ActiveChild::Own(c) => c.pid(),
            ActiveChild::Served(c) => c.0.served.pid,
        }
    }

    /// Whether it is a daemon.
    pub fn daemon(&self) -> bool {
        match self {
            ActiveChild::Own(c) => c.daemon(),
            ActiveChild::Served(c) => c.0.daemon,
        }
    }

    /// Whether it still runs.
    pub fn is_alive(&self) -> bool {
        match self {
            ActiveChild::Own(c) => c.is_alive(),
            ActiveChild::Served(c) => c.0.is_alive(),
        }
    }

    /// Sends SIGTERM, unless the child has ended already.
    ///
    /// # Errors
    /// When the signal cannot be sent.
    pub fn terminate(&self) -> Result<(), StartError> {
        self.signal(Signal::SIGTERM, "terminate")
    }

    /// Sends SIGKILL, unless the child has ended already.
    ///
    /// # Errors
    /// When the signal cannot be sent.
    pub fn kill(&self) -> Result<(), StartError> {
        self.signal(Signal::SIGKILL, "kill")
    }

    fn signal(&self, signal: Signal, op: &'static str) -> Result<(), StartError> {
        match self {
            ActiveChild::Own(c) if signal == Signal::SIGKILL => Ok(c.kill()?),
            ActiveChild::Own(c) => Ok(c.terminate()?),
            ActiveChild::Served(c) => match sys::pidfd_send_signal(c.0.served.pidfd.as_fd(), signal) {
                Err(e) if e.raw_os_error() == Some(libc::ESRCH) => Ok(()),
                Err(e) => Err(ProcessError::Os {
                    op,
                    source: nix::errno::Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)),
                }
                .into()),
                Ok(()) => Ok(()),
            },
        }
    }
}

impl fmt::Debug for ActiveChild {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ActiveChild")
            .field("name", &self.name())
            .field("pid", &self.pid())
            .finish()
    }
}

/// The children this process started that are still running, under every start method.
/// Python's `multiprocessing.active_children()`, which lists forkserver and spawn children
/// too. As in Python (and forkway-process), fork and spawn children that ended are reaped on
/// the way; forkserver children are reaped by their server.
///
/// The forkserver itself and a pool's workers started by it are not hidden: Python lists pool
/// workers, and hides its forkserver, as this does.
pub fn active_children() -> Vec<ActiveChild> {
    let mut all: Vec<ActiveChild> = forkway_process::active_children()
        .into_iter()
        .map(ActiveChild::Own)
        .collect();
    let served: Vec<Arc<ServedChild>> = {
        let mut children = registry().children.lock().unwrap_or_else(|p| p.into_inner());
        children.retain(|c| c.is_alive());
        children.clone()
    };
    all.extend(
        served
            .into_iter()
            .map(|c| ActiveChild::Served(ServedChildHandle(c))),
    );
    all
}
