//! The spawn start method: run this program again and have it call the target.
//!
//! The child is started with `posix_spawn` of `/proc/self/exe` — the very file the caller runs,
//! even if it was replaced on disk since — and adopted as a forkway-process child
//! ([`Process::start_exec`](forkway_process::Process::start_exec)), so it is the caller's child
//! for `join`, `exitcode`, signals, `active_children` and the exit cleanup. Nothing of the caller
//! is copied, not even its page tables, so the start costs the same from a small parent as from
//! one holding gigabytes (the note above `FileActions` says why `posix_spawn`).
//!
//! The new image starts from `main` like any run of the program, so the program must hand
//! control over first thing: [`bootstrap`] finds the marker `FORKWAY_SPAWN_FD` in its
//! environment, reads the request (target offset and arguments) from that inherited memfd,
//! runs the target and exits with its code. In the caller, `bootstrap` only records that it was
//! called; starting a spawn process in a program that never called it is
//! [`MissingEntryHook`](crate::StartError::MissingEntryHook).
//!
//! # Under `cargo test`
//! A test binary's `main` belongs to libtest, so the hook goes at the top of the test instead,
//! and the child re-runs the test binary with `--exact <this test's name> --test-threads=1`:
//! libtest runs that one test, whose first line — `bootstrap()` — takes over. `bootstrap`
//! learns the test's name from its thread (libtest names each test's thread after the test).
//! The harness's own `running 1 test` banner goes to `/dev/null`: stdout is parked there
//! until `bootstrap` puts the real one back (`FORKWAY_SPAWN_STDOUT`).

use std::cell::RefCell;
use std::ffi::{CString, OsString};
use std::io::Write;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::sync::atomic::{AtomicBool, Ordering};

use forkway_ipc::codec;

use crate::target::Payload;
use crate::{sys, StartError};

/// The environment variable naming the inherited memfd that holds a spawned child's request.
pub const SPAWN_FD_VAR: &str = "FORKWAY_SPAWN_FD";
/// The environment variable naming the descriptor that holds the real stdout in test mode.
const STDOUT_VAR: &str = "FORKWAY_SPAWN_STDOUT";
/// Set for a daemon: the pid of the parent it must die with (`PR_SET_PDEATHSIG`).
const DAEMON_OF_VAR: &str = "FORKWAY_SPAWN_DAEMON_OF";

/// Set in a spawned child once it took over its request: a spawned child that starts spawn
/// processes *without* having taken it over never reached the hook, and would start copies of
/// itself for ever.
static REQUEST_TAKEN: AtomicBool = AtomicBool::new(false);

/// Set by [`bootstrap`] on a program's main thread.
static PROGRAM_HOOK: AtomicBool = AtomicBool::new(false);

thread_local! {
    /// Set by [`bootstrap`] on a test's thread: the test to re-run.
    static TEST_HOOK: RefCell<Option<String>> = const { RefCell::new(None) };
}

// ANCHOR: bootstrap
/// The entry hook for the spawn start method. Call it first thing in `main` — and, under
/// `cargo test`, first thing in each test that starts spawn processes:
///
/// ```no_run
/// fn main() {
///     forkway_start::bootstrap();
///     // … the program, which may now start spawn processes
/// }
/// ```
///
/// In a spawned child it never returns: it runs the target the parent asked for and exits with
/// its exit code (0, 1 after a panic, `n` for `exit(n)` or a returned `n`). Anywhere else it
/// returns at once. Python needs no such call because its child imports the main module
/// instead of running it; a Rust program cannot be imported, only run, so `main` must step
/// aside.
#[allow(clippy::needless_doctest_main)] // `main` is the point of the example
pub fn bootstrap() {
    // ANCHOR: exercise_7_3
    // Recorded first: a spawned child's target may spawn too, and re-runs the same way.
    match std::thread::current().name() {
        Some("main") | None => PROGRAM_HOOK.store(true, Ordering::SeqCst),
        Some(test) => {
            let test = test.to_owned();
            TEST_HOOK.with(|t| *t.borrow_mut() = Some(test));
        }
    }
    if let Some(fd) = std::env::var_os(SPAWN_FD_VAR) {
        run_spawned(&fd);
    }
    // ANCHOR_END: exercise_7_3
}
// ANCHOR_END: bootstrap

