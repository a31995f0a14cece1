//! Locks, semaphores, events and shared values across real processes: CPython's cases
//! (`_TestLock`, `_TestSemaphore`, `_TestEvent`, `_TestValue`, `_TestArray`), the lost update,
//! and the holder that dies — where Python deadlocks and forkway reports.

use forkway_testkit as support;

use std::time::{Duration, Instant};

use forkway_process::{Process, Signal};
use forkway_sync::{
    AcquireError, Array, Event, Lock, Owner, RLock, RawValue, ReleaseError, Semaphore, Value,
};
use support::*;

fn start(p: &mut Process) -> u32 {
    p.start().expect("start");
    p.pid().expect("pid")
}

/// Runs `body` in a child and returns its exit code (the body's assertions decide it).
fn in_child(body: impl FnOnce() + Send + 'static) -> i32 {
    let mut p = Process::new(body);
    start(&mut p);
    join_bounded(&p)
}

#[test]
fn test_lock() {
    // _TestLock.test_lock: acquire, a second acquire fails, release, a second release fails.
    let lock = Lock::new().expect("lock");
    let held = lock.acquire().expect("acquire");
    assert!(lock.locked());
    assert_eq!(lock.owner(), Some(Owner::me()));
    let other = lock.clone();
    // From another process, acquire(False) is False (WouldBlock) and a timed one times out.
    assert_eq!(
        in_child(move || {
            assert!(matches!(other.try_acquire(), Err(AcquireError::WouldBlock)));
            let began = Instant::now();
            assert!(matches!(
                other.acquire_timeout(Duration::from_millis(100)),
                Err(AcquireError::Timeout)
            ));
            assert!(began.elapsed() >= Duration::from_millis(100));
            assert_eq!(other.release(), Err(ReleaseError::NotOwner));
        }),
        0
    );
    drop(held);
    assert!(!lock.locked());
    assert_eq!(
        lock.release(),
        Err(ReleaseError::NotHeld),
        "released too many times"
    );
    assert_eq!(
        ReleaseError::NotHeld.to_string(),
        "semaphore or lock released too many times"
    );
}

#[test]
fn acquiring_a_held_lock_again_in_the_same_thread_is_reported() {
    // Python's Lock deadlocks here (or returns False after a timeout).
    let lock = Lock::new().expect("lock");
    let _held = lock.acquire().expect("acquire");
    assert!(matches!(lock.acquire(), Err(AcquireError::Deadlock)));
}

#[test]
fn explicit_acquire_release_style() {
    let lock = Lock::new().expect("lock");
    lock.acquire().expect("acquire").leak();
    assert!(lock.locked());
    lock.release().expect("release");
    assert!(!lock.locked());
}

#[test]
fn test_rlock() {
    // _TestLock.test_rlock: three nested acquires and releases, then one too many.
    let rlock = RLock::new().expect("rlock");
    for _ in 0..3 {
        rlock.acquire().expect("acquire").leak();
    }
    assert_eq!(rlock.depth(), 3);
    for _ in 0..3 {
        rlock.release().expect("release");
    }
    assert_eq!(rlock.depth(), 0);
    assert_eq!(rlock.release(), Err(ReleaseError::NotHeld));
    // Another process may neither take it nor release it while we hold it.
    let _g = rlock.acquire().expect("acquire");
    let other = rlock.clone();
    assert_eq!(
        in_child(move || {
            assert!(matches!(other.try_acquire(), Err(AcquireError::WouldBlock)));
            assert_eq!(other.release(), Err(ReleaseError::NotOwner));
        }),
        0
    );
}

#[test]
fn lock_held_in_a_child_is_locked_in_the_parent() {
    // _TestLock.test_lock_locked_2processes.
    let lock = Lock::new().expect("lock");
    let (mut ready_r, mut ready_w) = pipe();
    let (release_r, release) = release_pipe();
    let child_lock = lock.clone();
    let mut child = Process::new(move || {
        let _g = child_lock.acquire().expect("acquire");
        send_line(&mut ready_w, "held");
        let mut release_r = release_r;
        wait_for_release(&mut release_r);
    });
    let pid = start(&mut child);
    assert_eq!(read_line(&mut ready_r), "held");
    assert!(lock.locked());
    assert_eq!(lock.owner().map(|o| o.pid), Some(pid));
    release.release();
    assert_eq!(join_bounded(&child), 0);
    assert!(!lock.locked());
}

