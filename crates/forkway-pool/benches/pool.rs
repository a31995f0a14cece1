//! forkway-pool beside CPython in one run, and beside one process per task:
//!
//! - `pool_map_100k`: `map` of 100 000 trivial tasks on a running pool of 2 (target ≥ 3× CPython);
//! - `pool_apply_async`: one `apply_async(..).get()` round trip (target ≥ 5× CPython), with the
//!   Rust peer procspawn's pool (which spawns its workers by re-running this binary) beside it;
//! - `pool_vs_spawn/N`: N tiny tasks, a new Pool(2) + map + close + join, against N processes
//!   started at once each sending its result back — forkway and CPython both.
//!
//! `cargo bench -p forkway-pool --bench pool` (add `-- --quick` for a smoke run).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput};
use forkway_ipc::Queue;
use forkway_pool::Pool;
use forkway_process::Process;

#[allow(dead_code)] // each bench uses part of the shared support
#[path = "../../forkway-ipc/benches/support/python_server.rs"]
mod python_server;
use python_server::{measure, report, rounds, Contender, Medians, Python, Ratio};

fn trivial(x: u64) -> u64 {
    x + 1
}

fn map_100k(pool: &Pool, n: u64) -> Duration {
    let start = Instant::now();
    for _ in 0..n {
        assert_eq!(pool.map(trivial, 0..100_000).expect("map").len(), 100_000);
    }
    start.elapsed()
}

fn apply_round_trips(pool: &Pool, n: u64) -> Duration {
    let start = Instant::now();
    for i in 0..n {
        pool.apply_async(trivial, i).expect("submit").get().expect("get");
    }
    start.elapsed()
}

/// A fresh pool of 2 for `tasks` tiny tasks: what a program that needs the pool once pays.
fn pool_for(tasks: u64, n: u64) -> Duration {
    let start = Instant::now();
    for _ in 0..n {
        let pool = Pool::new(2).expect("pool");
        assert_eq!(pool.map(trivial, 0..tasks).expect("map").len() as u64, tasks);
        pool.close();
        pool.join().expect("join");
    }
    start.elapsed()
}

/// The seeds' "before pools" way: one process per task, each sending its result back.
fn spawn_for(tasks: u64, n: u64) -> Duration {
    let start = Instant::now();
    for _ in 0..n {
        let q: Queue<u64> = Queue::new().expect("queue");
        let mut procs: Vec<Process> = (0..tasks)
            .map(|i| {
                let q = q.clone();
                Process::new(move || q.put(trivial(i)).expect("put"))
            })
            .collect();
        for p in &mut procs {
            p.start().expect("start");
        }
        for _ in 0..tasks {
            q.get().expect("result");
        }
        for p in &procs {
            p.join().expect("join");
        }
    }
    start.elapsed()
}

const SIZES: [u64; 3] = [10, 100, 1000];

/// The Rust peer: procspawn's pool, one `spawn(..).join()` per round trip.
fn procspawn_round_trips(pool: &procspawn::Pool, n: u64) -> Duration {
    let start = Instant::now();
    for i in 0..n {
        let handle = pool.spawn(i, trivial);
        assert_eq!(handle.join().expect("procspawn"), i + 1);
    }
    start.elapsed()
}

