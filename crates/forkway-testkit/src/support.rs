//! The tests' helpers, re-exported at the crate's root.
//!
//! Techniques, for readers of the tests:
//! - Ordering is proven with handshakes (a byte through a pipe), never with `sleep`.
//! - Every wait is bounded: a child that does not exit in `BOUND` fails the test with a message
//!   (and is then killed and reaped by `Process`'s drop), so a bug is a red test, not a stuck CI.
//! - libtest captures `println!` per thread, so a child's prints vanish. Tests get values back
//!   through pipes and exit codes, and run the example programs as real programs to read their
//!   stdout.

use std::io::{Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use forkway_process::Process;
use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::wait::{waitpid, WaitPidFlag};
use nix::unistd::Pid;

/// The longest any single wait in a test may take before the test fails.
pub const BOUND: Duration = Duration::from_secs(20);

/// Joins `p` within [`BOUND`] and returns its exit code, or fails the test.
pub fn join_bounded(p: &Process) -> i32 {
    let exited = p.join_timeout(BOUND).expect("join");
    assert!(exited, "{p:?} still running after {BOUND:?}");
    p.exitcode()
        .unwrap_or_else(|| panic!("{p:?} still running after {BOUND:?}"))
}

/// Runs `f` on a thread and fails the test if it has not returned within [`BOUND`]: a call
/// that never returns is a failure with a message, not a hang. (The stuck thread is left
/// behind; the failed test's process ends soon anyway.)
pub fn within_bound<T: Send + 'static>(what: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (done, result) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = done.send(f());
    });
    result
        .recv_timeout(BOUND)
        .unwrap_or_else(|_| panic!("{what} still had not returned after {BOUND:?}"))
}

/// Ends the whole test process, with a message, if it is not dropped within [`BOUND`]: for a
/// call that cannot be moved to another thread (it borrows what the test still uses) and could
/// block forever. A hang becomes a failure with a message, at the cost of the other tests
/// running in the same process.
pub struct Watchdog(Option<std::sync::mpsc::Sender<()>>);

impl Watchdog {
    /// Starts watching `what`: the process ends unless the watchdog is dropped within [`BOUND`].
    pub fn new(what: &str) -> Watchdog {
        let what = what.to_owned();
        let (cancel, cancelled) = std::sync::mpsc::channel::<()>();
        std::thread::spawn(move || {
            if let Err(std::sync::mpsc::RecvTimeoutError::Timeout) = cancelled.recv_timeout(BOUND) {
                // Straight to fd 2: this thread inherited libtest's capture of `eprintln!`,
                // which `_exit` would throw away.
                let _ = std::io::stderr().write_all(
                    format!("{what} still had not returned after {BOUND:?}: test failed\n").as_bytes(),
                );
                // SAFETY: _exit ends the process at once; nothing runs after it. Not `exit`,
                // whose clean-up would wait for the very children that are stuck.
                unsafe { libc::_exit(101) };
            }
        });
        Watchdog(Some(cancel))
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        if let Some(cancel) = self.0.take() {
            let _ = cancel.send(());
        }
    }
}

/// Blocks until a signal ends the process: the body of a child that must be running until the
/// test terminates or kills it.
pub fn idle_until_killed() -> ! {
    loop {
        nix::unistd::pause();
    }
}

/// Releases a child blocked in [`wait_for_release`] by writing one byte, when `release` is
/// called or the guard is dropped.
///
/// Why a byte and not EOF (closing the pipe): every test runs on its own thread and forks, so a
/// child forked by another test at the wrong moment inherits a copy of this pipe's write end.
/// EOF only comes when *every* copy is closed, so two tests whose children each hold the other's
/// write end would wait for each other forever. A byte arrives no matter who else holds the pipe.
pub struct Release(Option<std::io::PipeWriter>);

impl Release {
    /// Writes the byte now (dropping the guard does the same).
    pub fn release(mut self) {
        self.send();
    }
    fn send(&mut self) {
        if let Some(mut w) = self.0.take() {
            let _ = w.write_all(b"!");
        }
    }
}

