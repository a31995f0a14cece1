//! The CPython side of forkway's benches: a python3 script run as a long-lived server, so
//! interpreter start-up is never timed; and the interleaved runs, ratios and result files every
//! crate's bench writes for `cargo xtask bench`.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::Duration;

pub use crate::interpreter;

/// The CPython every bench in this process runs: chosen once (see [`interpreter::choose`]).
pub fn python() -> Option<&'static interpreter::Interpreter> {
    static CHOSEN: std::sync::OnceLock<Option<interpreter::Interpreter>> = std::sync::OnceLock::new();
    CHOSEN
        .get_or_init(|| {
            let chosen = interpreter::choose();
            match &chosen {
                Some(p) => eprintln!("CPython: {}", p.describe()),
                None => eprintln!("no python3 found: CPython rows skipped"),
            }
            chosen
        })
        .as_ref()
}

/// How many of a script's last stderr lines a [`ScriptError`] quotes.
const STDERR_TAIL: usize = 20;

/// A `cpython_*.py` bench script that failed: it exited (or never said "ready"), raised, or
/// answered something that is not a number. Its CPython figures would be missing, so the bench
/// must fail, saying which script and why, instead of leaving the CPython column empty.
#[derive(Debug)]
pub struct ScriptError {
    /// The script.
    pub script: PathBuf,
    /// What went wrong, e.g. "exited before saying ready (exit status: 1)".
    pub what: String,
    /// The script's last stderr lines (its traceback, when it raised).
    pub stderr: Vec<String>,
}

impl std::fmt::Display for ScriptError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "CPython bench script {} failed: {}",
            self.script.display(),
            self.what
        )?;
        if self.stderr.is_empty() {
            write!(f, " (nothing on its stderr)")
        } else {
            write!(f, "; its last stderr lines:")?;
            for line in &self.stderr {
                write!(f, "\n    {line}")?;
            }
            Ok(())
        }
    }
}

impl std::error::Error for ScriptError {}

/// Where a script's stderr goes: a memory file rather than a pipe, so that nothing in this
/// process has to drain it as it comes. A reader thread would do that, but it would make the
/// bench process multi-threaded, and on this kind of machine a fork from a process with two
/// threads costs a fifth more (the TLB shoot-downs of a shared address space): the "fork from
/// a small parent" rows would measure the harness. The file is read after every answer.
struct StderrLog {
    file: std::fs::File,
    /// How much of the file has been passed on.
    read: u64,
    /// The script's last [`STDERR_TAIL`] complete lines.
    tail: std::collections::VecDeque<String>,
    /// A line not finished yet.
    partial: Vec<u8>,
}

impl StderrLog {
    fn new() -> std::io::Result<StderrLog> {
        let name = c"forkway-bench-stderr";
        // SAFETY: a NUL-terminated name and valid flags; the result is checked.
        let fd = unsafe { libc::memfd_create(name.as_ptr(), libc::MFD_CLOEXEC) };
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: `fd` was just created and is owned by nothing else.
        let file = unsafe { <std::fs::File as std::os::fd::FromRawFd>::from_raw_fd(fd) };
        // Forked workers need no copy of it.
        forkway_process::clofork::close_on_fork(std::os::fd::AsRawFd::as_raw_fd(&file));
        Ok(StderrLog {
            file,
            read: 0,
            tail: std::collections::VecDeque::new(),
            partial: Vec::new(),
        })
    }

    /// Passes on what the script wrote since the last call, as if its stderr were inherited,
    /// and keeps its last lines.
    fn pump(&mut self) {
        use std::os::unix::fs::FileExt;
        let mut buf = [0u8; 8192];
        loop {
            let n = match self.file.read_at(&mut buf, self.read) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            self.read += n as u64;
            let chunk = &buf[..n];
            let _ = std::io::stderr().write_all(chunk);
            for piece in chunk.split_inclusive(|&b| b == b'\n') {
                self.partial.extend_from_slice(piece);
                if piece.ends_with(b"\n") {
                    self.partial.pop();
                    let line = String::from_utf8_lossy(&self.partial).into_owned();
                    self.partial.clear();
                    if self.tail.len() == STDERR_TAIL {
                        self.tail.pop_front();
                    }
                    self.tail.push_back(line);
                }
            }
        }
    }

    /// The last lines, the unfinished one included.
    fn last_lines(&self) -> Vec<String> {
        let mut lines: Vec<String> = self.tail.iter().cloned().collect();
        if !self.partial.is_empty() {
            lines.push(String::from_utf8_lossy(&self.partial).into_owned());
            if lines.len() > STDERR_TAIL {
                lines.remove(0);
            }
        }
        lines
    }
}

