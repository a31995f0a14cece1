//! The pool under every start method (lesson 7): the same tasks give the same results whether
//! the workers are forked, forked by the forkserver or spawned, and a worker SIGKILLed mid-task
//! fails its task instead of hanging the pool, under each.
//!
//! Every test calls `forkway_start::bootstrap()` first: a spawned worker re-runs this test
//! binary with `--exact <test name>`, and `bootstrap` is where it becomes a worker.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use forkway_pool::{Pool, PoolError, TaskError};
use forkway_start::{bootstrap, forkserver, Context, StartError, StartMethod};
use forkway_testkit::{is_reaped, Watchdog, BOUND};

const METHODS: [StartMethod; 3] = [StartMethod::Fork, StartMethod::Forkserver, StartMethod::Spawn];

fn pool(method: StartMethod, processes: usize) -> Pool {
    Pool::builder()
        .processes(processes)
        .context(Context::new(method))
        .build()
        .unwrap_or_else(|e| panic!("{method}: pool: {e}"))
}

fn sqr(x: i64) -> i64 {
    x * x
}

fn mul(a: i64, b: i64) -> i64 {
    a * b
}

#[test]
fn map_apply_async_and_imap_under_every_method() {
    bootstrap();
    for method in METHODS {
        let _watchdog = Watchdog::new(&format!("the {method} pool's calls"));
        let pool = pool(method, 2);
        assert_eq!(pool.start_method(), method);
        let expected: Vec<i64> = (0..1000).map(sqr).collect();
        assert_eq!(pool.map(sqr, 0..1000).expect("map"), expected, "{method}: map");
        assert_eq!(
            pool.chunksize(7)
                .expect("chunksize")
                .map(sqr, 0..100)
                .expect("map"),
            expected[..100],
            "{method}: map with a chunksize"
        );
        let async_result = pool.apply_async(sqr, 12).expect("apply_async");
        assert_eq!(async_result.get_timeout(BOUND).expect("get"), 144, "{method}");
        let imapped: Vec<i64> = pool
            .imap(sqr, 0..50)
            .expect("imap")
            .collect::<Result<_, _>>()
            .expect("imap results");
        assert_eq!(imapped, expected[..50], "{method}: imap");
        let mut unordered: Vec<i64> = pool
            .imap_unordered(sqr, 0..50)
            .expect("imap_unordered")
            .collect::<Result<_, _>>()
            .expect("imap_unordered results");
        unordered.sort_unstable();
        assert_eq!(unordered, expected[..50], "{method}: imap_unordered");
        assert_eq!(
            pool.starmap(mul, vec![(2, 3), (4, 5)]).expect("starmap"),
            [6, 20],
            "{method}: starmap"
        );
        let pids = pool.worker_pids();
        pool.close();
        pool.join().expect("join");
        for pid in pids {
            // A forkserver worker is the server's child: the server reaps it.
            if method != StartMethod::Forkserver {
                assert!(is_reaped(pid), "{method}: worker {pid} reaped");
            }
        }
    }
}

fn panics(x: i64) -> i64 {
    if x == 3 {
        panic!("three is not allowed");
    }
    x
}

#[test]
fn a_task_panic_comes_back_with_its_message_under_every_method() {
    bootstrap();
    for method in METHODS {
        let _watchdog = Watchdog::new(&format!("the {method} pool's calls"));
        let pool = pool(method, 1);
        match pool.apply(panics, 3) {
            Err(PoolError::Task(TaskError::Panicked {
                message, location, ..
            })) => {
                assert_eq!(message, "three is not allowed", "{method}");
                assert!(location.contains("pool_methods.rs"), "{method}: {location}");
            }
            other => panic!("{method}: expected Panicked, got {other:?}"),
        }
        assert_eq!(pool.apply(panics, 4).expect("the worker goes on"), 4, "{method}");
    }
}

/// Where a task writes its pid once it runs: a file, because a spawned worker shares no memory
/// with the test. Removed when dropped.
struct PidFile(PathBuf);

impl PidFile {
    fn new(method: StartMethod) -> PidFile {
        let name = format!("forkway-pool-methods-{}-{method}", std::process::id());
        let path = std::env::temp_dir().join(name);
        let _ = std::fs::remove_file(&path);
        PidFile(path)
    }

    /// Waits (bounded) until a task wrote its pid.
    fn wait(&self) -> u32 {
        let start = Instant::now();
        loop {
            if let Some(pid) = std::fs::read_to_string(&self.0)
                .ok()
                .and_then(|s| s.strip_suffix('\n').and_then(|s| s.parse().ok()))
            {
                return pid;
            }
            assert!(start.elapsed() < BOUND, "the task never started");
            std::thread::sleep(Duration::from_millis(2));
        }
    }
}

impl Drop for PidFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Writes its worker's pid to `path` (whole, then renamed into place) and sleeps until killed.
fn hold(path: String) -> i64 {
    let tmp = format!("{path}.tmp");
    std::fs::write(&tmp, format!("{}\n", std::process::id())).expect("write the pid");
    std::fs::rename(&tmp, &path).expect("publish the pid");
    std::thread::sleep(BOUND * 2);
    -1
}

