//! Every shared primitive made `new_sendable` reaches forkserver and spawn children as an
//! argument and is really shared with the parent there (Event, RawLock, RLock, Semaphore and
//! BoundedSemaphore, Condition, Barrier, Value, Array, RawValue, RawArray, JoinableQueue);
//! the kill-safety of Value, RLock, Condition and JoinableQueue holds there too; and an ordinary
//! (fork-only) primitive is refused with Python's reason instead of hanging.

use std::collections::BTreeSet;
use std::time::Duration;

use forkway_ipc::Queue;
use forkway_joinable::{JoinError, JoinableQueue};
use forkway_start::{bootstrap, Context, Process, StartMethod};
use forkway_sync::{
    AcquireError, Array, Barrier, Condition, Event, RLock, RawArray, RawLock, RawValue, ReleaseError,
    Semaphore, Value,
};

mod common;

use common::{bounded, reap, BOUND, METHODS};

fn check(ok: bool, what: &str) -> Result<(), String> {
    ok.then_some(()).ok_or_else(|| what.to_string())
}

/// Waits for the parent's `go`, then sets `done`.
fn answer(go: Event, done: Event) -> Result<(), String> {
    check(go.wait_timeout(BOUND), "go never came")?;
    done.set();
    Ok(())
}

#[test]
fn an_event_is_shared_both_ways() {
    bootstrap();
    for method in METHODS {
        let go = Event::new_sendable().expect("event");
        let done = Event::new_sendable().expect("event");
        let mut p = Context::new(method).process(answer, (go.clone(), done.clone()));
        p.start().unwrap_or_else(|e| panic!("{method}: {e}"));
        assert!(!done.is_set(), "{method}");
        go.set();
        assert!(done.wait_timeout(BOUND), "{method}: the child's set was not seen");
        reap(&p, 0, &method.to_string());
    }
}

/// Sees the parent's hold, says so, and once told takes the lock and ends holding it.
fn take_over(lock: RawLock, seen: Event, go: Event) -> Result<(), String> {
    check(lock.locked() && !lock.try_lock(), "the parent's hold is not seen")?;
    seen.set();
    check(go.wait_timeout(BOUND), "go never came")?;
    check(lock.try_lock(), "the lock the parent released is still held")
}

#[test]
fn a_raw_lock_is_shared_both_ways() {
    bootstrap();
    for method in METHODS {
        let lock = RawLock::new_sendable().expect("lock");
        let seen = Event::new_sendable().expect("event");
        let go = Event::new_sendable().expect("event");
        lock.lock();
        let mut p = Context::new(method).process(take_over, (lock.clone(), seen.clone(), go.clone()));
        p.start().unwrap_or_else(|e| panic!("{method}: {e}"));
        assert!(
            seen.wait_timeout(BOUND),
            "{method}: the child did not see the hold"
        );
        lock.unlock().expect("unlock");
        go.set();
        reap(&p, 0, &method.to_string());
        // A RawLock does not notice its holder's end (Python's Lock): still held, by the child.
        assert!(lock.locked(), "{method}");
        lock.unlock().expect("release the child's hold");
    }
}

/// Takes the permit the parent releases (waiting for it), then gives `back` two permits — and
/// a third, which the bound (it travelled with the semaphore) refuses.
fn permits(sem: Semaphore, back: Semaphore) -> Result<(), String> {
    check(sem.acquire_timeout(BOUND), "no permit came")?;
    check(back.max() == Some(2), "the bound did not travel")?;
    back.release().map_err(|e| e.to_string())?;
    back.release().map_err(|e| e.to_string())?;
    check(
        back.release() == Err(ReleaseError::NotHeld),
        "a release past the bound was accepted",
    )
}

#[test]
fn semaphore_permits_are_shared() {
    bootstrap();
    for method in METHODS {
        let sem = Semaphore::new_sendable(0).expect("semaphore");
        let back = Semaphore::bounded_sendable(2).expect("semaphore");
        assert!(back.try_acquire() && back.try_acquire());
        let mut p = Context::new(method).process(permits, (sem.clone(), back.clone()));
        p.start().unwrap_or_else(|e| panic!("{method}: {e}"));
        sem.release().expect("release");
        // Only once the child is done: the refused third release needs the bound reached.
        reap(&p, 0, &method.to_string());
        assert_eq!((sem.value(), back.value()), (0, 2), "{method}");
        assert!(back.try_acquire() && back.try_acquire(), "{method}");
    }
}