impl Drop for Release {
    fn drop(&mut self) {
        self.send();
    }
}

/// A pipe for one release: the child keeps the reader, the parent the [`Release`].
pub fn release_pipe() -> (std::io::PipeReader, Release) {
    let (r, w) = pipe();
    (r, Release(Some(w)))
}

/// In a child: blocks until the parent's [`Release`] writes its byte (or every writer is gone).
pub fn wait_for_release(r: &mut std::io::PipeReader) {
    let _ = r.read(&mut [0u8; 1]);
}

/// A pipe: (read end, write end).
pub fn pipe() -> (std::io::PipeReader, std::io::PipeWriter) {
    std::io::pipe().expect("pipe")
}

/// Waits until `fd` is readable (data or EOF) or `timeout` passes; true if readable.
pub fn readable(fd: BorrowedFd<'_>, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let ms = PollTimeout::try_from(left.as_millis().min(60_000) as i32).unwrap_or(PollTimeout::MAX);
        let mut fds = [PollFd::new(fd, PollFlags::POLLIN)];
        match poll(&mut fds, ms) {
            Ok(0) => return false,
            Ok(_) => return true,
            Err(Errno::EINTR) => continue,
            Err(e) => panic!("poll: {e}"),
        }
    }
}

/// Reads one `\n`-terminated line within [`BOUND`], or fails the test.
pub fn read_line(r: &mut std::io::PipeReader) -> String {
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    loop {
        assert!(
            readable(r.as_fd(), BOUND),
            "no line from the child within {BOUND:?}; got {line:?} so far"
        );
        match r.read(&mut byte).expect("read") {
            0 => panic!("EOF before a full line; got {:?}", String::from_utf8_lossy(&line)),
            _ if byte[0] == b'\n' => return String::from_utf8(line).expect("utf-8"),
            _ => line.push(byte[0]),
        }
    }
}

/// Reads until EOF within [`BOUND`], or fails the test.
pub fn read_to_end(r: &mut std::io::PipeReader) -> String {
    let mut all = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        assert!(
            readable(r.as_fd(), BOUND),
            "no EOF within {BOUND:?}; got {:?}",
            String::from_utf8_lossy(&all)
        );
        match r.read(&mut buf).expect("read") {
            0 => return String::from_utf8_lossy(&all).into_owned(),
            n => all.extend_from_slice(&buf[..n]),
        }
    }
}

/// Writes a line (used by children to report back; errors end the child with code 99).
pub fn send_line(w: &mut std::io::PipeWriter, line: &str) {
    if w.write_all(format!("{line}\n").as_bytes()).is_err() {
        forkway_process::exit(99);
    }
}

/// True when `pid` is no longer a child of this process waiting to be reaped: `waitpid` says
/// ECHILD. A zombie would still be reapable; a reaped child is not.
pub fn is_reaped(pid: u32) -> bool {
    matches!(
        waitpid(Pid::from_raw(pid as i32), Some(WaitPidFlag::WNOHANG)),
        Err(Errno::ECHILD)
    )
}

/// Redirects this (child) process's stderr into `w`, so the parent can read what it prints.
pub fn redirect_stderr(w: &std::io::PipeWriter) {
    // SAFETY: dup2 on two fds we own; fd 2 is replaced atomically.
    let rc = unsafe { libc::dup2(w.as_raw_fd(), 2) };
    assert!(rc == 2, "dup2 failed");
}

/// Redirects this (child) process's stdout into `w`, so the parent can read what it prints
/// through `std::io::stdout()` (libtest's capture only catches `print!`).
pub fn redirect_stdout(w: &std::io::PipeWriter) {
    // SAFETY: dup2 on two fds we own; fd 1 is replaced atomically.
    let rc = unsafe { libc::dup2(w.as_raw_fd(), 1) };
    assert!(rc == 1, "dup2 failed");
}

/// Sends this (child) process's stderr to /dev/null, for tests about exit codes of panics.
pub fn redirect_stderr_to_null() {
    let null = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/null")
        .expect("/dev/null");
    // SAFETY: dup2 onto fd 2, in the child that calls this.
    unsafe { libc::dup2(null.as_raw_fd(), 2) };
}

