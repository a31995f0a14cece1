//! `Pool` across real processes: CPython's `_TestPool` cases (reference §8.4), parallelism
//! proven with a barrier, and the faults Python hangs on — a worker SIGKILLed mid-task, an
//! initializer that panics — which forkway reports.

mod pool_support;
use forkway_testkit as support;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use forkway_pool::{Pool, PoolError, TaskError};
use forkway_process::Signal;
use forkway_sync::{Barrier, Value};
use pool_support::kill_the_holder;
use serde::{Deserialize, Serialize};
use support::*;

fn sqr(x: i64) -> i64 {
    x * x
}

fn mul(a: i64, b: i64) -> i64 {
    a * b
}

fn sleep_then_sqr(x: i64) -> i64 {
    std::thread::sleep(Duration::from_millis(300));
    x * x
}

/// What the tests' workers share, installed by each pool's initializer (a task cannot capture,
/// an initializer can: it exists before the workers are forked).
struct World {
    barrier: Option<Barrier>,
    value: Value<u32>,
}

static WORLD: OnceLock<World> = OnceLock::new();

fn world() -> &'static World {
    WORLD.get().expect("the pool's initializer installs the world")
}

fn pool_with_world(processes: usize, barrier: Option<Barrier>, value: &Value<u32>) -> Pool {
    let value = value.clone();
    Pool::builder()
        .processes(processes)
        .initializer(move || {
            let _ = WORLD.set(World {
                barrier: barrier.clone(),
                value: value.clone(),
            });
        })
        .build()
        .expect("pool")
}

#[test]
fn test_apply() {
    let pool = Pool::new(2).expect("pool");
    assert_eq!(pool.apply(sqr, 5).expect("apply"), 25);
    assert_eq!(
        pool.apply(|(x,): (i64,)| sqr(x), (3,))
            .expect("apply with a tuple"),
        9
    );
    assert_eq!(
        pool.apply(|(a, b): (i64, i64)| mul(a, b), (6, 7))
            .expect("two args"),
        42
    );
}

#[test]
fn test_map_and_starmap_with_and_without_chunksize() {
    let pool = Pool::new(4).expect("pool");
    let expected: Vec<i64> = (0..10).map(sqr).collect();
    assert_eq!(pool.map(sqr, 0..10).expect("map"), expected);
    let expected: Vec<i64> = (0..100).map(sqr).collect();
    assert_eq!(
        pool.chunksize(20).expect("chunk").map(sqr, 0..100).expect("map"),
        expected
    );

    let pairs: Vec<(i64, i64)> = (0..10).zip((0..10).rev()).collect();
    let expected: Vec<i64> = pairs.iter().map(|&(a, b)| mul(a, b)).collect();
    assert_eq!(pool.starmap(mul, pairs.clone()).expect("starmap"), expected);
    assert_eq!(
        pool.chunksize(20)
            .expect("chunk")
            .starmap(mul, pairs.clone())
            .expect("starmap"),
        expected
    );
    // test_starmap_async / test_map_async
    assert_eq!(
        pool.starmap_async(mul, pairs)
            .expect("submit")
            .get()
            .expect("get"),
        expected
    );
    assert_eq!(
        pool.map_async(sqr, 0..10).expect("submit").get().expect("get"),
        (0..10).map(sqr).collect::<Vec<_>>()
    );
    // Three arguments
    let triples = vec![(1i64, 2i64, 3i64), (4, 5, 6)];
    assert_eq!(
        pool.starmap(|a: i64, b: i64, c: i64| a * b + c, triples)
            .expect("starmap"),
        [5, 26]
    );
}

fn parse_int(s: String) -> i64 {
    s.parse().expect("invalid literal for int() with base 10")
}