/// Waits on the condition, holding its lock while it says it is ready, until the parent sets
/// the flag and notifies.
fn wait_for_flag(cond: Condition, flag: RawValue<u32>, ready: Event) -> Result<(), String> {
    let mut held = cond.acquire().map_err(|e| e.to_string())?;
    ready.set();
    let got = held
        .wait_for(|| flag.get() == 1, Some(BOUND))
        .map_err(|e| e.to_string())?;
    check(got, "never notified")
}

#[test]
fn a_condition_notify_reaches_a_waiting_child() {
    bootstrap();
    for method in METHODS {
        let cond = Condition::new_sendable().expect("condition");
        let flag = RawValue::new_sendable(0u32).expect("raw value");
        let ready = Event::new_sendable().expect("event");
        let mut p = Context::new(method).process(wait_for_flag, (cond.clone(), flag.clone(), ready.clone()));
        p.start().unwrap_or_else(|e| panic!("{method}: {e}"));
        assert!(ready.wait_timeout(BOUND), "{method}");
        {
            // The child holds the lock until it waits: taking it here means it is waiting.
            let held = cond.acquire_timeout(BOUND).expect("acquire");
            flag.set(1);
            held.notify(1);
        }
        reap(&p, 0, &method.to_string());
    }
}

/// One party of the barrier: reports its arrival index.
fn party(barrier: Barrier, indices: Queue<u32>) -> Result<(), String> {
    let index = barrier.wait_timeout(BOUND).map_err(|e| e.to_string())?;
    indices.put(index).map_err(|e| e.to_string())
}

#[test]
fn a_barrier_of_the_parent_and_two_children_opens() {
    bootstrap();
    for method in METHODS {
        let barrier = Barrier::new_sendable(3).expect("barrier");
        let indices: Queue<u32> = Queue::new_sendable().expect("queue");
        let mut children: Vec<Process> = (0..2)
            .map(|_| Context::new(method).process(party, (barrier.clone(), indices.clone())))
            .collect();
        for p in &mut children {
            p.start().unwrap_or_else(|e| panic!("{method}: {e}"));
        }
        let mine = barrier
            .wait_timeout(BOUND)
            .unwrap_or_else(|e| panic!("{method}: {e}"));
        let mut all = BTreeSet::from([mine]);
        for _ in 0..2 {
            all.insert(
                indices
                    .get_timeout(BOUND)
                    .unwrap_or_else(|e| panic!("{method}: {e}")),
            );
        }
        assert_eq!(all, BTreeSet::from([0, 1, 2]), "{method}");
        for p in &children {
            reap(p, 0, &method.to_string());
        }
    }
}

/// Adds one to the value and to two array elements, `n` times, each under its lock.
fn add(v: Value<u64>, a: Array<u64>, n: u64) -> Result<(), String> {
    check(a.len() == 3, "the array's length did not travel")?;
    for _ in 0..n {
        *v.lock().map_err(|e| e.to_string())? += 1;
        let mut items = a.lock().map_err(|e| e.to_string())?;
        items[0] += 1;
        items[2] += 2;
    }
    Ok(())
}

#[test]
fn a_value_and_an_array_incremented_by_two_children_end_exact() {
    bootstrap();
    for method in METHODS {
        let v = Value::new_sendable(0u64).expect("value");
        let a = Array::new_sendable(&[0u64, 5, 0]).expect("array");
        let mut children: Vec<Process> = (0..2)
            .map(|_| Context::new(method).process(add, (v.clone(), a.clone(), 2000u64)))
            .collect();
        for p in &mut children {
            p.start().unwrap_or_else(|e| panic!("{method}: {e}"));
        }
        for p in &children {
            reap(p, 0, &method.to_string());
        }
        assert_eq!(v.get(), 4000, "{method}");
        assert_eq!(a.to_vec(), [4000, 5, 8000], "{method}");
    }
}

/// Reads what the parent wrote in the raw objects and writes back.
fn raw_round_trip(v: RawValue<u64>, a: RawArray<u32>) -> Result<(), String> {
    check(
        v.get() == 5 && a.len() == 3 && a.get(2) == Some(9),
        "the parent's writes are not seen",
    )?;
    v.set(42);
    check(a.set(1, 7), "set")
}

