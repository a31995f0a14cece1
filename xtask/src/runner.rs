//! Building a lesson's tests and running its checks, each in its own process group.
//!
//! The runner is a "child subreaper" (`PR_SET_CHILD_SUBREAPER`): processes that a check forks
//! and abandons are re-parented to the runner instead of init, so the runner can see them,
//! report them as leaks, kill them and reap them. A hanging check is killed with its whole
//! process group when its timeout expires.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use nix::sys::signal::{killpg, SigSet, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

use crate::lesson::{Check, Lesson};

/// Process groups of the children this runner started (checks and cargo builds) and has not
/// cleaned up yet: what an interrupt must kill. Every child gets a group of its own, so a check's
/// grandchildren can be found and killed with it.
static LIVE_GROUPS: Mutex<Vec<i32>> = Mutex::new(Vec::new());

/// Set by `--watch` when a file changes during a run: the running check is stopped at once.
static STOP: AtomicBool = AtomicBool::new(false);

fn live_groups() -> std::sync::MutexGuard<'static, Vec<i32>> {
    // A panic while holding this lock cannot leave the list inconsistent: use it anyway.
    LIVE_GROUPS.lock().unwrap_or_else(|e| e.into_inner())
}

fn register(pgid: i32) {
    live_groups().push(pgid);
}

fn unregister(pgid: i32) {
    live_groups().retain(|&g| g != pgid);
}

/// Makes Ctrl-C (SIGINT), SIGTERM and SIGHUP stop the runner cleanly: the running check's whole
/// process group (and a running build) is killed and reaped before the runner exits with
/// 128 + the signal's number. Must be called before any other thread starts.
///
/// Why not the default action: the checks run in process groups of their own (so that a hang
/// can be killed with its grandchildren), and a terminal's Ctrl-C only reaches the foreground
/// group. Dying without passing it on would leave the check running, re-parented to init.
pub fn handle_interrupts() {
    let mut signals = SigSet::empty();
    for sig in [Signal::SIGINT, Signal::SIGTERM, Signal::SIGHUP] {
        signals.add(sig);
    }
    // Blocked in this thread and so in every thread started after it; children get a clean mask
    // (std resets it before exec). Only the thread below ever receives these signals.
    if signals.thread_block().is_err() {
        return;
    }
    let spawned = std::thread::Builder::new()
        .name("interrupts".into())
        .spawn(move || {
            let Ok(sig) = signals.wait() else { return };
            let groups: Vec<i32> = live_groups().clone();
            for &g in &groups {
                let _ = killpg(Pid::from_raw(g), Signal::SIGKILL);
            }
            let mut left = 0;
            for &g in &groups {
                left += clean_up_group(Pid::from_raw(g));
            }
            reap_orphans();
            eprintln!(
                "\ninterrupted ({sig}): stopped {} running process group(s){}",
                groups.len(),
                if left > 0 {
                    format!("; {left} straggler(s) killed")
                } else {
                    String::new()
                }
            );
            std::process::exit(128 + sig as i32);
        });
    if spawned.is_err() {
        let _ = signals.thread_unblock();
    }
}

/// Asks the running check to stop (the runner kills its group) and the rest not to start.
pub fn request_stop() {
    STOP.store(true, Ordering::SeqCst);
}

/// True once a stop was requested; clears the request.
pub fn take_stop() -> bool {
    STOP.swap(false, Ordering::SeqCst)
}

/// True while a stop is requested.
pub fn stop_requested() -> bool {
    STOP.load(Ordering::SeqCst)
}

/// How a check ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Pass,
    Fail,
    Timeout,
    Skipped,
    /// The lesson's code did not compile, so the check could not run.
    BuildError,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::Fail => "fail",
            Status::Timeout => "timeout",
            Status::Skipped => "skipped",
            Status::BuildError => "build_error",
        }
    }
}

/// The result of one check.
#[derive(Debug, Clone)]
pub struct CheckResult {
    pub id: String,
    pub exercise: String,
    pub status: Status,
    pub points: u32,
    pub max_points: u32,
    pub duration: Duration,
    /// The failure, trimmed to what a learner needs; the reason for a skip.
    pub message: Option<String>,
    pub rerun: String,
    /// Processes the check left running after it ended (killed and reaped by the runner).
    pub leaked: usize,
}

