//! forkway's three start methods beside CPython's and beside their floors, in one run.
//!
//! - start + join of a child that does nothing, per method (`fork`, `forkserver`, `spawn`),
//!   from this small process and from a parent holding 1 GiB and 4 GiB resident (fork copies
//!   page tables; the forkserver, started while the parent was small, should not care);
//! - the floor of spawn: a bare `posix_spawn` of this same executable, which exits at once;
//! - the floor of fork, from the small parent: `fork()`, `_exit(0)`, `waitpid` — what no start
//!   from this process can beat, and so the most any fork, CPython's included, can gain;
//! - CPython's three methods (`ctx.Process(target=noop)`), from a small and a big parent;
//! - `Pool(2).map(trivial, 0..100_000)` on a pool made beforehand, and a new pool + map of 1000
//!   + close + join, per method, against CPython's.
//!
//! `cargo bench -p forkway-start --bench start` (add `-- --quick` for a smoke run: few rounds,
//! no 1 GiB parent; the 4 GiB one stays, for spawn's goal, when the memory is there).

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput};
use forkway_pool::Pool;
use forkway_start::{forkserver, Context, StartMethod};

use forkway_testkit::bench::{
    full_run, measure, report_with_curves, rounds, BigParent, Contender, Curve, Curves, Medians, Python,
    Ratio,
};

/// Set in the environment of the floor's children: `main` returns at once.
const FLOOR_VAR: &str = "FORKWAY_BENCH_FLOOR_CHILD";

const METHODS: [StartMethod; 3] = [StartMethod::Fork, StartMethod::Forkserver, StartMethod::Spawn];

fn noop() {}

fn trivial(x: u64) -> u64 {
    x + 1
}

fn start_join(method: StartMethod, n: u64) -> Duration {
    let ctx = Context::new(method);
    let start = Instant::now();
    for _ in 0..n {
        let mut p = ctx.process(noop, ());
        p.start().expect("start");
        p.join().expect("join");
        assert_eq!(p.exitcode(), Some(0), "{method}");
    }
    start.elapsed()
}

/// `posix_spawn` of this executable (which exits at once, see `main`) and `waitpid`: what any
/// re-execution costs, and so the floor of `spawn`.
struct Floor {
    exe: CString,
    argv: Vec<CString>,
    env: Vec<CString>,
}

impl Floor {
    fn new() -> Floor {
        let argv0 = std::env::args_os().next().unwrap_or_default();
        let mut env: Vec<CString> = std::env::vars_os()
            .map(|(k, v)| {
                let mut kv = k.as_bytes().to_vec();
                kv.push(b'=');
                kv.extend_from_slice(v.as_bytes());
                CString::new(kv).expect("no NUL in the environment")
            })
            .collect();
        env.push(CString::new(format!("{FLOOR_VAR}=1")).expect("no NUL"));
        Floor {
            exe: CString::new("/proc/self/exe").expect("no NUL"),
            argv: vec![CString::new(argv0.as_bytes()).expect("no NUL in argv0")],
            env,
        }
    }

    fn run(&self, n: u64) -> Duration {
        let mut argv: Vec<*mut libc::c_char> = self.argv.iter().map(|a| a.as_ptr().cast_mut()).collect();
        argv.push(std::ptr::null_mut());
        let mut env: Vec<*mut libc::c_char> = self.env.iter().map(|a| a.as_ptr().cast_mut()).collect();
        env.push(std::ptr::null_mut());
        let start = Instant::now();
        for _ in 0..n {
            let mut pid: libc::pid_t = 0;
            // SAFETY: the path, argv and envp are NUL-terminated strings in null-terminated
            // arrays that outlive the call; no file actions or attributes are passed.
            let rc = unsafe {
                libc::posix_spawn(
                    &mut pid,
                    self.exe.as_ptr(),
                    std::ptr::null(),
                    std::ptr::null(),
                    argv.as_ptr(),
                    env.as_ptr(),
                )
            };
            assert_eq!(rc, 0, "posix_spawn: {}", std::io::Error::from_raw_os_error(rc));
            let mut status = 0;
            // SAFETY: waiting for our own child; status is a valid out-pointer.
            unsafe { libc::waitpid(pid, &mut status, 0) };
            assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0);
        }
        start.elapsed()
    }
}