#[test]
fn a_raw_value_and_a_raw_array_are_shared() {
    bootstrap();
    for method in METHODS {
        let v = RawValue::new_sendable(5u64).expect("raw value");
        let a: RawArray<u32> = RawArray::zeroed_sendable(3).expect("raw array");
        a.set(2, 9);
        let mut p = Context::new(method).process(raw_round_trip, (v.clone(), a.clone()));
        p.start().unwrap_or_else(|e| panic!("{method}: {e}"));
        reap(&p, 0, &method.to_string());
        assert_eq!((v.get(), a.get(0), a.get(1)), (42, Some(0), Some(7)), "{method}");
    }
}

/// Takes `n` items and acknowledges each.
fn consume_all(q: JoinableQueue<u32>, n: u32) -> Result<(), String> {
    for _ in 0..n {
        q.get_timeout(BOUND).map_err(|e| e.to_string())?;
        q.task_done().map_err(|e| e.to_string())?;
    }
    Ok(())
}

#[test]
fn a_joinable_queue_join_returns_when_the_child_has_done_every_task() {
    bootstrap();
    for method in METHODS {
        let q: JoinableQueue<u32> = JoinableQueue::new_sendable().expect("queue");
        let mut p = Context::new(method).process(consume_all, (q.clone(), 10u32));
        p.start().unwrap_or_else(|e| panic!("{method}: {e}"));
        for n in 0..10 {
            q.put(n).expect("put");
        }
        assert_eq!(q.join_timeout(BOUND), Ok(true), "{method}: join");
        assert_eq!(q.unfinished(), 0, "{method}");
        reap(&p, 0, &method.to_string());
    }
}

/// Takes the value's lock, says so, and holds it until killed.
fn hold_value(v: Value<u64>, held: Queue<u32>) {
    let mut guard = v.lock().expect("lock");
    *guard = 99;
    let _ = held.put(std::process::id());
    std::thread::sleep(Duration::from_secs(600));
}

/// `Value::lock` documents [`AcquireError::OwnerDied`] for a value whose holder died.
#[test]
fn a_sigkilled_child_holding_a_values_lock_is_reported_to_the_next_holder() {
    bootstrap();
    for method in METHODS {
        let v = Value::new_sendable(0u64).expect("value");
        let held: Queue<u32> = Queue::new_sendable().expect("queue");
        let mut p = Context::new(method).process(hold_value, (v.clone(), held.clone()));
        p.start().unwrap_or_else(|e| panic!("{method}: {e}"));
        assert_eq!(
            held.get_timeout(BOUND).ok(),
            p.pid(),
            "{method}: the child holds the lock"
        );
        assert!(
            matches!(v.get_lock().try_acquire(), Err(AcquireError::WouldBlock)),
            "{method}"
        );
        p.kill().expect("kill");
        reap(&p, -9, &method.to_string());
        let next = v.clone();
        let seen = bounded(&format!("{method}: lock after the death"), move || {
            match next.lock() {
                Err(AcquireError::OwnerDied(mut guard)) => {
                    let seen = *guard;
                    guard.mark_consistent();
                    Ok(seen)
                }
                other => Err(format!("expected OwnerDied, got {:?}", other.map(|_| ()))),
            }
        });
        assert_eq!(
            seen,
            Ok(99),
            "{method}: the dead holder's write is there to check"
        );
        assert_eq!(v.get(), 99, "{method}: the value works after the death");
    }
}

/// Takes the re-entrant lock twice, says so, and holds both levels until killed.
fn hold_rlock(lock: RLock, held: Queue<u32>) {
    let outer = lock.acquire().expect("acquire");
    let inner = lock.acquire().expect("acquire again: re-entrant");
    assert_eq!(lock.depth(), 2);
    let _ = held.put(std::process::id());
    std::thread::sleep(Duration::from_secs(600));
    drop((inner, outer));
}