/// What an example program did.
pub struct ExampleRun {
    /// Exit code, or `-N` when killed by signal N.
    pub code: i32,
    /// Everything it printed to stdout.
    pub stdout: String,
    /// Everything it printed to stderr.
    pub stderr: String,
}

/// Writes `text` as lines indented under a heading, or says it was empty.
fn indented(f: &mut std::fmt::Formatter<'_>, heading: &str, text: &str) -> std::fmt::Result {
    if text.is_empty() {
        return writeln!(f, "{heading}: (nothing)");
    }
    writeln!(f, "{heading}:")?;
    for line in text.lines() {
        writeln!(f, "    {line}")?;
    }
    Ok(())
}

/// For failure messages: the exit code, then stdout and stderr as real lines, indented.
impl std::fmt::Display for ExampleRun {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Start on a new line: assertion messages put this after a colon.
        writeln!(f)?;
        match self.code {
            c if c < 0 => writeln!(f, "exit code: {c} (killed by signal {})", -c)?,
            c => writeln!(f, "exit code: {c}")?,
        }
        indented(f, "stdout", &self.stdout)?;
        indented(f, "stderr", &self.stderr)
    }
}

/// The same readable form: assertions that print `{run:?}` get real lines too.
impl std::fmt::Debug for ExampleRun {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(self, f)
    }
}

/// Fails unless the example exited with 0 and printed exactly `expected`, line by line; the
/// message shows the expected lines, the lines it got, and the first that differs.
pub fn assert_stdout_lines(run: &ExampleRun, expected: &[&str]) {
    let got: Vec<&str> = run.stdout.lines().collect();
    if run.code == 0 && got == expected {
        return;
    }
    let mut msg = String::from("the example's output is not the expected one\nexpected:\n");
    for line in expected {
        msg.push_str(&format!("    {line}\n"));
    }
    if let Some(i) = (0..expected.len().max(got.len())).find(|&i| expected.get(i) != got.get(i)) {
        msg.push_str(&format!(
            "first difference, line {}: expected {:?}, got {:?}\n",
            i + 1,
            expected.get(i).copied().unwrap_or("(no line)"),
            got.get(i).copied().unwrap_or("(no line)"),
        ));
    }
    msg.push_str(&format!("what it did:{run}"));
    panic!("{msg}");
}

/// Builds `examples/<name>.rs` (nested cargo; cheap when it is up to date) and runs it as a
/// real program with `args`, killing its whole process group if it runs longer than [`BOUND`].
pub fn run_example(name: &str, args: &[&str]) -> ExampleRun {
    run_example_of("forkway-process", name, args)
}

/// [`run_example`] for an example of another package of the workspace.
pub fn run_example_of(package: &str, name: &str, args: &[&str]) -> ExampleRun {
    run_example_env(package, name, args, &[])
}

/// Where the running test executable was built: its target dir, the `--target` triple when it
/// was built for one, and its profile's folder (`debug`, `release` or a custom profile's name).
struct BuiltIn {
    target_dir: PathBuf,
    triple: Option<String>,
    profile_dir: PathBuf,
}

impl BuiltIn {
    /// `<target dir>[/<triple>]/<profile>/deps/<test>-<hash>`, read from the path of `exe`.
    fn of(exe: &std::path::Path) -> BuiltIn {
        let profile_dir = exe
            .parent()
            .and_then(|deps| deps.parent())
            .expect("the test executable lies in <target dir>/<profile>/deps")
            .to_path_buf();
        let above = profile_dir
            .parent()
            .expect("the profile folder lies in a target dir");
        let triple = env!("FORKWAY_TESTKIT_TARGET");
        let for_triple = !triple.is_empty() && above.file_name().is_some_and(|n| n == triple);
        let target_dir = if for_triple {
            above.parent().expect("a triple's folder lies in a target dir")
        } else {
            above
        };
        BuiltIn {
            target_dir: target_dir.to_path_buf(),
            triple: for_triple.then(|| triple.to_owned()),
            profile_dir,
        }
    }

