//! forkway-joinable beside CPython in one run: put → (consumer process) get + task_done → join,
//! one full cycle per iteration.
//!
//! `cargo bench -p forkway-joinable --bench joinable` (add `-- --quick` for a smoke run).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput};
use forkway_joinable::JoinableQueue;
use forkway_process::Process;

use forkway_testkit::bench::{measure, report, rounds, Contender, Medians, Python, Ratio};

fn cycles(q: &JoinableQueue<u64>, n: u64) -> Duration {
    let start = Instant::now();
    for i in 0..n {
        q.put(i).expect("put");
        q.join().expect("join");
    }
    start.elapsed()
}

/// The in-process floor of the same cycle: a worker thread takes the item from one
/// crossbeam channel and acknowledges it on another (task_done), which the caller waits for
/// (join).
struct ThreadCycle {
    tx: Option<crossbeam_channel::Sender<u64>>,
    acks: crossbeam_channel::Receiver<()>,
    worker: Option<std::thread::JoinHandle<()>>,
}

impl ThreadCycle {
    fn start() -> ThreadCycle {
        let (tx, rx) = crossbeam_channel::unbounded::<u64>();
        let (ack, acks) = crossbeam_channel::unbounded::<()>();
        let worker = std::thread::spawn(move || {
            while let Ok(item) = rx.recv() {
                std::hint::black_box(item);
                if ack.send(()).is_err() {
                    return;
                }
            }
        });
        ThreadCycle {
            tx: Some(tx),
            acks,
            worker: Some(worker),
        }
    }

    fn cycles(&self, n: u64) -> Duration {
        let tx = self.tx.as_ref().expect("open");
        let start = Instant::now();
        for i in 0..n {
            tx.send(i).expect("send");
            self.acks.recv().expect("ack");
        }
        start.elapsed()
    }
}

impl Drop for ThreadCycle {
    fn drop(&mut self) {
        self.tx.take();
        if let Some(w) = self.worker.take() {
            let _ = w.join();
        }
    }
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
    let threads = ThreadCycle::start();
    let mut f = |n| cycles(&q, n);
    let mut t = |n| threads.cycles(n);
    let mut p;
    let mut contenders: Vec<Contender<'_>> = vec![("forkway", &mut f), ("threads_crossbeam-channel", &mut t)];
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
        &[
            Ratio {
                label: "put+task_done cycle: forkway / CPython",
                num: ("joinable_cycle", "cpython"),
                den: ("joinable_cycle", "forkway"),
                target: Some((">= 5", |r| r >= 5.0)),
            },
            Ratio {
                label: "put+task_done cycle: forkway / crossbeam threads (time)",
                num: ("joinable_cycle", "forkway"),
                den: ("joinable_cycle", "threads_crossbeam-channel"),
                target: None,
            },
        ],
    );
}