#[test]
fn an_rlock_is_shared_and_a_sigkilled_holder_is_reported() {
    bootstrap();
    for method in METHODS {
        let lock = RLock::new_sendable().expect("rlock");
        let held: Queue<u32> = Queue::new_sendable().expect("queue");
        let mut p = Context::new(method).process(hold_rlock, (lock.clone(), held.clone()));
        p.start().unwrap_or_else(|e| panic!("{method}: {e}"));
        assert_eq!(
            held.get_timeout(BOUND).ok(),
            p.pid(),
            "{method}: the child holds the lock"
        );
        assert!(
            matches!(lock.try_acquire(), Err(AcquireError::WouldBlock)),
            "{method}: the child's hold is seen here (the same lock, not a copy)"
        );
        p.kill().expect("kill");
        reap(&p, -9, &method.to_string());
        let next = lock.clone();
        let outcome = bounded(&format!("{method}: acquire after the death"), move || match next
            .acquire_timeout(BOUND)
        {
            Err(AcquireError::OwnerDied(mut guard)) => {
                guard.mark_consistent();
                Ok(next.depth())
            }
            other => Err(format!("expected OwnerDied, got {:?}", other.map(|_| ()))),
        });
        assert_eq!(
            outcome,
            Ok(1),
            "{method}: the next holder learns of the death and holds one level, not the dead one's two"
        );
        assert!(
            lock.try_acquire().is_ok(),
            "{method}: the lock works after the death"
        );
    }
}

/// Takes the condition's lock, says so, and holds it until killed.
fn hold_condition(cond: Condition, held: Queue<u32>) {
    let _guard = cond.acquire().expect("acquire");
    let _ = held.put(std::process::id());
    std::thread::sleep(Duration::from_secs(600));
}

#[test]
fn a_sigkilled_child_holding_a_conditions_lock_is_reported() {
    bootstrap();
    for method in METHODS {
        let cond = Condition::new_sendable().expect("condition");
        let held: Queue<u32> = Queue::new_sendable().expect("queue");
        let mut p = Context::new(method).process(hold_condition, (cond.clone(), held.clone()));
        p.start().unwrap_or_else(|e| panic!("{method}: {e}"));
        assert_eq!(held.get_timeout(BOUND).ok(), p.pid(), "{method}");
        p.kill().expect("kill");
        reap(&p, -9, &method.to_string());
        match cond.acquire_timeout(BOUND) {
            Err(AcquireError::OwnerDied(mut guard)) => guard.mark_consistent(),
            other => panic!("{method}: expected OwnerDied, got {:?}", other.map(|_| ())),
        }
        let _again = cond
            .acquire_timeout(BOUND)
            .expect("the condition works after the death");
    }
}

/// Takes one item, says so, and is killed before `task_done`.
fn take_one_and_stall(q: JoinableQueue<u32>, took: Queue<u32>) {
    if q.get_timeout(BOUND).is_ok() {
        let _ = took.put(std::process::id());
    }
    std::thread::sleep(Duration::from_secs(600));
}

#[test]
fn a_sigkilled_spawned_consumer_with_a_task_is_reported_by_join() {
    bootstrap();
    for method in METHODS {
        let q: JoinableQueue<u32> = JoinableQueue::new_sendable().expect("queue");
        let took: Queue<u32> = Queue::new_sendable().expect("queue");
        let mut p = Context::new(method).process(take_one_and_stall, (q.clone(), took.clone()));
        p.start().unwrap_or_else(|e| panic!("{method}: {e}"));
        q.put(1).expect("put");
        let pid = took
            .get_timeout(BOUND)
            .unwrap_or_else(|e| panic!("{method}: {e}"));
        assert_eq!(Some(pid), p.pid(), "{method}");
        p.kill().expect("kill");
        reap(&p, -9, &method.to_string());
        assert_eq!(
            q.join_timeout(BOUND),
            Err(JoinError::ConsumerDied {
                pid,
                unacknowledged: 1
            }),
            "{method}"
        );
        assert_eq!(q.abandon_dead().len(), 1, "{method}");
        assert_eq!(q.join_timeout(BOUND), Ok(true), "{method}");
    }
}

/// Starts a child of `method` with `arg` and returns the refusal's text.
fn refusal<A>(method: StartMethod, arg: A) -> String
where
    A: serde::Serialize + serde::de::DeserializeOwned + Send + 'static,
{
    let mut p = Context::new(method).process(|_a: A| {}, (arg,));
    match p.start() {
        Ok(()) => {
            let _ = p.kill();
            let _ = p.join_timeout(BOUND);
            panic!("{method}: a fork-only object was accepted");
        }
        Err(e) => e.to_string(),
    }
}