#[test]
fn owner_names_the_holding_thread_and_its_process() {
    // The holder is read from the mutex word, which has only the thread id: the pid must be
    // that thread's process's, also for a thread that is not its process's main thread.
    let lock = Lock::new().expect("lock");
    let (mut ready_r, mut ready_w) = pipe();
    let (release_r, release) = release_pipe();
    let child_lock = lock.clone();
    let mut child = Process::new(move || {
        std::thread::scope(|s| {
            s.spawn(|| {
                let _g = child_lock.acquire().expect("acquire");
                send_line(&mut ready_w, &forkway_sys::pid_tid().1.to_string());
                let mut release_r = release_r;
                wait_for_release(&mut release_r);
            });
        });
    });
    let pid = start(&mut child);
    let tid: u32 = read_line(&mut ready_r).parse().expect("a thread id");
    assert_ne!(tid, pid, "held by a thread other than the child's main thread");
    assert_eq!(lock.owner(), Some(Owner { pid, tid }));
    assert_eq!(lock.release(), Err(ReleaseError::NotOwner));
    release.release();
    assert_eq!(join_bounded(&child), 0);
    assert_eq!(lock.owner(), None);
    assert_eq!(lock.release(), Err(ReleaseError::NotHeld));

    // A thread of this process: its tid, our pid.
    std::thread::scope(|s| {
        s.spawn(|| {
            let _g = lock.acquire().expect("acquire");
            let tid = forkway_sys::pid_tid().1;
            std::thread::scope(|s| {
                s.spawn(|| {
                    assert_eq!(
                        lock.owner(),
                        Some(Owner {
                            pid: std::process::id(),
                            tid
                        })
                    );
                    assert_eq!(lock.release(), Err(ReleaseError::NotOwner));
                });
            });
        });
    });
    // A holder that ended holding it is nobody now, but the lock stays locked until taken over.
    // (Joined, not just scoped: a join returns after the kernel walked the thread's robust list.)
    std::thread::scope(|s| {
        s.spawn(|| lock.acquire().expect("acquire").leak())
            .join()
            .expect("thread");
    });
    assert!(lock.locked());
    assert_eq!(lock.owner(), None);
    assert_eq!(lock.release(), Err(ReleaseError::NotOwner));
    match lock.acquire_timeout(Duration::from_secs(10)) {
        Err(AcquireError::OwnerDied(mut g)) => g.mark_consistent(),
        other => panic!("expected OwnerDied, got {other:?}"),
    }
    assert!(!lock.locked());
}

#[test]
fn test_semaphore_and_bounded() {
    // _TestSemaphore.test_semaphore / test_bounded_semaphore.
    let sem = Semaphore::new(2).expect("semaphore");
    assert_eq!(sem.value(), 2);
    sem.acquire();
    assert_eq!(sem.value(), 1);
    sem.acquire();
    assert!(!sem.try_acquire());
    for expected in 1..=4 {
        sem.release().expect("release");
        assert_eq!(sem.value(), expected, "a plain semaphore may go past its start");
    }
    let bounded = Semaphore::bounded(2).expect("bounded");
    bounded.acquire();
    bounded.release().expect("back to 2");
    assert_eq!(bounded.release(), Err(ReleaseError::NotHeld));
    assert!(Semaphore::bounded(0).is_err());
}

#[test]
fn semaphore_timeouts() {
    // _TestSemaphore.test_timeout.
    let sem = Semaphore::new(0).expect("semaphore");
    assert!(!sem.try_acquire());
    assert!(!sem.acquire_timeout(Duration::ZERO));
    let began = Instant::now();
    assert!(!sem.acquire_timeout(Duration::from_millis(100)));
    assert!(began.elapsed() >= Duration::from_millis(100));
}

