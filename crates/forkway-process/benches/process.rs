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

use forkway_testkit::bench::{
    full_run, measure, report_with_curves, rounds, BigParent, Contender, Curve, Curves, Medians, Python,
    Ratio,
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
        // A command is 2n + (0 forkway, 1 floor).
        let mut big = BigParent::start(
            size,
            || (),
            |(), c| if c & 1 == 0 { forkway(c / 2) } else { floor(c / 2) },
        );
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
        let mut f = |n| big.borrow_mut().run(2 * n);
        let mut l = |n| big.borrow_mut().run(2 * n + 1);
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
