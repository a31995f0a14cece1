//! `JoinableQueue` across real processes: CPython's cases (`_TestQueue.test_task_done` and the
//! reference's extras), the killed consumer Python hangs on, and a property: `join` returns
//! exactly when every item was acknowledged — never before, and never hangs after.

use forkway_testkit as support;

use std::time::Duration;

use forkway_joinable::{DeadConsumer, JoinError, JoinableQueue, TaskDoneError};
use forkway_process::{Process, Signal};
use forkway_sync::Value;
use proptest::prelude::*;
use support::*;

#[test]
fn test_task_done() {
    // _TestQueue.test_task_done: 4 workers; join returns after the 10 items; None stops them.
    let q: JoinableQueue<Option<u32>> = JoinableQueue::new().expect("queue");
    let done = Value::new(0u32).expect("value");
    let mut workers: Vec<Process> = (0..4)
        .map(|_| {
            let (q, done) = (q.clone(), done.clone());
            Process::new(move || {
                while let Ok(Some(_)) = q.get() {
                    *done.lock().expect("lock") += 1;
                    q.task_done().expect("task_done");
                }
                q.task_done().expect("task_done for the None");
            })
        })
        .collect();
    for w in &mut workers {
        w.start().expect("start");
    }
    for i in 0..10 {
        q.put(Some(i)).expect("put");
    }
    assert_eq!(q.join_timeout(BOUND), Ok(true), "join");
    assert_eq!(done.get(), 10, "join returned before every item was processed");
    for _ in &workers {
        q.put(None).expect("stop");
    }
    for w in &workers {
        assert_eq!(join_bounded(w), 0);
    }
    assert_eq!(q.join_timeout(BOUND), Ok(true), "the stops were acknowledged too");
}

#[test]
fn task_done_too_many_times_is_an_error() {
    let q: JoinableQueue<u8> = JoinableQueue::new().expect("queue");
    assert_eq!(q.task_done(), Err(TaskDoneError));
    assert_eq!(TaskDoneError.to_string(), "task_done() called too many times");
    q.put(1).expect("put");
    q.get().expect("get");
    q.task_done().expect("one");
    assert_eq!(
        q.task_done(),
        Err(TaskDoneError),
        "the count never goes below zero"
    );
    assert_eq!(q.unfinished(), 0);
}

#[test]
fn join_on_a_fresh_queue_returns_at_once() {
    let q: JoinableQueue<u8> = JoinableQueue::new().expect("queue");
    assert_eq!(q.join_timeout(Duration::ZERO), Ok(true), "nothing to wait for");
    q.join().expect("join");
}

#[test]
fn join_waits_for_the_last_task_done() {
    // The reference's extra: 3 puts, 3 gets, 2 task_done: join still waits for the third.
    let q: JoinableQueue<u8> = JoinableQueue::new().expect("queue");
    (0..3).for_each(|i| q.put(i).expect("put"));
    (0..3).for_each(|_| {
        q.get().expect("get");
    });
    q.task_done().expect("1");
    q.task_done().expect("2");
    assert_eq!(q.join_timeout(Duration::from_millis(100)), Ok(false));
    assert_eq!(q.unfinished(), 1);
    let other = q.clone();
    let mut child = Process::new(move || other.task_done().expect("3"));
    child.start().expect("start");
    assert_eq!(
        q.join_timeout(BOUND),
        Ok(true),
        "the child's task_done releases join"
    );
    assert_eq!(join_bounded(&child), 0);
}

#[test]
fn closed_joinable_queue_put_get_errors() {
    let q: JoinableQueue<u8> = JoinableQueue::new().expect("queue");
    q.close();
    assert!(q.put(1).expect_err("closed").to_string().contains("is closed"));
    assert!(q.get().expect_err("closed").to_string().contains("is closed"));
    assert_eq!(q.unfinished(), 0, "a failed put adds no task");
}

#[test]
fn a_consumer_killed_before_task_done_is_reported_not_waited_for() {
    // Python's join() hangs forever here.
    let q: JoinableQueue<u32> = JoinableQueue::new().expect("queue");
    q.put(7).expect("put");
    q.put(8).expect("put");
    let (mut took_r, mut took_w) = pipe();
    let consumer_q = q.clone();
    let mut consumer = Process::new(move || {
        consumer_q.get().expect("get");
        send_line(&mut took_w, "took one");
        idle_until_killed(); // dies before task_done
    });
    consumer.start().expect("start");
    let pid = consumer.pid().expect("pid");
    assert_eq!(read_line(&mut took_r), "took one");
    consumer.signal(Signal::SIGKILL).expect("kill");
    // The other item is still to do: process it here.
    assert_eq!(q.get().expect("get"), 8);
    q.task_done().expect("task_done");
    assert_eq!(
        q.join_timeout(BOUND),
        Err(JoinError::ConsumerDied {
            pid,
            unacknowledged: 1
        })
    );
    assert_eq!(join_bounded(&consumer), -9);
    assert_eq!(
        q.abandon_dead(),
        [DeadConsumer {
            pid,
            unacknowledged: 1
        }]
    );
    assert_eq!(q.join_timeout(BOUND), Ok(true), "written off: join returns");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// join returns exactly when every item is acknowledged: consumers count each item in
    /// shared memory *before* task_done, and the parent checks the count right after join.
    #[test]
    fn join_returns_exactly_when_all_are_done(items in 0u32..60, consumers in 1usize..=3, producers in 1usize..=2) {
        let q: JoinableQueue<Option<u32>> = JoinableQueue::new().expect("queue");
        let acked = Value::new(0u32).expect("value");
        let mut cons: Vec<Process> = (0..consumers)
            .map(|_| {
                let (q, acked) = (q.clone(), acked.clone());
                Process::new(move || {
                    while let Ok(Some(_)) = q.get() {
                        *acked.lock().expect("lock") += 1;
                        q.task_done().expect("task_done");
                    }
                    q.task_done().expect("task_done for the stop");
                })
            })
            .collect();
        for c in &mut cons {
            c.start().expect("start");
        }
        let per = items / producers as u32;
        let total = per * producers as u32;
        let mut prods: Vec<Process> = (0..producers)
            .map(|_| {
                let q = q.clone();
                Process::new(move || (0..per).for_each(|i| q.put(Some(i)).expect("put")))
            })
            .collect();
        for p in &mut prods {
            p.start().expect("start");
        }
        for p in &prods {
            prop_assert_eq!(join_bounded(p), 0);
        }
        prop_assert!(q.join_timeout(BOUND).expect("join"), "join never hangs after the last task_done");
        prop_assert_eq!(acked.get(), total, "join returned before every acknowledgement");
        prop_assert_eq!(q.unfinished(), 0);
        for _ in 0..consumers {
            q.put(None).expect("stop");
        }
        for c in &cons {
            prop_assert_eq!(join_bounded(c), 0);
        }
        assert_eq!(q.join_timeout(BOUND), Ok(true), "join");
    }
}

#[test]
fn duration_max_timeouts_complete_normally() {
    // A huge timeout means "wait for ever", never an overflow: every timed call completes.
    let q: JoinableQueue<u32> = JoinableQueue::bounded(2).expect("queue");
    q.put_timeout(5, Duration::MAX).expect("room");
    assert_eq!(q.get_timeout(Duration::MAX).expect("an item is there"), 5);
    q.task_done().expect("task_done");
    assert_eq!(q.join_timeout(Duration::MAX), Ok(true));
}