#[test]
fn test_map_async_callbacks() {
    let pool = Pool::new(2).expect("pool");
    let got: Arc<Mutex<Vec<String>>> = Arc::default();
    let (ok, err) = (Arc::clone(&got), Arc::clone(&got));
    let r = pool
        .map_async(parse_int, vec!["1".to_owned()])
        .expect("submit")
        .callback(move |v| ok.lock().unwrap().push(format!("callback {v:?}")))
        .error_callback(move |e| err.lock().unwrap().push(format!("error {e}")));
    r.wait();
    assert_eq!(*got.lock().unwrap(), ["callback [1]"]);

    got.lock().unwrap().clear();
    let (ok, err) = (Arc::clone(&got), Arc::clone(&got));
    let r = pool
        .map_async(parse_int, vec!["a".to_owned()])
        .expect("submit")
        .callback(move |v| ok.lock().unwrap().push(format!("callback {v:?}")))
        .error_callback(move |e| err.lock().unwrap().push(format!("error {e}")));
    assert!(r.get().is_err());
    let calls = got.lock().unwrap().clone();
    assert_eq!(calls.len(), 1, "exactly one callback: {calls:?}");
    assert!(calls[0].starts_with("error the task panicked"), "{calls:?}");
    assert!(calls[0].contains("invalid literal for int()"), "{calls:?}");
}

#[test]
fn callbacks_run_once_before_ready_and_without_a_handle() {
    let pool = Pool::new(2).expect("pool");
    let seen: Arc<Mutex<Vec<i64>>> = Arc::default();
    for i in 0..10 {
        let seen = Arc::clone(&seen);
        // The seed's pattern: the handle is dropped at once; the callback still runs.
        drop(
            pool.apply_async(sqr, i)
                .expect("submit")
                .callback(move |v| seen.lock().unwrap().push(*v)),
        );
    }
    pool.close();
    pool.join().expect("join");
    let mut seen = seen.lock().unwrap().clone();
    seen.sort_unstable();
    assert_eq!(seen, (0..10).map(sqr).collect::<Vec<_>>());

    // Attached after the result is in: called at once, still once.
    let pool = Pool::new(1).expect("pool");
    let r = pool.apply_async(sqr, 4).expect("submit");
    r.wait();
    assert!(r.ready());
    let calls = Arc::new(Mutex::new(0));
    let c = Arc::clone(&calls);
    let r = r.callback(move |v| {
        assert_eq!(*v, 16);
        *c.lock().unwrap() += 1;
    });
    assert_eq!(*calls.lock().unwrap(), 1);
    assert_eq!(r.get().expect("get still returns the value"), 16);
}

#[test]
fn a_callback_may_submit_more_work() {
    let pool = Pool::new(2).expect("pool");
    let chained: Arc<Mutex<Option<i64>>> = Arc::default();
    let c = Arc::clone(&chained);
    let first = pool.apply_async(sqr, 3).expect("submit").callback(move |v| {
        *c.lock().unwrap() = Some(*v);
    });
    assert_eq!(first.get().expect("get"), 9);
    assert_eq!(*chained.lock().unwrap(), Some(9));
}

#[test]
fn test_empty_iterable() {
    let pool = Pool::new(2).expect("pool");
    let empty: Vec<i64> = Vec::new();
    assert!(pool.map(sqr, empty.clone()).expect("map").is_empty());
    assert!(pool.imap(sqr, empty.clone()).expect("imap").next().is_none());
    assert!(pool
        .imap_unordered(sqr, empty.clone())
        .expect("imap")
        .next()
        .is_none());
    let called = Arc::new(Mutex::new(None));
    let c = Arc::clone(&called);
    let r = pool
        .map_async(sqr, empty)
        .expect("submit")
        .callback(move |v| *c.lock().unwrap() = Some(v.len()));
    assert!(r.ready(), "an empty map is ready at once");
    assert_eq!(*called.lock().unwrap(), Some(0));
    assert!(r.get().expect("get").is_empty());
}