/// The child side: read the request, run it, exit.
fn run_spawned(fd: &std::ffi::OsStr) -> ! {
    REQUEST_TAKEN.store(true, Ordering::SeqCst);
    die_with_parent_if_daemon();
    restore_stdout();
    let code = match read_request(fd) {
        Ok((payload, fds)) => {
            match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| payload.run(fds))) {
                Ok(code) => code,
                // The panic hook has already printed the message, as for any main thread.
                Err(payload) => forkway_process::requested_exit_code(payload.as_ref()).unwrap_or(1),
            }
        }
        Err(message) => {
            eprintln!("forkway: spawned child: {message}");
            1
        }
    };
    let _ = std::io::stdout().flush();
    let _ = std::io::stderr().flush();
    // A normal exit: atexit handlers run, so children the target started are waited for.
    std::process::exit(code)
}

fn read_request(fd: &std::ffi::OsStr) -> Result<(Payload, Vec<OwnedFd>), String> {
    let fd: RawFd = fd
        .to_str()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("{SPAWN_FD_VAR} is not a descriptor number"))?;
    // The descriptor must be a memfd we were given, not something else the number reused.
    let link =
        std::fs::read_link(format!("/proc/self/fd/{fd}")).map_err(|e| format!("{SPAWN_FD_VAR}={fd}: {e}"))?;
    if !link.as_os_str().as_bytes().starts_with(b"/memfd:forkway-spawn") {
        return Err(format!("{SPAWN_FD_VAR}={fd} is not a forkway request"));
    }
    // SAFETY: the parent handed us this descriptor for us alone, and we checked it is the
    // memfd it made; we take it over and close it after reading.
    let owned = unsafe { OwnedFd::from_raw_fd(fd) };
    let bytes = sys::read_all(owned).map_err(|e| format!("reading the request: {e}"))?;
    let payload = codec::decode::<Payload>(&bytes).map_err(|e| format!("decoding the request: {e}"))?;
    let mut fds = Vec::with_capacity(payload.fds.len());
    for &n in &payload.fds {
        // Only what an argument can be — a shared object's memfd, a Connection's socket or
        // pipe, a SimpleQueue's pipe — inherited for this: a file or a terminal under that
        // number (the parent's list is wrong) is refused.
        let link = std::fs::read_link(format!("/proc/self/fd/{n}"))
            .map_err(|e| format!("argument descriptor {n}: {e}"))?;
        let link = link.as_os_str().as_bytes();
        if ![&b"/memfd:"[..], b"socket:[", b"pipe:["]
            .iter()
            .any(|kind| link.starts_with(kind))
        {
            return Err(format!(
                "argument descriptor {n} is not a memfd, a socket or a pipe"
            ));
        }
        // SAFETY: the parent passed descriptor `n` for this request alone, and it is open and of
        // a kind an argument has (checked above); we own it from here.
        let fd = unsafe { OwnedFd::from_raw_fd(n) };
        // Inheritable only to get here: a program this child runs later must not hold it (a
        // Connection's copy there would keep its peer from ever seeing EOF).
        nix::fcntl::fcntl(&fd, nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::FD_CLOEXEC))
            .map_err(|e| format!("argument descriptor {n}: {e}"))?;
        fds.push(fd);
    }
    Ok((payload, fds))
}

/// A daemon dies with its parent even when the parent is SIGKILLed and runs no cleanup: the
/// forked child used to ask for that before its exec, the program asks now, the first thing it
/// does (`PR_SET_PDEATHSIG`). Should the parent have died before the request was made, no
/// signal will come: a parent other than the one the environment names (we were reparented)
/// means end now, as the signal would have ended us.
fn die_with_parent_if_daemon() {
    let Some(parent) =
        std::env::var_os(DAEMON_OF_VAR).and_then(|v| v.to_str().and_then(|s| s.parse::<u32>().ok()))
    else {
        return;
    };
    let _ = sys::die_with_parent();
    if nix::unistd::getppid().as_raw() as u32 != parent {
        let _ = nix::sys::signal::raise(nix::sys::signal::Signal::SIGKILL);
    }
}

/// Puts back the stdout the parent parked in [`STDOUT_VAR`] (test mode).
fn restore_stdout() {
    let Some(fd) =
        std::env::var_os(STDOUT_VAR).and_then(|v| v.to_str().and_then(|s| s.parse::<RawFd>().ok()))
    else {
        return;
    };
    let _ = std::io::stdout().flush();
    // SAFETY: the parent passed this descriptor (a copy of its stdout) for exactly this; we
    // own it from here and close it once it is in place as fd 1.
    let saved = unsafe { OwnedFd::from_raw_fd(fd) };
    // SAFETY: fd 1 is std's stdout, which stays open; dup2 replaces it atomically.
    unsafe {
        libc::dup2(saved.as_raw_fd(), 1);
    }
}

/// What the child is run as: a program (argv0 only) or one test of a test binary.
enum Rerun {
    Program,
    Test(String),
}

