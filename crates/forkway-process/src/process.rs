//! `Process`: Python's `multiprocessing.Process`, on `fork(2)`.

use std::fmt;
use std::os::fd::{BorrowedFd, IntoRawFd};
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use nix::errno::Errno;
use nix::sys::signal::Signal;
use nix::unistd::{fork, ForkResult};

use forkway_trace::Arg;

use crate::child::{self, IntoExitCode, Target};
use crate::error::ProcessError;
use crate::inner::{Inner, Status, TERMINATE_GRACE};
use crate::state::{self, PARENT_PIDFD};
use crate::sys;

/// A process: a target that runs in a child created with `fork(2)`.
///
/// This is Python's `multiprocessing.Process` with the `fork` start method. The child gets a
/// copy of the parent's memory, so the target may capture anything (a `move` closure); nothing
/// is serialized. The child runs the target, then exits with `_exit`, never returning into the
/// parent's code and never running the parent's destructors or `atexit` handlers.
///
/// ```
/// use forkway_process::Process;
///
/// let mut p = Process::new(|| println!("hello from a child"));
/// p.start()?;
/// p.join()?;
/// assert_eq!(p.exitcode(), Some(0));
/// # Ok::<(), forkway_process::ProcessError>(())
/// ```
///
/// # Exit codes
/// [`exitcode`](Process::exitcode) follows Python: `None` while running, `0` when the target
/// returns, `1` after a panic (its message goes to stderr), `n & 0xFF` after
/// [`exit(n)`](crate::exit) or when the target returns `n`, and `-N` when signal `N` killed it.
///
/// # Dropping a `Process`
/// Every child is reaped; none is left as a zombie.
/// - A running **daemon** is terminated (SIGTERM, then SIGKILL after a grace period) and reaped.
/// - A running **non-daemon** is joined: dropping waits for it, just as Python waits for
///   non-daemon children when the program exits. Call [`terminate`](Process::terminate) first
///   if you do not want to wait.
/// - While the thread is **panicking** (a failing test), any running child is terminated and
///   reaped, so a failed assertion never turns into a hang.
///
/// # Threads and fork
/// `fork` copies only the calling thread. forkway holds its own locks and the locks of Rust's
/// stdout and stderr across the `fork` call, so they are usable in the child, and it prints a
/// one-time warning (like Python 3.12) when the parent has other threads. Locks of your own held
/// by other threads at that moment stay locked forever in the child: start processes before
/// threads when you can. Set `FORKWAY_FORK_WARNING=0` to silence the warning.
pub struct Process {
    inner: Arc<Inner>,
    /// Only ever reached through `&mut self` (`get_mut`, never `lock`): the mutex is there so
    /// that `Process` is `Sync` even though the target closure need not be.
    target: Mutex<Option<Target>>,
}

/// The run method of a process, for the "subclass `Process` and override `run()`" style.
///
/// ```
/// use forkway_process::{Process, Run};
///
/// struct Greeter { who: String }
///
/// impl Run for Greeter {
///     fn run(&mut self) {
///         println!("hello, {}", self.who);
///     }
/// }
///
/// let mut p = Process::from_run(Greeter { who: "egon".into() });
/// p.start()?;
/// p.join()?;
/// # Ok::<(), forkway_process::ProcessError>(())
/// ```
pub trait Run: Send + 'static {
    /// The code the child runs. Use [`exit`](crate::exit) for a non-zero exit code.
    fn run(&mut self);
}

impl Process {
    /// Creates a process that will run `target` in a child once started.
    ///
    /// As in Python, the target's work is its side effects: the exit code is 0 when it returns,
    /// 1 when it panics, `n` after [`exit(n)`](crate::exit). For a target that returns a
    /// `Result` or an exit code, use [`Process::fallible`].
    ///
    /// The process is named `Process-N` (N counts every `Process` this program has created, as
    /// in Python; a child's own children are `Process-N:M`).
    pub fn new<F>(target: F) -> Process
    where
        F: FnOnce() + Send + 'static,
    {
        Process::from_target(Box::new(move || {
            target();
            0
        }))
    }

