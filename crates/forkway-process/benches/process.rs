//! forkway-process beside CPython and the bare fork floor, in one run: start and join a child
//! that does nothing.
//!
//! - forkway: `Process::new(|| ()).start()` + `join()`.
//! - floor: `fork()`, `_exit(0)` in the child, `waitpid` in the parent — nothing else.
//! - CPython: `Process(target=noop).start(); join()` with the fork and the forkserver start
//!   methods.
//!
//! `cargo bench -p forkway-process --bench process` (add `-- --quick` for a smoke run).

use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput};
use forkway_process::Process;

use forkway_testkit::bench::{
    full_run, measure, report_with_curves, rounds, Contender, Curve, Curves, Medians, Python, Ratio,
};

fn forkway(n: u64) -> Duration {
    let start = Instant::now();
    for _ in 0..n {
        let mut p = Process::new(|| ());
        p.start().expect("start");
        p.join().expect("join");
    }
    start.elapsed()
}

fn floor(n: u64) -> Duration {
    let start = Instant::now();
    for _ in 0..n {
        // SAFETY: the child only calls the async-signal-safe `_exit`.
        match unsafe { libc::fork() } {
            // SAFETY: `_exit` in the child: no destructor or atexit handler of the parent runs.
            0 => unsafe { libc::_exit(0) },
            -1 => panic!("fork: {}", std::io::Error::last_os_error()),
            pid => {
                let mut status = 0;
                // SAFETY: waiting for our own child, status is a valid out-pointer.
                unsafe { libc::waitpid(pid, &mut status, 0) };
            }
        }
    }
    start.elapsed()
}

