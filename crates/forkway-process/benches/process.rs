//! forkway-process beside CPython and the bare fork floor, in one run: start and join a child
//! that does nothing.
//!
//! - forkway: `Process::new(|| ()).start()` + `join()`.
//! - floor: `fork()`, `_exit(0)` in the child, `waitpid` in the parent — nothing else.
//! - CPython: `Process(target=noop).start(); join()` with the fork and the forkserver start
//!   methods.
//!
//! `cargo bench -p forkway-process --bench process` (add `-- --quick` for a smoke run).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput};
use forkway_process::Process;

#[path = "../../forkway-ipc/benches/support/python_server.rs"]
mod python_server;
use python_server::{mean_ns, target_dir, Python};

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

fn main() {
    let mut python =
        Python::start(&PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("benches/cpython_process.py"));
    let mut c = Criterion::default().configure_from_args();
    let mut g = c.benchmark_group("start_join");
    g.throughput(Throughput::Elements(1));
    g.sample_size(20);
    g.bench_function("forkway", |b| b.iter_custom(forkway));
    g.bench_function("floor", |b| b.iter_custom(floor));
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

    let dir = target_dir().join("criterion");
    let m = |b: &str| mean_ns(&dir, "start_join", b);
    let rows = [
        (
            "start+join: forkway / fork floor (time)",
            m("forkway").zip(m("floor")).map(|(f, r)| f / r),
            "<= 1.5",
            1.5,
            false,
        ),
        (
            "start+join: forkway speed-up over CPython (fork)",
            m("cpython_fork").zip(m("forkway")).map(|(p, f)| p / f),
            ">= 5",
            5.0,
            true,
        ),
        (
            "start+join: forkway speed-up over CPython (forkserver)",
            m("cpython_forkserver").zip(m("forkway")).map(|(p, f)| p / f),
            "(info)",
            0.0,
            true,
        ),
    ];
    println!("\nforkway-process ratios (means of this run)");
    let mut json = Vec::new();
    for (label, value, goal, bound, at_least) in rows {
        let met =
            (goal != "(info)")
                .then_some(())
                .and(value)
                .map(|v| if at_least { v >= bound } else { v <= bound });
        let verdict = match met {
            Some(true) => "met",
            Some(false) => "MISSED",
            None if goal == "(info)" => "",
            None => "not measured",
        };
        let shown = value.map_or("n/a".to_owned(), |v| format!("{v:.2}"));
        println!("{label:<56} {shown:>8}   target {goal:<7} {verdict}");
        json.push(serde_json::json!({"ratio": label, "value": value, "target": goal, "met": met}));
    }
    let out = target_dir().join("forkway-bench");
    let _ = std::fs::create_dir_all(&out);
    let _ = std::fs::write(
        out.join("process.json"),
        serde_json::to_string_pretty(&json).unwrap_or_default(),
    );
}