    /// Creates a process whose target returns its exit code, like `main` may: `()` or `Ok(())`
    /// is 0, `Err(e)` prints `Error: {e:?}` to stderr and is 1, an `i32` is itself.
    ///
    /// ```
    /// use forkway_process::Process;
    ///
    /// let mut p = Process::fallible(|| -> std::io::Result<()> {
    ///     std::fs::read("/no/such/file")?;
    ///     Ok(())
    /// });
    /// p.start()?;
    /// p.join()?;
    /// assert_eq!(p.exitcode(), Some(1));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn fallible<F, R>(target: F) -> Process
    where
        F: FnOnce() -> R + Send + 'static,
        R: IntoExitCode,
    {
        Process::from_target(Box::new(move || target().into_exit_code()))
    }

    pub(crate) fn from_target(target: Target) -> Process {
        let (name, identity) = {
            let mut st = state::lock();
            st.counter += 1;
            let mut identity = st.identity.clone();
            identity.push(st.counter);
            let digits: Vec<String> = identity.iter().map(u32::to_string).collect();
            (format!("Process-{}", digits.join(":")), identity)
        };
        Process {
            inner: Arc::new(Inner {
                name: Mutex::new(name),
                identity,
                daemon: AtomicBool::new(false),
                creator: std::process::id(),
                pid: AtomicI32::new(0),
                pidfd: AtomicI32::new(-1),
                status: Mutex::new(Status::Initial),
                exit_traced: AtomicBool::new(false),
            }),
            target: Mutex::new(Some(target)),
        }
    }

    /// Creates a process whose child calls `runner.run()`.
    pub fn from_run<R: Run>(mut runner: R) -> Process {
        Process::new(move || runner.run())
    }

    /// Sets the name (builder style, before `start`).
    pub fn with_name(mut self, name: impl Into<String>) -> Process {
        self.set_name(name);
        self
    }

    /// Makes the process a daemon (builder style, before `start`).
    pub fn with_daemon(self, daemon: bool) -> Process {
        self.inner.daemon.store(daemon, Ordering::SeqCst);
        self
    }

    /// The process's name. Only used for messages; two processes may share one.
    pub fn name(&self) -> String {
        self.inner.name()
    }

    /// Renames the process. Allowed at any time, as in Python.
    pub fn set_name(&mut self, name: impl Into<String>) {
        *self.inner.name.lock().unwrap_or_else(|p| p.into_inner()) = name.into();
    }

    /// Whether the process is a daemon.
    pub fn daemon(&self) -> bool {
        self.inner.daemon()
    }

    /// Sets the daemon flag. A daemon is terminated when its parent exits or drops it, and dies
    /// with its parent even when the parent is killed by SIGKILL (Linux `PR_SET_PDEATHSIG`,
    /// which Python does not use). A daemon may not start children of its own.
    ///
    /// # Errors
    /// [`ProcessError::AlreadyStarted`] after `start`, as in Python.
    pub fn set_daemon(&mut self, daemon: bool) -> Result<(), ProcessError> {
        if self.inner.status() != Status::Initial {
            return Err(ProcessError::AlreadyStarted);
        }
        self.inner.daemon.store(daemon, Ordering::SeqCst);
        Ok(())
    }

    /// The child's process id, `None` before `start`.
    pub fn pid(&self) -> Option<u32> {
        match self.inner.status() {
            Status::Initial => None,
            _ => Some(self.inner.pid().as_raw() as u32),
        }
    }