impl Drop for StderrLog {
    fn drop(&mut self) {
        // Its descriptor number is free again once closed: forget it before then.
        forkway_process::clofork::keep_on_fork(std::os::fd::AsRawFd::as_raw_fd(&self.file));
    }
}

/// CPython's side: a `cpython_*.py` server answering "<workload> <n>" with seconds.
pub struct Python {
    child: Child,
    script: PathBuf,
    /// `None` once closed: the script's signal to clean up and exit.
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
    stderr: StderrLog,
}

impl Python {
    /// Starts `<the chosen python> <script>` and waits for its "ready". `None` (with a message)
    /// only when there is no python3 to compare against: the CPython rows are then skipped.
    ///
    /// # Panics
    /// When the script fails to start (it raised, exited, or never said "ready"): the message
    /// names the script and quotes its last stderr lines, so the bench fails instead of
    /// reporting an empty CPython column.
    pub fn start(script: &Path) -> Option<Python> {
        let python = python()?;
        match Python::launch(&python.path, script) {
            Ok(p) => Some(p),
            Err(e) => panic!("{e}"),
        }
    }

    /// Starts `<python> <script>` and waits for its "ready".
    ///
    /// # Errors
    /// A [`ScriptError`] when python cannot be run, or the script ends or says anything else
    /// before "ready".
    pub fn launch(python: &Path, script: &Path) -> Result<Python, ScriptError> {
        let cannot_run = |e: std::io::Error| ScriptError {
            script: script.to_owned(),
            what: format!("cannot run {} ({e})", python.display()),
            stderr: Vec::new(),
        };
        let stderr = StderrLog::new().map_err(cannot_run)?;
        let theirs = stderr.file.try_clone().map_err(cannot_run)?;
        let mut child = Command::new(python)
            .arg(script)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(theirs))
            .spawn()
            .map_err(cannot_run)?;
        // Neither `take` can fail: both were asked for as pipes just above.
        let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            unreachable!("stdin and stdout were set to pipes")
        };
        // Processes the bench forks later (workers, servers, echo peers) must not inherit the
        // write end of python3's stdin: closing ours would then not end the script, and its own
        // children (CPython's manager server, a daemonic consumer) would be orphaned.
        forkway_process::clofork::close_on_fork(std::os::fd::AsRawFd::as_raw_fd(&stdin));
        let mut python = Python {
            child,
            script: script.to_owned(),
            stdin: Some(stdin),
            stdout: BufReader::new(stdout),
            stderr,
        };
        let ready = python.answer()?;
        if ready.trim() != "ready" {
            let what = format!("said {:?} instead of \"ready\"", ready.trim());
            return Err(python.failure_after(what, Duration::ZERO));
        }
        Ok(python)
    }

    /// Reads one line of the script's stdout; the error when it ended instead.
    fn answer(&mut self) -> Result<String, ScriptError> {
        let mut line = String::new();
        match self.stdout.read_line(&mut line) {
            Ok(0) => Err(self.failure("ended without answering".to_owned())),
            Ok(_) => {
                self.stderr.pump();
                Ok(line)
            }
            Err(e) => Err(self.failure(format!("could not be read ({e})"))),
        }
    }

    /// The error for a script that failed: what went wrong, its exit status once it has ended
    /// (waited for a little, since a traceback comes just before the exit), and its stderr's
    /// last lines.
    fn failure(&mut self, what: String) -> ScriptError {
        self.failure_after(what, Duration::from_secs(2))
    }

    /// [`failure`](Python::failure), waiting at most `wait` for the script to end.
    fn failure_after(&mut self, what: String, wait: Duration) -> ScriptError {
        let deadline = std::time::Instant::now() + wait;
        let mut status = None;
        while std::time::Instant::now() < deadline {
            if let Ok(Some(s)) = self.child.try_wait() {
                status = Some(s);
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        // A traceback is written before the exit: once the script has ended, all of it is in
        // the file (and if it has not ended, what it wrote so far).
        self.stderr.pump();
        let what = match status {
            Some(s) => format!("{what} ({s})"),
            None => what,
        };
        ScriptError {
            script: self.script.clone(),
            what,
            stderr: self.stderr.last_lines(),
        }
    }

    /// Runs `n` operations of `workload` in CPython; the time it measured itself.
    ///
    /// # Panics
    /// As [`value`](Python::value).
    pub fn run(&mut self, workload: &str, n: u64) -> Duration {
        Duration::from_secs_f64(self.value(workload, n))
    }

    /// Runs `workload` with argument `n`; the number the script answered (seconds, or bytes
    /// for the memory workloads).
    ///
    /// # Panics
    /// When the script fails ([`try_value`](Python::try_value)'s error): the bench must not go
    /// on without its CPython figures.
    pub fn value(&mut self, workload: &str, n: u64) -> f64 {
        match self.try_value(workload, n) {
            Ok(v) => v,
            Err(e) => panic!("{e}"),
        }
    }

    /// Runs `workload` with argument `n` and returns the script's answer.
    ///
    /// # Errors
    /// A [`ScriptError`] when the script ended (a workload raised: its traceback is in the
    /// error) or answered something that is not a number.
    pub fn try_value(&mut self, workload: &str, n: u64) -> Result<f64, ScriptError> {
        let asked = match self.stdin.as_mut() {
            Some(stdin) => writeln!(stdin, "{workload} {n}").and_then(|()| stdin.flush()),
            None => Err(std::io::Error::other("its stdin is closed")),
        };
        if let Err(e) = asked {
            return Err(self.failure(format!("could not be asked for {workload} {n} ({e})")));
        }
        let line = self.answer().map_err(|e| ScriptError {
            what: format!("{workload} {n}: {}", e.what),
            ..e
        })?;
        line.trim().parse().map_err(|_| {
            // Still running: nothing more to wait for.
            self.failure_after(
                format!("{workload} {n}: answered {:?}, not a number", line.trim()),
                Duration::ZERO,
            )
        })
    }
}

impl Drop for Python {
    fn drop(&mut self) {
        // Closing stdin ends the script's loop and lets it clean up: a SIGKILL straight away
        // would orphan what it started (CPython's manager server does not die with its parent).
        if let Some(stdin) = self.stdin.take() {
            forkway_process::clofork::keep_on_fork(std::os::fd::AsRawFd::as_raw_fd(&stdin));
            drop(stdin);
        }
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while std::time::Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                self.stderr.pump();
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
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

/// Where the ratio files go: `FORKWAY_BENCH_DIR` when `cargo xtask bench` runs the bench (it
/// asked cargo where the target directory is, and reads them back from there), else
/// `forkway-bench` in the target directory this bench was built in.
pub fn results_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("FORKWAY_BENCH_DIR").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    // target/<profile>/deps/ipc-<hash>: right wherever cargo put the target directory, even for
    // a relative CARGO_TARGET_DIR (which would name another folder from the bench's own cwd).
    let exe = std::env::current_exe().expect("current_exe");
    exe.ancestors().nth(3).expect("target dir").join("forkway-bench")
}

/// One implementation of a workload: its name and a function timing `n` operations.
pub type Contender<'a> = (&'a str, &'a mut dyn FnMut(u64) -> Duration);

/// Runs the contenders in turn — A B C, A B C, … for `rounds` rounds of `iters` operations —
/// and returns each one's median, fastest and slowest time per operation in nanoseconds.
///
/// Interleaving is what makes the ratios trustworthy on a shared machine: a slow minute hits
/// every contender alike, and a process that grows while benchmarking (criterion's own analysis
/// does) cannot make whoever runs last look slow — fork-heavy workloads showed 2.4× from order
/// alone when measured group after group.
pub fn interleaved(
    rounds: usize,
    iters: u64,
    contenders: &mut [Contender<'_>],
) -> Vec<(String, f64, f64, f64)> {
    let mut samples: Vec<Vec<f64>> = vec![Vec::with_capacity(rounds); contenders.len()];
    for _ in 0..rounds {
        for (i, (_, run)) in contenders.iter_mut().enumerate() {
            samples[i].push(run(iters).as_nanos() as f64 / iters as f64);
        }
    }
    contenders
        .iter()
        .zip(samples)
        .map(|((name, _), mut s)| {
            s.sort_by(f64::total_cmp);
            let median = s[s.len() / 2];
            (name.to_string(), median, s[0], s[s.len() - 1])
        })
        .collect()
}

/// Medians per (workload, contender), in nanoseconds per operation.
pub type Medians = std::collections::BTreeMap<(String, String), f64>;

/// Runs [`interleaved`] for one workload and records the medians under its name.
pub fn measure(
    medians: &mut Medians,
    workload: &str,
    rounds: usize,
    iters: u64,
    contenders: &mut [Contender<'_>],
) {
    println!(
        "\n{workload}: interleaved, {rounds} rounds of {iters} (median [fastest … slowest] per operation)"
    );
    for (name, median, lo, hi) in interleaved(rounds, iters, contenders) {
        println!("  {name:<18} {median:>12.1} ns  [{lo:.1} … {hi:.1}]");
        medians.insert((workload.to_owned(), name), median);
    }
}

/// How many rounds and operations per round: fewer with `--quick` (a smoke run that checks
/// every workload runs; its figures are not for reporting).
pub fn rounds(full: (usize, u64)) -> (usize, u64) {
    if std::env::args().any(|a| a == "--quick") {
        (3, (full.1 / 10).max(1))
    } else {
        full
    }
}

/// A target: its text (e.g. ">= 5") and the test a ratio must pass.
pub type Target = (&'static str, fn(f64) -> bool);

/// A ratio to report: `numerator time / denominator time` of two contenders, and its target.
pub struct Ratio {
    /// What the ratio means, e.g. "Queue small msgs/s: forkway / CPython".
    pub label: &'static str,
    /// (workload, contender) whose time is divided…
    pub num: (&'static str, &'static str),
    /// …by this one's.
    pub den: (&'static str, &'static str),
    /// The target, shown as text, and the test it must pass; `None` for information only.
    pub target: Option<Target>,
}

/// Prints the ratios and writes them, with every median, to `target/forkway-bench/<name>.json`
/// (read by `cargo xtask bench`).
pub fn report(name: &str, medians: &Medians, ratios: &[Ratio]) {
    report_with_curves(name, medians, ratios, &Curves::new());
}

/// One of the book's log-log charts: each series a line of (x, y) points.
#[derive(Default)]
pub struct Curve {
    /// The chart's title.
    pub title: String,
    /// What x is, with its unit.
    pub x: String,
    /// What y is, with its unit.
    pub y: String,
    /// Series name → points, in x order.
    pub series: std::collections::BTreeMap<String, Vec<(f64, f64)>>,
}

impl Curve {
    /// An empty chart.
    pub fn new(title: &str, x: &str, y: &str) -> Curve {
        Curve {
            title: title.to_owned(),
            x: x.to_owned(),
            y: y.to_owned(),
            series: Default::default(),
        }
    }

    /// Adds the point (x, y) to `series`.
    pub fn point(&mut self, series: &str, x: f64, y: f64) {
        self.series.entry(series.to_owned()).or_default().push((x, y));
    }

    /// Adds every contender's median from one interleaved [`measure`] as a point at `x`,
    /// `scale` turning ns per operation into the chart's y.
    pub fn add_medians(&mut self, medians: &Medians, workload: &str, x: f64, scale: impl Fn(f64) -> f64) {
        for ((w, c), ns) in medians {
            if w == workload {
                self.point(c, x, scale(*ns));
            }
        }
    }

    fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "title": self.title,
            "x": self.x,
            "y": self.y,
            "series": self.series.iter().map(|(k, v)| (k.clone(), serde_json::json!(v))).collect::<serde_json::Map<_, _>>(),
        })
    }
}

/// The curves a bench measured, by chart (file) name.
pub type Curves = std::collections::BTreeMap<String, Curve>;

/// Whether this is the full run (not `--quick`): the curves and big parents are for it only.
pub fn full_run() -> bool {
    !std::env::args().any(|a| a == "--quick")
}

/// As [`report`], with the curves measured beside the medians.
pub fn report_with_curves(name: &str, medians: &Medians, ratios: &[Ratio], curves: &Curves) {
    println!("\n{name}: ratios (medians of the interleaved runs)");
    let get = |(w, c): (&str, &str)| medians.get(&(w.to_owned(), c.to_owned())).copied();
    let mut rows = Vec::new();
    for r in ratios {
        let value = get(r.num).zip(get(r.den)).map(|(n, d)| n / d);
        let (goal, met) = match r.target {
            Some((goal, test)) => (goal, value.map(test)),
            None => ("(info)", None),
        };
        let verdict = match (met, goal) {
            (Some(true), _) => "met",
            (Some(false), _) => "MISSED",
            (None, "(info)") => "",
            (None, _) => "not measured",
        };
        let shown = value.map_or("n/a".to_owned(), |v| format!("{v:.2}"));
        println!("  {:<52} {shown:>8}   target {goal:<7} {verdict}", r.label);
        // The contenders too: `cargo xtask bench` checks that a CPython figure a ratio names
        // is there for every workload that was measured.
        rows.push(serde_json::json!({
            "ratio": r.label, "value": value, "target": goal, "met": met,
            "num": [r.num.0, r.num.1], "den": [r.den.0, r.den.1],
        }));
    }
    let workloads: Vec<_> = medians
        .iter()
        .map(|((w, c), ns)| serde_json::json!({"workload": w, "contender": c, "median_ns": ns}))
        .collect();
    let out = results_dir();
    let _ = std::fs::create_dir_all(&out);
    let python = python().map(interpreter::Interpreter::to_json);
    let json = serde_json::json!({
        "bench": name, "python": python, "medians": workloads, "ratios": rows,
        "curves": curves.iter().map(|(k, c)| (k.clone(), c.to_json())).collect::<serde_json::Map<_, _>>(),
    });
    let _ = std::fs::write(
        out.join(format!("{name}.json")),
        serde_json::to_string_pretty(&json).unwrap_or_default(),
    );
}

/// This process's resident memory in bytes (`VmRSS`), NaN when /proc does not say.
pub fn rss_bytes() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| {
            l.strip_prefix("VmRSS:")?
                .trim()
                .strip_suffix("kB")?
                .trim()
                .parse::<f64>()
                .ok()
        })
        .map_or(f64::NAN, |kib| kib * 1024.0)
}

