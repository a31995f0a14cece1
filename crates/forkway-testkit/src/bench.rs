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

/// CPython's side: a `cpython_*.py` server answering "<workload> <n>" with seconds.
pub struct Python {
    child: Child,
    /// `None` once closed: the script's signal to clean up and exit.
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
}

impl Python {
    /// Starts `<the chosen python> <script>` and waits for its "ready"; `None` (with a
    /// message) when python3 is missing or the script fails, so the CPython rows are skipped.
    pub fn start(script: &Path) -> Option<Python> {
        let mut child = match Command::new(&python()?.path)
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
        // Processes the bench forks later (workers, servers, echo peers) must not inherit the
        // write end of python3's stdin: closing ours would then not end the script, and its own
        // children (CPython's manager server, a daemonic consumer) would be orphaned.
        forkway_process::clofork::close_on_fork(std::os::fd::AsRawFd::as_raw_fd(&stdin));
        let mut stdout = BufReader::new(child.stdout.take()?);
        let mut ready = String::new();
        stdout.read_line(&mut ready).ok()?;
        (ready.trim() == "ready").then_some(Python {
            child,
            stdin: Some(stdin),
            stdout,
        })
    }

    /// Runs `n` operations of `workload` in CPython; the time it measured itself.
    pub fn run(&mut self, workload: &str, n: u64) -> Duration {
        Duration::from_secs_f64(self.value(workload, n))
    }

    /// Runs `workload` with argument `n`; the number the script answered (seconds, or bytes
    /// for the memory workloads).
    pub fn value(&mut self, workload: &str, n: u64) -> f64 {
        let stdin = self.stdin.as_mut().expect("python3's stdin is open until drop");
        writeln!(stdin, "{workload} {n}").expect("write to python3");
        let mut line = String::new();
        self.stdout.read_line(&mut line).expect("read from python3");
        line.trim().parse().expect("python3 answered a number")
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
        rows.push(serde_json::json!({"ratio": r.label, "value": value, "target": goal, "met": met}));
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