/// Contender `i`: 0..=2 the methods, 3 the posix_spawn floor.
fn contender(i: u64, floor: &Floor, n: u64) -> Duration {
    match i {
        3 => floor.run(n),
        m => start_join(METHODS[m as usize], n),
    }
}

fn mem_available() -> u64 {
    let info = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    info.lines()
        .find_map(|l| {
            l.strip_prefix("MemAvailable:")?
                .trim()
                .strip_suffix("kB")?
                .trim()
                .parse::<u64>()
                .ok()
        })
        .map_or(0, |kib| kib * 1024)
}

const NAMES: [&str; 4] = ["fork", "forkserver", "spawn", "posix_spawn floor"];
/// Measured from the small parent only (the process bench draws fork's curve against size).
const FORK_FLOOR: &str = "fork floor";

/// The floor of `fork`: a bare `fork`, `_exit(0)` in the child, `waitpid` in the parent.
fn fork_floor(n: u64) -> Duration {
    let start = Instant::now();
    for _ in 0..n {
        // SAFETY: the child calls only `_exit`, which is async-signal-safe: sound even in a
        // process with threads.
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0, "fork: {}", std::io::Error::last_os_error());
        if pid == 0 {
            // SAFETY: see above.
            unsafe { libc::_exit(0) };
        }
        let mut status = 0;
        // SAFETY: waiting for our own child; status is a valid out-pointer.
        unsafe { libc::waitpid(pid, &mut status, 0) };
        assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0);
    }
    start.elapsed()
}
const PY_NAMES: [&str; 3] = ["cpython_fork", "cpython_forkserver", "cpython_spawn"];