#[test]
fn semaphore_released_by_another_process_wakes_the_waiter() {
    let sem = Semaphore::new(0).expect("semaphore");
    let other = sem.clone();
    let mut child = Process::new(move || other.release().expect("release"));
    start(&mut child);
    assert!(sem.acquire_timeout(BOUND), "the child's release wakes us");
    assert_eq!(join_bounded(&child), 0);
}

#[test]
fn test_event() {
    // _TestEvent.test_event.
    let event = Event::new().expect("event");
    assert!(!event.is_set());
    assert!(!event.wait_timeout(Duration::ZERO));
    let began = Instant::now();
    assert!(!event.wait_timeout(Duration::from_millis(100)));
    assert!(began.elapsed() >= Duration::from_millis(100));
    event.set();
    assert!(event.is_set() && event.wait_timeout(Duration::ZERO));
    event.wait();
    event.clear();
    assert!(!event.is_set());
    let other = event.clone();
    let mut child = Process::new(move || other.set());
    start(&mut child);
    assert!(event.wait_timeout(BOUND), "the child's set wakes wait()");
    assert_eq!(join_bounded(&child), 0);
}

#[test]
fn test_value_and_array_across_processes() {
    // _TestValue.test_value, _TestArray.test_array: a child writes, the parent sees.
    let v = Value::new(1234i64).expect("value");
    let d = Value::new(0.5f64).expect("value");
    let a = Array::from_slice(&[1i32, 2, 3, 4, 5]).expect("array");
    let (v2, d2, a2) = (v.clone(), d.clone(), a.clone());
    assert_eq!(
        in_child(move || {
            v2.set(-7);
            d2.set(2.25);
            let mut items = a2.lock().expect("lock");
            for i in 1..items.len() {
                items[i] += items[i - 1];
            }
        }),
        0
    );
    assert_eq!((v.get(), d.get()), (-7, 2.25));
    assert_eq!(a.to_vec(), [1, 3, 6, 10, 15]);
    assert_eq!(a.get(5), None, "past the end");
    assert!(!a.set(5, 0));
}

#[test]
fn test_array_from_size_is_zeroed() {
    for _ in 0..3 {
        assert_eq!(Array::<i32>::zeroed(10).expect("array").to_vec(), [0; 10]);
    }
}

#[test]
fn get_lock_guards_the_same_value() {
    let v = Value::new(0u32).expect("value");
    let lock = v.get_lock();
    let held = lock.acquire().expect("acquire");
    let other = v.clone();
    assert_eq!(
        in_child(move || assert!(matches!(
            other.get_lock().try_acquire(),
            Err(AcquireError::WouldBlock)
        ))),
        0
    );
    drop(held);
}

#[test]
fn plus_equals_without_the_lock_loses_an_update_deterministically() {
    // The lesson's race, made certain with handshakes: A reads, B reads-modifies-writes, A
    // writes what it computed from its stale read. Two increments, one survives. Python's
    // `v.value += 1` is the same read-then-write.
    let v = Value::new(0u32).expect("value");
    let (mut a_read_r, mut a_read_w) = pipe();
    let (mut b_done_r, mut b_done_w) = pipe();
    let va = v.clone();
    let mut a = Process::new(move || {
        let seen = va.get(); // read…
        send_line(&mut a_read_w, "read");
        assert_eq!(read_line(&mut b_done_r), "done");
        va.set(seen + 1); // …write, from a value that is no longer current
    });
    let vb = v.clone();
    let mut b = Process::new(move || {
        assert_eq!(read_line(&mut a_read_r), "read");
        vb.set(vb.get() + 1);
        send_line(&mut b_done_w, "done");
    });
    start(&mut a);
    start(&mut b);
    assert_eq!((join_bounded(&a), join_bounded(&b)), (0, 0));
    assert_eq!(v.get(), 1, "two increments, one lost");
}