#[test]
fn test_async_and_async_timeout() {
    let pool = Pool::new(2).expect("pool");
    let r = pool.apply_async(sleep_then_sqr, 7).expect("submit");
    let t = Duration::from_millis(50);
    let start = Instant::now();
    assert!(matches!(r.get_timeout(t), Err(PoolError::Timeout)));
    assert!(start.elapsed() >= t, "a timeout never comes early");
    assert!(matches!(r.successful(), Err(PoolError::NotReady)));
    assert!(!r.wait_timeout(Duration::ZERO) || r.ready());
    assert_eq!(r.get().expect("the task went on after the timeout"), 49);

    let r = pool.apply_async(sqr, 8).expect("submit");
    r.wait();
    assert!(r.ready());
    assert!(r.successful().expect("ready"));
    assert_eq!(r.get_timeout(Duration::ZERO).expect("in"), 64);
    assert!(matches!(r.get_timeout(Duration::ZERO), Err(PoolError::Taken)));
}

#[test]
fn test_imap_and_imap_unordered() {
    let pool = Pool::new(3).expect("pool");
    let mut it = pool.imap(sqr, 0..10).expect("imap");
    for i in 0..10 {
        assert_eq!(it.next().expect("an item").expect("ok"), sqr(i));
    }
    assert!(it.next().is_none());
    assert!(it.next().is_none(), "still the end");
    drop(it);

    let expected: Vec<i64> = (0..1000).map(sqr).collect();
    let got: Vec<i64> = pool
        .chunksize(100)
        .expect("chunk")
        .imap(sqr, 0..1000)
        .expect("imap")
        .map(|r| r.expect("ok"))
        .collect();
    assert_eq!(got, expected);

    let mut unordered: Vec<i64> = pool
        .imap_unordered(sqr, 0..1000)
        .expect("imap")
        .map(|r| r.expect("ok"))
        .collect();
    unordered.sort_unstable();
    assert_eq!(unordered, expected);
    let mut unordered: Vec<i64> = pool
        .chunksize(53)
        .expect("chunk")
        .imap_unordered(sqr, 0..1000)
        .expect("imap")
        .map(|r| r.expect("ok"))
        .collect();
    unordered.sort_unstable();
    assert_eq!(unordered, expected);
}

#[test]
fn imap_next_timeout_times_out_and_then_delivers() {
    let pool = Pool::new(1).expect("pool");
    let mut it = pool.imap(sleep_then_sqr, vec![3]).expect("imap");
    assert!(matches!(
        it.next_timeout(Duration::from_millis(20)),
        Some(Err(PoolError::Timeout))
    ));
    assert_eq!(it.next().expect("item").expect("ok"), 9);
    assert!(it.next_timeout(Duration::ZERO).is_none());
}

/// An input iterator that panics at item `k`, as Python's `SayWhenError` generator raises.
fn exploding(k: i64) -> impl Iterator<Item = i64> {
    (0..).inspect(move |&i| {
        if i == k {
            panic!("SayWhenError at {k}");
        }
    })
}

#[test]
fn test_imap_handle_iterable_exception() {
    let pool = Pool::new(2).expect("pool");
    for chunksize in [1, 3] {
        let mut got = Vec::new();
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            for r in pool
                .chunksize(chunksize)
                .expect("chunk")
                .imap(sqr, exploding(20))
                .expect("imap")
            {
                got.push(r.expect("ok"));
            }
        }));
        let panic = outcome.expect_err("the input's panic reaches the caller");
        assert_eq!(
            panic.downcast_ref::<String>().map(String::as_str),
            Some("SayWhenError at 20")
        );
        assert_eq!(
            got,
            (0..20).map(sqr).collect::<Vec<_>>(),
            "every result before it first"
        );

        let mut got = Vec::new();
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            for r in pool.imap_unordered(sqr, exploding(10)).expect("imap") {
                got.push(r.expect("ok"));
            }
        }));
        assert!(outcome.is_err());
        got.sort_unstable();
        assert_eq!(got, (0..10).map(sqr).collect::<Vec<_>>());
    }
    // test_map_handle_iterable_exception: map reads its input before submitting anything.
    assert!(catch_unwind(AssertUnwindSafe(|| pool.map(sqr, exploding(5)))).is_err());
    assert_eq!(
        pool.map(sqr, 0..10).expect("the pool is still usable"),
        (0..10).map(sqr).collect::<Vec<_>>()
    );
    pool.close();
    pool.join().expect("join: no imap is left open by the panics");
}