    /// Forks the child, which runs the target.
    ///
    /// # Errors
    /// [`StartedTwice`](ProcessError::StartedTwice), [`Closed`](ProcessError::Closed),
    /// [`NotCreator`](ProcessError::NotCreator) for a copy of the handle in another process,
    /// [`DaemonicChildren`](ProcessError::DaemonicChildren) inside a daemon, and
    /// [`Fork`](ProcessError::Fork) when the kernel refuses.
    // ANCHOR: start
    pub fn start(&mut self) -> Result<(), ProcessError> {
        match self.inner.status() {
            Status::Initial => {}
            Status::Closed => return Err(ProcessError::Closed),
            _ => return Err(ProcessError::StartedTwice),
        }
        if !self.inner.is_ours() {
            return Err(ProcessError::NotCreator);
        }
        child::install_panic_hook();
        install_exit_handler();
        warn_if_threaded();
        // Empty the buffers first, or the child would inherit and print a copy of them.
        child::flush_std_streams();

        // Hold every lock the child will need across fork() (see `state`).
        let stdout = std::io::stdout().lock();
        let stderr = std::io::stderr().lock();
        let mut st = state::lock();
        if st.daemon {
            return Err(ProcessError::DaemonicChildren);
        }
        // Made before the fork, so parent and child share it (Python's process authkey).
        st.authkey();
        let Some(target) = self.target_slot().take() else {
            return Err(ProcessError::StartedTwice);
        };
        // `is_ours` just compared it with our pid.
        let parent_pid = self.inner.creator;
        let daemon = self.daemon();
        // Copied here, not in the child: every page the child writes (the allocator's, the
        // name's lock) is one more copy-on-write fault that `join` waits for.
        let name = self.name();
        let identity = self.inner.identity.clone();

        // SAFETY: in the child we only touch state we hold the locks of (std's stdout/stderr,
        // our global state), allocate with the (fork-safe) system allocator, and never return
        // into the caller: `run_child` ends with `_exit`.
        match unsafe { fork() } {
            Err(errno) => {
                *self.target_slot() = Some(target);
                Err(ProcessError::Fork(errno))
            }
            Ok(ForkResult::Child) => {
                st.become_child(name, identity, daemon, parent_pid);
                drop(st);
                drop(stderr);
                drop(stdout);
                child_setup(daemon, parent_pid);
                // `run_child` never returns. Should it panic anyway (an unfinished exercise),
                // the child must still not unwind into the parent's code: that would run the
                // rest of the caller (a whole test suite!) twice.
                let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| child::run_child(target)));
                sys::exit_now(1)
            }
            Ok(ForkResult::Parent { child }) => {
                self.inner.pid.store(child.as_raw(), Ordering::SeqCst);
                if let Some(fd) = sys::pidfd_open(child) {
                    self.inner.pidfd.store(fd.into_raw_fd(), Ordering::SeqCst);
                }
                *self.inner.lock_status() = Status::Running;
                st.children.push(Arc::clone(&self.inner));
                drop(st);
                drop(stderr);
                drop(stdout);
                // The parent's copy of whatever the target captured (a socket, a pipe end) is
                // closed here: only the child should hold it now. Values that own something
                // outside this process (a manager proxy's reference) ask
                // `target_moved_to_child` and leave it to the child.
                child::drop_moved_target(target);
                drop((name, identity));
                Ok(())
            }
        }
    }
    // ANCHOR_END: start

    fn check_child(&self, op: &'static str) -> Result<(), ProcessError> {
        match self.inner.status() {
            Status::Closed => Err(ProcessError::Closed),
            _ if !self.inner.is_ours() => Err(ProcessError::NotAChild { op }),
            Status::Initial => Err(ProcessError::NotStarted { op }),
            _ => Ok(()),
        }
    }

    /// Waits for the child to exit and reaps it.
    ///
    /// # Errors
    /// [`NotStarted`](ProcessError::NotStarted) before `start` (Python: "can only join a
    /// started process"), [`NotAChild`](ProcessError::NotAChild) from another process,
    /// [`Closed`](ProcessError::Closed), and [`Lost`](ProcessError::Lost) when someone else
    /// reaped the child.
    pub fn join(&self) -> Result<(), ProcessError> {
        self.check_child("join")?;
        self.traced_wait(None).map(drop)
    }

    /// `wait`, recorded as a `join` span on the trace.
    fn traced_wait(&self, timeout: Option<Duration>) -> Result<bool, ProcessError> {
        let start = forkway_trace::begin();
        let result = self.inner.wait(timeout);
        if let Some(start) = start {
            let target = Arg::Int(self.inner.pid().as_raw().into());
            forkway_trace::complete(start, "process", "join", 0, &[("target", target)]);
        }
        result
    }

    /// Waits at most `timeout` for the child to exit; whether it exited (and was reaped). Like
    /// Python's `join(timeout)`, running out of time is not an error: it is `Ok(false)`, and
    /// the child runs on. A zero timeout polls once; `Duration::MAX` waits for ever.
    ///
    /// # Errors
    /// As [`join`](Process::join).
    pub fn join_timeout(&self, timeout: Duration) -> Result<bool, ProcessError> {
        self.check_child("join")?;
        self.traced_wait(Some(timeout))
    }

    /// Whether the child is running. False before `start` and after it exited (reaping it, as
    /// Python does). A copy of the handle in another process cannot know and answers false.
    pub fn is_alive(&self) -> bool {
        self.inner.is_ours()
            && self.inner.status() == Status::Running
            && match self.inner.try_reap() {
                Ok(Some(code)) => {
                    self.inner.trace_exit(code);
                    false
                }
                Ok(None) => true,
                Err(_) => false,
            }
    }

    /// The exit code: `None` until the child has exited (it polls, like Python's property),
    /// then `0`, `1` after a panic, `n` after `exit(n)`, `-N` when killed by signal `N`.
    pub fn exitcode(&self) -> Option<i32> {
        if self.inner.is_ours() && self.inner.status() == Status::Running {
            let _ = self.inner.try_reap();
        }
        match self.inner.status() {
            Status::Stopped(code) => {
                self.inner.trace_exit(code);
                Some(code)
            }
            _ => None,
        }
    }

    /// Asks the child to stop with SIGTERM (the child may handle it). A no-op once the child
    /// has exited and been reaped.
    ///
    /// # Errors
    /// [`NotStarted`](ProcessError::NotStarted) before `start`; [`NotAChild`](ProcessError::NotAChild)
    /// from another process; [`Closed`](ProcessError::Closed).
    pub fn terminate(&self) -> Result<(), ProcessError> {
        self.send(Signal::SIGTERM, "terminate")
    }

    /// Kills the child with SIGKILL, which it cannot handle. Otherwise as [`terminate`](Process::terminate).
    ///
    /// # Errors
    /// As [`terminate`](Process::terminate).
    pub fn kill(&self) -> Result<(), ProcessError> {
        self.send(Signal::SIGKILL, "kill")
    }

    /// Sends any signal to the child (Python 3.14's `interrupt()` is `signal(SIGINT)`).
    ///
    /// # Errors
    /// As [`terminate`](Process::terminate).
    pub fn signal(&self, signal: Signal) -> Result<(), ProcessError> {
        self.send(signal, "signal")
    }

    fn send(&self, signal: Signal, op: &'static str) -> Result<(), ProcessError> {
        if self.inner.is_ours() {
            self.inner.send_signal(signal, op)
        } else {
            Err(ProcessError::NotAChild { op })
        }
    }

    /// A file descriptor that becomes readable when the child exits (a Linux pidfd), for use with
    /// `poll` or [`wait`](crate::wait). Python's `Process.sentinel`.
    ///
    /// # Errors
    /// [`NoSentinel`](ProcessError::NoSentinel) before `start`; [`Closed`](ProcessError::Closed);
    /// [`Os`](ProcessError::Os) when the kernel offers no pidfds (Linux < 5.3).
    pub fn sentinel(&self) -> Result<BorrowedFd<'_>, ProcessError> {
        match self.inner.status() {
            Status::Closed => return Err(ProcessError::Closed),
            Status::Initial => return Err(ProcessError::NoSentinel),
            _ => {}
        }
        self.inner.pidfd().ok_or(ProcessError::Os {
            op: "pidfd_open",
            source: Errno::ENOSYS,
        })
    }

    /// Releases the process's resources (its pidfd). Afterwards every method but `name` returns
    /// [`Closed`](ProcessError::Closed). Closing twice is a no-op.
    ///
    /// # Errors
    /// [`StillRunning`](ProcessError::StillRunning) while the child runs, as in Python.
    pub fn close(&mut self) -> Result<(), ProcessError> {
        match self.inner.status() {
            Status::Closed => return Ok(()),
            Status::Running if matches!(self.inner.try_reap(), Ok(None)) => {
                return Err(ProcessError::StillRunning)
            }
            _ => {}
        }
        *self.inner.lock_status() = Status::Closed;
        sys::close_raw(self.inner.pidfd.swap(-1, Ordering::SeqCst));
        state::lock().forget_child(&self.inner);
        *self.target_slot() = None;
        Ok(())
    }

    /// Leaves this started child out of the exit cleanup and out of
    /// [`active_children`](crate::active_children): the program's exit neither waits for it nor terminates it.
    /// For a service process that ends by itself when its owner's end of a socket closes — a
    /// forkserver, which Python does not list among the active children either. `join`,
    /// `kill` and the other methods work as before.
    pub fn detach_from_exit(&self) {
        state::lock().forget_child(&self.inner);
    }

    pub(crate) fn target_slot(&mut self) -> &mut Option<Target> {
        self.target.get_mut().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn inner(&self) -> &Arc<Inner> {
        &self.inner
    }
}