/// The outcome of building a lesson.
pub enum Build {
    /// The test executable to run checks with.
    Ready(PathBuf),
    /// Compiler errors, rendered as cargo prints them.
    Failed(String),
}

/// Builds the examples of the lesson's package and its test target.
pub fn build(root: &Path, lesson: &Lesson, target_dir: Option<&Path>) -> Result<Build, String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let steps: [Vec<&str>; 2] = [
        vec!["build", "-p", &lesson.package, "--examples"],
        vec![
            "test",
            "-p",
            &lesson.package,
            "--test",
            &lesson.test_target,
            "--no-run",
        ],
    ];
    let mut exe = None;
    for args in steps {
        let mut cmd = Command::new(&cargo);
        cmd.args(&args)
            .arg("--message-format=json-diagnostic-rendered-ansi")
            .current_dir(root);
        if let Some(dir) = target_dir {
            cmd.env("CARGO_TARGET_DIR", dir);
        }
        let out = run_in_own_group(&mut cmd).map_err(|e| format!("cannot run cargo: {e}"))?;
        let mut errors = String::new();
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            let Ok(msg) = serde_json::from_str::<serde_json::Value>(line) else {
                continue;
            };
            match msg["reason"].as_str() {
                Some("compiler-message") if msg["message"]["level"] == "error" => {
                    errors.push_str(msg["message"]["rendered"].as_str().unwrap_or_default());
                }
                Some("compiler-artifact") if msg["target"]["name"] == lesson.test_target.as_str() => {
                    if let Some(path) = msg["executable"].as_str() {
                        exe = Some(PathBuf::from(path));
                    }
                }
                _ => {}
            }
        }
        if !out.status.success() {
            if errors.is_empty() {
                errors = String::from_utf8_lossy(&out.stderr).into_owned();
            }
            return Ok(Build::Failed(errors));
        }
    }
    exe.map(Build::Ready)
        .ok_or_else(|| format!("cargo built no test executable named `{}`", lesson.test_target))
}

/// Runs `cmd` to completion in a process group of its own, registered so that an interrupt
/// kills it (a build must not outlive a Ctrl-C'd runner either).
fn run_in_own_group(cmd: &mut Command) -> std::io::Result<std::process::Output> {
    use std::os::unix::process::CommandExt;
    let child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()?;
    let pgid = child.id() as i32;
    register(pgid);
    let out = child.wait_with_output();
    unregister(pgid);
    out
}

/// The command a learner types to run one check by hand.
pub fn rerun_command(lesson: &Lesson, check: &Check) -> String {
    format!(
        "cargo test -p {} --test {} -- --exact {}",
        lesson.package, lesson.test_target, check.test
    )
}

/// Makes this process the subreaper of everything it starts (Linux).
pub fn become_subreaper() {
    // SAFETY: PR_SET_CHILD_SUBREAPER takes an integer flag; no memory is passed.
    unsafe {
        libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
    }
}

/// Results for a lesson whose code does not compile: every check is a build error.
pub fn build_error_results(lesson: &Lesson, errors: &str) -> Vec<CheckResult> {
    let first: String = errors.lines().take(12).collect::<Vec<_>>().join("\n");
    lesson
        .checks
        .iter()
        .map(|check| CheckResult {
            id: check.id.clone(),
            exercise: check.exercise.clone(),
            status: Status::BuildError,
            points: 0,
            max_points: check.points,
            duration: Duration::ZERO,
            message: Some(first.clone()),
            rerun: rerun_command(lesson, check),
            leaked: 0,
        })
        .collect()
}

/// Runs the lesson's checks (all, or those in `only`), honouring `requires`.
pub fn run_checks(
    exe: &Path,
    lesson: &Lesson,
    only: Option<&[String]>,
    repeat_factor: u32,
) -> Vec<CheckResult> {
    let mut results: Vec<CheckResult> = Vec::new();
    for check in &lesson.checks {
        if only.is_some_and(|ids| !ids.iter().any(|id| id == &check.id || id == &check.test)) {
            continue;
        }
        let blocked = check.requires.iter().find(|r| {
            results
                .iter()
                .find(|res| &res.id == *r)
                .is_some_and(|res| res.status != Status::Pass)
        });
        let mut result = CheckResult {
            id: check.id.clone(),
            exercise: check.exercise.clone(),
            status: Status::Skipped,
            points: 0,
            max_points: check.points,
            duration: Duration::ZERO,
            message: None,
            rerun: rerun_command(lesson, check),
            leaked: 0,
        };
        if let Some(r) = blocked {
            result.message = Some(format!("needs `{r}` to pass first"));
            results.push(result);
            continue;
        }
        if stop_requested() {
            break;
        }
        for _ in 0..check.repeat * repeat_factor.max(1) {
            let run = run_one(exe, &check.test, Duration::from_secs(check.timeout));
            result.duration += run.duration;
            result.leaked += run.leaked;
            result.status = run.status;
            result.message = run.message;
            if run.status != Status::Pass {
                break;
            }
        }
        if result.status == Status::Pass && result.leaked > 0 {
            result.status = Status::Fail;
            result.message = Some(format!(
                "the check passed but left {} process(es) running; the runner killed them",
                result.leaked
            ));
        }
        if result.status == Status::Pass {
            result.points = check.points;
        }
        results.push(result);
    }
    results
}