fn rerun() -> Result<Rerun, StartError> {
    if std::env::var_os(SPAWN_FD_VAR).is_some() && !REQUEST_TAKEN.load(Ordering::SeqCst) {
        // We are a spawned child that never ran `bootstrap`'s takeover: refuse, or every
        // generation would spawn the next.
        return Err(StartError::MissingEntryHook);
    }
    if let Some(test) = TEST_HOOK.with(|t| t.borrow().clone()) {
        return Ok(Rerun::Test(test));
    }
    if PROGRAM_HOOK.load(Ordering::SeqCst) {
        return Ok(Rerun::Program);
    }
    Err(StartError::MissingEntryHook)
}

fn cstring(s: impl Into<Vec<u8>>) -> Result<CString, StartError> {
    CString::new(s).map_err(|e| StartError::Spawn {
        op: "argv",
        source: std::io::Error::other(e),
    })
}

/// Starts the program again as a forkway-process child that runs `payload`, and returns that
/// child.
pub(crate) fn start(
    payload: &Payload,
    arg_fds: &[OwnedFd],
    name: String,
    daemon: bool,
) -> Result<forkway_process::Process, StartError> {
    let rerun = rerun()?;
    let io = |op| move |source| StartError::Spawn { op, source };
    // The argument descriptors keep their numbers across the exec (a file action below clears
    // their close-on-exec flag in the child only); the child learns the numbers from the request.
    let mut payload = payload.clone();
    payload.fds = arg_fds.iter().map(AsRawFd::as_raw_fd).collect();
    let bytes = codec::encode(&payload).map_err(StartError::Args)?;
    let request = sys::memfd_with("forkway-spawn", &bytes).map_err(io("memfd"))?;

    let exe = cstring("/proc/self/exe")?;
    let argv0: OsString = std::env::args_os()
        .next()
        .unwrap_or_else(|| "forkway-spawn".into());
    let mut argv = vec![cstring(argv0.as_bytes())?];
    // In test mode: stdout is parked on /dev/null until `bootstrap`, the real one kept here.
    let mut parked: Option<(OwnedFd, OwnedFd)> = None;
    if let Rerun::Test(name) = &rerun {
        for arg in ["--exact", name.as_str(), "--test-threads=1", "--nocapture", "-q"] {
            argv.push(cstring(arg)?);
        }
        let saved = nix::fcntl::fcntl(
            std::io::stdout().as_fd(),
            nix::fcntl::FcntlArg::F_DUPFD_CLOEXEC(3),
        )
        .map_err(|e| io("dup stdout")(e.into()))?;
        // SAFETY: fcntl just returned this new descriptor; we own it.
        let saved = unsafe { OwnedFd::from_raw_fd(saved) };
        let null = std::fs::File::options()
            .write(true)
            .open("/dev/null")
            .map_err(io("open /dev/null"))?;
        parked = Some((saved, OwnedFd::from(null)));
    }
    let mut env: Vec<CString> = Vec::new();
    for (key, value) in std::env::vars_os() {
        if key == SPAWN_FD_VAR || key == STDOUT_VAR || key == DAEMON_OF_VAR {
            continue;
        }
        let mut kv = key.as_bytes().to_vec();
        kv.push(b'=');
        kv.extend_from_slice(value.as_bytes());
        env.push(cstring(kv)?);
    }
    env.push(cstring(format!("{SPAWN_FD_VAR}={}", request.as_raw_fd()))?);
    if let Some((saved, _)) = &parked {
        env.push(cstring(format!("{STDOUT_VAR}={}", saved.as_raw_fd()))?);
    }
    if daemon {
        env.push(cstring(format!("{DAEMON_OF_VAR}={}", std::process::id()))?);
    }

    // What the child does between its birth and the exec: descriptors only.
    let mut actions = FileActions::new().map_err(io("posix_spawn_file_actions_init"))?;
    actions
        .inherit(request.as_raw_fd())
        .map_err(io("posix_spawn_file_actions"))?;
    for fd in arg_fds {
        actions
            .inherit(fd.as_raw_fd())
            .map_err(io("posix_spawn_file_actions"))?;
    }
    if let Some((saved, null)) = &parked {
        actions
            .inherit(saved.as_raw_fd())
            .map_err(io("posix_spawn_file_actions"))?;
        actions
            .dup2(null.as_raw_fd(), 1)
            .map_err(io("posix_spawn_file_actions"))?;
    }

    let mut p = forkway_process::Process::for_exec()
        .with_name(name)
        .with_daemon(daemon);
    p.start_exec(|| posix_spawn(&exe, &argv, &env, &actions).map_err(io("posix_spawn")))?;
    // `request`, `parked` and `actions` are dropped here: the child has its own copies of the
    // descriptors it needs.
    Ok(p)
}