#[test]
fn test_make_pool() {
    assert!(matches!(Pool::new(0), Err(PoolError::NoProcesses)));
    assert_eq!(
        PoolError::NoProcesses.to_string(),
        "Number of processes must be at least 1"
    );
    let pool = Pool::new(3).expect("pool");
    assert_eq!(pool.processes(), 3);
    let pids = pool.worker_pids();
    assert_eq!(pids.len(), 3);
    assert!(pids.iter().all(|&pid| pid != std::process::id()));
    let default = Pool::builder().build().expect("pool");
    assert_eq!(default.processes(), forkway_process::cpu_count());
}

fn sleep_long(_: u32) -> u32 {
    std::thread::sleep(Duration::from_secs(1));
    0
}

#[test]
fn test_terminate_with_thousands_queued_is_prompt() {
    let pool = Pool::new(2).expect("pool");
    let r = pool
        .chunksize(1)
        .expect("chunk")
        .map_async(sleep_long, 0..10_000)
        .expect("submit");
    let one = pool.apply_async(sleep_long, 0).expect("submit");
    let start = Instant::now();
    pool.terminate();
    assert!(start.elapsed() < BOUND);
    assert!(matches!(r.get(), Err(PoolError::Task(TaskError::Terminated))));
    assert!(matches!(one.get(), Err(PoolError::Task(TaskError::Terminated))));
    pool.join().expect("join after terminate");
}

#[test]
fn test_state_errors() {
    // test_context / test_enter / the reference's extras, with Python's messages.
    let pool = Pool::new(1).expect("pool");
    assert!(matches!(pool.join(), Err(PoolError::StillRunning)));
    assert_eq!(PoolError::StillRunning.to_string(), "Pool is still running");
    assert_eq!(pool.to_string(), "<forkway_pool::Pool state=RUN pool_size=1>");
    pool.close();
    assert_eq!(pool.to_string(), "<forkway_pool::Pool state=CLOSE pool_size=1>");
    assert!(matches!(pool.apply_async(sqr, 1), Err(PoolError::NotRunning)));
    assert!(matches!(pool.map(sqr, 0..3), Err(PoolError::NotRunning)));
    assert!(matches!(pool.imap(sqr, 0..3), Err(PoolError::NotRunning)));
    assert_eq!(PoolError::NotRunning.to_string(), "Pool not running");
    pool.join().expect("join");
    pool.close(); // again: nothing happens
    pool.terminate();
    assert_eq!(
        pool.to_string(),
        "<forkway_pool::Pool state=TERMINATE pool_size=1>"
    );
    assert!(matches!(pool.apply(sqr, 1), Err(PoolError::NotRunning)));
    assert!(matches!(pool.chunksize(0), Err(PoolError::ZeroChunksize)));
}

#[test]
fn test_traceback_carries_the_panic_message_and_line() {
    let pool = Pool::new(2).expect("pool");
    let line = line!() + 1;
    let r = pool.apply(|x: u32| -> u32 { panic!("bad value {x}") }, 7);
    match r {
        Err(PoolError::Task(TaskError::Panicked {
            message,
            location,
            pid,
        })) => {
            assert_eq!(message, "bad value 7");
            assert!(
                location.contains("pool.rs") && location.contains(&format!(":{line}:")),
                "{location}"
            );
            assert!(
                pool.worker_pids().contains(&pid),
                "the worker survived its task's panic"
            );
        }
        other => panic!("expected a panic error, got {other:?}"),
    }
}

fn fail_odd_or_count(x: u32) -> u32 {
    if !x.is_multiple_of(2) {
        panic!("odd {x}");
    }
    std::thread::sleep(Duration::from_millis(200));
    let v = &world().value;
    *v.lock().expect("lock") += 1;
    x
}