struct Run {
    status: Status,
    duration: Duration,
    message: Option<String>,
    leaked: usize,
}

fn run_one(exe: &Path, test: &str, timeout: Duration) -> Run {
    use std::os::unix::process::CommandExt;
    let started = Instant::now();
    let spawned = Command::new(exe)
        .args([test, "--exact", "--test-threads=1"])
        .env("RUST_BACKTRACE", "0")
        .env("FORKWAY_FORK_WARNING", "0")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn();
    let mut child = match spawned {
        Ok(c) => c,
        Err(e) => {
            return Run {
                status: Status::Fail,
                duration: Duration::ZERO,
                message: Some(format!("cannot start {}: {e}", exe.display())),
                leaked: 0,
            }
        }
    };
    let pgid = Pid::from_raw(child.id() as i32);
    register(pgid.as_raw());
    let out = child.stdout.take().map(|s| std::thread::spawn(move || slurp(s)));
    let err = child.stderr.take().map(|s| std::thread::spawn(move || slurp(s)));
    let mut timed_out = false;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) if stop_requested() => {
                let _ = killpg(pgid, Signal::SIGKILL);
                break child.wait().ok();
            }
            Ok(None) if started.elapsed() >= timeout => {
                timed_out = true;
                let _ = killpg(pgid, Signal::SIGKILL);
                break child.wait().ok();
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(2)),
            Err(_) => break None,
        }
    };
    let duration = started.elapsed();
    let leaked = clean_up_group(pgid);
    unregister(pgid.as_raw());
    let stdout = out.and_then(|h| h.join().ok()).unwrap_or_default();
    let stderr = err.and_then(|h| h.join().ok()).unwrap_or_default();
    if timed_out {
        return Run {
            status: Status::Timeout,
            duration,
            message: Some(format!(
                "no result after {}s: the check and its processes were killed. Is something waiting forever (a join, a read)?",
                timeout.as_secs()
            )),
            leaked: 0,
        };
    }
    match status {
        Some(s) if s.success() => Run {
            status: Status::Pass,
            duration,
            message: None,
            leaked,
        },
        _ => Run {
            status: Status::Fail,
            duration,
            message: Some(failure_message(&stdout, &stderr)),
            leaked,
        },
    }
}

fn slurp(mut r: impl Read) -> String {
    let mut buf = Vec::new();
    let _ = r.read_to_end(&mut buf);
    String::from_utf8_lossy(&buf).into_owned()
}

/// Reaps orphans re-parented to us, waits briefly for the check's group to empty (daemons die
/// a moment after their parent), then kills whatever is left. Returns how many were left.
fn clean_up_group(pgid: Pid) -> usize {
    let deadline = Instant::now() + Duration::from_millis(1000);
    loop {
        reap_orphans();
        let members = group_members(pgid);
        if members == 0 {
            return 0;
        }
        if Instant::now() >= deadline {
            let _ = killpg(pgid, Signal::SIGKILL);
            std::thread::sleep(Duration::from_millis(20));
            reap_orphans();
            return members;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn reap_orphans() {
    while let Ok(status) = waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
        if status == WaitStatus::StillAlive {
            break;
        }
    }
}

/// Counts live (non-zombie) processes in process group `pgid`, from `/proc`.
fn group_members(pgid: Pid) -> usize {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return 0;
    };
    entries
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_str()
                .is_some_and(|n| n.bytes().all(|b| b.is_ascii_digit()))
        })
        .filter_map(|e| std::fs::read_to_string(e.path().join("stat")).ok())
        .filter(|stat| {
            // Fields after the `(comm)`: state, ppid, pgrp, …
            let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
            let fields: Vec<&str> = rest.split_whitespace().collect();
            fields.len() > 2 && fields[0] != "Z" && fields[2] == pgid.as_raw().to_string()
        })
        .count()
}