fn send_word(to: &mut impl Write, word: u64) -> std::io::Result<()> {
    to.write_all(&word.to_le_bytes())
}

fn recv_word(from: &mut impl std::io::Read) -> std::io::Result<u64> {
    let mut word = [0u8; 8];
    from.read_exact(&mut word)?;
    Ok(u64::from_le_bytes(word))
}

/// A parent of a chosen size, for "start + join against the parent's resident memory": a
/// child that holds `ballast` bytes (written, so resident) and times, on command, whatever the
/// bench asks of it. Fork copies page tables, so what it starts costs more the bigger it is.
pub struct BigParent {
    // Dropped first: the child reads EOF and ends.
    cmd: std::io::PipeWriter,
    answers: std::io::PipeReader,
    _child: forkway_process::Process,
    /// The child's resident memory once it holds its ballast, in bytes.
    pub rss: f64,
}

impl Drop for BigParent {
    fn drop(&mut self) {
        use std::os::fd::AsRawFd;
        // Before the fields close the descriptors (the numbers can be reused).
        forkway_process::clofork::keep_on_fork(self.cmd.as_raw_fd());
        forkway_process::clofork::keep_on_fork(self.answers.as_raw_fd());
    }
}

impl BigParent {
    /// Starts the child. It runs `setup` while still small (a forkserver started there stays a
    /// copy of a small process), then takes its ballast, then answers each command `c` sent by
    /// [`run`](BigParent::run) with `time(&setup's value, c)`.
    pub fn start<S>(
        ballast: usize,
        setup: impl FnOnce() -> S + Send + 'static,
        time: impl Fn(&S, u64) -> Duration + Send + 'static,
    ) -> BigParent {
        use std::os::fd::AsRawFd;
        let (mut child_cmd, cmd) = std::io::pipe().expect("pipe");
        let (answers, mut child_answers) = std::io::pipe().expect("pipe");
        // The parent's ends must not live on in the child: with its own copy of `cmd` open it
        // would never read EOF, and dropping the BigParent would wait for it forever.
        let ours = [cmd.as_raw_fd(), answers.as_raw_fd()];
        for fd in ours {
            forkway_process::clofork::close_on_fork(fd);
        }
        let mut child = forkway_process::Process::new(move || {
            // Closed here already; the numbers may be reused, so this child's own children
            // must not close them again.
            for fd in ours {
                forkway_process::clofork::keep_on_fork(fd);
            }
            let state = setup();
            let ballast = vec![1u8; ballast];
            std::hint::black_box(&ballast);
            if send_word(&mut child_answers, rss_bytes().to_bits()).is_err() {
                return;
            }
            // The answer: the time in seconds, as f64 bits.
            while let Ok(c) = recv_word(&mut child_cmd) {
                let t = time(&state, c);
                if send_word(&mut child_answers, t.as_secs_f64().to_bits()).is_err() {
                    return;
                }
            }
        });
        // Not a daemon: a daemonic process may not have children (Python's rule, kept). It
        // ends when `cmd` closes, and dropping the Process reaps it.
        child.start().expect("start");
        let mut answers = answers;
        let rss = f64::from_bits(recv_word(&mut answers).expect("the big parent's RSS"));
        BigParent {
            cmd,
            answers,
            _child: child,
            rss,
        }
    }

