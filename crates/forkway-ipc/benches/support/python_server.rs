//! The CPython side of forkway's benches: a python3 script run as a long-lived server, so
//! interpreter start-up is never timed. Shared by the benches of several crates (`#[path]`).

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::Duration;

/// CPython's side: a `cpython_*.py` server answering "<workload> <n>" with seconds.
pub struct Python {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl Python {
    /// Starts `python3 <script>` and waits for its "ready"; `None` (with a message) when
    /// python3 is missing or the script fails, so the CPython rows are skipped.
    pub fn start(script: &Path) -> Option<Python> {
        let mut child = match Command::new("python3")
            .arg(script)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
        {
            Ok(c) => c,
            Err(e) => {
                eprintln!("python3 not available ({e}): CPython rows skipped");
                return None;
            }
        };
        let stdin = child.stdin.take()?;
        let mut stdout = BufReader::new(child.stdout.take()?);
        let mut ready = String::new();
        stdout.read_line(&mut ready).ok()?;
        (ready.trim() == "ready").then_some(Python { child, stdin, stdout })
    }

    /// Runs `n` operations of `workload` in CPython; the time it measured itself.
    pub fn run(&mut self, workload: &str, n: u64) -> Duration {
        writeln!(self.stdin, "{workload} {n}").expect("write to python3");
        let mut line = String::new();
        self.stdout.read_line(&mut line).expect("read from python3");
        Duration::from_secs_f64(line.trim().parse().expect("python3 answered seconds"))
    }
}

impl Drop for Python {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Criterion's point estimate of the mean time per iteration, in nanoseconds.
pub fn mean_ns(criterion_dir: &std::path::Path, group: &str, bench: &str) -> Option<f64> {
    let path = criterion_dir.join(group).join(bench).join("new/estimates.json");
    let json: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()?;
    json["mean"]["point_estimate"].as_f64()
}

/// Where criterion and the ratio files write: the workspace's target directory.
pub fn target_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("CARGO_TARGET_DIR") {
        return PathBuf::from(dir);
    }
    // target/<profile>/deps/ipc-<hash>
    let exe = std::env::current_exe().expect("current_exe");
    exe.ancestors().nth(3).expect("target dir").to_path_buf()
}
