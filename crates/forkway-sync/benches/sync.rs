//! forkway-sync beside CPython's `multiprocessing` and a bare futex word, in one run.
//!
//! - `lock_uncontended`: acquire + release in one process. Floor: the three-state futex mutex's
//!   fast path on a word in shared memory (a compare-and-swap in, a swap out, no system call).
//!   Beside it, the robust mutex alone, without `Lock`'s checks (deadlock, release errors) and
//!   guard (`robust_futex`: forkway-sys's `RobustMutex`), and glibc's robust process-shared
//!   pthread mutex that `Lock` was built on before it (`robust_pthread`), for reference.
//! - `counter_2procs`: two processes increment a shared counter under its lock; time per
//!   increment (the processes are forked before the clock starts, on both sides).
//!
//! `cargo bench -p forkway-sync --bench sync` (add `-- --quick` for a smoke run).

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput};
use forkway_process::Process;
use forkway_sync::{Event, Lock, Value};
use forkway_sys::{RobustMutex, Shm};

use forkway_testkit::bench::{measure, report, rounds, Contender, Medians, Python, Ratio};

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

fn robust_futex(mutex: &RobustMutex, n: u64) -> Duration {
    let start = Instant::now();
    for _ in 0..n {
        mutex.lock();
        mutex.unlock();
    }
    start.elapsed()
}

/// A robust, process-shared glibc mutex at the start of `shm`.
fn glibc_robust(shm: &Shm) -> *mut libc::pthread_mutex_t {
    let m = shm.ptr().cast::<libc::pthread_mutex_t>();
    // SAFETY: the attribute lives across the calls; `m` is a fresh zeroed page.
    unsafe {
        let mut attr = std::mem::MaybeUninit::<libc::pthread_mutexattr_t>::uninit();
        libc::pthread_mutexattr_init(attr.as_mut_ptr());
        libc::pthread_mutexattr_setpshared(attr.as_mut_ptr(), libc::PTHREAD_PROCESS_SHARED);
        libc::pthread_mutexattr_setrobust(attr.as_mut_ptr(), libc::PTHREAD_MUTEX_ROBUST);
        assert_eq!(
            libc::pthread_mutex_init(m, attr.as_ptr()),
            0,
            "pthread_mutex_init"
        );
        libc::pthread_mutexattr_destroy(attr.as_mut_ptr());
    }
    m
}

fn robust_pthread(mutex: *mut libc::pthread_mutex_t, n: u64) -> Duration {
    let start = Instant::now();
    for _ in 0..n {
        // SAFETY: initialized by `glibc_robust`; its page outlives the bench.
        unsafe {
            libc::pthread_mutex_lock(mutex);
            libc::pthread_mutex_unlock(mutex);
        }
    }
    start.elapsed()
}

fn main() {
    let mut python =
        Python::start(&PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("benches/cpython_sync.py"));
    let mut c = Criterion::default().configure_from_args();
    let mut medians = Medians::new();

    let lock = Lock::new().expect("lock");
    let shm = Shm::new(4096).expect("shm");
    // SAFETY: a fresh zeroed page, aligned, alive until the end of main.
    let word = unsafe { &*shm.ptr().cast::<AtomicU32>() };
    let mshm = Shm::new(4096).expect("shm");
    let mutex = mshm.ptr().cast::<RobustMutex>();
    // SAFETY: a fresh zeroed page, not shared.
    unsafe { RobustMutex::init(mutex).expect("init") };
    // SAFETY: initialized just above; the page lives until the end of main.
    let mutex = unsafe { &*mutex };
    let gshm = Shm::new(4096).expect("shm");
    let gmutex = glibc_robust(&gshm);

    let mut g = c.benchmark_group("lock_uncontended");
    g.throughput(Throughput::Elements(1));
    g.bench_function("forkway", |b| b.iter_custom(|n| forkway_uncontended(&lock, n)));
    g.bench_function("floor", |b| b.iter_custom(|n| futex_floor(word, n)));
    g.bench_function("robust_futex", |b| b.iter_custom(|n| robust_futex(mutex, n)));
    g.bench_function("robust_pthread", |b| b.iter_custom(|n| robust_pthread(gmutex, n)));
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
    c.final_summary();

    let py = python.map(std::cell::RefCell::new);
    // Many short rounds, not a few long ones: the rounds are wall-clock time, and on a shared
    // machine a 5 ms round (1 000 000 acquires) mostly contains a preemption by some other
    // process, so the median of 15 of them measured the machine's load as much as the lock
    // (the floor's own median moved from 4.4 to 10 ns between runs). A 0.5 ms round mostly fits
    // between preemptions; the median is then an undisturbed round, for every contender alike.
    let (rounds_n, iters) = rounds((151, 100_000));
    let mut f = |n| forkway_uncontended(&lock, n);
    let mut fl = |n| futex_floor(word, n);
    let mut rf = |n| robust_futex(mutex, n);
    let mut rp = |n| robust_pthread(gmutex, n);
    let mut p;
    let mut contenders: Vec<Contender<'_>> = vec![
        ("forkway", &mut f),
        ("floor", &mut fl),
        ("robust_futex", &mut rf),
        ("robust_pthread", &mut rp),
    ];
    if let Some(py) = py.as_ref() {
        p = move |n| py.borrow_mut().run("lock_uncontended", n);
        contenders.push(("cpython", &mut p));
    }
    measure(&mut medians, "lock_uncontended", rounds_n, iters, &mut contenders);

    let (rounds_n, iters) = rounds((11, 100_000));
    let mut f = |n: u64| forkway_counter(n.max(2));
    let mut p;
    let mut contenders: Vec<Contender<'_>> = vec![("forkway", &mut f)];
    if let Some(py) = py.as_ref() {
        p = move |n: u64| py.borrow_mut().run("counter_2procs", n.max(2));
        contenders.push(("cpython", &mut p));
    }
    measure(&mut medians, "counter_2procs", rounds_n, iters, &mut contenders);
    drop(py);

    report(
        "sync",
        &medians,
        &[
            Ratio {
                label: "lock uncontended: forkway / futex floor (time)",
                num: ("lock_uncontended", "forkway"),
                den: ("lock_uncontended", "floor"),
                target: Some(("<= 1.8", |r| r <= 1.8)),
            },
            Ratio {
                label: "lock uncontended: forkway speed-up over CPython",
                num: ("lock_uncontended", "cpython"),
                den: ("lock_uncontended", "forkway"),
                target: Some((">= 3.5", |r| r >= 3.5)),
            },
            Ratio {
                label: "counter under lock, 2 procs: forkway / CPython",
                num: ("counter_2procs", "cpython"),
                den: ("counter_2procs", "forkway"),
                target: Some((">= 10", |r| r >= 10.0)),
            },
        ],
    );
}