#[test]
fn plus_equals_under_the_lock_loses_nothing() {
    let v = Value::new(0u64).expect("value");
    let mut workers: Vec<Process> = (0..4)
        .map(|_| {
            let v = v.clone();
            Process::new(move || {
                for _ in 0..5000 {
                    *v.lock().expect("lock") += 1;
                }
            })
        })
        .collect();
    workers.iter_mut().for_each(|w| {
        start(w);
    });
    for w in &workers {
        assert_eq!(join_bounded(w), 0);
    }
    assert_eq!(v.get(), 20_000);
}

/// A child that takes `lock`, says so, and waits to be killed.
fn holder(lock: &Lock) -> (Process, u32) {
    let (mut ready_r, mut ready_w) = pipe();
    let lock = lock.clone();
    let mut child = Process::new(move || {
        let _g = lock.acquire().expect("acquire");
        send_line(&mut ready_w, "held");
        idle_until_killed();
    });
    let pid = start(&mut child);
    assert_eq!(read_line(&mut ready_r), "held");
    (child, pid)
}

#[test]
fn a_killed_holder_hands_the_next_acquirer_owner_died() {
    // The reference's §5.7: Python's next acquire deadlocks forever.
    let lock = Lock::new().expect("lock");
    let (child, pid) = holder(&lock);
    assert_eq!(lock.owner().map(|o| o.pid), Some(pid));
    child.signal(Signal::SIGKILL).expect("kill");
    assert_eq!(join_bounded(&child), -9);
    let mut guard = match lock.acquire_timeout(BOUND) {
        Err(AcquireError::OwnerDied(g)) => g,
        other => panic!("expected OwnerDied, got {other:?}"),
    };
    assert_eq!(lock.owner(), Some(Owner::me()), "we hold it now");
    guard.mark_consistent();
    drop(guard);
    let _again = lock
        .acquire_timeout(BOUND)
        .expect("usable again after mark_consistent");
}

#[test]
fn not_marking_consistent_makes_the_lock_unrecoverable() {
    let lock = Lock::new().expect("lock");
    let (child, _) = holder(&lock);
    child.signal(Signal::SIGKILL).expect("kill");
    join_bounded(&child);
    let guard = lock
        .acquire()
        .expect_err("owner died")
        .into_guard()
        .expect("held");
    drop(guard); // nobody vouched for the data
    assert!(matches!(
        lock.acquire_timeout(BOUND),
        Err(AcquireError::NotRecoverable)
    ));
    let other = lock.clone();
    assert_eq!(
        in_child(move || assert!(matches!(other.acquire(), Err(AcquireError::NotRecoverable)))),
        0
    );
}

#[test]
fn try_acquire_of_an_unrecoverable_lock_does_not_leave_it_held() {
    // glibc's pthread_mutex_trylock answers ENOTRECOVERABLE with the mutex locked by the
    // caller: a process that later waits for it would wait for ever.
    let lock = Lock::new().expect("lock");
    let (child, _) = holder(&lock);
    child.signal(Signal::SIGKILL).expect("kill");
    join_bounded(&child);
    drop(
        lock.acquire()
            .expect_err("owner died")
            .into_guard()
            .expect("held"),
    );
    assert!(matches!(lock.try_acquire(), Err(AcquireError::NotRecoverable)));
    let other = lock.clone();
    assert_eq!(
        in_child(move || assert!(matches!(other.acquire(), Err(AcquireError::NotRecoverable)))),
        0
    );
}

#[test]
fn a_holder_that_exits_without_releasing_is_detected_too() {
    // The reference's exact scenario: acquire, then os._exit(0).
    let lock = Lock::new().expect("lock");
    let child_lock = lock.clone();
    let code = in_child(move || {
        child_lock.acquire().expect("acquire").leak();
    });
    assert_eq!(code, 0);
    assert!(matches!(
        lock.acquire_timeout(BOUND),
        Err(AcquireError::OwnerDied(_))
    ));
}