fn main() {
    // procspawn's workers are this binary, re-run: this call turns such a run into a worker.
    procspawn::init();
    let peer = procspawn::Pool::new(2).expect("procspawn pool");
    let mut python =
        Python::start(&PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("benches/cpython_pool.py"));
    let mut c = Criterion::default().configure_from_args();
    let pool = Pool::new(2).expect("pool");

    let mut g = c.benchmark_group("pool_map_100k");
    g.sample_size(10).throughput(Throughput::Elements(100_000));
    g.bench_function("forkway", |b| b.iter_custom(|n| map_100k(&pool, n)));
    if let Some(py) = python.as_mut() {
        g.bench_function("cpython", |b| b.iter_custom(|n| py.run("map100k", n)));
    }
    g.finish();

    let mut g = c.benchmark_group("pool_apply_async");
    g.throughput(Throughput::Elements(1));
    g.bench_function("forkway", |b| b.iter_custom(|n| apply_round_trips(&pool, n)));
    if let Some(py) = python.as_mut() {
        g.bench_function("cpython", |b| b.iter_custom(|n| py.run("apply", n)));
    }
    g.bench_function("peer_procspawn", |b| {
        b.iter_custom(|n| procspawn_round_trips(&peer, n))
    });
    g.finish();

    let mut g = c.benchmark_group("pool_vs_spawn");
    g.sample_size(10);
    for tasks in SIZES {
        g.throughput(Throughput::Elements(tasks));
        g.bench_with_input(BenchmarkId::new("forkway_pool", tasks), &tasks, |b, &t| {
            b.iter_custom(|n| pool_for(t, n))
        });
        g.bench_with_input(BenchmarkId::new("forkway_spawn", tasks), &tasks, |b, &t| {
            b.iter_custom(|n| spawn_for(t, n))
        });
        if let Some(py) = python.as_mut() {
            g.bench_with_input(BenchmarkId::new("cpython_pool", tasks), &tasks, |b, &t| {
                b.iter_custom(|n| py.run(&format!("pool_{t}"), n))
            });
            g.bench_with_input(BenchmarkId::new("cpython_spawn", tasks), &tasks, |b, &t| {
                b.iter_custom(|n| py.run(&format!("spawn_{t}"), n))
            });
        }
    }
    g.finish();
    c.final_summary();

    // The reported figures: every contender interleaved, round by round.
    let py = python.map(std::cell::RefCell::new);
    let mut medians = Medians::new();
    {
        let (rounds_n, iters) = rounds((9, 10));
        let mut f = |n| map_100k(&pool, n);
        let mut p;
        let mut contenders: Vec<Contender<'_>> = vec![("forkway", &mut f)];
        if let Some(py) = py.as_ref() {
            p = move |n| py.borrow_mut().run("map100k", n);
            contenders.push(("cpython", &mut p));
        }
        measure(&mut medians, "pool_map_100k", rounds_n, iters, &mut contenders);
    }
    {
        let (rounds_n, iters) = rounds((15, 5_000));
        let mut f = |n| apply_round_trips(&pool, n);
        let mut s = |n| procspawn_round_trips(&peer, n);
        let mut p;
        let mut contenders: Vec<Contender<'_>> = vec![("forkway", &mut f), ("peer_procspawn", &mut s)];
        if let Some(py) = py.as_ref() {
            p = move |n| py.borrow_mut().run("apply", n);
            contenders.push(("cpython", &mut p));
        }
        measure(&mut medians, "pool_apply_async", rounds_n, iters, &mut contenders);
    }
    for tasks in SIZES {
        let (rounds_n, iters) = rounds((7, (1000 / tasks).clamp(1, 20)));
        let mut fp = |n| pool_for(tasks, n);
        let mut fs = |n| spawn_for(tasks, n);
        let (mut pp, mut ps);
        let mut contenders: Vec<Contender<'_>> = vec![("forkway_pool", &mut fp), ("forkway_spawn", &mut fs)];
        if let Some(py) = py.as_ref() {
            pp = move |n| py.borrow_mut().run(&format!("pool_{tasks}"), n);
            ps = move |n| py.borrow_mut().run(&format!("spawn_{tasks}"), n);
            contenders.push(("cpython_pool", &mut pp));
            contenders.push(("cpython_spawn", &mut ps));
        }
        measure(
            &mut medians,
            &format!("pool_vs_spawn_{tasks}"),
            rounds_n,
            iters,
            &mut contenders,
        );
    }
    drop(py);
    drop(pool);
    drop(peer);
    report(
        "pool",
        &medians,
        &[
            Ratio {
                label: "map of 100k trivial tasks: forkway / CPython",
                num: ("pool_map_100k", "cpython"),
                den: ("pool_map_100k", "forkway"),
                target: Some((">= 3", |r| r >= 3.0)),
            },
            Ratio {
                label: "apply_async round trip: forkway / CPython",
                num: ("pool_apply_async", "cpython"),
                den: ("pool_apply_async", "forkway"),
                target: Some((">= 5", |r| r >= 5.0)),
            },
            Ratio {
                label: "apply round trip: Rust peer procspawn / forkway (time)",
                num: ("pool_apply_async", "peer_procspawn"),
                den: ("pool_apply_async", "forkway"),
                target: None,
            },
            Ratio {
                label: "1000 tasks, pool vs spawn-per-task (forkway)",
                num: ("pool_vs_spawn_1000", "forkway_spawn"),
                den: ("pool_vs_spawn_1000", "forkway_pool"),
                target: None,
            },
            Ratio {
                label: "1000 tasks, pool vs spawn-per-task (CPython)",
                num: ("pool_vs_spawn_1000", "cpython_spawn"),
                den: ("pool_vs_spawn_1000", "cpython_pool"),
                target: None,
            },
            Ratio {
                label: "100 tasks, pool vs spawn-per-task (forkway)",
                num: ("pool_vs_spawn_100", "forkway_spawn"),
                den: ("pool_vs_spawn_100", "forkway_pool"),
                target: None,
            },
            Ratio {
                label: "100 tasks, pool vs spawn-per-task (CPython)",
                num: ("pool_vs_spawn_100", "cpython_spawn"),
                den: ("pool_vs_spawn_100", "cpython_pool"),
                target: None,
            },
            Ratio {
                label: "10 tasks, pool vs spawn-per-task (forkway)",
                num: ("pool_vs_spawn_10", "forkway_spawn"),
                den: ("pool_vs_spawn_10", "forkway_pool"),
                target: None,
            },
            Ratio {
                label: "10 tasks, pool vs spawn-per-task (CPython)",
                num: ("pool_vs_spawn_10", "cpython_spawn"),
                den: ("pool_vs_spawn_10", "cpython_pool"),
                target: None,
            },
            Ratio {
                label: "100k map, 1000-task pool run: forkway pool / CPython pool",
                num: ("pool_vs_spawn_1000", "cpython_pool"),
                den: ("pool_vs_spawn_1000", "forkway_pool"),
                target: None,
            },
        ],
    );
}