    /// The arguments that make cargo build into this target dir, triple and profile, whatever
    /// `CARGO_TARGET_DIR`, `CARGO_BUILD_TARGET` or a config file says where the test runs.
    fn cargo_args(&self) -> Vec<std::ffi::OsString> {
        let mut args: Vec<std::ffi::OsString> = vec!["--target-dir".into(), self.target_dir.clone().into()];
        if let Some(triple) = &self.triple {
            args.extend(["--target".into(), triple.into()]);
        }
        // `debug` holds what the dev and test profiles build, `release` what the release and
        // bench profiles build; any other folder is a custom profile's own.
        match self.profile_dir.file_name().and_then(|n| n.to_str()) {
            Some("debug") | None => {}
            Some("release") => args.push("--release".into()),
            Some(custom) => args.extend(["--profile".into(), custom.into()]),
        }
        args
    }
}

/// [`run_example_of`] with extra environment variables for the example.
///
/// The example is built with the cargo that runs the tests, from the workspace this crate was
/// compiled in (a copy of the workspace builds its own), into the target dir, triple and
/// profile the running test executable was built in: not wherever the test happens to run.
/// `cargo xtask verify` builds a wrong answer's tests in a copy with a target dir of its own,
/// and its example checks must run that copy's example.
pub fn run_example_env(package: &str, name: &str, args: &[&str], envs: &[(&str, &str)]) -> ExampleRun {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let exe = std::env::current_exe().expect("current_exe");
    let built = BuiltIn::of(&exe);
    let profile_dir = &built.profile_dir;
    let mut build = Command::new(&cargo);
    build
        .args(["build", "--quiet", "-p", package, "--example", name])
        .args(built.cargo_args())
        .current_dir(env!("CARGO_MANIFEST_DIR"));
    let out = build.output().expect("run cargo build");
    assert!(
        out.status.success(),
        "example `{name}` does not build:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let bin: PathBuf = profile_dir.join("examples").join(name);
    let mut child = {
        use std::os::unix::process::CommandExt;
        Command::new(&bin)
            .args(args)
            .envs(envs.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {}: {e}", bin.display()))
    };
    let pgid = child.id() as i32;
    let stdout = child.stdout.take().expect("stdout");
    let stderr = child.stderr.take().expect("stderr");
    let out_reader = std::thread::spawn(move || slurp(stdout));
    let err_reader = std::thread::spawn(move || slurp(stderr));
    let deadline = Instant::now() + BOUND;
    let status = loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = nix::sys::signal::killpg(Pid::from_raw(pgid), nix::sys::signal::Signal::SIGKILL);
            let _ = child.wait();
            // The whole group is dead, so both pipes are at EOF: show what it printed.
            let run = ExampleRun {
                code: -9,
                stdout: out_reader.join().expect("stdout reader"),
                stderr: err_reader.join().expect("stderr reader"),
            };
            panic!("example `{name}` still running after {BOUND:?}: killed. What it did:{run}");
        }
        // Polling an exited child with a bound; std's Child has no timed wait.
        std::thread::sleep(Duration::from_millis(5));
    };
    // Anything left in the group (a child the example forgot) is a leak: kill it.
    let leaked = nix::sys::signal::killpg(Pid::from_raw(pgid), None).is_ok();
    if leaked {
        let _ = nix::sys::signal::killpg(Pid::from_raw(pgid), nix::sys::signal::Signal::SIGKILL);
    }
    use std::os::unix::process::ExitStatusExt;
    let code = status.code().unwrap_or_else(|| -status.signal().unwrap_or(0));
    let run = ExampleRun {
        code,
        stdout: out_reader.join().expect("stdout reader"),
        stderr: err_reader.join().expect("stderr reader"),
    };
    assert!(
        !leaked,
        "example `{name}` left processes running after it exited:{run}"
    );
    run
}

fn slurp(mut r: impl Read) -> String {
    let mut s = Vec::new();
    let _ = r.read_to_end(&mut s);
    String::from_utf8_lossy(&s).into_owned()
}

