//! The fork warning: printed once when a process that has threads forks, never by one that has
//! only ever had one thread, and still printed when the threads come after quiet starts (the
//! single-thread answer must not be remembered past the first thread).
//!
//! A plain `main` (`harness = false`): libtest runs every test on a thread of its own, so a
//! process under libtest always has threads. The test runs its own executable again as the
//! program under test, and reads what that program wrote to stderr.

use std::io::Read;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use forkway_process::Process;

/// Set in the environment of the program under test.
const ROLE: &str = "FORKWAY_FORK_WARNING_PROBE";
const WARNING: &str = "forkway: warning: this process";
const THREADS_FROM_HERE: &str = "probe: a second thread runs from here";

fn main() {
    if std::env::var_os(ROLE).is_some() {
        probe();
        return;
    }
    warns_once_when_threads_appear_after_quiet_starts();
    println!("test warns_once_when_threads_appear_after_quiet_starts ... ok");
    stays_silent_with_fork_warning_0();
    println!("test stays_silent_with_fork_warning_0 ... ok");
}

fn start_join() {
    let mut p = Process::new(|| ());
    p.start().expect("start");
    p.join().expect("join");
    assert_eq!(p.exitcode(), Some(0));
}

/// The program under test: two starts with one thread, then two with a second thread alive.
fn probe() {
    start_join();
    start_join();
    eprintln!("{THREADS_FROM_HERE}");
    let (release, wait) = mpsc::channel::<()>();
    let thread = std::thread::spawn(move || {
        let _ = wait.recv();
    });
    start_join();
    start_join();
    drop(release);
    thread.join().expect("the second thread ends");
}

/// Runs the probe and returns its stderr; fails if it runs more than 60 s or fails.
fn run_probe(fork_warning: Option<&str>) -> String {
    let exe = std::env::current_exe().expect("current_exe");
    let mut cmd = Command::new(exe);
    cmd.env(ROLE, "1").stdout(Stdio::null()).stderr(Stdio::piped());
    match fork_warning {
        Some(v) => cmd.env("FORKWAY_FORK_WARNING", v),
        None => cmd.env_remove("FORKWAY_FORK_WARNING"),
    };
    let mut child = cmd.spawn().expect("spawn the probe");
    let mut stderr = child.stderr.take().expect("piped stderr");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        let _ = tx.send(text);
    });
    let status = forkway_testkit::wait_bounded(&mut child, Duration::from_secs(60), "the probe");
    let text = rx
        .recv_timeout(Duration::from_secs(10))
        .expect("the probe's stderr closes when it exits");
    assert!(status.success(), "the probe failed ({status}):\n{text}");
    text
}

fn warns_once_when_threads_appear_after_quiet_starts() {
    let text = run_probe(None);
    let (before, after) = text
        .split_once(THREADS_FROM_HERE)
        .unwrap_or_else(|| panic!("no phase marker in the probe's stderr:\n{text}"));
    assert!(
        !before.contains(WARNING),
        "warned while the process had one thread:\n{text}"
    );
    assert_eq!(
        after.matches(WARNING).count(),
        1,
        "expected exactly one warning once a second thread runs:\n{text}"
    );
    assert!(
        after.contains("has 2 threads"),
        "the warning counts the threads:\n{text}"
    );
}

fn stays_silent_with_fork_warning_0() {
    let text = run_probe(Some("0"));
    assert!(
        text.contains(THREADS_FROM_HERE) && !text.contains(WARNING),
        "FORKWAY_FORK_WARNING=0 must silence the warning:\n{text}"
    );
}