#[test]
fn test_map_no_failfast() {
    // Two failing tasks and a slow one: map waits for all of them, then reports the failure
    // of the earliest item.
    let finished = Value::new(0u32).expect("value");
    let pool = pool_with_world(2, None, &finished);
    let r = pool
        .chunksize(1)
        .expect("chunk")
        .map(fail_odd_or_count, [1, 4, 3]);
    match r {
        Err(PoolError::Task(TaskError::Panicked { message, .. })) => assert_eq!(message, "odd 1"),
        other => panic!("expected the first item's panic, got {other:?}"),
    }
    assert_eq!(
        finished.get(),
        1,
        "map returned only after the slow task finished"
    );
}

#[test]
fn panics_leave_the_other_tasks_and_the_workers_alone() {
    let pool = Pool::new(2).expect("pool");
    let before = pool.worker_pids();
    let results: Vec<_> = pool
        .imap(
            |x: u32| {
                if x.is_multiple_of(3) {
                    panic!("three divides {x}")
                } else {
                    x
                }
            },
            0..30,
        )
        .expect("imap")
        .collect();
    for (x, r) in (0u32..).zip(results) {
        match r {
            Ok(v) => assert_eq!(v, x),
            Err(PoolError::Task(TaskError::Panicked { message, .. })) => {
                assert_eq!(message, format!("three divides {x}"));
            }
            Err(e) => panic!("{x}: {e}"),
        }
    }
    assert_eq!(pool.worker_pids(), before, "a panic does not cost a worker");
}

/// A value that refuses to be serialized, like Python's unpicklable objects.
#[derive(Debug)]
struct Unsendable;

impl Serialize for Unsendable {
    fn serialize<S: serde::Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
        Err(serde::ser::Error::custom("Unsendable cannot travel"))
    }
}

impl<'de> Deserialize<'de> for Unsendable {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        <()>::deserialize(d).map(|()| Unsendable)
    }
}

#[test]
fn test_unpickleable_result_and_argument() {
    let pool = Pool::new(2).expect("pool");
    let before = pool.worker_pids();
    for _ in 0..20 {
        match pool.apply(|_: u32| Unsendable, 0) {
            Err(PoolError::Task(TaskError::ResultNotSerializable(why))) => {
                assert!(why.contains("Unsendable cannot travel"), "{why}");
            }
            other => panic!("expected ResultNotSerializable, got {other:?}"),
        }
    }
    assert_eq!(pool.worker_pids(), before, "no worker was lost");
    // In a chunk, only the bad item fails.
    let r = pool
        .chunksize(4)
        .expect("chunk")
        .imap(|x: u32| if x == 2 { Err(Unsendable) } else { Ok(x) }, 0..4)
        .expect("imap")
        .collect::<Vec<_>>();
    assert!(matches!(
        r[2],
        Err(PoolError::Task(TaskError::ResultNotSerializable(_)))
    ));
    assert!(matches!(r[3], Ok(Ok(3))));

    // test_map_unplicklable: the argument fails in the parent; nothing is submitted.
    assert!(matches!(
        pool.apply(|_: Unsendable| 1u8, Unsendable),
        Err(PoolError::ArgsNotSerializable(_))
    ));
    assert!(matches!(
        pool.map(|_: Unsendable| 1u8, vec![Unsendable, Unsendable]),
        Err(PoolError::ArgsNotSerializable(_))
    ));
    assert_eq!(pool.apply(sqr, 3).expect("the pool goes on"), 9);
}

#[test]
fn test_async_error_callback() {
    let pool = Pool::new(1).expect("pool");
    let got: Arc<Mutex<Option<String>>> = Arc::default();
    let g = Arc::clone(&got);
    let r = pool
        .apply_async(
            |k: String| -> u8 { panic!("KeyError: {k:?}") },
            "missing".to_owned(),
        )
        .expect("submit")
        .error_callback(move |e| *g.lock().unwrap() = Some(e.to_string()));
    r.wait();
    assert!(!r.successful().expect("ready"));
    let got = got.lock().unwrap().clone().expect("error_callback ran");
    assert!(got.contains("KeyError: \"missing\""), "{got}");
}

fn my_pid(_: u32) -> u32 {
    std::process::id()
}

