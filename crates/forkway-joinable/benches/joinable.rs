//! forkway-joinable beside CPython in one run: put → (consumer process) get + task_done → join,
//! one full cycle per iteration.
//!
//! `cargo bench -p forkway-joinable --bench joinable` (add `-- --quick` for a smoke run).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput};
use forkway_joinable::JoinableQueue;
use forkway_process::Process;

#[allow(dead_code)] // each bench uses part of the shared support
#[path = "../../forkway-ipc/benches/support/python_server.rs"]
mod python_server;
use python_server::{measure, report, rounds, Contender, Medians, Python, Ratio};

fn cycles(q: &JoinableQueue<u64>, n: u64) -> Duration {
    let start = Instant::now();
    for i in 0..n {
        q.put(i).expect("put");
        q.join().expect("join");
    }
    start.elapsed()
}

fn main() {
    let mut python =
        Python::start(&PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("benches/cpython_joinable.py"));
    let mut c = Criterion::default().configure_from_args();
    let q: JoinableQueue<u64> = JoinableQueue::new().expect("queue");
    let worker = q.clone();
    let mut consumer = Process::new(move || {
        while worker.get().is_ok() {
            worker.task_done().expect("task_done");
        }
    })
    .with_daemon(true);
    consumer.start().expect("start");

    let mut g = c.benchmark_group("joinable_cycle");
    g.throughput(Throughput::Elements(1));
    g.bench_function("forkway", |b| b.iter_custom(|n| cycles(&q, n)));
    if let Some(py) = python.as_mut() {
        g.bench_function("cpython", |b| b.iter_custom(|n| py.run("cycle", n)));
    }
    g.finish();
    c.final_summary();
    let py = python.map(std::cell::RefCell::new);
    let (rounds_n, iters) = rounds((15, 20_000));
    let mut f = |n| cycles(&q, n);
    let mut p;
    let mut contenders: Vec<Contender<'_>> = vec![("forkway", &mut f)];
    if let Some(py) = py.as_ref() {
        p = move |n| py.borrow_mut().run("cycle", n);
        contenders.push(("cpython", &mut p));
    }
    let mut medians = Medians::new();
    measure(&mut medians, "joinable_cycle", rounds_n, iters, &mut contenders);
    drop(py);
    drop(consumer);
    report(
        "joinable",
        &medians,
        &[Ratio {
            label: "put+task_done cycle: forkway / CPython",
            num: ("joinable_cycle", "cpython"),
            den: ("joinable_cycle", "forkway"),
            target: Some((">= 5", |r| r >= 5.0)),
        }],
    );
}
