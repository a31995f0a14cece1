//! What a proxy costs, beside CPython's and beside the floor, in one run:
//!
//! - `manager_value_get`: one `ValueProxy::get` — a request and a reply over the manager's
//!   Unix socket — against CPython's `Manager().Value(...).value`, and against the floor: the
//!   same small request and reply between two processes over a bare socket pair;
//! - `shared_value_get`: chapter 3's shared-memory `Value::get` (its lock taken) against
//!   CPython's `multiprocessing.Value(...).value` — the price of *not* going through a server;
//! - `manager_queue_cycle`: a put and a get on a manager queue, against CPython's.
//!
//! `cargo bench -p forkway-manager --bench manager` (add `-- --quick` for a smoke run).

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use criterion::Criterion;
use forkway_manager::{Manager, QueueProxy, ValueProxy};
use forkway_process::Process;

use forkway_testkit::bench::{measure, report, rounds, Contender, Medians, Python, Ratio};

fn proxy_gets(v: &ValueProxy<u64>, n: u64) -> Duration {
    let start = Instant::now();
    for _ in 0..n {
        assert_eq!(v.get().expect("get"), 7);
    }
    start.elapsed()
}

fn queue_cycles(q: &QueueProxy<u64>, n: u64) -> Duration {
    let start = Instant::now();
    for i in 0..n {
        q.put(i).expect("put");
        assert_eq!(q.get().expect("get"), i);
    }
    start.elapsed()
}

fn shared_gets(v: &forkway_sync::Value<u64>, n: u64) -> Duration {
    let start = Instant::now();
    for _ in 0..n {
        assert_eq!(std::hint::black_box(v.get()), 7);
    }
    start.elapsed()
}

/// The floor under any proxy call: a small frame to another process and a small frame back,
/// over a socket, with nothing done in between.
struct Echo {
    socket: UnixStream,
    _echo: Process,
}

impl Echo {
    fn start() -> Echo {
        let (mut theirs, ours) = UnixStream::pair().expect("socketpair");
        let mut echo = Process::new(move || {
            let mut buf = [0u8; 24];
            while theirs.read_exact(&mut buf).is_ok() {
                if theirs.write_all(&buf[..16]).is_err() {
                    break;
                }
            }
        })
        .with_daemon(true);
        echo.start().expect("echo process");
        Echo {
            socket: ours,
            _echo: echo,
        }
    }

    fn round_trips(&mut self, n: u64) -> Duration {
        let (request, mut reply) = ([1u8; 24], [0u8; 16]);
        let start = Instant::now();
        for _ in 0..n {
            self.socket.write_all(&request).expect("write");
            self.socket.read_exact(&mut reply).expect("read");
        }
        start.elapsed()
    }
}

fn main() {
    let mut python =
        Python::start(&PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("benches/cpython_manager.py"));
    let mut c = Criterion::default().configure_from_args();
    let manager = Manager::start().expect("manager");
    let value = manager.value(&7u64).expect("value");
    let queue: QueueProxy<u64> = manager.queue().expect("queue");
    let shared = forkway_sync::Value::new(7u64).expect("shared value");
    let mut echo = Echo::start();

    let mut g = c.benchmark_group("manager_value_get");
    g.bench_function("forkway", |b| b.iter_custom(|n| proxy_gets(&value, n)));
    g.bench_function("floor", |b| b.iter_custom(|n| echo.round_trips(n)));
    if let Some(py) = python.as_mut() {
        g.bench_function("cpython", |b| b.iter_custom(|n| py.run("value_get", n)));
    }
    g.finish();
    let mut g = c.benchmark_group("shared_value_get");
    g.bench_function("forkway", |b| b.iter_custom(|n| shared_gets(&shared, n)));
    if let Some(py) = python.as_mut() {
        g.bench_function("cpython", |b| b.iter_custom(|n| py.run("shared_get", n)));
    }
    g.finish();
    let mut g = c.benchmark_group("manager_queue_cycle");
    g.bench_function("forkway", |b| b.iter_custom(|n| queue_cycles(&queue, n)));
    if let Some(py) = python.as_mut() {
        g.bench_function("cpython", |b| b.iter_custom(|n| py.run("queue_cycle", n)));
    }
    g.finish();
    c.final_summary();

    let py = python.map(std::cell::RefCell::new);
    let mut medians = Medians::new();
    {
        let (rounds_n, iters) = rounds((15, 5_000));
        let mut f = |n| proxy_gets(&value, n);
        let mut fl = |n| echo.round_trips(n);
        let mut p;
        let mut contenders: Vec<Contender<'_>> = vec![("forkway", &mut f), ("floor", &mut fl)];
        if let Some(py) = py.as_ref() {
            p = move |n| py.borrow_mut().run("value_get", n);
            contenders.push(("cpython", &mut p));
        }
        measure(
            &mut medians,
            "manager_value_get",
            rounds_n,
            iters,
            &mut contenders,
        );
    }
    {
        let (rounds_n, iters) = rounds((15, 1_000_000));
        let mut f = |n| shared_gets(&shared, n);
        let mut p;
        let mut contenders: Vec<Contender<'_>> = vec![("forkway", &mut f)];
        if let Some(py) = py.as_ref() {
            p = move |n| py.borrow_mut().run("shared_get", n);
            contenders.push(("cpython", &mut p));
        }
        measure(&mut medians, "shared_value_get", rounds_n, iters, &mut contenders);
    }
    {
        let (rounds_n, iters) = rounds((15, 2_000));
        let mut f = |n| queue_cycles(&queue, n);
        let mut p;
        let mut contenders: Vec<Contender<'_>> = vec![("forkway", &mut f)];
        if let Some(py) = py.as_ref() {
            p = move |n| py.borrow_mut().run("queue_cycle", n);
            contenders.push(("cpython", &mut p));
        }
        measure(
            &mut medians,
            "manager_queue_cycle",
            rounds_n,
            iters,
            &mut contenders,
        );
    }
    drop(py);
    drop((value, queue));
    drop(manager);
    report(
        "manager",
        &medians,
        &[
            Ratio {
                label: "manager proxy get: forkway / CPython",
                num: ("manager_value_get", "cpython"),
                den: ("manager_value_get", "forkway"),
                target: None,
            },
            Ratio {
                label: "manager proxy get: forkway / socket round-trip floor",
                num: ("manager_value_get", "forkway"),
                den: ("manager_value_get", "floor"),
                target: Some(("<= 2", |r| r <= 2.0)),
            },
            Ratio {
                label: "manager queue put+get: forkway / CPython",
                num: ("manager_queue_cycle", "cpython"),
                den: ("manager_queue_cycle", "forkway"),
                target: None,
            },
            Ratio {
                label: "proxy get / shared-memory Value get (forkway, time)",
                num: ("manager_value_get", "forkway"),
                den: ("shared_value_get", "forkway"),
                target: None,
            },
            Ratio {
                label: "proxy get / shared-memory Value get (CPython, time)",
                num: ("manager_value_get", "cpython"),
                den: ("shared_value_get", "cpython"),
                target: None,
            },
        ],
    );
}