#[test]
fn test_pool_worker_lifetime() {
    let pool = Pool::builder()
        .processes(3)
        .maxtasksperchild(10)
        .build()
        .expect("pool");
    assert_eq!(pool.worker_pids().len(), 3);
    let first = pool.worker_pids();
    let mut pids: Vec<u32> = Vec::new();
    for _ in 0..10 {
        pids.extend(pool.chunksize(1).expect("chunk").map(my_pid, 0..10).expect("map"));
    }
    pids.sort_unstable();
    pids.dedup();
    assert!(
        pids.len() > 3,
        "workers were replaced after 10 tasks: {} distinct pids",
        pids.len()
    );
    assert_eq!(pool.worker_pids().len(), 3, "the pool stays full");
    assert_ne!(pool.worker_pids(), first);
    assert!(matches!(
        Pool::builder().maxtasksperchild(0).build(),
        Err(PoolError::ZeroMaxTasks)
    ));
}

#[test]
fn test_pool_worker_lifetime_early_close() {
    // maxtasksperchild=1 with tasks outstanding: close + join completes every task.
    let pool = Pool::builder()
        .processes(1)
        .maxtasksperchild(1)
        .build()
        .expect("pool");
    let results: Vec<_> = (0..6)
        .map(|i| pool.apply_async(sleep_then_sqr_fast, i).expect("submit"))
        .collect();
    pool.close();
    pool.join().expect("join");
    let got: Vec<i64> = results.into_iter().map(|r| r.get().expect("done")).collect();
    assert_eq!(got, (0..6).map(sqr).collect::<Vec<_>>());
}

fn sleep_then_sqr_fast(x: i64) -> i64 {
    std::thread::sleep(Duration::from_millis(10));
    x * x
}

static INITIALIZED_WITH: OnceLock<String> = OnceLock::new();

#[test]
fn test_pool_initializer() {
    let greeting = String::from("hello from the initializer");
    let pool = Pool::builder()
        .processes(2)
        .initializer(move || {
            let _ = INITIALIZED_WITH.set(greeting.clone());
        })
        .build()
        .expect("pool");
    let got = pool
        .apply(|_: ()| INITIALIZED_WITH.get().cloned(), ())
        .expect("apply");
    assert_eq!(got.as_deref(), Some("hello from the initializer"));
    assert!(INITIALIZED_WITH.get().is_none(), "it ran in the worker, not here");
}

#[test]
fn a_panicking_initializer_breaks_the_pool_instead_of_looping() {
    let pool = Pool::builder()
        .processes(2)
        .initializer(|| {
            // The worker prints an initializer's panic, as any child's; keep the test's output clean.
            redirect_stderr_to_null();
            panic!("cannot connect to the database")
        })
        .build()
        .expect("the workers start; their initializer fails after fork");
    let r = pool.apply(sqr, 2);
    assert!(
        matches!(
            r,
            Err(PoolError::Task(TaskError::InitializerFailed { .. })) | Err(PoolError::Broken(_))
        ),
        "{r:?}"
    );
    assert!(matches!(
        pool.apply_async(sqr, 2),
        Err(PoolError::Broken(TaskError::InitializerFailed { .. }))
    ));
    pool.close();
    pool.join().expect("join a broken pool");
}

fn wait_at_barrier(_: u32) -> bool {
    let barrier = world().barrier.as_ref().expect("barrier");
    barrier.wait_timeout(BOUND).is_ok()
}

#[test]
fn workers_run_in_parallel() {
    // Three tasks that can only finish when all three wait at the barrier at once.
    let barrier = Barrier::new(3).expect("barrier");
    let unused = Value::new(0u32).expect("value");
    let pool = pool_with_world(3, Some(barrier), &unused);
    let passed = pool
        .chunksize(1)
        .expect("chunk")
        .map(wait_at_barrier, 0..3)
        .expect("map");
    assert_eq!(passed, [true, true, true]);
}

fn report_pid_then_hang(_: u32) -> u32 {
    world().value.set(std::process::id());
    loop {
        std::thread::sleep(Duration::from_secs(1));
    }
}

