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
use python_server::{mean_ns, target_dir, Python};

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
    drop(python);
    drop(consumer);
    c.final_summary();

    let dir = target_dir().join("criterion");
    let ratio = mean_ns(&dir, "joinable_cycle", "cpython")
        .zip(mean_ns(&dir, "joinable_cycle", "forkway"))
        .map(|(p, f)| p / f);
    let met = ratio.map(|r| r >= 5.0);
    println!(
        "\nforkway-joinable ratio (means of this run)\nput+task_done cycle: forkway / CPython {}   target >= 5   {}",
        ratio.map_or("n/a".to_owned(), |r| format!("{r:.2}")),
        match met {
            Some(true) => "met",
            Some(false) => "MISSED",
            None => "not measured",
        }
    );
    let out = target_dir().join("forkway-bench");
    let _ = std::fs::create_dir_all(&out);
    let json = serde_json::json!([{"ratio": "put+task_done cycle: forkway / CPython", "value": ratio, "target": ">= 5", "met": met}]);
    let _ = std::fs::write(
        out.join("joinable.json"),
        serde_json::to_string_pretty(&json).unwrap_or_default(),
    );
}
