//! Building a lesson's tests and running its checks, each in its own process group.
//!
//! The runner is a "child subreaper" (`PR_SET_CHILD_SUBREAPER`): processes that a check forks
//! and abandons are re-parented to the runner instead of init, so the runner can see them,
//! report them as leaks, kill them and reap them. A hanging check is killed with its whole
//! process group when its timeout expires.

use std::collections::BTreeSet;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use nix::sys::signal::{killpg, sigaction, SaFlags, SigAction, SigHandler, SigSet, Signal};
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

/// The signal that asked the runner to stop (0: none yet). Set by the signal handler, which may
/// do nothing else: the work happens on the `interrupts` thread.
static PENDING_SIGNAL: AtomicI32 = AtomicI32::new(0);

extern "C" fn on_signal(sig: libc::c_int) {
    PENDING_SIGNAL.store(sig, Ordering::SeqCst);
}

/// Makes Ctrl-C (SIGINT), SIGTERM and SIGHUP stop the runner cleanly: the running check's whole
/// process group (and a running build) is killed and reaped before the runner exits with
/// 128 + the signal's number.
///
/// Why not the default action: the checks run in process groups of their own (so that a hang
/// can be killed with its grandchildren), and a terminal's Ctrl-C only reaches the foreground
/// group. Dying without passing it on would leave the check running, re-parented to init.
///
/// Why a handler and a watcher thread rather than blocking the signals and `sigwait`: a blocked
/// mask is inherited by the checks we start and by every process they fork, and a check whose
/// children cannot receive SIGTERM fails for reasons that are not the learner's.
pub fn handle_interrupts() {
    let action = SigAction::new(
        SigHandler::Handler(on_signal),
        SaFlags::SA_RESTART,
        SigSet::empty(),
    );
    for sig in [Signal::SIGINT, Signal::SIGTERM, Signal::SIGHUP] {
        // SAFETY: the handler only stores into an atomic, which is async-signal-safe, and it
        // replaces the default action of signals nobody else in this program handles.
        if unsafe { sigaction(sig, &action) }.is_err() {
            return;
        }
    }
    let _ = std::thread::Builder::new().name("interrupts".into()).spawn(|| {
        let sig = loop {
            match PENDING_SIGNAL.load(Ordering::SeqCst) {
                0 => std::thread::sleep(Duration::from_millis(20)),
                sig => break sig,
            }
        };
        // No further check may start, and the main thread, which sees its check die, must not
        // report it as a failure and exit first (see `wait_if_interrupted`).
        request_stop();
        let groups: Vec<i32> = live_groups().clone();
        for &g in &groups {
            let _ = killpg(Pid::from_raw(g), Signal::SIGKILL);
        }
        let mut left = 0;
        for &g in &groups {
            left += clean_up_group(Pid::from_raw(g));
        }
        reap_orphans();
        let name = Signal::try_from(sig).map(|s| s.as_str()).unwrap_or("a signal");
        eprintln!(
            "\n{}",
            crate::i18n::current().interrupted(name, groups.len(), left)
        );
        std::process::exit(128 + sig);
    });
}