#[test]
fn a_worker_killed_mid_task_fails_that_task_and_is_replaced() {
    // Python's Pool: get() hangs forever (bpo-22393). forkway: WorkerDied, and the work goes on.
    let held_by = Value::new(0u32).expect("value");
    let pool = pool_with_world(2, None, &held_by);
    let doomed = pool.apply_async(report_pid_then_hang, 0).expect("submit");
    let others = pool
        .chunksize(1)
        .expect("chunk")
        .map_async(sqr, 0..50)
        .expect("submit");
    let victim = kill_the_holder(&held_by);
    // Bounded: were the death missed, this would be Python's endless wait.
    match doomed.get_timeout(BOUND) {
        Err(PoolError::Task(TaskError::WorkerDied { pid, exitcode })) => {
            assert_eq!((pid, exitcode), (victim, -9));
        }
        other => panic!("expected WorkerDied, got {other:?}"),
    }
    assert_eq!(
        others.get_timeout(BOUND).expect("the rest completes"),
        (0..50).map(sqr).collect::<Vec<_>>()
    );
    let pids = pool.worker_pids();
    assert_eq!(pids.len(), 2, "a replacement started");
    assert!(!pids.contains(&victim));
    assert!(is_reaped(victim));
    assert_eq!(pool.apply(sqr, 12).expect("the pool still works"), 144);
    let msg = TaskError::WorkerDied { pid: 1, exitcode: -9 }.to_string();
    assert_eq!(msg, "worker 1 died while it ran this task (killed by SIGKILL)");
}

fn exit_in_task(code: i32) -> i32 {
    std::process::exit(code)
}

#[test]
fn a_task_that_exits_its_worker_is_reported_with_the_exit_code() {
    let pool = Pool::new(1).expect("pool");
    match pool
        .apply_async(exit_in_task, 7)
        .expect("submit")
        .get_timeout(BOUND)
    {
        Err(PoolError::Task(TaskError::WorkerDied { exitcode, .. })) => assert_eq!(exitcode, 7),
        other => panic!("expected WorkerDied, got {other:?}"),
    }
    assert_eq!(pool.apply(sqr, 2).expect("replacement"), 4);
}

fn forkway_exit_in_task(code: i32) -> i32 {
    forkway_process::exit(code)
}

#[test]
fn forkway_exit_in_a_task_exits_its_worker_with_that_code() {
    // Python: sys.exit in a task raises SystemExit, which the worker does not catch: the worker
    // exits (and Python's get() then hangs). forkway: the worker exits with the code, like
    // std::process::exit, and the task reports WorkerDied with it — not a panic.
    let pool = Pool::new(1).expect("pool");
    let before = pool.worker_pids();
    match pool
        .apply_async(forkway_exit_in_task, 7)
        .expect("submit")
        .get_timeout(BOUND)
    {
        Err(PoolError::Task(TaskError::WorkerDied { pid, exitcode })) => {
            assert_eq!((vec![pid], exitcode), (before.clone(), 7));
        }
        other => panic!("expected WorkerDied with exit code 7, got {other:?}"),
    }
    assert_eq!(pool.apply(sqr, 3).expect("a replacement runs the next task"), 9);
    assert!(!pool.worker_pids().contains(&before[0]), "the worker exited");
}

#[test]
fn duration_max_timeouts_complete_normally() {
    // A huge timeout means "wait for ever", never an overflow: every timed call completes.
    let pool = Pool::new(2).expect("pool");
    let one = pool.apply_async(sqr, 3).expect("submit");
    assert!(one.wait_timeout(Duration::MAX));
    assert_eq!(one.get_timeout(Duration::MAX).expect("get"), 9);
    let many = pool.map_async(sqr, 0..10).expect("submit");
    assert!(many.wait_timeout(Duration::MAX));
    assert_eq!(
        many.get_timeout(Duration::MAX).expect("get"),
        (0..10).map(sqr).collect::<Vec<_>>()
    );
    let mut it = pool.imap(sqr, 0..5).expect("submit");
    let mut got = Vec::new();
    while let Some(r) = it.next_timeout(Duration::MAX) {
        got.push(r.expect("next"));
    }
    assert_eq!(got, (0..5).map(sqr).collect::<Vec<_>>());
}