/// Trims libtest's output to the panic that failed the test, plus any panic a child reported.
pub fn failure_message(stdout: &str, stderr: &str) -> String {
    let mut lines: Vec<String> = Vec::new();
    let mut in_panic = false;
    // A child's panic is two lines, where and what: the what is the `todo!` a learner needs.
    let mut child_message_next = false;
    for line in stdout.lines().chain(stderr.lines()) {
        if std::mem::take(&mut child_message_next) {
            let message = format!("(in a child)   {line}");
            // Several server threads hitting the same `todo!` report it once.
            let at = lines.len() - 1;
            if lines[..at]
                .windows(2)
                .any(|w| w[0] == lines[at] && w[1] == message)
            {
                lines.pop();
            } else {
                lines.push(message);
            }
            continue;
        }
        if line.starts_with("thread '") && line.contains("panicked at") {
            in_panic = true;
            let at = line
                .split("panicked at ")
                .nth(1)
                .unwrap_or("")
                .trim_end_matches(':');
            lines.push(format!("panicked at {at}:"));
            continue;
        }
        if in_panic {
            if line.is_empty() || line.starts_with("note: ") || line.starts_with("stack backtrace") {
                in_panic = false;
                continue;
            }
            lines.push(line.to_owned());
        } else if line.starts_with("Process ") && line.contains("panicked") {
            lines.push(format!("(in a child) {line}"));
            child_message_next = true;
        }
    }
    if lines.is_empty() {
        let tail: Vec<&str> = stderr
            .lines()
            .chain(stdout.lines())
            .filter(|l| !l.trim().is_empty())
            .collect();
        let start = tail.len().saturating_sub(8);
        return tail[start..].join("\n");
    }
    lines.truncate(20);
    lines.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failure_message_keeps_the_panic_and_child_reports() {
        let stdout = "running 1 test\ntest join_reaps ... FAILED\n\nfailures:\n\n---- join_reaps stdout ----\n\nthread 'join_reaps' (77) panicked at crates/p/tests/lesson1.rs:40:5:\nassertion `left == right` failed\n  left: None\n right: Some(0)\nnote: run with `RUST_BACKTRACE=1` environment variable to display a backtrace\n\n\nfailures:\n    join_reaps\n\ntest result: FAILED. 0 passed; 1 failed\n";
        let stderr = "Process Process-1 (pid 99) panicked at crates/p/src/process.rs:10:9:\nnot yet implemented: exercise 1.2: Reap\n";
        let msg = failure_message(stdout, stderr);
        assert_eq!(
            msg,
            "panicked at crates/p/tests/lesson1.rs:40:5:\nassertion `left == right` failed\n  left: None\n right: Some(0)\n(in a child) Process Process-1 (pid 99) panicked at crates/p/src/process.rs:10:9:\n(in a child)   not yet implemented: exercise 1.2: Reap"
        );
        let twice = format!("{stderr}{stderr}");
        assert_eq!(
            failure_message(stdout, &twice),
            msg,
            "a repeated child report is shown once"
        );
    }

    #[test]
    fn a_hanging_check_is_killed_with_its_group_and_leaks_are_reaped() {
        become_subreaper();
        // A "test binary" that starts a grandchild in its group and then hangs.
        let script = std::env::temp_dir().join(format!("forkway-hang-{}.sh", std::process::id()));
        std::fs::write(&script, "#!/bin/sh\nsleep 300 &\nsleep 300\n").expect("write script");
        std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .expect("chmod");
        let run = run_one(&script, "t", Duration::from_millis(300));
        assert_eq!(run.status, Status::Timeout);
        assert!(run.duration < Duration::from_secs(10));
        // A "test binary" that exits but leaves a child running: a leak, killed and reaped.
        std::fs::write(&script, "#!/bin/sh\nsleep 300 &\nexit 0\n").expect("write script");
        let run = run_one(&script, "t", Duration::from_secs(20));
        assert_eq!(run.status, Status::Pass);
        assert_eq!(run.leaked, 1);
        let _ = std::fs::remove_file(&script);
    }
}
