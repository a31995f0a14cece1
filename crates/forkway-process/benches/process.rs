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

#[allow(dead_code)] // each bench uses part of the shared support
#[path = "../../forkway-ipc/benches/support/python_server.rs"]
mod python_server;
use python_server::{interleaved, target_dir, Contender, Python};

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
    // Measured floor first: each group's analysis grows this process (criterion's plotting
    // threads and data), and a bigger parent forks more slowly — a later row pays for it.
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

    // The ratios come from an interleaved run (A B C D, A B C D, …; medians), not from the
    // criterion groups above, which ran one after the other.
    let python = Python::start(&PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("benches/cpython_process.py"));
    let quick = std::env::args().any(|a| a == "--quick");
    let (rounds, iters) = if quick { (3, 20) } else { (15, 200) };
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
    let medians = interleaved(rounds, iters, &mut contenders);
    println!("\ninterleaved run: {rounds} rounds of {iters} start+join each (median, fastest, slowest per operation)");
    for (name, median, lo, hi) in &medians {
        println!(
            "  {name:<20} {:>10.1} µs  [{:.1} … {:.1}]",
            median / 1e3,
            lo / 1e3,
            hi / 1e3
        );
    }
    let m = |b: &str| medians.iter().find(|(n, ..)| n == b).map(|(_, med, ..)| *med);
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
    println!("\nforkway-process ratios (medians of the interleaved run)");
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