#[test]
fn ordinary_primitives_are_refused_with_pythons_reason() {
    bootstrap();
    const REASON: &str = "objects should only be shared between processes through inheritance";
    for method in METHODS {
        let refused = [
            ("Lock", refusal(method, RawLock::new().expect("raw lock"))),
            ("RLock", refusal(method, RLock::new().expect("rlock"))),
            ("Event", refusal(method, Event::new().expect("event"))),
            (
                "Semaphore",
                refusal(method, Semaphore::new(1).expect("semaphore")),
            ),
            (
                "Semaphore",
                refusal(method, Semaphore::bounded(1).expect("semaphore")),
            ),
            ("Condition", refusal(method, Condition::new().expect("condition"))),
            ("Barrier", refusal(method, Barrier::new(2).expect("barrier"))),
            ("Synchronized", refusal(method, Value::new(0u8).expect("value"))),
            (
                "SynchronizedArray",
                refusal(method, Array::<u8>::zeroed(2).expect("array")),
            ),
            (
                "RawValue",
                refusal(method, RawValue::new(0u8).expect("raw value")),
            ),
            (
                "RawArray",
                refusal(method, RawArray::<u8>::zeroed(2).expect("raw array")),
            ),
            (
                "JoinableQueue",
                refusal(method, JoinableQueue::<u8>::new().expect("queue")),
            ),
        ];
        for (python, e) in refused {
            assert!(e.contains(&format!("{python} {REASON}")), "{method}: {e}");
            assert!(e.contains("new_sendable"), "{method}: {e}");
        }
        let e = refusal(method, Value::new(0u8).expect("value"));
        assert!(e.contains(forkway_sync::INHERITANCE_ONLY), "{method}: {e}");
    }
}

/// Touches every object it was given, so that each really was mapped in the child.
fn touch_all(q: JoinableQueue<u8>, v: Value<u64>, e: Event, c: Condition) -> Result<(), String> {
    *v.lock().map_err(|e| e.to_string())? += 1;
    e.set();
    drop(c.acquire().map_err(|e| e.to_string())?);
    q.put(1).map_err(|e| e.to_string())
}

/// In a forked child of its own: passing sendable objects to children of every method leaves
/// no descriptor behind in the parent.
#[test]
fn passing_sendable_primitives_leaks_no_descriptor() {
    let mut p = forkway_process::Process::fallible(|| -> Result<(), String> {
        bootstrap();
        forkway_start::forkserver::ensure_running().map_err(|e| e.to_string())?;
        let q: JoinableQueue<u8> = JoinableQueue::new_sendable().map_err(|e| e.to_string())?;
        let v = Value::new_sendable(0u64).map_err(|e| e.to_string())?;
        let e = Event::new_sendable().map_err(|e| e.to_string())?;
        let c = Condition::new_sendable().map_err(|e| e.to_string())?;
        let round = || -> Result<(), String> {
            for method in [StartMethod::Fork, StartMethod::Forkserver, StartMethod::Spawn] {
                let args = (q.clone(), v.clone(), e.clone(), c.clone());
                let mut p = Context::new(method).process(touch_all, args);
                p.start().map_err(|e| e.to_string())?;
                if !p.join_timeout(BOUND).map_err(|e| e.to_string())? || p.exitcode() != Some(0) {
                    return Err(format!("{method}: exit code {:?}", p.exitcode()));
                }
                q.get_timeout(BOUND).map_err(|e| e.to_string())?;
                q.task_done().map_err(|e| e.to_string())?;
            }
            Ok(())
        };
        round()?;
        let before = std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count());
        for _ in 0..5 {
            round()?;
        }
        let after = std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count());
        if before != after {
            return Err(format!("{before} descriptors before, {after} after"));
        }
        if v.get() != 18 || !e.is_set() {
            return Err(format!("the children's writes: {} increments", v.get()));
        }
        Ok(())
    });
    p.start().expect("start");
    assert_eq!(
        p.join_timeout(BOUND).ok(),
        Some(true),
        "the checking child did not end"
    );
    assert_eq!(p.exitcode(), Some(0));
}