fn rss_bytes() -> f64 {
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

/// A parent of a chosen size: a child that holds `ballast` bytes (written, so resident) and
/// times start + join of its own children on command — forkway's and the floor's.
struct BigParent {
    // Dropped first: the child reads EOF and ends.
    cmd: std::io::PipeWriter,
    answers: std::io::PipeReader,
    _child: Process,
    rss: f64,
}

fn send_word(to: &mut impl std::io::Write, word: u64) -> std::io::Result<()> {
    to.write_all(&word.to_le_bytes())
}

fn recv_word(from: &mut impl std::io::Read) -> std::io::Result<u64> {
    let mut word = [0u8; 8];
    from.read_exact(&mut word)?;
    Ok(u64::from_le_bytes(word))
}

impl Drop for BigParent {
    fn drop(&mut self) {
        // Before the fields close the descriptors (the numbers can be reused).
        forkway_process::clofork::keep_on_fork(self.cmd.as_raw_fd());
        forkway_process::clofork::keep_on_fork(self.answers.as_raw_fd());
    }
}

impl BigParent {
    fn start(ballast: usize) -> BigParent {
        let (mut child_cmd, cmd) = std::io::pipe().expect("pipe");
        let (answers, mut child_answers) = std::io::pipe().expect("pipe");
        // The parent's ends must not live on in the child: with its own copy of `cmd` open it
        // would never read EOF, and dropping the BigParent would wait for it forever.
        let ours = [cmd.as_raw_fd(), answers.as_raw_fd()];
        for fd in ours {
            forkway_process::clofork::close_on_fork(fd);
        }
        let mut child = Process::new(move || {
            // Closed here already; the numbers may be reused, so this child's own children
            // must not close them again.
            for fd in ours {
                forkway_process::clofork::keep_on_fork(fd);
            }
            let ballast = vec![1u8; ballast];
            std::hint::black_box(&ballast);
            if send_word(&mut child_answers, rss_bytes().to_bits()).is_err() {
                return;
            }
            // A command is 2n + (0 forkway, 1 floor); the answer, the time in seconds (f64 bits).
            while let Ok(c) = recv_word(&mut child_cmd) {
                let t = if c & 1 == 0 { forkway(c / 2) } else { floor(c / 2) };
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

    fn run(&mut self, floor: bool, n: u64) -> Duration {
        send_word(&mut self.cmd, 2 * n + u64::from(floor)).expect("command");
        Duration::from_secs_f64(f64::from_bits(recv_word(&mut self.answers).expect("answer")))
    }
}

/// Start + join against the parent's resident size: fork copies the page tables, so a
/// bigger parent forks more slowly — forkway, the floor and CPython alike.
fn curve_rss(python: Option<&std::cell::RefCell<Python>>) -> Curve {
    let mut curve = Curve::new(
        "Start + join a child vs the parent's resident memory (fork copies page tables)",
        "parent's resident memory (bytes)",
        "start + join (ns)",
    );
    let sizes: &[usize] = if full_run() {
        &[10 << 20, 1 << 30, 4 << 30]
    } else {
        &[10 << 20]
    };
    let mut medians = Medians::new();
    for &size in sizes {
        let mut big = BigParent::start(size);
        let rss = big.rss;
        let iters = if size > 1 << 30 {
            4
        } else if size > 64 << 20 {
            10
        } else {
            100
        };
        let (rounds_n, iters) = if full_run() { (5, iters) } else { (2, 2) };
        let py_rss = python.map(|py| py.borrow_mut().value("ballast", size as u64));
        let big = std::cell::RefCell::new(&mut big);
        let mut f = |n| big.borrow_mut().run(false, n);
        let mut l = |n| big.borrow_mut().run(true, n);
        let mut p;
        let mut contenders: Vec<Contender<'_>> = vec![("forkway", &mut f), ("fork floor", &mut l)];
        if let Some(py) = python {
            p = move |n| py.borrow_mut().run("start_join_fork", n);
            contenders.push(("CPython", &mut p));
        }
        let w = format!("start_join_rss_{size}");
        measure(&mut medians, &w, rounds_n, iters, &mut contenders);
        for ((wl, c), ns) in &medians {
            if *wl == w {
                let x = if c == "CPython" {
                    py_rss.unwrap_or(rss)
                } else {
                    rss
                };
                curve.point(c, x, *ns);
            }
        }
    }
    if let Some(py) = python {
        py.borrow_mut().value("ballast", 0);
    }
    curve
}

fn main() {
    // The ratios come from an interleaved run (A B C D, A B C D, …; medians), made *first*:
    // criterion's analysis grows this process (plotting threads and data), and a bigger parent
    // forks more slowly — measured after it, forkway and the floor would pay for criterion's
    // page tables while CPython's lean server would not.
    let python = Python::start(&PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("benches/cpython_process.py"));
    let (rounds_n, iters) = rounds((15, 200));
    let mut fw = forkway;
    let mut fl = floor;
    let mut contenders: Vec<Contender<'_>> = vec![("forkway", &mut fw), ("floor", &mut fl)];
    // One python3 server, two contenders: they take turns, so a RefCell is enough.
    let python = python.map(std::cell::RefCell::new);
    let mut py_fork;
    let mut py_server;
    if let Some(py) = python.as_ref() {
        py_fork = move |n| py.borrow_mut().run("start_join_fork", n);
        py_server = move |n| py.borrow_mut().run("start_join_forkserver", n);
        contenders.push(("cpython_fork", &mut py_fork));
        contenders.push(("cpython_forkserver", &mut py_server));
    }
    let mut medians = Medians::new();
    measure(&mut medians, "start_join", rounds_n, iters, &mut contenders);
    drop(contenders);
    let mut curves = Curves::new();
    curves.insert("process-rss".to_owned(), curve_rss(python.as_ref()));
    drop(python);

    let mut python =
        Python::start(&PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("benches/cpython_process.py"));
    let mut c = Criterion::default().configure_from_args();
    let mut g = c.benchmark_group("start_join");
    g.throughput(Throughput::Elements(1));
    g.sample_size(20);
    // For the HTML reports only. Floor first: each group's analysis grows this process, so a
    // later row pays for it.
    g.bench_function("floor", |b| b.iter_custom(floor));
    g.bench_function("forkway", |b| b.iter_custom(forkway));
    if let Some(py) = python.as_mut() {
        g.bench_function("cpython_fork", |b| {
            b.iter_custom(|n| py.run("start_join_fork", n))
        });
        g.bench_function("cpython_forkserver", |b| {
            b.iter_custom(|n| py.run("start_join_forkserver", n))
        });
    }
    g.finish();
    drop(python);
    c.final_summary();

    report_with_curves(
        "process",
        &medians,
        &[
            Ratio {
                label: "start+join: forkway / fork floor (time)",
                num: ("start_join", "forkway"),
                den: ("start_join", "floor"),
                target: Some(("<= 1.3", |r| r <= 1.3)),
            },
            Ratio {
                label: "start+join: forkway speed-up over CPython (fork)",
                num: ("start_join", "cpython_fork"),
                den: ("start_join", "forkway"),
                target: Some((">= 5", |r| r >= 5.0)),
            },
            Ratio {
                label: "start+join: forkway speed-up over CPython (forkserver)",
                num: ("start_join", "cpython_forkserver"),
                den: ("start_join", "forkway"),
                target: None,
            },
        ],
        &curves,
    );
}