    /// Sends `command` and waits for the time it took in the child.
    pub fn run(&mut self, command: u64) -> Duration {
        send_word(&mut self.cmd, command).expect("command");
        Duration::from_secs_f64(f64::from_bits(recv_word(&mut self.answers).expect("answer")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The server loop's folder, which every `cpython_*.py` puts on its path.
    const SERVER_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/python");

    /// A folder for the test's scripts, removed when dropped.
    struct Scripts(PathBuf);

    impl Scripts {
        fn new(name: &str) -> Scripts {
            let dir = std::env::temp_dir().join(format!("forkway-testkit-{name}-{}", std::process::id()));
            std::fs::create_dir_all(&dir).expect("temp dir");
            Scripts(dir)
        }

        /// A bench script whose server has the methods `body` defines (indented by 4).
        fn write(&self, name: &str, imports: &str, body: &str) -> PathBuf {
            let path = self.0.join(name);
            let text = format!(
                "import sys\nsys.path.insert(0, {SERVER_DIR:?})\n{imports}\n\nclass Server:\n{body}\n\nserve(Server())\n"
            );
            std::fs::write(&path, text).expect("write script");
            path
        }
    }

    impl Drop for Scripts {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    /// The python3 to run the scripts with; `None` (the test says so) on a machine without one.
    fn python3() -> Option<PathBuf> {
        let found = ["/usr/bin/python3", "/usr/local/bin/python3"]
            .iter()
            .map(PathBuf::from)
            .find(|p| p.exists());
        if found.is_none() {
            eprintln!("no python3: the launcher's failure detection cannot be checked here");
        }
        found
    }

    const GOOD_METHODS: &str = "    def ok(self, n):\n        return n / 4\n";

    #[test]
    fn a_script_that_fails_to_import_is_an_error_naming_it_with_its_traceback() {
        let Some(python) = python3() else { return };
        let scripts = Scripts::new("import");
        // The failure that once emptied the start bench's CPython column silently.
        let script = scripts.write(
            "cpython_moved.py",
            "from bench_server_moved import serve",
            GOOD_METHODS,
        );
        let e = Python::launch(&python, &script)
            .err()
            .expect("a script that cannot import its server must not start");
        let text = e.to_string();
        assert!(text.contains(&script.display().to_string()), "{text}");
        assert!(text.contains("exit status: 1"), "{text}");
        assert!(
            e.stderr
                .last()
                .is_some_and(|l| l.contains("ModuleNotFoundError") && l.contains("bench_server_moved")),
            "the traceback's last line: {text}"
        );
    }

    #[test]
    fn a_workload_that_raises_or_answers_no_number_is_an_error() {
        let Some(python) = python3() else { return };
        let scripts = Scripts::new("workload");
        let body = format!(
            "{GOOD_METHODS}    def boom(self, n):\n        raise ValueError(f'boom {{n}}')\n    def chatty(self, n):\n        print('not a number')\n        return 0\n"
        );
        let script = scripts.write("cpython_raises.py", "from bench_server import serve", &body);

        let mut py = Python::launch(&python, &script).expect("the script starts");
        assert_eq!(py.try_value("ok", 2).expect("a good workload"), 0.5);
        let e = py.try_value("boom", 7).expect_err("a raising workload");
        let text = e.to_string();
        assert!(
            text.contains("cpython_raises.py") && text.contains("boom 7"),
            "{text}"
        );
        assert!(
            e.stderr.iter().any(|l| l.contains("Traceback")),
            "the traceback is quoted: {text}"
        );
        assert_eq!(
            e.stderr.last().map(String::as_str),
            Some("ValueError: boom 7"),
            "{text}"
        );
        drop(py);

        let mut py = Python::launch(&python, &script).expect("the script starts");
        let e = py
            .try_value("chatty", 1)
            .expect_err("an answer that is not a number");
        assert!(e.to_string().contains("\"not a number\""), "{e}");
        drop(py);

        // `value`, what the benches call, turns the error into the bench's failure.
        let mut py = Python::launch(&python, &script).expect("the script starts");
        let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| py.value("boom", 3)));
        let message = caught.expect_err("value must panic on a failed script");
        let message = message.downcast_ref::<String>().cloned().unwrap_or_default();
        assert!(
            message.contains("cpython_raises.py") && message.contains("ValueError: boom 3"),
            "{message}"
        );
    }
}