#[test]
fn a_waiter_blocked_on_a_killed_holder_wakes_with_owner_died() {
    let lock = Lock::new().expect("lock");
    let (holder_proc, _) = holder(&lock);
    let (mut said_r, mut said_w) = pipe();
    let waiter_lock = lock.clone();
    let mut waiter = Process::new(move || {
        let verdict = match waiter_lock.acquire() {
            Err(AcquireError::OwnerDied(mut g)) => {
                g.mark_consistent();
                "owner died"
            }
            Ok(_) => "clean",
            Err(_) => "error",
        };
        send_line(&mut said_w, verdict);
    });
    let waiter_pid = start(&mut waiter);
    // The waiter is inside acquire (asleep in the kernel) before the holder dies.
    let deadline = Instant::now() + BOUND;
    while !std::fs::read_to_string(format!("/proc/{waiter_pid}/wchan"))
        .unwrap_or_default()
        .contains("futex")
    {
        assert!(Instant::now() < deadline, "the waiter never blocked");
        std::thread::sleep(Duration::from_millis(1));
    }
    holder_proc.signal(Signal::SIGKILL).expect("kill");
    assert_eq!(read_line(&mut said_r), "owner died");
    assert_eq!(join_bounded(&waiter), 0);
    assert_eq!(join_bounded(&holder_proc), -9);
    let _g = lock
        .acquire_timeout(BOUND)
        .expect("the waiter made it consistent");
}

#[test]
fn a_killed_rlock_holder_is_detected() {
    let rlock = RLock::new().expect("rlock");
    let (mut ready_r, mut ready_w) = pipe();
    let child_rlock = rlock.clone();
    let mut child = Process::new(move || {
        let _a = child_rlock.acquire().expect("acquire");
        let _b = child_rlock.acquire().expect("again");
        send_line(&mut ready_w, "held");
        idle_until_killed();
    });
    start(&mut child);
    assert_eq!(read_line(&mut ready_r), "held");
    child.signal(Signal::SIGKILL).expect("kill");
    join_bounded(&child);
    let mut g = rlock
        .acquire_timeout(BOUND)
        .expect_err("owner died")
        .into_guard()
        .expect("held");
    g.mark_consistent();
    assert_eq!(rlock.depth(), 1, "our depth, not the dead holder's");
}

#[test]
fn a_value_whose_holder_died_is_still_readable() {
    let v = Value::new(41u32).expect("value");
    let (child, _) = holder(&v.get_lock());
    child.signal(Signal::SIGKILL).expect("kill");
    join_bounded(&child);
    assert_eq!(
        v.get(),
        41,
        "get() repairs what it can: a Shareable is always readable"
    );
    *v.lock().expect("consistent again") += 1;
    assert_eq!(v.get(), 42);
}

#[test]
fn raw_value_is_shared_without_a_lock() {
    let r = RawValue::new(5u64).expect("raw value");
    let r2 = r.clone();
    assert_eq!(in_child(move || r2.set(r2.get() * 3)), 0);
    assert_eq!(r.get(), 15);
}

#[test]
fn condition_notify_one_then_all() {
    // _TestCondition.test_notify / test_notify_all: notify(1) wakes exactly one sleeper.
    let cond = forkway_sync::Condition::new().expect("condition");
    let woken = Value::new(0u32).expect("value");
    let mut sleepers: Vec<Process> = (0..3)
        .map(|_| {
            let (cond, woken) = (cond.clone(), woken.clone());
            Process::new(move || {
                let mut g = cond.acquire().expect("acquire");
                g.wait().expect("wait");
                *woken.lock().expect("lock") += 1;
            })
        })
        .collect();
    let pids: Vec<u32> = sleepers.iter_mut().map(start).collect();
    pids.iter().for_each(|&p| wait_asleep(p));
    cond.acquire().expect("acquire").notify(1);
    // One sleeper finishes; the other two cannot without another notify.
    let deadline = Instant::now() + BOUND;
    while sleepers.iter().all(Process::is_alive) {
        assert!(Instant::now() < deadline, "notify(1) woke nobody");
        std::thread::sleep(Duration::from_millis(1));
    }
    assert_eq!(woken.get(), 1);
    assert_eq!(
        sleepers.iter().filter(|p| p.is_alive()).count(),
        2,
        "exactly one woke"
    );
    cond.acquire().expect("acquire").notify_all();
    for s in &sleepers {
        assert_eq!(join_bounded(s), 0);
    }
    assert_eq!(woken.get(), 3);
}