// Why `posix_spawn` and not `fork` + `execve`, nor a hand-made `clone`: `fork` copies the
// parent's page tables, which costs in proportion to the parent's resident memory (a 4 GiB
// parent paid a hundred times a bare exec) for a copy that the exec throws away at once. glibc's
// `posix_spawn` (2.24+) starts the child with `clone(CLONE_VM | CLONE_VFORK)` on a stack of its
// own: no copy, and the parent thread waits only until the exec. Everything the child must do
// before the exec is a file action: keep the request and argument descriptors open (`adddup2`
// of a descriptor onto itself clears FD_CLOEXEC in the child, glibc 2.29+), park stdout. glibc
// also reports the exec's own failure as the call's error and reaps the failed child, so an
// exec failure is an error here, not a child that exits 127. A raw `clone` would give nothing
// more and would have to get async-signal-safety, the signal mask and the stack right by hand.
//
// No spawn attributes: like the forked child before its exec, the new program inherits the
// calling thread's signal mask and the ignored signals, and the exec resets caught signals to
// their defaults. What the forked child used to do for a daemon before the exec (dying with its
// parent) the program now does itself, first thing in `bootstrap` (see `run_spawned`).

/// `posix_spawn_file_actions_t`, boxed so that it never moves after `init`, destroyed on drop.
struct FileActions(Box<libc::posix_spawn_file_actions_t>);

impl FileActions {
    fn new() -> std::io::Result<FileActions> {
        // SAFETY: an all-zero value is a valid bit pattern for this plain C struct, and `init`
        // below overwrites it before any other use.
        let mut actions = FileActions(Box::new(unsafe { std::mem::zeroed() }));
        // SAFETY: the pointer is to a live, exclusively owned object; init fills it in.
        let rc = unsafe { libc::posix_spawn_file_actions_init(&mut *actions.0) };
        if rc == 0 {
            Ok(actions)
        } else {
            // Not initialized: must not be destroyed.
            std::mem::forget(actions);
            Err(std::io::Error::from_raw_os_error(rc))
        }
    }

    /// In the child: `dup2(from, to)`.
    fn dup2(&mut self, from: RawFd, to: RawFd) -> std::io::Result<()> {
        // SAFETY: `self.0` was initialized by `posix_spawn_file_actions_init`; the call only
        // records the two numbers.
        let rc = unsafe { libc::posix_spawn_file_actions_adddup2(&mut *self.0, from, to) };
        if rc == 0 {
            Ok(())
        } else {
            Err(std::io::Error::from_raw_os_error(rc))
        }
    }

    /// In the child: clear `fd`'s close-on-exec flag (a dup2 onto itself does that since glibc
    /// 2.29), so that the program receives it under the same number.
    fn inherit(&mut self, fd: RawFd) -> std::io::Result<()> {
        self.dup2(fd, fd)
    }
}

impl Drop for FileActions {
    fn drop(&mut self) {
        // SAFETY: initialized in `new` (an uninitialized one is forgotten there), destroyed once.
        unsafe {
            libc::posix_spawn_file_actions_destroy(&mut *self.0);
        }
    }
}

/// `posix_spawn(exe, argv, env)` with `actions`, and the child's pid.
fn posix_spawn(
    exe: &CString,
    argv: &[CString],
    env: &[CString],
    actions: &FileActions,
) -> std::io::Result<u32> {
    let mut argv: Vec<*mut libc::c_char> = argv.iter().map(|a| a.as_ptr().cast_mut()).collect();
    argv.push(std::ptr::null_mut());
    let mut env: Vec<*mut libc::c_char> = env.iter().map(|a| a.as_ptr().cast_mut()).collect();
    env.push(std::ptr::null_mut());
    let mut pid: libc::pid_t = 0;
    // The child shares our memory only until its exec, and this thread is suspended meanwhile,
    // so everything below need only outlive the call.
    // SAFETY: path, argv and envp are NUL-terminated strings in null-terminated arrays, the file
    // actions an initialized object, all alive for the call; null attributes mean the defaults.
    let rc = unsafe {
        libc::posix_spawn(
            &mut pid,
            exe.as_ptr(),
            &*actions.0,
            std::ptr::null(),
            argv.as_ptr(),
            env.as_ptr(),
        )
    };
    if rc != 0 {
        return Err(std::io::Error::from_raw_os_error(rc));
    }
    u32::try_from(pid).map_err(|_| std::io::Error::other(format!("posix_spawn returned pid {pid}")))
}
