//! Running one test executable in a process group of its own, with a timeout, and trimming
//! its output to the failure a learner needs.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;

use super::groups::{clean_up_group, reap_zombies_except, register, stop_requested, unregister};
use super::Status;
use crate::lesson::Check;

pub(super) struct Run {
    pub(super) status: Status,
    pub(super) duration: Duration,
    pub(super) message: Option<String>,
    pub(super) leaked: usize,
}

pub(super) fn run_one(exe: &Path, test: &str, timeout: Duration, launcher: &[String]) -> Run {
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
pub(super) static TRACE_DIR: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();

/// `--trace`: a failing check is run once more with `FORKWAY_TRACE`, and its failure message
/// points to the timeline drawn from that run, in `dir`.
pub fn trace_failures_into(dir: PathBuf) {
    let _ = TRACE_DIR.set(dir);
}

/// Runs `check` again traced and draws its timeline; returns the SVG's path.
pub(super) fn trace_rerun(exe: &Path, check: &Check, launcher: &[String]) -> Result<PathBuf, String> {
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
pub(super) fn run_exe(
    exe: &Path,
    args: &[&str],
    timeout: Duration,
    launcher: &[String],
    trace: Option<&Path>,
) -> (Run, String) {
    use std::os::unix::process::CommandExt;
    let started = Instant::now();
    // Removed when this function returns, however it returns.
    let shm = (!launcher.is_empty()).then(forkway_testkit::mpi_shm::MpiShmDir::new);
    let mut cmd = match launcher.split_first() {
        Some((program, rest)) => {
            let mut c = Command::new(program);
            c.args(rest).arg(exe);
            c
        }
        None => Command::new(exe),
    };
    if let Some(shm) = &shm {
        cmd.env("OMPI_MCA_btl_vader_backing_directory", shm.path());
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
    use crate::runner::become_subreaper;

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