/// Python's `repr`: `<Process name='Process-1' pid=9616 parent=9575 started daemon>`.
impl fmt::Debug for Process {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<Process name={:?}", self.name())?;
        if let Some(pid) = self.pid() {
            write!(f, " pid={pid}")?;
        }
        write!(f, " parent={}", self.inner.creator)?;
        match self.inner.status() {
            Status::Initial => write!(f, " initial")?,
            Status::Running => write!(f, " started")?,
            Status::Stopped(code) => match Signal::try_from(-code) {
                Ok(sig) if code < 0 => write!(f, " stopped exitcode=-{sig}")?,
                _ => write!(f, " stopped exitcode={code}")?,
            },
            Status::Lost => write!(f, " lost")?,
            Status::Closed => write!(f, " closed")?,
        }
        if self.daemon() {
            write!(f, " daemon")?;
        }
        write!(f, ">")
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        if self.inner.status() != Status::Running || !self.inner.is_ours() {
            return;
        }
        if std::thread::panicking() {
            self.inner.stop_during_panic(TERMINATE_GRACE);
        } else if self.daemon() {
            self.inner.stop(TERMINATE_GRACE);
        } else {
            let _ = self.inner.wait(None);
        }
    }
}

/// Runs in the child right after `fork`, before the target.
pub(crate) fn child_setup(daemon: bool, parent_pid: u32) {
    if forkway_trace::enabled() {
        let pid = std::process::id();
        forkway_trace::name_process(pid, &crate::functions::current_process().name);
        forkway_trace::instant("process", "start", 0, &[("parent", Arg::Int(parent_pid.into()))]);
    }
    // The pidfd inherited from our parent watches our grandparent: not ours to keep. Our own
    // parent's pidfd is opened when `parent_process()` first asks (see `functions`), which
    // keeps two system calls off every start.
    sys::close_raw(PARENT_PIDFD.swap(-1, Ordering::SeqCst));
    if daemon {
        // Die with the parent even if it is SIGKILLed and runs no cleanup at all. If it died
        // before this line, no signal will come: end now, as the signal would have.
        let _ = sys::set_parent_death_signal(Signal::SIGKILL);
        if nix::unistd::getppid().as_raw() as u32 != parent_pid {
            let _ = nix::sys::signal::raise(Signal::SIGKILL);
        }
    }
}

