//! forkway-pool beside CPython in one run, and beside one process per task:
//!
//! - `pool_map_100k`: `map` of 100 000 trivial tasks on a running pool of 2 (targets: ≥ 10×
//!   CPython, within 5× of rayon on 2 threads);
//! - `pool_apply_async`: one `apply_async(..).get()` round trip (target ≥ 15× CPython), with the
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

use forkway_testkit::bench::{
    full_run, measure, report_with_curves, rounds, Contender, Curve, Curves, Medians, Python, Ratio,
};
use rayon::prelude::*;

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

/// The in-process floor: rayon's work-stealing map over 2 threads, nothing copied or encoded.
fn rayon_map(pool: &rayon::ThreadPool, items: u64, min_len: usize, n: u64) -> Duration {
    let start = Instant::now();
    for _ in 0..n {
        let out: Vec<u64> = pool.install(|| {
            // usize, not u64: rayon's u64 ranges are not indexed (no with_min_len).
            (0..items as usize)
                .into_par_iter()
                .with_min_len(min_len)
                .map(|i| trivial(i as u64))
                .collect()
        });
        assert_eq!(out.len() as u64, items);
    }
    start.elapsed()
}

/// A fresh rayon pool of 2 threads for `tasks` tiny tasks (the pool_vs_spawn rows).
fn rayon_pool_for(tasks: u64, n: u64) -> Duration {
    let start = Instant::now();
    for _ in 0..n {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .build()
            .expect("rayon");
        let out: Vec<u64> = pool.install(|| (0..tasks).into_par_iter().map(trivial).collect());
        assert_eq!(out.len() as u64, tasks);
        drop(pool);
    }
    start.elapsed()
}

fn forkway_map(pool: &Pool, items: u64, chunksize: Option<usize>, n: u64) -> Duration {
    let start = Instant::now();
    for _ in 0..n {
        let out = match chunksize {
            Some(c) => pool.chunksize(c).expect("chunksize").map(trivial, 0..items),
            None => pool.map(trivial, 0..items),
        };
        assert_eq!(out.expect("map").len() as u64, items);
    }
    start.elapsed()
}

fn status_kib(field: &str) -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| {
            l.strip_prefix(field)?
                .trim()
                .strip_suffix("kB")?
                .trim()
                .parse()
                .ok()
        })
        .unwrap_or(f64::NAN)
}

/// How much this process's peak resident memory grows while `f` runs, in bytes: the peak is
/// reset first (`/proc/self/clear_refs`, 5), so earlier growth does not count.
fn peak_growth(f: impl FnOnce()) -> f64 {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
    let base = status_kib("VmRSS:");
    f();
    (status_kib("VmHWM:") - base).max(0.0) * 1024.0
}

