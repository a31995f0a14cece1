//! Lesson 5's graded checks: the chunk size, the worker loop, routing results to their jobs,
//! writing off a dead worker's task, and the seeds' two pool programs.
//! Run them with `cargo xtask lesson 5` (or `cargo test -p forkway-pool --test lesson5`).

mod pool_support;
use forkway_testkit as support;

use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use forkway_pool::{default_chunksize, Pool, PoolError, TaskError};
use forkway_sync::Value;
use pool_support::kill_the_holder;
use support::*;

fn sqr(x: i64) -> i64 {
    x * x
}

#[test]
fn chunksize_follows_pythons_formula() {
    // The reference's examples, measured on CPython.
    assert_eq!(default_chunksize(10, 2), 2);
    assert_eq!(default_chunksize(100, 4), 7);
    assert_eq!(default_chunksize(1000, 8), 32);
    assert_eq!(default_chunksize(7, 4), 1);
    assert_eq!(default_chunksize(0, 4), 0, "empty input needs no chunk");
    for items in 0..500 {
        for workers in 1..10 {
            let size = default_chunksize(items, workers);
            let chunks = if size == 0 { 0 } else { items.div_ceil(size) };
            assert!(
                chunks <= 4 * workers,
                "{items} items, {workers} workers: {chunks} chunks"
            );
            assert!(
                size == 0 || (size - 1) * 4 * workers < items,
                "{items}, {workers}: {size} is too big"
            );
        }
    }
}

fn hang(_: i64) -> i64 {
    loop {
        std::thread::sleep(Duration::from_secs(1));
    }
}

#[test]
fn terminate_answers_every_job_through_its_chunks() {
    // Every task hangs, so none can finish: terminate answers every chunk in flight with
    // Terminated, and each job must notice that its *last* chunk is in, once.
    let pool = Pool::new(1).expect("pool");
    let errors: Arc<Mutex<Vec<String>>> = Arc::default();
    let singles: Vec<_> = (0..5)
        .map(|i| {
            let errors = Arc::clone(&errors);
            pool.apply_async(hang, i)
                .expect("submit")
                .error_callback(move |e| errors.lock().unwrap().push(format!("apply {i}: {e}")))
        })
        .collect();
    let errors_of_map = Arc::clone(&errors);
    let mapped = pool
        .chunksize(3)
        .expect("chunk")
        .map_async(hang, 0..10)
        .expect("submit")
        .error_callback(move |e| errors_of_map.lock().unwrap().push(format!("map: {e}")));
    let empty = pool.map_async(sqr, Vec::new()).expect("submit");
    assert!(empty.ready(), "a job with no chunks is complete at once");
    pool.terminate();
    assert!(mapped.ready());
    assert!(matches!(
        mapped.get(),
        Err(PoolError::Task(TaskError::Terminated))
    ));
    for r in singles {
        assert!(r.ready());
        assert!(matches!(r.get(), Err(PoolError::Task(TaskError::Terminated))));
    }
    let mut errors = errors.lock().unwrap().clone();
    errors.sort();
    let mut expected: Vec<String> = (0..5)
        .map(|i| format!("apply {i}: the pool was terminated before the task finished"))
        .collect();
    expected.push("map: the pool was terminated before the task finished".to_owned());
    assert_eq!(errors, expected, "one error callback per job, not per chunk");
}

#[test]
fn workers_run_tasks_and_send_results_back() {
    let watchdog = Watchdog::new(
        "workers_run_tasks_and_send_results_back: apply/map (does each result reach its job, \
         and does the job see its last chunk?)",
    );
    let pool = Pool::new(2).expect("pool");
    assert_eq!(pool.apply(sqr, 5).expect("apply"), 25);
    assert_eq!(
        pool.map(sqr, 0..100).expect("map"),
        (0..100).map(sqr).collect::<Vec<_>>()
    );
    let pids: Vec<u32> = pool
        .chunksize(1)
        .expect("chunk")
        .map(|_: u8| std::process::id(), 0..20)
        .expect("map");
    assert!(
        pids.iter().all(|pid| pool.worker_pids().contains(pid)),
        "the workers ran the tasks"
    );
    drop(watchdog);
}