#[test]
fn condition_timeouts_and_wait_for() {
    // _TestCondition.test_timeout / test_waitfor / test_waitfor_timeout.
    let cond = forkway_sync::Condition::new().expect("condition");
    {
        let mut g = cond.acquire().expect("acquire");
        let began = Instant::now();
        assert!(!g.wait_timeout(Duration::from_millis(100)).expect("wait"));
        assert!(began.elapsed() >= Duration::from_millis(100));
        assert!(!g
            .wait_for(|| false, Some(Duration::from_millis(50)))
            .expect("wait_for"));
    }
    let state = Value::new(0u32).expect("value");
    let (c2, s2) = (cond.clone(), state.clone());
    let mut child = Process::new(move || {
        for _ in 0..5 {
            let g = c2.acquire().expect("acquire");
            *s2.lock().expect("lock") += 1;
            g.notify_all();
        }
    });
    start(&mut child);
    let mut g = cond.acquire().expect("acquire");
    assert!(g.wait_for(|| state.get() == 5, Some(BOUND)).expect("wait_for"));
    drop(g);
    assert_eq!(join_bounded(&child), 0);
}

#[test]
fn barrier_keeps_processes_in_lockstep_with_unique_indexes() {
    // _TestBarrier.test_barrier / test_wait_return / test_thousand (50 rounds × 4 parties).
    let barrier = forkway_sync::Barrier::new(4).expect("barrier");
    let log: forkway_ipc::Queue<(u32, u32)> = forkway_ipc::Queue::new().expect("queue");
    let mut parties: Vec<Process> = (0..4)
        .map(|_| {
            let (barrier, log) = (barrier.clone(), log.clone());
            Process::new(move || {
                for round in 0..50 {
                    let index = barrier.wait_timeout(BOUND).expect("wait");
                    log.put((round, index)).expect("put");
                }
            })
        })
        .collect();
    parties.iter_mut().for_each(|p| {
        start(p);
    });
    for round in 0..50 {
        let mut indexes: Vec<u32> = (0..4)
            .map(|_| {
                let (r, i) = log.get_timeout(BOUND).expect("get");
                assert_eq!(r, round, "a party ran ahead of the barrier");
                i
            })
            .collect();
        indexes.sort_unstable();
        assert_eq!(indexes, [0, 1, 2, 3]);
    }
    for p in &parties {
        assert_eq!(join_bounded(p), 0);
    }
    assert_eq!((barrier.n_waiting(), barrier.broken()), (0, false));
}