#[test]
fn a_sigkilled_worker_fails_its_task_under_every_method() {
    bootstrap();
    for method in METHODS {
        let _watchdog = Watchdog::new(&format!("the {method} pool's calls"));
        let pool = pool(method, 2);
        let file = PidFile::new(method);
        let doomed = pool
            .apply_async(hold, file.0.to_string_lossy().into_owned())
            .expect("submit");
        let others = pool.map_async(sqr, 0..50).expect("submit");
        let victim = file.wait();
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(victim as i32),
            nix::sys::signal::Signal::SIGKILL,
        )
        .expect("kill");
        // Bounded: were the death missed, this would be Python's endless wait.
        match doomed.get_timeout(BOUND) {
            Err(PoolError::Task(TaskError::WorkerDied { pid, exitcode })) => {
                assert_eq!((pid, exitcode), (victim, -9), "{method}");
            }
            other => panic!("{method}: expected WorkerDied, got {other:?}"),
        }
        assert_eq!(
            others.get_timeout(BOUND).expect("the rest completes"),
            (0..50).map(sqr).collect::<Vec<_>>(),
            "{method}"
        );
        let pids = pool.worker_pids();
        assert_eq!(pids.len(), 2, "{method}: a replacement started");
        assert!(!pids.contains(&victim), "{method}");
        assert_eq!(
            pool.apply(sqr, 12).expect("the pool still works"),
            144,
            "{method}"
        );
        pool.close();
        pool.join().expect("join");
    }
}

static INITIALIZED: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

fn init() {
    INITIALIZED.store(42, std::sync::atomic::Ordering::SeqCst);
}

fn initialized(_: ()) -> u32 {
    INITIALIZED.load(std::sync::atomic::Ordering::SeqCst)
}

#[test]
fn an_initializer_that_captures_nothing_runs_under_every_method() {
    bootstrap();
    for method in METHODS {
        let _watchdog = Watchdog::new(&format!("the {method} pool's calls"));
        let pool = Pool::builder()
            .processes(1)
            .initializer(init)
            .maxtasksperchild(1)
            .context(Context::new(method))
            .build()
            .expect("pool");
        // Twice: the second task runs in a replacement worker, initialized too.
        assert_eq!(pool.apply(initialized, ()).expect("apply"), 42, "{method}");
        assert_eq!(pool.apply(initialized, ()).expect("apply"), 42, "{method}");
    }
}

#[test]
fn a_capturing_initializer_is_refused_where_workers_are_not_forked() {
    bootstrap();
    let answer = 42u32;
    for method in [StartMethod::Forkserver, StartMethod::Spawn] {
        let built = Pool::builder()
            .processes(1)
            .initializer(move || assert_eq!(answer, 42))
            .context(Context::new(method))
            .build();
        match built {
            Err(e @ PoolError::InitializerCaptures { .. }) => {
                assert!(e.to_string().contains(method.name()), "{e}");
                assert!(e.to_string().contains("captures nothing"), "{e}");
            }
            other => panic!("{method}: expected InitializerCaptures, got {other:?}"),
        }
    }
}

#[test]
fn forkserver_workers_are_children_of_the_server() {
    bootstrap();
    let _watchdog = Watchdog::new("the forkserver pool");
    let pool = pool(StartMethod::Forkserver, 2);
    let server = forkserver::server_pid().expect("the forkserver runs");
    for pid in pool.worker_pids() {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("stat");
        let ppid: u32 = stat
            .rsplit(')')
            .next()
            .and_then(|rest| rest.split_whitespace().nth(1))
            .and_then(|s| s.parse().ok())
            .expect("ppid");
        assert_eq!(ppid, server, "worker {pid}");
    }
}

#[test]
fn a_spawn_pool_without_the_entry_hook_is_an_error() {
    // No bootstrap() here, on purpose.
    match Pool::builder()
        .processes(1)
        .context(Context::new(StartMethod::Spawn))
        .build()
    {
        Err(PoolError::Start(StartError::MissingEntryHook)) => {}
        other => panic!("expected MissingEntryHook, got {other:?}"),
    }
}

#[test]
fn spawn_workers_run_this_test_again() {
    bootstrap();
    let _watchdog = Watchdog::new("the spawn pool");
    let pool = pool(StartMethod::Spawn, 2);
    let args_of = |pid: u32| -> Vec<String> {
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).expect("cmdline");
        cmdline
            .split(|&b| b == 0)
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect()
    };
    for pid in pool.worker_pids() {
        // Until its `execve`, a just-forked worker still shows this process's command line.
        let start = Instant::now();
        loop {
            let args = args_of(pid);
            if args
                .windows(2)
                .any(|w| w[0] == "--exact" && w[1] == "spawn_workers_run_this_test_again")
            {
                break;
            }
            assert!(
                start.elapsed() < BOUND,
                "worker {pid} never re-ran the test: {args:?}"
            );
            std::thread::sleep(Duration::from_millis(2));
        }
    }
    assert_eq!(pool.map(sqr, 0..10).expect("map")[9], 81);
}