/// The pool curves: map time per item vs N and vs chunksize, imap and map peak memory vs N.
fn curves_pool(pool: &Pool, rayon2: &rayon::ThreadPool, py: Option<&std::cell::RefCell<Python>>) -> Curves {
    let full = full_run();
    let mut curves = Curves::new();
    let mut medians = Medians::new();
    let mut by_n = Curve::new(
        "Pool(2).map of a trivial function: time per item vs N",
        "N (items)",
        "time per item (ns)",
    );
    let ns: Vec<u64> = if full {
        (1..=6).map(|e| 10u64.pow(e)).collect()
    } else {
        vec![10, 1000]
    };
    for items in ns {
        let iters = (100_000 / items).clamp(1, 200);
        let (rounds_n, iters) = if full { (5, iters) } else { (2, 1) };
        let mut f = |n| forkway_map(pool, items, None, n);
        let mut r = |n| rayon_map(rayon2, items, 1, n);
        let mut p;
        let mut contenders: Vec<Contender<'_>> = vec![("forkway", &mut f), ("rayon (threads)", &mut r)];
        if let Some(py) = py {
            p = move |n| py.borrow_mut().run(&format!("map_n_{items}"), n);
            contenders.push(("CPython", &mut p));
        }
        let w = format!("map_n_{items}");
        measure(&mut medians, &w, rounds_n, iters, &mut contenders);
        by_n.add_medians(&medians, &w, items as f64, |t| t / items as f64);
    }
    curves.insert("pool-map-n".to_owned(), by_n);

    let mut by_chunk = Curve::new(
        "Pool(2).map of 20 000 trivial tasks: time per item vs chunksize",
        "chunksize (items per task message; rayon: with_min_len)",
        "time per item (ns)",
    );
    const ITEMS: u64 = 20_000;
    let chunks: Vec<usize> = if full {
        vec![1, 10, 100, 1000, 10_000]
    } else {
        vec![100]
    };
    for chunk in chunks {
        let (rounds_n, iters) = if full { (5, 1) } else { (2, 1) };
        let items = if full { ITEMS } else { 1000 };
        let mut f = |n| forkway_map(pool, items, Some(chunk), n);
        let mut r = |n| rayon_map(rayon2, items, chunk, n);
        let mut p;
        let mut contenders: Vec<Contender<'_>> = vec![("forkway", &mut f), ("rayon (threads)", &mut r)];
        if let Some(py) = py {
            p = move |n| py.borrow_mut().run(&format!("map_chunk_{items}_{chunk}"), n);
            contenders.push(("CPython", &mut p));
        }
        let w = format!("map_chunk_{chunk}");
        measure(&mut medians, &w, rounds_n, iters, &mut contenders);
        by_chunk.add_medians(&medians, &w, chunk as f64, |t| t / items as f64);
    }
    curves.insert("pool-map-chunksize".to_owned(), by_chunk);

    let mut memory = Curve::new(
        "Peak memory growth of the caller: imap (lazy) vs map (a list), N items, chunksize 100",
        "N (items)",
        "peak resident memory growth (bytes)",
    );
    let ns: Vec<u64> = if full {
        (3..=6).map(|e| 10u64.pow(e)).collect()
    } else {
        vec![1000]
    };
    for items in ns {
        println!(
            "
imap/map peak memory, N = {items}"
        );
        let imap = peak_growth(|| {
            let it = pool
                .chunksize(100)
                .expect("chunksize")
                .imap(trivial, 0..items)
                .expect("imap");
            let mut sum = 0u64;
            for r in it {
                sum = sum.wrapping_add(r.expect("imap item"));
            }
            std::hint::black_box(sum);
        });
        let map = peak_growth(|| {
            let out = pool
                .chunksize(100)
                .expect("chunksize")
                .map(trivial, 0..items)
                .expect("map");
            std::hint::black_box(out.len());
        });
        memory.point("forkway imap", items as f64, imap);
        memory.point("forkway map", items as f64, map);
        println!("  forkway imap {imap:>14.0} B   map {map:>14.0} B");
        if let Some(py) = py {
            let imap = py.borrow_mut().value("imap_peak", items);
            let map = py.borrow_mut().value("map_peak", items);
            memory.point("CPython imap", items as f64, imap);
            memory.point("CPython map", items as f64, map);
            println!("  CPython imap {imap:>14.0} B   map {map:>14.0} B");
        }
    }
    curves.insert("pool-imap-memory".to_owned(), memory);
    curves
}

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
    let rayon2 = rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .build()
        .expect("rayon pool");
    let mut medians = Medians::new();
    {
        let (rounds_n, iters) = rounds((9, 10));
        let mut f = |n| map_100k(&pool, n);
        let mut r = |n| rayon_map(&rayon2, 100_000, 1, n);
        let mut p;
        let mut contenders: Vec<Contender<'_>> = vec![("forkway", &mut f), ("threads_rayon", &mut r)];
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
        let mut r = |n| rayon_pool_for(tasks, n);
        let (mut pp, mut ps);
        let mut contenders: Vec<Contender<'_>> = vec![
            ("forkway_pool", &mut fp),
            ("forkway_spawn", &mut fs),
            ("threads_rayon", &mut r),
        ];
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
    let curves = curves_pool(&pool, &rayon2, py.as_ref());
    drop(py);
    drop(pool);
    drop(peer);
    report_with_curves(
        "pool",
        &medians,
        &[
            Ratio {
                label: "map of 100k trivial tasks: forkway / CPython",
                num: ("pool_map_100k", "cpython"),
                den: ("pool_map_100k", "forkway"),
                target: Some((">= 10", |r| r >= 10.0)),
            },
            Ratio {
                label: "map of 100k trivial tasks: forkway / rayon (time)",
                num: ("pool_map_100k", "forkway"),
                den: ("pool_map_100k", "threads_rayon"),
                target: Some(("<= 5", |r| r <= 5.0)),
            },
            Ratio {
                label: "apply_async round trip: forkway / CPython",
                num: ("pool_apply_async", "cpython"),
                den: ("pool_apply_async", "forkway"),
                target: Some((">= 15", |r| r >= 15.0)),
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
            Ratio {
                label: "1000 tasks, fresh pool: forkway / rayon (time)",
                num: ("pool_vs_spawn_1000", "forkway_pool"),
                den: ("pool_vs_spawn_1000", "threads_rayon"),
                target: None,
            },
        ],
        &curves,
    );
}