#[test]
fn barrier_abort_reset_and_timeout() {
    // _TestBarrier.test_abort / test_reset / test_timeout / test_single_thread.
    use forkway_sync::{Barrier, BarrierError};
    let barrier = Barrier::new(3).expect("barrier");
    let waiter = |b: &Barrier| {
        let b = b.clone();
        Process::fallible(move || match b.wait() {
            Err(BarrierError::Broken) => Ok(()),
            other => Err(format!("expected Broken, got {other:?}")),
        })
    };
    let mut two: Vec<Process> = (0..2).map(|_| waiter(&barrier)).collect();
    let pids: Vec<u32> = two.iter_mut().map(start).collect();
    pids.iter().for_each(|&p| wait_asleep(p));
    assert_eq!(barrier.n_waiting(), 2);
    barrier.abort();
    for p in &two {
        assert_eq!(join_bounded(p), 0, "aborted waiters get Broken");
    }
    assert!(barrier.broken());
    assert_eq!(barrier.wait(), Err(BarrierError::Broken));
    barrier.reset();
    assert!(!barrier.broken());
    // reset while two wait: they get Broken, and the barrier stays usable.
    let mut two: Vec<Process> = (0..2).map(|_| waiter(&barrier)).collect();
    let pids: Vec<u32> = two.iter_mut().map(start).collect();
    pids.iter().for_each(|&p| wait_asleep(p));
    barrier.reset();
    for p in &two {
        assert_eq!(join_bounded(p), 0, "reset waiters get Broken");
    }
    let b2 = barrier.clone();
    let mut others: Vec<Process> = (0..2)
        .map(|_| {
            let b = b2.clone();
            Process::new(move || {
                b.wait_timeout(BOUND).expect("passes after reset");
            })
        })
        .collect();
    others.iter_mut().for_each(|p| {
        start(p);
    });
    barrier.wait_timeout(BOUND).expect("passes after reset");
    for p in &others {
        assert_eq!(join_bounded(p), 0);
    }
    // A lone party with a timeout: Timeout for it, Broken for the barrier.
    let began = Instant::now();
    assert_eq!(
        barrier.wait_timeout(Duration::from_millis(100)),
        Err(BarrierError::Timeout)
    );
    assert!(began.elapsed() >= Duration::from_millis(100));
    assert!(barrier.broken());
    let single = Barrier::new(1).expect("barrier");
    assert_eq!((single.wait(), single.wait()), (Ok(0), Ok(0)));
    assert!(Barrier::new(0).is_err());
}

#[test]
fn a_killed_condition_holder_is_detected() {
    let cond = forkway_sync::Condition::new().expect("condition");
    let (mut ready_r, mut ready_w) = pipe();
    let child_cond = cond.clone();
    let mut child = Process::new(move || {
        let _g = child_cond.acquire().expect("acquire");
        send_line(&mut ready_w, "held");
        idle_until_killed();
    });
    start(&mut child);
    assert_eq!(read_line(&mut ready_r), "held");
    child.signal(Signal::SIGKILL).expect("kill");
    assert_eq!(join_bounded(&child), -9);
    let mut g = cond
        .acquire_timeout(BOUND)
        .expect_err("owner died")
        .into_guard()
        .expect("held");
    g.mark_consistent();
    assert!(!g
        .wait_timeout(Duration::from_millis(10))
        .expect("the condition still works"));
}

#[test]
fn test_repr_lock_rlock_semaphore() {
    // _TestLock.test_repr_lock / test_repr_rlock (3.14), _TestSemaphore's reprs: the owner as
    // Python names it, from this thread, another thread and another process.
    let lock = Lock::new().expect("lock");
    assert_eq!(lock.to_string(), "<Lock(owner=None)>");
    {
        let _g = lock.acquire().expect("acquire");
        assert_eq!(
            lock.to_string(),
            "<Lock(owner=MainProcess|test_repr_lock_rlock_semaphore)>"
        );
        let l2 = lock.clone();
        let seen = std::thread::spawn(move || l2.to_string()).join().expect("thread");
        assert_eq!(seen, "<Lock(owner=SomeOtherThread)>");
    }
    let rlock = RLock::new().expect("rlock");
    assert_eq!(rlock.to_string(), "<RLock(None, 0)>");
    let (mut ready_r, mut ready_w) = pipe();
    let (release_r, release) = release_pipe();
    let child_rlock = rlock.clone();
    let mut child = Process::new(move || {
        let _a = child_rlock.acquire().expect("acquire");
        let _b = child_rlock.acquire().expect("again");
        send_line(&mut ready_w, "held");
        let mut release_r = release_r;
        wait_for_release(&mut release_r);
    });
    start(&mut child);
    assert_eq!(read_line(&mut ready_r), "held");
    assert_eq!(rlock.to_string(), "<RLock(SomeOtherProcess, nonzero)>");
    release.release();
    assert_eq!(join_bounded(&child), 0);
    assert_eq!(
        Semaphore::new(2).expect("sem").to_string(),
        "<Semaphore(value=2)>"
    );
    assert_eq!(
        Semaphore::bounded(1).expect("sem").to_string(),
        "<BoundedSemaphore(value=1, maxvalue=1)>"
    );
}
