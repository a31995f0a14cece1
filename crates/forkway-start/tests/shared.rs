//! A Queue and a Lock made `new_sendable` reach forkserver and spawn children as arguments
//! (their memfds travel with `SCM_RIGHTS` or across `execve`) and keep their kill-safety there.

use std::time::Duration;

use forkway_ipc::{GetError, Queue};
use forkway_start::{bootstrap, Context, StartMethod};
use forkway_sync::{AcquireError, Lock};

const BOUND: Duration = Duration::from_secs(20);
const METHODS: [StartMethod; 3] = [StartMethod::Fork, StartMethod::Forkserver, StartMethod::Spawn];

/// Doubles every number until it reads `None`.
fn doubler(tasks: Queue<Option<u64>>, results: Queue<u64>) -> Result<(), String> {
    while let Some(n) = tasks.get_timeout(BOUND).map_err(|e| e.to_string())? {
        results.put(n * 2).map_err(|e| e.to_string())?;
    }
    Ok(())
}

#[test]
fn a_sendable_queue_reaches_children_of_every_method() {
    bootstrap();
    for method in METHODS {
        let tasks: Queue<Option<u64>> = Queue::new_sendable().expect("queue");
        let results: Queue<u64> = Queue::new_sendable().expect("queue");
        let mut p = Context::new(method).process(doubler, (tasks.clone(), results.clone()));
        p.start().unwrap_or_else(|e| panic!("{method}: {e}"));
        for n in 0..100 {
            tasks.put(Some(n)).expect("put");
        }
        tasks.put(None).expect("put");
        let got: Vec<u64> = (0..100)
            .map(|_| {
                results
                    .get_timeout(BOUND)
                    .unwrap_or_else(|e| panic!("{method}: {e}"))
            })
            .collect();
        assert_eq!(got, (0..100).map(|n| n * 2).collect::<Vec<_>>(), "{method}");
        assert!(p.join_timeout(BOUND).expect("join"), "{method}");
        assert_eq!(p.exitcode(), Some(0), "{method}");
    }
}

#[test]
fn an_ordinary_queue_is_refused_with_pythons_reason() {
    bootstrap();
    let q: Queue<u8> = Queue::new().expect("queue");
    for method in [StartMethod::Forkserver, StartMethod::Spawn] {
        let mut p = Context::new(method).process(|_q: Queue<u8>| {}, (q.clone(),));
        let e = p.start().expect_err("an inherited-only queue cannot travel");
        assert!(
            e.to_string().contains(forkway_ipc::INHERITANCE_ONLY),
            "{method}: {e}"
        );
    }
}

/// Tells the parent it is running, then takes messages for ever.
fn consume(ready: Queue<u32>, tasks: Queue<u64>) {
    let _ = ready.put(std::process::id());
    loop {
        let _ = tasks.get();
    }
}

/// A consumer killed while it waits in `get` (or holds the queue's lock) leaves the queue
/// usable: the robust mutex in the shared memfd reports the death to the next locker.
#[test]
fn a_sigkilled_spawned_or_forkserver_consumer_leaves_the_queue_usable() {
    bootstrap();
    for method in [StartMethod::Spawn, StartMethod::Forkserver] {
        let ready: Queue<u32> = Queue::new_sendable().expect("queue");
        let tasks: Queue<u64> = Queue::new_sendable().expect("queue");
        let mut p = Context::new(method).process(consume, (ready.clone(), tasks.clone()));
        p.start().expect("start");
        assert_eq!(
            ready.get_timeout(BOUND).ok(),
            p.pid(),
            "{method}: the consumer is running"
        );
        for n in 0..1000 {
            tasks.put(n).expect("put");
        }
        p.kill().expect("kill");
        assert!(p.join_timeout(BOUND).expect("join"), "{method}");
        assert_eq!(p.exitcode(), Some(-9), "{method}");
        // Whatever the consumer took, the rest is whole and in order, and the queue works.
        let mut last = None;
        loop {
            match tasks.get_timeout(Duration::from_millis(100)) {
                Ok(n) => {
                    assert!(last.is_none_or(|l| n > l), "{method}: order");
                    last = Some(n);
                }
                Err(GetError::Empty) => break,
                Err(e) => panic!("{method}: {e}"),
            }
        }
        tasks.put(7).expect("put after the death");
        assert_eq!(tasks.get_timeout(BOUND).ok(), Some(7), "{method}");
    }
}

/// Takes the lock, says so, and holds it until killed.
fn hold(lock: Lock, held: Queue<u32>) {
    let _guard = lock.acquire().expect("acquire");
    let _ = held.put(std::process::id());
    std::thread::sleep(Duration::from_secs(600));
}

#[test]
fn a_sigkilled_forkserver_or_spawned_child_holding_a_lock_is_reported() {
    bootstrap();
    for method in [StartMethod::Forkserver, StartMethod::Spawn] {
        let lock = Lock::new_sendable().expect("lock");
        let held: Queue<u32> = Queue::new_sendable().expect("queue");
        let mut p = Context::new(method).process(hold, (lock.clone(), held.clone()));
        p.start().expect("start");
        assert_eq!(
            held.get_timeout(BOUND).ok(),
            p.pid(),
            "{method}: the child holds the lock"
        );
        assert!(lock.locked(), "{method}");
        assert!(
            matches!(lock.try_acquire(), Err(AcquireError::WouldBlock)),
            "{method}"
        );
        p.kill().expect("kill");
        assert!(p.join_timeout(BOUND).expect("join"), "{method}");
        match lock.acquire_timeout(BOUND) {
            Err(AcquireError::OwnerDied(mut guard)) => guard.mark_consistent(),
            other => panic!("{method}: expected OwnerDied, got {:?}", other.map(|_| ())),
        }
        let _again = lock
            .acquire_timeout(BOUND)
            .expect("the lock works after the death");
    }
}

fn touch(q: Queue<u8>, lock: Lock) -> Result<(), String> {
    let _held = lock.acquire().map_err(|e| e.to_string())?;
    q.put(1).map_err(|e| e.to_string())
}

/// In a forked child of its own: passing a queue and a lock to children of every method leaves
/// no descriptor behind in the parent.
#[test]
fn passing_shared_objects_leaks_no_descriptor() {
    let mut p = forkway_process::Process::fallible(|| -> Result<(), String> {
        bootstrap();
        forkway_start::forkserver::ensure_running().map_err(|e| e.to_string())?;
        let q: Queue<u8> = Queue::new_sendable().map_err(|e| e.to_string())?;
        let lock = Lock::new_sendable().map_err(|e| e.to_string())?;
        let round = || -> Result<(), String> {
            for method in METHODS {
                let mut p = Context::new(method).process(touch, (q.clone(), lock.clone()));
                p.start().map_err(|e| e.to_string())?;
                p.join().map_err(|e| e.to_string())?;
                if p.exitcode() != Some(0) {
                    return Err(format!("{method}: exit code {:?}", p.exitcode()));
                }
                q.get_timeout(BOUND).map_err(|e| e.to_string())?;
            }
            Ok(())
        };
        round()?;
        let before = std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count());
        for _ in 0..5 {
            round()?;
        }
        let after = std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count());
        if before == after {
            Ok(())
        } else {
            Err(format!("{before} descriptors before, {after} after"))
        }
    });
    p.start().expect("start");
    assert!(p.join_timeout(BOUND).is_ok());
    assert_eq!(p.exitcode(), Some(0));
}
