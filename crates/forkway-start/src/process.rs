//! A process made by a [`Context`](crate::Context): one handle whatever the start method.

use std::fmt;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use forkway_process::{ProcessError, Signal};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::forkserver::{self, Request};
use crate::target::{entry_offset, Payload, Target, MAX_ARG_FDS};
use crate::{spawn, sys, StartError, StartMethod};

/// A child process started by a [`Context`](crate::Context). Python's `ctx.Process`.
///
/// The same calls work whatever the start method: `start`, `join`, `join_timeout`,
/// `is_alive`, `exitcode`, `pid`, `terminate`, `kill`. Exit codes are Python's: 0, 1 after a
/// panic, `n` for `exit(n)` or a returned `n`, `-N` when killed by signal N.
///
/// ```
/// use forkway_start::{Context, StartMethod};
///
/// fn greet(name: String, times: u32) -> i32 {
///     assert_eq!(name, "forkserver");
///     times as i32
/// }
///
/// let mut p = Context::new(StartMethod::Forkserver).process(greet, ("forkserver".to_owned(), 3));
/// p.start()?;
/// p.join()?;
/// assert_eq!(p.exitcode(), Some(3));
/// # Ok::<(), forkway_start::StartError>(())
/// ```
pub struct Process {
    method: StartMethod,
    name: String,
    daemon: bool,
    state: State,
}

enum State {
    /// `fork`, before and after start: forkway-process does everything.
    Fork(forkway_process::Process),
    /// `forkserver` or `spawn`, not started: the request, or why it cannot be made.
    Ready(Option<Result<(Payload, Vec<OwnedFd>), forkway_ipc::EncodeError>>),
    /// Started, and a child of this process that forkway-process adopted: under `spawn` the
    /// program run again with `posix_spawn`, under `forkserver` a child the server cloned as
    /// ours.
    Adopted(forkway_process::Process),
    /// `forkserver`, started, a child of the server's whose exit code the server relays.
    Served(Arc<Served>),
}

/// A forkserver child seen from the caller (see the `forkserver` module for why it looks so).
pub(crate) struct Served {
    pub(crate) pid: u32,
    pub(crate) pidfd: OwnedFd,
    /// Becomes readable when the server writes the exit code (or ends).
    status: OwnedFd,
    /// The exit code once read; `Err` when the server ended without sending one.
    code: Mutex<Option<Result<i32, ()>>>,
}

/// How a start that did not give relay handles ended (see `Process::ask_forkserver`).
enum Asked {
    Sibling(forkway_process::Process),
    Failed(StartError),
}

/// What the forkserver's answer was, inside `start_exec`.
enum Adopting {
    Relayed(forkserver::Started),
    Failed(StartError),
}

impl From<ProcessError> for Adopting {
    fn from(e: ProcessError) -> Adopting {
        Adopting::Failed(e.into())
    }
}

/// Python numbers processes per class: `ForkServerProcess-1`, `SpawnProcess-2`.
static COUNTER: AtomicU64 = AtomicU64::new(0);

