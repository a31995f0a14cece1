//! Building a lesson's tests and running its checks, each in its own process group.
//!
//! The runner is a "child subreaper" (`PR_SET_CHILD_SUBREAPER`): processes that a check forks
//! and abandons are re-parented to the runner instead of init, so the runner can see them,
//! report them as leaks, kill them and reap them. A hanging check is killed with its whole
//! process group when its timeout expires.
//!
//! The parts: `groups` owns the process groups and the signals that stop them, `cargo` builds a
//! lesson's tests, `exec` runs one test executable and reads its failure; this file decides
//! which checks run and what they score.

mod cargo;
mod exec;
mod groups;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::lesson::{Check, Lesson};

use cargo::cargo_messages;
pub use cargo::{build, build_with, Build};
pub use exec::trace_failures_into;
use exec::{run_exe, run_one, trace_rerun, TRACE_DIR};
use groups::run_in_own_group;
pub use groups::{
    become_subreaper, handle_interrupts, request_stop, stop_requested, take_stop, wait_if_interrupted,
};

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