/// Python's `util._exit_function`, registered with `atexit` on the first start: when the
/// program exits normally, terminate daemon children, then wait for the others.
pub(crate) fn install_exit_handler() {
    // Reads FORKWAY_TRACE in the root, before the first fork, so that the root (whose `atexit`
    // merges the trace after this one has waited for the children) is the one that set it up.
    let _ = forkway_trace::enabled();
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // SAFETY: `at_exit` is an `extern "C" fn()` that never unwinds (it catches panics).
        unsafe {
            libc::atexit(at_exit);
        }
    });
}

extern "C" fn at_exit() {
    exit_cleanup();
}

/// Terminates daemon children and waits for the others. Runs at a normal exit of the main
/// process (from `atexit`) and of every child (from its bootstrap, before `_exit`).
pub(crate) fn exit_cleanup() {
    let _ = std::panic::catch_unwind(|| {
        let children: Vec<Arc<Inner>> = state::lock().children.clone();
        for child in children.iter().filter(|c| c.daemon()) {
            let _ = child.send_signal(Signal::SIGTERM, "terminate");
        }
        for child in &children {
            if child.daemon() {
                child.stop(TERMINATE_GRACE);
            } else {
                let _ = child.wait(None);
            }
        }
    });
}

/// Prints Python 3.12's warning, once, when forking from a multi-threaded process.
fn warn_if_threaded() {
    static WARNED: AtomicBool = AtomicBool::new(false);
    if WARNED.load(Ordering::Relaxed) {
        return;
    }
    // Counting the threads reads /proc; a process that never made one answers from memory.
    if sys::never_threaded() {
        return;
    }
    if std::env::var_os("FORKWAY_FORK_WARNING").is_some_and(|v| v == "0") {
        WARNED.store(true, Ordering::Relaxed);
        return;
    }
    let Some(threads) = sys::thread_count().filter(|&n| n > 1) else {
        return;
    };
    WARNED.store(true, Ordering::Relaxed);
    eprintln!(
        "forkway: warning: this process (pid={}) has {threads} threads; fork() copies only \
         the calling thread, so a lock another thread holds stays locked in the child. \
         Start processes before threads where you can (FORKWAY_FORK_WARNING=0 silences this).",
        std::process::id()
    );
}