/// Called by `main` before it exits: after a signal, the interrupts thread is cleaning up and
/// will end the process with 128 + the signal's number; returning first would exit with a
/// check's status instead.
pub fn wait_if_interrupted() {
    if PENDING_SIGNAL.load(Ordering::SeqCst) != 0 {
        loop {
            std::thread::park();
        }
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
    build_with(root, lesson, target_dir, Some("--examples"))
}

/// Builds the lesson's test target and, with `examples`, those examples first (`--examples`
/// for all of them, or `--example=NAME` for one): trying one wrong answer needs no more.
pub fn build_with(
    root: &Path,
    lesson: &Lesson,
    target_dir: Option<&Path>,
    examples: Option<&str>,
) -> Result<Build, String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let mut steps: Vec<Vec<&str>> = Vec::new();
    if let Some(which) = examples {
        steps.push(vec!["build", "-p", &lesson.package, which]);
    }
    steps.push(vec![
        "test",
        "-p",
        &lesson.package,
        "--test",
        &lesson.test_target,
        "--no-run",
    ]);
    let mut exe = None;
    for args in steps {
        let mut cmd = Command::new(&cargo);
        // Colour codes only for a terminal: piped into a file or a CI log they are noise.
        let colour =
            std::io::IsTerminal::is_terminal(&std::io::stdout()) && std::env::var_os("NO_COLOR").is_none();
        cmd.args(&args)
            .arg(if colour {
                "--message-format=json-diagnostic-rendered-ansi"
            } else {
                "--message-format=json"
            })
            .current_dir(root);
        if let Some(dir) = target_dir {
            cmd.env("CARGO_TARGET_DIR", dir);
        }
        let out = run_in_own_group(&mut cmd).map_err(|e| format!("cannot run cargo: {e}"))?;
        let (mut errors, artifacts) = cargo_messages(&out.stdout);
        if let Some(a) = artifacts.iter().find(|a| a.target == lesson.test_target) {
            exe = Some(a.executable.clone());
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

/// An executable cargo built, from its `compiler-artifact` message.
struct Artifact {
    package_id: String,
    target: String,
    executable: PathBuf,
}

/// Reads cargo's `--message-format=json` output: the rendered compiler errors, and every
/// executable it built.
fn cargo_messages(stdout: &[u8]) -> (String, Vec<Artifact>) {
    let mut errors = String::new();
    let mut artifacts = Vec::new();
    for line in String::from_utf8_lossy(stdout).lines() {
        let Ok(msg) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        match msg["reason"].as_str() {
            Some("compiler-message") if msg["message"]["level"] == "error" => {
                errors.push_str(msg["message"]["rendered"].as_str().unwrap_or_default());
            }
            Some("compiler-artifact") => {
                if let (Some(exe), Some(target), Some(id)) = (
                    msg["executable"].as_str(),
                    msg["target"]["name"].as_str(),
                    msg["package_id"].as_str(),
                ) {
                    artifacts.push(Artifact {
                        package_id: id.to_owned(),
                        target: target.to_owned(),
                        executable: PathBuf::from(exe),
                    });
                }
            }
            _ => {}
        }
    }
    (errors, artifacts)
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

/// The outcome of one reference test file (a whole test target, not graded).
#[derive(Debug, Clone)]
pub struct SuiteResult {
    /// The file, relative to the root, as `reference_tests` lists it.
    pub file: String,
    pub status: Status,
    pub passed: usize,
    /// Names of the failing tests.
    pub failed: Vec<String>,
    pub duration: Duration,
    /// The first failure, trimmed; or why the suite did not run.
    pub message: Option<String>,
}

/// The package and test target of a test file `…/<package dir>/tests/<target>.rs`.
fn test_target_of(root: &Path, file: &str) -> Result<(String, String), String> {
    let (dir, rest) = file
        .rsplit_once("/tests/")
        .or_else(|| file.strip_prefix("tests/").map(|r| ("", r)))
        .ok_or_else(|| format!("{file}: not under a package's tests/ folder"))?;
    let target = rest
        .strip_suffix(".rs")
        .filter(|t| !t.contains('/'))
        .ok_or_else(|| format!("{file}: not a test target file"))?;
    let manifest = root.join(dir).join("Cargo.toml");
    let text = std::fs::read_to_string(&manifest).map_err(|e| format!("{}: {e}", manifest.display()))?;
    let parsed: toml::Value = toml::from_str(&text).map_err(|e| format!("{}: {e}", manifest.display()))?;
    let name = parsed
        .get("package")
        .and_then(|p| p.get("name"))
        .and_then(|n| n.as_str())
        .ok_or_else(|| format!("{}: no package name", manifest.display()))?;
    Ok((name.to_owned(), target.to_owned()))
}

/// Builds and runs the lesson's reference tests (`reference_tests`), one test target at a time:
/// the tests that exercise the lesson's code beyond its graded checks. A lesson is done only
/// when these pass too.
pub fn run_reference(root: &Path, lesson: &Lesson) -> Result<Vec<SuiteResult>, String> {
    let mut wanted = Vec::new();
    for file in &lesson.reference_tests {
        wanted.push((file.clone(), test_target_of(root, file)?));
    }
    if wanted.is_empty() {
        return Ok(Vec::new());
    }
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let mut cmd = Command::new(&cargo);
    cmd.args(["test", "--no-run", "--message-format=json"])
        .current_dir(root);
    let packages: BTreeSet<&str> = wanted.iter().map(|(_, (p, _))| p.as_str()).collect();
    let targets: BTreeSet<&str> = wanted.iter().map(|(_, (_, t))| t.as_str()).collect();
    for p in packages {
        cmd.args(["-p", p]);
    }
    for t in targets {
        cmd.args(["--test", t]);
    }
    let out = run_in_own_group(&mut cmd).map_err(|e| format!("cannot run cargo: {e}"))?;
    let (errors, artifacts) = cargo_messages(&out.stdout);
    let exes: std::collections::BTreeMap<(String, String), PathBuf> = artifacts
        .into_iter()
        .map(|a| ((a.package_id, a.target), a.executable))
        .collect();
    let mut results = Vec::new();
    for (file, (package, target)) in wanted {
        // A package id names the package (`path+file:///…#name@0.1.0` or `name 0.1.0 (…)`).
        let exe = exes.iter().find(|((id, t), _)| {
            t == &target
                && (id.contains(&format!("#{package}@"))
                    || id.starts_with(&format!("{package} "))
                    || id.ends_with(&format!("/{package}#0.1.0")))
        });
        let Some((_, exe)) = exe else {
            results.push(SuiteResult {
                file,
                status: Status::BuildError,
                passed: 0,
                failed: Vec::new(),
                duration: Duration::ZERO,
                message: Some(if errors.is_empty() {
                    String::from_utf8_lossy(&out.stderr)
                        .lines()
                        .rev()
                        .take(12)
                        .collect::<Vec<_>>()
                        .join("\n")
                } else {
                    errors.lines().take(12).collect::<Vec<_>>().join("\n")
                }),
            });
            continue;
        };
        if stop_requested() {
            break;
        }
        let (run, stdout) = run_exe(exe, &[], Duration::from_secs(600), &[], None);
        let failed: Vec<String> = stdout
            .lines()
            .filter_map(|l| l.strip_prefix("test ")?.strip_suffix(" ... FAILED"))
            .map(str::to_owned)
            .collect();
        let passed = stdout
            .lines()
            .filter(|l| l.starts_with("test ") && l.ends_with(" ... ok"))
            .count();
        let status = if run.status == Status::Pass && run.leaked > 0 {
            Status::Fail
        } else {
            run.status
        };
        let message = match (status, run.leaked) {
            (Status::Pass, _) => None,
            (_, n) if n > 0 && failed.is_empty() => Some(format!(
                "the tests passed but left {n} process(es) running; the runner killed them"
            )),
            _ => run.message,
        };
        results.push(SuiteResult {
            file,
            status,
            passed,
            failed,
            duration: run.duration,
            message,
        });
    }
    Ok(results)
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
///
/// `blank` holds the exercises (of any lesson) whose region is still the starter's `todo!()`: a
/// check of an exercise that `needs` one of them is skipped, with the reason, instead of failing
/// on a panic that is not the learner's doing.
pub fn run_checks(
    exe: &Path,
    lesson: &Lesson,
    only: Option<&[String]>,
    repeat_factor: u32,
    blank: &BTreeSet<String>,
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
        let needed = lesson
            .exercise(&check.exercise)
            .and_then(|e| e.needs.iter().find(|n| blank.contains(*n)));
        if let Some(n) = needed {
            result.message = Some(format!("needs exercise {n} first (still `todo!()`)"));
            results.push(result);
            continue;
        }
        if stop_requested() {
            break;
        }
        for _ in 0..check.repeat * repeat_factor.max(1) {
            let run = run_one(
                exe,
                &check.test,
                Duration::from_secs(check.timeout),
                &lesson.launcher,
            );
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
        if matches!(result.status, Status::Fail | Status::Timeout) && TRACE_DIR.get().is_some() {
            let note = match trace_rerun(exe, check, &lesson.launcher) {
                Ok(svg) => format!("timeline of a traced rerun: {}", svg.display()),
                Err(e) => format!("no timeline: {e}"),
            };
            result.message = Some(match result.message.take() {
                Some(m) => format!("{m}\n{note}"),
                None => note,
            });
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

fn run_one(exe: &Path, test: &str, timeout: Duration, launcher: &[String]) -> Run {
    run_exe(
        exe,
        &[test, "--exact", "--test-threads=1"],
        timeout,
        launcher,
        None,
    )
    .0
}

/// Where `lesson --trace` writes the timelines of failed checks; unset without `--trace`.
static TRACE_DIR: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();

/// `--trace`: a failing check is run once more with `FORKWAY_TRACE`, and its failure message
/// points to the timeline drawn from that run, in `dir`.
pub fn trace_failures_into(dir: PathBuf) {
    let _ = TRACE_DIR.set(dir);
}

/// Runs `check` again traced and draws its timeline; returns the SVG's path.
fn trace_rerun(exe: &Path, check: &Check, launcher: &[String]) -> Result<PathBuf, String> {
    let dir = TRACE_DIR.get().ok_or("not tracing")?;
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let json = dir.join(format!("check-{}.json", check.id));
    let svg = dir.join(format!("check-{}.svg", check.id));
    let _ = std::fs::remove_file(&json);
    let args = [check.test.as_str(), "--exact", "--test-threads=1"];
    let timeout = Duration::from_secs(check.timeout);
    run_exe(exe, &args, timeout, launcher, Some(&json));
    // A check killed at its timeout never merged its trace: merge what its processes wrote.
    let mut parts = json.clone().into_os_string();
    parts.push(".parts");
    let parts = PathBuf::from(parts);
    if parts.is_dir() {
        forkway_trace::merge_dir(&parts, &json).map_err(|e| e.to_string())?;
        let _ = std::fs::remove_dir_all(&parts);
    }
    let events = forkway_trace::read_trace(&json).map_err(|e| e.to_string())?;
    let title = format!("check {} ({})", check.id, check.test);
    std::fs::write(&svg, forkway_trace::svg::render(&events, &title))
        .map_err(|e| format!("{}: {e}", svg.display()))?;
    Ok(svg)
}

/// Runs a test executable with `args` (under `launcher`, if any: e.g. `mpirun -n 3`) in a
/// process group of its own, killing the group at `timeout`; returns the run and libtest's
/// stdout.
fn run_exe(
    exe: &Path,
    args: &[&str],
    timeout: Duration,
    launcher: &[String],
    trace: Option<&Path>,
) -> (Run, String) {
    use std::os::unix::process::CommandExt;
    let started = Instant::now();
    // Removed when this function returns, however it returns.
    let shm = (!launcher.is_empty()).then(MpiShmDir::new);
    let mut cmd = match launcher.split_first() {
        Some((program, rest)) => {
            let mut c = Command::new(program);
            c.args(rest).arg(exe);
            c
        }
        None => Command::new(exe),
    };
    if let Some(shm) = &shm {
        cmd.env("OMPI_MCA_btl_vader_backing_directory", &shm.0);
    }
    if let Some(trace) = trace {
        cmd.env("FORKWAY_TRACE", trace);
    }
    let spawned = cmd
        .args(args)
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
            let run = Run {
                status: Status::Fail,
                duration: Duration::ZERO,
                message: Some(format!("cannot start {}: {e}", exe.display())),
                leaked: 0,
            };
            return (run, String::new());
        }
    };
    let pgid = Pid::from_raw(child.id() as i32);
    register(pgid.as_raw());
    let out = child.stdout.take().map(|s| std::thread::spawn(move || slurp(s)));
    let err = child.stderr.take().map(|s| std::thread::spawn(move || slurp(s)));
    let mut timed_out = false;
    let mut polls = 0u32;
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
            Ok(None) => {
                // As subreaper we inherit the check's orphans; left unreaped they stay zombies,
                // and a test that waits for an orphan to vanish from /proc would wait in vain.
                polls += 1;
                if polls.is_multiple_of(16) {
                    reap_zombies_except(child.id());
                }
                std::thread::sleep(Duration::from_millis(2))
            }
            Err(_) => break None,
        }
    };
    let duration = started.elapsed();
    let leaked = clean_up_group(pgid);
    unregister(pgid.as_raw());
    let stdout = out.and_then(|h| h.join().ok()).unwrap_or_default();
    let stderr = err.and_then(|h| h.join().ok()).unwrap_or_default();
    let run = if timed_out {
        Run {
            status: Status::Timeout,
            duration,
            message: Some(format!(
                "no result after {}s: the check and its processes were killed. Is something waiting forever (a join, a read)?",
                timeout.as_secs()
            )),
            leaked: 0,
        }
    } else {
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
    };
    (run, stdout)
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

/// Reaps the zombies among our children except `keep` (the check itself, whose status
/// `try_wait` must still find). Children are read from `/proc/<pid>/stat`'s ppid field.
fn reap_zombies_except(keep: u32) {
    let me = std::process::id().to_string();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return;
    };
    for e in entries.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|n| n.parse::<i32>().ok()) else {
            continue;
        };
        if pid as u32 == keep {
            continue;
        }
        let Ok(stat) = std::fs::read_to_string(e.path().join("stat")) else {
            continue;
        };
        let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
        let fields: Vec<&str> = rest.split_whitespace().collect();
        if fields.len() > 1 && fields[0] == "Z" && fields[1] == me {
            let _ = waitpid(Pid::from_raw(pid), Some(WaitPidFlag::WNOHANG));
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

/// A folder of its own for Open MPI's shared-memory segments (`vader_segment.*`): Open MPI
/// leaves them in /dev/shm when a job ends (4 MiB a rank, measured: about 30 files a test run),
/// so each job gets this folder through `OMPI_MCA_btl_vader_backing_directory`, removed on drop.
struct MpiShmDir(std::path::PathBuf);

impl MpiShmDir {
    fn new() -> MpiShmDir {
        use std::sync::atomic::{AtomicU32, Ordering};
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let base = std::path::Path::new("/dev/shm");
        let base = if base.is_dir() {
            base.to_path_buf()
        } else {
            std::env::temp_dir()
        };
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let dir = base.join(format!("forkway-mpi-{}-{n}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        MpiShmDir(dir)
    }
}

impl Drop for MpiShmDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
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
        let run = run_one(&script, "t", Duration::from_millis(300), &[]);
        assert_eq!(run.status, Status::Timeout);
        assert!(run.duration < Duration::from_secs(10));
        // A "test binary" that exits but leaves a child running: a leak, killed and reaped.
        std::fs::write(&script, "#!/bin/sh\nsleep 300 &\nexit 0\n").expect("write script");
        let run = run_one(&script, "t", Duration::from_secs(20), &[]);
        assert_eq!(run.status, Status::Pass);
        assert_eq!(run.leaked, 1);
        let _ = std::fs::remove_file(&script);
    }
}