/// Start + join per method against the parent's resident size.
fn curve_rss(python: Option<&std::cell::RefCell<Python>>, medians: &mut Medians) -> Curve {
    let mut curve = Curve::new(
        "Start + join a child vs the parent's resident memory, per start method",
        "parent's resident memory (bytes)",
        "start + join (ns)",
    );
    let mut sizes: Vec<(usize, &str)> = vec![(16 << 20, "start_join_16MiB")];
    if full_run() {
        sizes.push((1 << 30, "start_join_1GiB"));
    }
    // Also in a quick run: spawn's goal (flat in the parent's size, within 2x of a bare
    // posix_spawn) is about this row. The bench's parent and CPython's both hold the ballast at
    // once, with room to spare.
    if mem_available() >= 10 << 30 {
        sizes.push((4 << 30, "start_join_4GiB"));
    } else {
        eprintln!(
            "skipping the 4 GiB parent: {} GiB available, 10 needed (forkway's and CPython's parents)",
            mem_available() >> 30
        );
    }
    for (size, workload) in sizes {
        // While the child is small it starts its forkserver, whose children are copies of a small
        // process; a command is 4n + contender.
        let mut big = BigParent::start(
            size,
            || {
                forkserver::ensure_running().expect("forkserver");
                Floor::new()
            },
            |floor, c| contender(c % 4, floor, c / 4),
        );
        let rss = big.rss;
        let (rounds_n, iters) = if full_run() {
            (5, if size > 1 << 30 { 4 } else { 10 })
        } else {
            (2, 2)
        };
        let py_rss = python.map(|py| py.borrow_mut().value("ballast", size as u64));
        let big = std::cell::RefCell::new(&mut big);
        let big = &big;
        let mut runs: Vec<Box<dyn FnMut(u64) -> Duration + '_>> = (0..4u64)
            .map(|i| {
                Box::new(move |n: u64| big.borrow_mut().run(4 * n + i))
                    as Box<dyn FnMut(u64) -> Duration + '_>
            })
            .collect();
        if let Some(py) = python {
            for name in ["start_join_fork", "start_join_forkserver", "start_join_spawn"] {
                runs.push(Box::new(move |n| py.borrow_mut().run(name, n)));
            }
        }
        let mut contenders: Vec<Contender<'_>> = NAMES
            .iter()
            .chain(PY_NAMES.iter())
            .zip(runs.iter_mut())
            .map(|(name, run)| (*name, &mut **run as &mut dyn FnMut(u64) -> Duration))
            .collect();
        measure(medians, workload, rounds_n, iters, &mut contenders);
        for ((wl, c), ns) in medians.iter() {
            if wl == workload {
                let x = if c.starts_with("cpython") {
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

fn map_100k(pool: &Pool, n: u64) -> Duration {
    let start = Instant::now();
    for _ in 0..n {
        assert_eq!(pool.map(trivial, 0..100_000).expect("map").len(), 100_000);
    }
    start.elapsed()
}

fn pool_1000(method: StartMethod, n: u64) -> Duration {
    let start = Instant::now();
    for _ in 0..n {
        let pool = Pool::builder()
            .processes(2)
            .context(Context::new(method))
            .build()
            .expect("pool");
        assert_eq!(pool.map(trivial, 0..1000).expect("map").len(), 1000);
        pool.close();
        pool.join().expect("join");
    }
    start.elapsed()
}

fn main() {
    if std::env::var_os(FLOOR_VAR).is_some() {
        return; // a floor child: started, and done
    }
    forkway_start::bootstrap();
    // While this process is small and has one thread (criterion's come later).
    forkserver::ensure_running().expect("forkserver");
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("benches/cpython_start.py");
    let python = Python::start(&script).map(std::cell::RefCell::new);
    let floor = Floor::new();
    let mut medians = Medians::new();

    // Small parent: interleaved, all seven.
    {
        let (rounds_n, iters) = rounds((11, 20));
        let mut runs: Vec<Box<dyn FnMut(u64) -> Duration + '_>> = (0..4u64)
            .map(|i| {
                let floor = &floor;
                Box::new(move |n| contender(i, floor, n)) as Box<dyn FnMut(u64) -> Duration + '_>
            })
            .collect();
        runs.push(Box::new(fork_floor));
        if let Some(py) = python.as_ref() {
            for name in ["start_join_fork", "start_join_forkserver", "start_join_spawn"] {
                runs.push(Box::new(move |n| py.borrow_mut().run(name, n)));
            }
        }
        let mut contenders: Vec<Contender<'_>> = NAMES
            .iter()
            .chain([FORK_FLOOR].iter())
            .chain(PY_NAMES.iter())
            .zip(runs.iter_mut())
            .map(|(name, run)| (*name, &mut **run as &mut dyn FnMut(u64) -> Duration))
            .collect();
        measure(&mut medians, "start_join", rounds_n, iters, &mut contenders);
    }
    let mut curves = Curves::new();
    curves.insert("start-rss".to_owned(), curve_rss(python.as_ref(), &mut medians));

    // Pools: map 100k on a pool made beforehand, and a pool's whole life for 1000 tasks.
    {
        let pools: Vec<Pool> = METHODS
            .iter()
            .map(|&m| {
                Pool::builder()
                    .processes(2)
                    .context(Context::new(m))
                    .build()
                    .expect("pool")
            })
            .collect();
        if let Some(py) = python.as_ref() {
            py.borrow_mut().value("make_pools", 0);
        }
        let (rounds_n, iters) = rounds((7, 10));
        let mut runs: Vec<Box<dyn FnMut(u64) -> Duration + '_>> = pools
            .iter()
            .map(|p| Box::new(move |n| map_100k(p, n)) as Box<dyn FnMut(u64) -> Duration + '_>)
            .collect();
        if let Some(py) = python.as_ref() {
            for name in ["map100k_fork", "map100k_forkserver", "map100k_spawn"] {
                runs.push(Box::new(move |n| py.borrow_mut().run(name, n)));
            }
        }
        let mut contenders: Vec<Contender<'_>> = NAMES[..3]
            .iter()
            .chain(PY_NAMES.iter())
            .zip(runs.iter_mut())
            .map(|(name, run)| (*name, &mut **run as &mut dyn FnMut(u64) -> Duration))
            .collect();
        measure(
            &mut medians,
            "pool_map_100k",
            rounds_n,
            iters.max(1),
            &mut contenders,
        );
        drop(contenders);
        drop(runs);
        if let Some(py) = python.as_ref() {
            py.borrow_mut().value("drop_pools", 0);
        }
        for pool in &pools {
            pool.close();
            pool.join().expect("join");
        }
    }
    {
        let (rounds_n, iters) = rounds((5, 10));
        let mut runs: Vec<Box<dyn FnMut(u64) -> Duration + '_>> = METHODS
            .iter()
            .map(|&m| Box::new(move |n| pool_1000(m, n)) as Box<dyn FnMut(u64) -> Duration>)
            .collect();
        if let Some(py) = python.as_ref() {
            for name in ["pool1000_fork", "pool1000_forkserver", "pool1000_spawn"] {
                runs.push(Box::new(move |n| py.borrow_mut().run(name, n)));
            }
        }
        let mut contenders: Vec<Contender<'_>> = NAMES[..3]
            .iter()
            .chain(PY_NAMES.iter())
            .zip(runs.iter_mut())
            .map(|(name, run)| (*name, &mut **run as &mut dyn FnMut(u64) -> Duration))
            .collect();
        measure(&mut medians, "pool_1000", rounds_n, iters.max(1), &mut contenders);
    }
    drop(python);

    // Criterion, for the HTML reports only (the ratios come from the interleaved runs above,
    // made first: criterion's analysis grows this process, and fork pays for its size).
    let mut c = Criterion::default().configure_from_args();
    let mut g = c.benchmark_group("start_join");
    g.throughput(Throughput::Elements(1));
    g.sample_size(10);
    g.bench_function("posix_spawn floor", |b| b.iter_custom(|n| floor.run(n)));
    for method in METHODS {
        g.bench_function(method.name(), |b| b.iter_custom(|n| start_join(method, n)));
    }
    g.finish();
    c.final_summary();

    let speedup = |label, method: &'static str, py: &'static str| Ratio {
        label,
        num: ("start_join", py),
        den: ("start_join", method),
        target: Some((">= 10", |r| r >= 10.0)),
    };
    let pool_ratio = |label, method: &'static str, py: &'static str| Ratio {
        label,
        num: ("pool_map_100k", py),
        den: ("pool_map_100k", method),
        target: None,
    };
    report_with_curves(
        "start",
        &medians,
        &[
            Ratio {
                label: "forkserver start+join from a 4 GiB parent / fork from a small one",
                num: ("start_join_4GiB", "forkserver"),
                den: ("start_join", "fork"),
                target: Some(("<= 1.5", |r| r <= 1.5)),
            },
            Ratio {
                label: "forkserver start+join from a 1 GiB parent / fork from a small one",
                num: ("start_join_1GiB", "forkserver"),
                den: ("start_join", "fork"),
                target: None,
            },
            Ratio {
                label: "fork start+join from a 4 GiB parent / from a small one",
                num: ("start_join_4GiB", "fork"),
                den: ("start_join", "fork"),
                target: None,
            },
            Ratio {
                label: "spawn start+join / bare posix_spawn+exec of the same binary",
                num: ("start_join", "spawn"),
                den: ("start_join", "posix_spawn floor"),
                target: Some(("<= 2", |r| r <= 2.0)),
            },
            Ratio {
                label: "spawn start+join from a 4 GiB parent / bare posix_spawn+exec there",
                num: ("start_join_4GiB", "spawn"),
                den: ("start_join_4GiB", "posix_spawn floor"),
                target: Some(("<= 2", |r| r <= 2.0)),
            },
            Ratio {
                label: "spawn start+join from a 4 GiB parent / from a small one",
                num: ("start_join_4GiB", "spawn"),
                den: ("start_join", "spawn"),
                target: None,
            },
            speedup("fork: speed-up over CPython's fork", "fork", "cpython_fork"),
            Ratio {
                label: "fork start+join / bare fork floor, same parent",
                num: ("start_join", "fork"),
                den: ("start_join", FORK_FLOOR),
                target: None,
            },
            Ratio {
                label: "CPython's fork / bare fork floor: the most any fork can gain here",
                num: ("start_join", "cpython_fork"),
                den: ("start_join", FORK_FLOOR),
                target: None,
            },
            speedup(
                "forkserver: speed-up over CPython's forkserver",
                "forkserver",
                "cpython_forkserver",
            ),
            speedup("spawn: speed-up over CPython's spawn", "spawn", "cpython_spawn"),
            pool_ratio(
                "Pool map 100k (fork): speed-up over CPython",
                "fork",
                "cpython_fork",
            ),
            pool_ratio(
                "Pool map 100k (forkserver): speed-up over CPython",
                "forkserver",
                "cpython_forkserver",
            ),
            pool_ratio(
                "Pool map 100k (spawn): speed-up over CPython",
                "spawn",
                "cpython_spawn",
            ),
        ],
        &curves,
    );
}