impl Process {
    pub(crate) fn new<F, Args>(method: StartMethod, target: F, args: Args) -> Process
    where
        F: Target<Args>,
        Args: Serialize + DeserializeOwned + Send + 'static,
    {
        // Measured for every method, so a capturing closure fails to compile under all of them.
        let entry = entry_offset(target);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed) + 1;
        let class = match method {
            StartMethod::Fork => "ForkProcess",
            StartMethod::Forkserver => "ForkServerProcess",
            StartMethod::Spawn => "SpawnProcess",
        };
        let state = match method {
            StartMethod::Fork => {
                State::Fork(forkway_process::Process::fallible(move || target.call_with(args)))
            }
            StartMethod::Forkserver | StartMethod::Spawn => State::Ready(Some(
                forkway_ipc::fds::encode_with_fds(&args).map(|(args, fds)| {
                    let exe = sys::exe_identity().unwrap_or((0, 0));
                    let payload = Payload {
                        exe,
                        entry,
                        args,
                        fds: Vec::new(),
                    };
                    (payload, fds)
                }),
            )),
        };
        Process {
            method,
            name: format!("{class}-{n}"),
            daemon: false,
            state,
        }
    }

    /// Sets the name (Python's `name=`).
    pub fn with_name(mut self, name: impl Into<String>) -> Process {
        self.name = name.into();
        self
    }

    /// Makes it a daemon (Python's `daemon=True`): terminated when its parent exits, killed
    /// when its parent dies. A forkserver daemon dies with the server, which dies with you.
    pub fn with_daemon(mut self, daemon: bool) -> Process {
        self.daemon = daemon;
        self
    }

    /// The process's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The start method it was made with.
    pub fn start_method(&self) -> StartMethod {
        self.method
    }

    /// Starts the child.
    ///
    /// # Errors
    /// [`MissingEntryHook`](StartError::MissingEntryHook) under spawn when the program never
    /// called [`bootstrap`](crate::bootstrap); [`Args`](StartError::Args) when the arguments
    /// do not serialize; [`Forkserver`](StartError::Forkserver) when the server cannot be
    /// reached; forkway-process's errors (starting twice, in a daemon, fork failures).
    pub fn start(&mut self) -> Result<(), StartError> {
        let payload = match &mut self.state {
            State::Fork(p) => {
                if p.pid().is_none() {
                    p.set_name(self.name.clone());
                    p.set_daemon(self.daemon)?;
                }
                return Ok(p.start()?);
            }
            State::Adopted(_) | State::Served(_) => return Err(ProcessError::StartedTwice.into()),
            State::Ready(payload) => match payload.take() {
                None => return Err(ProcessError::StartedTwice.into()),
                Some(Err(e)) => return Err(StartError::Args(e)),
                Some(Ok(prepared)) => prepared,
            },
        };
        let (payload, fds) = payload;
        if fds.len() > MAX_ARG_FDS {
            self.state = State::Ready(Some(Ok((payload, fds))));
            return Err(StartError::Spawn {
                op: "pass the arguments",
                source: std::io::Error::other(format!(
                    "more than {MAX_ARG_FDS} descriptors (queues, locks, connections) in one target's arguments"
                )),
            });
        }
        let started = match self.method {
            StartMethod::Spawn => spawn::start(&payload, &fds, self.name.clone(), self.daemon)
                .map(State::Adopted)
                .map_err(Asked::Failed),
            _ => self.ask_forkserver(&payload, &fds).map(|s| {
                let served = Arc::new(Served {
                    pid: s.pid,
                    pidfd: s.pidfd,
                    status: s.status,
                    code: Mutex::new(None),
                });
                // Listed by `active_children()` until it ends, as Python lists it.
                crate::children::register(crate::children::ServedChild {
                    name: self.name.clone(),
                    daemon: self.daemon,
                    served: Arc::clone(&served),
                });
                State::Served(served)
            }),
        };
        let started = match started {
            Err(Asked::Sibling(p)) => Ok(State::Adopted(p)),
            Err(Asked::Failed(e)) => Err(e),
            Ok(state) => Ok(state),
        };
        match started {
            Ok(state) => {
                self.state = state;
                Ok(())
            }
            Err(e) => {
                // Not started: a later `start` may try again.
                self.state = State::Ready(Some(Ok((payload, fds))));
                Err(e)
            }
        }
    }

    /// Asks the server for the child. A child it cloned as ours is adopted like a spawned one
    /// (`Err(Asked::Sibling)`, so that the two outcomes share one `match`); a child of its own
    /// comes back as the handles of the relay.
    fn ask_forkserver(&self, payload: &Payload, fds: &[OwnedFd]) -> Result<forkserver::Started, Asked> {
        let request = Request {
            payload: payload.clone(),
            name: self.name.clone(),
            daemon: self.daemon,
            parent_name: forkway_process::current_process().name,
        };
        let mut adopted = forkway_process::Process::for_exec()
            .with_name(self.name.clone())
            .with_daemon(self.daemon);
        // Through `start_exec`, which refuses before the request is sent when this process may
        // not have children (a daemon), and registers the child before anyone can wait for it.
        match adopted.start_exec(|| match forkserver::start(&request, fds) {
            Ok(forkserver::Reply::Sibling(pid)) => Ok(pid),
            Ok(forkserver::Reply::Relayed(started)) => Err(Adopting::Relayed(started)),
            Err(e) => Err(Adopting::Failed(e)),
        }) {
            Ok(()) => Err(Asked::Sibling(adopted)),
            Err(Adopting::Relayed(started)) => Ok(started),
            Err(Adopting::Failed(e)) => Err(Asked::Failed(e)),
        }
    }

    /// Waits for the child to end. Python's `join()`.
    ///
    /// # Errors
    /// Before `start`: "can only join a started process". Under forkserver,
    /// [`ExitStatusLost`](StartError::ExitStatusLost) when the server died first.
    pub fn join(&self) -> Result<(), StartError> {
        self.wait(None).map(|_| ())
    }

    /// Waits at most `timeout` for the child to end; true when it has. Python's
    /// `join(timeout)` (which returns `None`; check `exitcode` there).
    ///
    /// # Errors
    /// As [`join`](Process::join).
    pub fn join_timeout(&self, timeout: Duration) -> Result<bool, StartError> {
        self.wait(Some(timeout))
    }

    fn wait(&self, timeout: Option<Duration>) -> Result<bool, StartError> {
        match &self.state {
            State::Fork(p) | State::Adopted(p) => {
                match timeout {
                    None => p.join()?,
                    Some(t) => {
                        p.join_timeout(t)?;
                    }
                }
                Ok(p.exitcode().is_some())
            }
            State::Ready(_) => Err(ProcessError::NotStarted { op: "join" }.into()),
            State::Served(s) => s.wait(timeout),
        }
    }

    /// True from `start` until the child ends. Python's `is_alive()`.
    pub fn is_alive(&self) -> bool {
        match &self.state {
            State::Fork(p) | State::Adopted(p) => p.is_alive(),
            State::Ready(_) => false,
            State::Served(s) => !matches!(
                sys::wait_readable(s.pidfd.as_fd(), Some(Duration::ZERO)),
                Ok(true)
            ),
        }
    }

    /// The exit code once the child ended, else `None`. Python's `exitcode`. Under
    /// forkserver, `None` also when the server died before relaying it.
    pub fn exitcode(&self) -> Option<i32> {
        match &self.state {
            State::Fork(p) | State::Adopted(p) => p.exitcode(),
            State::Ready(_) => None,
            State::Served(s) => match s.wait(Some(Duration::ZERO)) {
                Ok(true) => s.code.lock().ok().and_then(|c| c.and_then(Result::ok)),
                _ => None,
            },
        }
    }

    /// The child's process id once started. Python's `pid`.
    pub fn pid(&self) -> Option<u32> {
        match &self.state {
            State::Fork(p) | State::Adopted(p) => p.pid(),
            State::Ready(_) => None,
            State::Served(s) => Some(s.pid),
        }
    }

    /// Sends SIGTERM. Python's `terminate()`.
    ///
    /// # Errors
    /// Before `start`: "can only terminate a started process".
    pub fn terminate(&self) -> Result<(), StartError> {
        self.signal(Signal::SIGTERM, "terminate")
    }

    /// Sends SIGKILL. Python's `kill()`.
    ///
    /// # Errors
    /// As [`terminate`](Process::terminate).
    pub fn kill(&self) -> Result<(), StartError> {
        self.signal(Signal::SIGKILL, "kill")
    }

    fn signal(&self, signal: Signal, op: &'static str) -> Result<(), StartError> {
        match &self.state {
            State::Fork(p) | State::Adopted(p) => Ok(p.signal(signal)?),
            State::Ready(_) => Err(ProcessError::NotStarted { op }.into()),
            State::Served(s) => match sys::pidfd_send_signal(s.pidfd.as_fd(), signal) {
                // Already ended (and reaped by the server): nothing to signal, as in Python.
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

    /// A descriptor that becomes readable when the child ends (a pidfd). Python's `sentinel`.
    ///
    /// # Errors
    /// Before `start`: "process not started".
    pub fn sentinel(&self) -> Result<BorrowedFd<'_>, StartError> {
        match &self.state {
            State::Fork(p) | State::Adopted(p) => Ok(p.sentinel()?),
            State::Ready(_) => Err(ProcessError::NoSentinel.into()),
            State::Served(s) => Ok(s.pidfd.as_fd()),
        }
    }
}

impl Served {
    fn wait(&self, timeout: Option<Duration>) -> Result<bool, StartError> {
        let known = self.code.lock().unwrap_or_else(|p| p.into_inner()).is_some();
        if !known {
            // Waited for without the lock, so that `exitcode()` on another thread never blocks
            // behind a `join()`.
            let ready =
                sys::wait_readable(self.status.as_fd(), timeout).map_err(|e| StartError::Forkserver {
                    op: "wait",
                    source: e,
                })?;
            if !ready {
                return Ok(false);
            }
        }
        let mut code = self.code.lock().unwrap_or_else(|p| p.into_inner());
        if code.is_none() {
            // The pipe is non-blocking and readable: the code (or EOF) is there, and only the
            // holder of the lock reads it.
            let mut bytes = [0u8; 4];
            *code = match nix::unistd::read(&self.status, &mut bytes) {
                Ok(4) => Some(Ok(i32::from_le_bytes(bytes))),
                Err(nix::errno::Errno::EAGAIN) => return Ok(false),
                _ => Some(Err(())),
            };
        }
        match *code {
            Some(Ok(_)) => Ok(true),
            _ => {
                // The server ended without a code: wait for the child itself (its pidfd
                // works for a non-parent too), then say the code is lost.
                drop(code);
                let ended = sys::wait_readable(self.pidfd.as_fd(), timeout).unwrap_or(false);
                if ended {
                    Err(StartError::ExitStatusLost { pid: self.pid })
                } else {
                    Ok(false)
                }
            }
        }
    }
}

impl fmt::Debug for Process {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Process")
            .field("name", &self.name)
            .field("method", &self.method)
            .field("pid", &self.pid())
            .field("exitcode", &self.exitcode())
            .finish()
    }
}
