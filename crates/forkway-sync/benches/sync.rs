//! forkway-sync beside CPython's `multiprocessing` and a bare futex word, in one run.
//!
//! - `lock_uncontended`: acquire + release in one process. Floor: the three-state futex mutex's
//!   fast path on a word in shared memory (a compare-and-swap in, a swap out, no system call).
//! - `counter_2procs`: two processes increment a shared counter under its lock; time per
//!   increment (the processes are forked before the clock starts, on both sides).
//!
//! `cargo bench -p forkway-sync --bench sync` (add `-- --quick` for a smoke run).

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput};
use forkway_ipc::shm::{RobustMutex, Shm};
use forkway_process::Process;
use forkway_sync::{Event, Lock, Value};

#[allow(dead_code)] // each bench uses part of the shared support
#[path = "../../forkway-ipc/benches/support/python_server.rs"]
mod python_server;
use python_server::{mean_ns, target_dir, Python};

/// The floor: the uncontended path of a futex mutex (0 free, 1 held, 2 held with waiters).
fn futex_floor(word: &AtomicU32, n: u64) -> Duration {
    let start = Instant::now();
    for _ in 0..n {
        while word
            .compare_exchange(0, 1, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            std::hint::spin_loop();
        }
        if word.swap(0, Ordering::Release) == 2 {
            unreachable!("no waiters in a one-process bench");
        }
    }
    start.elapsed()
}

fn forkway_uncontended(lock: &Lock, n: u64) -> Duration {
    let start = Instant::now();
    for _ in 0..n {
        drop(std::hint::black_box(lock.acquire().expect("acquire")));
    }
    start.elapsed()
}

fn forkway_counter(n: u64) -> Duration {
    let v = Value::new(0u64).expect("value");
    let go = Event::new().expect("event");
    let mut workers: Vec<Process> = (0..2)
        .map(|_| {
            let (v, go) = (v.clone(), go.clone());
            Process::new(move || {
                go.wait();
                for _ in 0..n / 2 {
                    *v.lock().expect("lock") += 1;
                }
            })
        })
        .collect();
    for w in &mut workers {
        w.start().expect("start");
    }
    let start = Instant::now();
    go.set();
    for w in &workers {
        w.join().expect("join");
    }
    let elapsed = start.elapsed();
    assert_eq!(v.get(), n / 2 * 2);
    elapsed
}

fn main() {
    let mut python =
        Python::start(&PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("benches/cpython_sync.py"));
    let mut c = Criterion::default().configure_from_args();

    let mut g = c.benchmark_group("lock_uncontended");
    g.throughput(Throughput::Elements(1));
    let lock = Lock::new().expect("lock");
    g.bench_function("forkway", |b| b.iter_custom(|n| forkway_uncontended(&lock, n)));
    let shm = Shm::new(4096).expect("shm");
    // SAFETY: a fresh zeroed page, aligned, alive for the whole group.
    let word = unsafe { &*shm.ptr().cast::<AtomicU32>() };
    g.bench_function("floor", |b| b.iter_custom(|n| futex_floor(word, n)));
    let mshm = Shm::new(4096).expect("shm");
    let mutex = mshm.ptr().cast::<RobustMutex>();
    // SAFETY: a fresh zeroed page, not shared.
    unsafe { RobustMutex::init(mutex).expect("init") };
    // SAFETY: initialized just above; the page outlives the group.
    let mutex = unsafe { &*mutex };
    g.bench_function("robust_pthread", |b| {
        b.iter_custom(|n| {
            let start = Instant::now();
            for _ in 0..n {
                mutex.lock();
                mutex.unlock();
            }
            start.elapsed()
        })
    });
    if let Some(py) = python.as_mut() {
        g.bench_function("cpython", |b| b.iter_custom(|n| py.run("lock_uncontended", n)));
    }
    g.finish();

    let mut g = c.benchmark_group("counter_2procs");
    g.throughput(Throughput::Elements(1));
    g.sample_size(10);
    g.bench_function("forkway", |b| b.iter_custom(|n| forkway_counter(n.max(2))));
    if let Some(py) = python.as_mut() {
        g.bench_function("cpython", |b| {
            b.iter_custom(|n| py.run("counter_2procs", n.max(2)))
        });
    }
    g.finish();
    drop(python);
    c.final_summary();

    let dir = target_dir().join("criterion");
    let m = |g: &str, b: &str| mean_ns(&dir, g, b);
    println!("\nforkway-sync ratios (means of this run)");
    let rows = [
        (
            "lock uncontended: forkway / futex floor (time)",
            m("lock_uncontended", "forkway")
                .zip(m("lock_uncontended", "floor"))
                .map(|(f, r)| f / r),
            "<= 2",
            2.0,
            false,
        ),
        (
            "lock uncontended: forkway speed-up over CPython",
            m("lock_uncontended", "cpython")
                .zip(m("lock_uncontended", "forkway"))
                .map(|(p, f)| p / f),
            ">= 3",
            3.0,
            true,
        ),
        (
            "counter under lock, 2 procs: forkway / CPython",
            m("counter_2procs", "cpython")
                .zip(m("counter_2procs", "forkway"))
                .map(|(p, f)| p / f),
            ">= 10",
            10.0,
            true,
        ),
    ];
    let mut json = Vec::new();
    for (label, value, goal, bound, at_least) in rows {
        let met = value.map(|v| if at_least { v >= bound } else { v <= bound });
        let shown = value.map_or("n/a".to_owned(), |v| format!("{v:.2}"));
        let verdict = match met {
            Some(true) => "met",
            Some(false) => "MISSED",
            None => "not measured",
        };
        println!("{label:<48} {shown:>8}   target {goal:<6} {verdict}");
        json.push(serde_json::json!({"ratio": label, "value": value, "target": goal, "met": met}));
    }
    let out = target_dir().join("forkway-bench");
    let _ = std::fs::create_dir_all(&out);
    let _ = std::fs::write(
        out.join("sync.json"),
        serde_json::to_string_pretty(&json).unwrap_or_default(),
    );
}