fn slow_identity(x: u32) -> u32 {
    std::thread::sleep(Duration::from_millis(2));
    x
}

#[test]
fn workers_killed_at_random_never_hang_the_pool_and_lose_nothing() {
    // Kill a worker every few milliseconds while 300 one-item chunks run: every result is
    // either right or a WorkerDied for that very item; get() always returns.
    let pool = Pool::new(3).expect("pool");
    let mut r = pool
        .chunksize(1)
        .expect("chunk")
        .imap(slow_identity, 0..300)
        .expect("imap");
    let mut killed = 0;
    let mut died = 0;
    let mut i = 0u32;
    // Bounded: a lost task would otherwise be a wait without end.
    while let Some(item) = r.next_timeout(BOUND) {
        assert!(!matches!(item, Err(PoolError::Timeout)), "item {i} never came");
        match item {
            Ok(v) => assert_eq!(v, i),
            Err(PoolError::Task(TaskError::WorkerDied { exitcode: -9, .. })) => died += 1,
            Err(e) => panic!("{i}: {e}"),
        }
        if i % 25 == 10 {
            if let Some(&pid) = pool.worker_pids().get(i as usize % 3) {
                let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), Signal::SIGKILL);
                killed += 1;
            }
        }
        i += 1;
    }
    drop(r);
    assert_eq!(i, 300, "every item answered");
    assert!(killed >= 10);
    assert!(died <= killed, "{died} tasks failed for {killed} kills");
    assert_eq!(pool.worker_pids().len(), 3);
    pool.close();
    pool.join().expect("join");
}

#[test]
fn imap_reads_an_endless_input_in_bounded_memory() {
    let pool = Pool::new(2).expect("pool");
    let pulled = std::cell::Cell::new(0u64);
    let input = (0u64..).inspect(|_| pulled.set(pulled.get() + 1));
    let mut it = pool.imap(|x: u64| x + 1, input).expect("imap");
    for i in 0..1000 {
        assert_eq!(it.next().expect("endless").expect("ok"), i + 1);
    }
    drop(it);
    let ahead = pulled.get() - 1000;
    assert!(
        ahead <= 4 * 2,
        "read {ahead} items ahead of the consumer (window: 8)"
    );
    assert_eq!(
        pool.apply(sqr, 5)
            .expect("the pool goes on after the dropped imap"),
        25
    );
}

#[test]
fn close_waits_for_an_open_imap_and_join_says_why() {
    let pool = Pool::new(2).expect("pool");
    let mut it = pool.imap(sqr, 0..100).expect("imap");
    assert_eq!(it.next().expect("item").expect("ok"), 0);
    pool.close();
    assert!(matches!(pool.join(), Err(PoolError::ImapOpen)));
    // Its input is still fed after close: Python's imap was submitted before close, too.
    let rest: Vec<i64> = it.by_ref().map(|r| r.expect("ok")).collect();
    assert_eq!(rest, (1..100).map(sqr).collect::<Vec<_>>());
    drop(it);
    pool.join().expect("join");
}

#[test]
fn a_forked_copy_of_the_pool_refuses_to_be_used() {
    let pool = Pool::new(1).expect("pool");
    // The closure takes the pool: the child gets a copy of the handle, the parent drops its own
    // (terminating the workers) right after the fork.
    let mut child = forkway_process::Process::fallible(move || -> Result<(), String> {
        match pool.apply(sqr, 2) {
            Err(PoolError::NotOwner { creator }) if creator != std::process::id() => Ok(()),
            other => Err(format!("{other:?}")),
        }
        // Dropping the copy here must not touch the parent's workers either.
    });
    child.start().expect("start");
    assert_eq!(join_bounded(&child), 0);
}

#[test]
fn drop_terminates_and_reaps_every_worker() {
    let pool = Pool::new(3).expect("pool");
    let pids = pool.worker_pids();
    let pending = pool.apply_async(sleep_long, 0).expect("submit");
    drop(pending);
    drop(pool);
    for pid in pids {
        assert!(is_reaped(pid), "worker {pid} was reaped");
    }
}