#[test]
fn close_and_join_let_every_worker_exit() {
    let pool = Pool::new(3).expect("pool");
    let pids = pool.worker_pids();
    let pending: Vec<_> = (0..30)
        .map(|i| pool.apply_async(sqr, i).expect("submit"))
        .collect();
    pool.close();
    let watchdog = Watchdog::new(
        "close_and_join_let_every_worker_exit: join() after close() (each worker takes one \
         stop message and exits; a worker that took its stop must not be replaced)",
    );
    pool.join().expect("join");
    drop(watchdog);
    for pid in pids {
        assert!(is_reaped(pid), "worker {pid} exited and was reaped");
    }
    let got: Vec<i64> = pending
        .into_iter()
        .map(|r| r.get().expect("done before join returned"))
        .collect();
    assert_eq!(got, (0..30).map(sqr).collect::<Vec<_>>());
}

#[test]
fn a_worker_retires_after_maxtasksperchild() {
    let pool = Pool::builder()
        .processes(1)
        .maxtasksperchild(3)
        .build()
        .expect("pool");
    let mut pids: Vec<u32> = (0..9)
        .map(|_| pool.apply(|_: ()| std::process::id(), ()).expect("apply"))
        .collect();
    assert_eq!(pids[0], pids[2], "three tasks per worker");
    assert_ne!(pids[2], pids[3], "then a new worker");
    pids.dedup();
    assert_eq!(pids.len(), 3, "9 tasks, 3 per worker: {pids:?}");
}

fn slow_sqr(x: i64) -> i64 {
    std::thread::sleep(Duration::from_millis((x % 7) as u64));
    x * x
}

#[test]
fn results_reach_their_own_job() {
    // Many jobs in flight at once, finishing out of order: each result must land in its job.
    let watchdog = Watchdog::new("results_reach_their_own_job: the jobs' results");
    let pool = Pool::new(3).expect("pool");
    let calls: Arc<Mutex<Vec<i64>>> = Arc::default();
    let singles: Vec<_> = (0..40)
        .map(|i| {
            let calls = Arc::clone(&calls);
            pool.apply_async(slow_sqr, i)
                .expect("submit")
                .callback(move |v| calls.lock().unwrap().push(*v))
        })
        .collect();
    let mapped = pool
        .chunksize(3)
        .expect("chunk")
        .map_async(slow_sqr, 100..160)
        .expect("submit");
    let unordered: Vec<i64> = pool
        .imap_unordered(slow_sqr, 200..230)
        .expect("imap")
        .map(|r| r.expect("ok"))
        .collect();
    assert_eq!(
        mapped.get().expect("map"),
        (100..160).map(sqr).collect::<Vec<_>>()
    );
    for (i, r) in (0..).zip(singles) {
        assert_eq!(r.get().expect("apply"), sqr(i));
    }
    let mut unordered = unordered;
    unordered.sort_unstable();
    assert_eq!(unordered, (200..230).map(sqr).collect::<Vec<_>>());
    let mut calls = calls.lock().unwrap().clone();
    calls.sort_unstable();
    assert_eq!(
        calls,
        (0..40).map(sqr).collect::<Vec<_>>(),
        "each callback exactly once"
    );
    drop(watchdog);
}

static HOLDER: OnceLock<Value<u32>> = OnceLock::new();

fn report_then_hang(_: ()) -> u32 {
    HOLDER.get().expect("initializer").set(std::process::id());
    loop {
        std::thread::sleep(Duration::from_secs(1));
    }
}

fn pool_reporting_into(holder: &Value<u32>, processes: usize) -> Pool {
    let holder = holder.clone();
    Pool::builder()
        .processes(processes)
        .initializer(move || {
            let _ = HOLDER.set(holder.clone());
        })
        .build()
        .expect("pool")
}

#[test]
fn a_killed_workers_task_fails_instead_of_hanging() {
    let holder = Value::new(0u32).expect("value");
    let pool = pool_reporting_into(&holder, 2);
    let doomed = pool.apply_async(report_then_hang, ()).expect("submit");
    let rest = pool
        .chunksize(1)
        .expect("chunk")
        .map_async(sqr, 0..20)
        .expect("submit");
    let victim = kill_the_holder(&holder);
    match doomed.get_timeout(BOUND) {
        Err(PoolError::Task(TaskError::WorkerDied { pid, exitcode })) => {
            assert_eq!((pid, exitcode), (victim, -9))
        }
        other => panic!("expected TaskError::WorkerDied, got {other:?}"),
    }
    assert_eq!(
        rest.get_timeout(BOUND).expect("the rest completes"),
        (0..20).map(sqr).collect::<Vec<_>>()
    );
    assert_eq!(pool.worker_pids().len(), 2, "a replacement started");
}