/// Waits for a `std::process::Child` at most `bound`: a hang becomes a failure naming `what`,
/// with the child killed and reaped first (std's `Child` has no timed wait, so this polls).
pub fn wait_bounded(
    child: &mut std::process::Child,
    bound: Duration,
    what: &str,
) -> std::process::ExitStatus {
    let deadline = Instant::now() + bound;
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what} did not end within {bound:?}");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Waits until process `pid` sleeps in the kernel in a function whose name contains `what`
/// (read from `/proc/<pid>/wchan`): proof that a child is *inside* a blocking call, without
/// sleeping and hoping. Kernels that hide wchan show "0"; then sleeping state is enough.
pub fn wait_blocked_in(pid: u32, what: &str) {
    let deadline = Instant::now() + BOUND;
    loop {
        let wchan = std::fs::read_to_string(format!("/proc/{pid}/wchan")).unwrap_or_default();
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let state = stat
            .rsplit(')')
            .next()
            .and_then(|rest| rest.trim_start().chars().next());
        if state == Some('S') && (wchan.contains(what) || wchan == "0") {
            return;
        }
        // A process that has exited never blocks: say so now, not after the whole bound (a
        // `put` that should have waited and did not, for instance).
        assert!(
            !matches!(state, Some('Z' | 'X')) && !stat.is_empty(),
            "pid {pid} exited without ever blocking in {what}: the call it was making returned \
             (or failed) instead of waiting"
        );
        assert!(
            Instant::now() < deadline,
            "pid {pid} never blocked in {what} (wchan {wchan:?})"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// How many times `pid` went to sleep of its own accord (`voluntary_ctxt_switches`): it grows
/// each time the process blocks, so a larger number proves it woke up and blocked again.
pub fn voluntary_sleeps(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("voluntary_ctxt_switches:"))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0)
}

/// Waits until `pid` sleeps in a futex: it is inside a blocking lock, queue or wait call.
pub fn wait_asleep(pid: u32) {
    wait_blocked_in(pid, "futex");
}

/// This process's open file descriptors, by number (for leak checks: compare before and after).
pub fn open_fds() -> Vec<String> {
    let mut fds: Vec<String> = std::fs::read_dir("/proc/self/fd")
        .expect("/proc/self/fd")
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .collect();
    fds.sort_unstable();
    fds
}

/// Shared anonymous mappings (what every forkway queue, lock and pool allocates) show as
/// `/dev/zero (deleted)` in /proc/self/maps.
pub fn shared_mappings() -> usize {
    std::fs::read_to_string("/proc/self/maps")
        .expect("/proc/self/maps")
        .lines()
        .filter(|l| l.contains("/dev/zero"))
        .count()
}

/// True when this process has no child left at all, running or zombie.
pub fn no_children_left() -> bool {
    matches!(waitpid(None, Some(WaitPidFlag::WNOHANG)), Err(Errno::ECHILD))
}

#[cfg(test)]
mod tests {
    use super::BuiltIn;
    use std::path::Path;

    fn args(exe: &str) -> (String, Vec<String>) {
        let built = BuiltIn::of(Path::new(exe));
        let args = built
            .cargo_args()
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        (built.profile_dir.display().to_string(), args)
    }

    #[test]
    fn cargo_builds_into_the_test_executables_target_dir_triple_and_profile() {
        assert_eq!(
            args("/w/target/verify-target/debug/deps/lesson2-0123"),
            (
                "/w/target/verify-target/debug".to_owned(),
                vec!["--target-dir".to_owned(), "/w/target/verify-target".to_owned()]
            )
        );
        assert_eq!(
            args("/ci/cache/release/deps/lesson5-0123").1,
            ["--target-dir", "/ci/cache", "--release"]
        );
        assert_eq!(
            args("/w/target/profiling/deps/lesson5-0123").1,
            ["--target-dir", "/w/target", "--profile", "profiling"]
        );
        let triple = env!("FORKWAY_TESTKIT_TARGET");
        assert_eq!(
            args(&format!("/w/target/{triple}/release/deps/lesson1-0123")).1,
            ["--target-dir", "/w/target", "--target", triple, "--release"]
        );
    }
}