#[test]
fn a_worker_that_dies_inside_its_claim_costs_its_task_nothing() {
    // The worker dies (SIGSEGV, injected) while its slot already names the task but before the
    // task leaves the queue. The task is still queued: the replacement must run it. Writing it
    // off as WorkerDied would fail a task nobody ever started.
    let pool = Pool::builder()
        .processes(1)
        .fault_first_claim()
        .build()
        .expect("pool");
    let task = pool.apply_async(sqr, 7).expect("submit");
    match task.get_timeout(BOUND) {
        Ok(v) => assert_eq!(v, 49),
        Err(e) => panic!(
            "the only worker died inside its claim, before the task left the queue (slot says \
             seq 0, `taken` is 0): write_off must answer `false` for `seq >= taken` and leave \
             the task to the replacement; got {e:?} instead of Ok(49)"
        ),
    }
    assert_eq!(pool.worker_pids().len(), 1, "a replacement started");
}

#[test]
fn a_worker_killed_after_close_still_lets_join_finish() {
    let holder = Value::new(0u32).expect("value");
    let pool = pool_reporting_into(&holder, 1);
    let doomed = pool.apply_async(report_then_hang, ()).expect("submit");
    let after = pool.apply_async(sqr, 9).expect("submit");
    pool.close();
    kill_the_holder(&holder);
    // The only worker died: its replacement must run the queued task, then take the stop.
    let watchdog = Watchdog::new(
        "a_worker_killed_after_close_still_lets_join_finish: join() after close() and a killed \
         worker (its replacement runs the rest, then takes the stop)",
    );
    pool.join().expect("join");
    drop(watchdog);
    assert!(matches!(
        doomed.get(),
        Err(PoolError::Task(TaskError::WorkerDied { .. }))
    ));
    assert_eq!(after.get().expect("ran on the replacement"), 81);
}

#[test]
fn example_pool_workers() {
    let run = run_example_of("forkway-pool", "pool_workers", &["0.05"]);
    assert_eq!(run.code, 0, "the example failed:{run}");
    let lines: Vec<&str> = run.stdout.lines().collect();
    let starts: Vec<&str> = lines
        .iter()
        .copied()
        .filter(|l| l.contains(" starts, pid "))
        .collect();
    let dones = lines.iter().filter(|l| l.contains(" done in ")).count();
    assert_eq!(
        (starts.len(), dones),
        (10, 10),
        "ten tasks, each started and done: {lines:?}"
    );
    for i in 0..10 {
        assert_eq!(
            starts
                .iter()
                .filter(|l| l.starts_with(&format!("{i} starts")))
                .count(),
            1,
            "{lines:?}"
        );
    }
    let mut pids: Vec<&str> = starts
        .iter()
        .map(|l| l.rsplit(' ').next().unwrap_or(""))
        .collect();
    pids.sort_unstable();
    pids.dedup();
    assert!(pids.len() <= 3, "at most three worker processes: {pids:?}");
    let end = lines
        .iter()
        .position(|l| *l == "-----end-----")
        .expect("end line");
    assert!(
        lines
            .iter()
            .position(|l| *l == "----start----")
            .is_some_and(|s| s < end),
        "{lines:?}"
    );
    let last_done = lines.iter().rposition(|l| l.contains(" done in ")).expect("done");
    assert!(
        last_done < end,
        "join returned before every task was done: {lines:?}"
    );
    assert_eq!(
        lines.last().copied(),
        Some(format!("10 tasks ran in {} worker processes", pids.len()).as_str()),
        "{lines:?}"
    );
}

#[test]
fn example_squares() {
    let run = run_example_of("forkway-pool", "squares", &[]);
    assert_eq!(run.code, 0, "the example failed:{run}");
    let lines: Vec<&str> = run.stdout.lines().collect();
    let expected = [
        "[0, 1, 4, 9, 16, 25, 36, 49, 64, 81]",
        "4",
        "[0, 1, 4, 9, 16, 25, 36, 49, 64, 81]",
        "callback: 12",
    ];
    for (i, want) in expected.iter().enumerate() {
        assert_eq!(
            lines.get(i).copied(),
            Some(*want),
            "line {}: expected {want:?}; the example printed:{run}",
            i + 1
        );
    }
    assert!(
        lines
            .get(4)
            .is_some_and(|l| l.starts_with("error_callback: the task panicked at"))
            && run.stdout.contains("13 is unlucky"),
        "line 5: expected `error_callback: the task panicked at …13 is unlucky…`; the example \
         printed:{run}"
    );
}
