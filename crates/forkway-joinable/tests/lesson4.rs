//! The graded checks of lesson 4. `lessons/04-joinable-queues/lesson.toml` lists each test here
//! with its points; `cargo xtask lesson 4` runs them one by one.

use forkway_testkit as support;

use std::time::{Duration, Instant};

use forkway_joinable::{JoinError, JoinableQueue, TaskDoneError};
use forkway_process::{Process, Signal};
use forkway_sys::futex_calls;
use support::*;

// ---- exercise 4.1: task_done --------------------------------------------------------------------

#[test]
fn task_done_counts_down_and_refuses_below_zero() {
    let q: JoinableQueue<u8> = JoinableQueue::new().expect("queue");
    q.put(1).expect("put");
    q.put(2).expect("put");
    assert_eq!(q.unfinished(), 2);
    q.get().expect("get");
    q.task_done().expect("first");
    assert_eq!(q.unfinished(), 1);
    q.get().expect("get");
    q.task_done().expect("second");
    assert_eq!(q.unfinished(), 0);
    assert_eq!(q.task_done(), Err(TaskDoneError), "called too many times");
    assert_eq!(q.unfinished(), 0, "never below zero");
}

#[test]
fn only_the_last_task_done_makes_a_wake_up_call() {
    // Joiners sleep on the count; only the task_done that takes it to 0 has news for them.
    // The futex calls of this thread are counted (`forkway_sys::futex_calls`), so the wake-up
    // is checked exactly: a joiner that is never woken would still return at its next
    // CHECK_EVERY look, later, and no timing check could tell on every run.
    let q: JoinableQueue<u8> = JoinableQueue::new().expect("queue");
    for i in 0..3 {
        q.put(i).expect("put");
    }
    for i in 0..3 {
        q.get().expect("get");
        let before = futex_calls().wakes;
        q.task_done().expect("task_done");
        let wakes = futex_calls().wakes - before;
        let expected = u64::from(i == 2);
        assert_eq!(
            wakes,
            expected,
            "task_done number {} (count {} → {}) made {wakes} futex_wake calls; expected \
             {expected}: wake the joiners when, and only when, the count goes from 1 to 0",
            i + 1,
            3 - i,
            2 - i
        );
    }
}

#[test]
fn the_last_task_done_wakes_a_joiner() {
    let q: JoinableQueue<u8> = JoinableQueue::new().expect("queue");
    q.put(1).expect("put");
    let (mut joined_r, mut joined_w) = pipe();
    let joiner_q = q.clone();
    let mut joiner = Process::new(move || {
        joiner_q.join().expect("join");
        send_line(&mut joined_w, "joined");
    });
    joiner.start().expect("start");
    q.get().expect("get");
    q.task_done().expect("task_done");
    assert_eq!(read_line(&mut joined_r), "joined");
    assert_eq!(join_bounded(&joiner), 0);
}

#[test]
fn join_does_not_blame_a_consumer_that_acknowledged_its_task() {
    let q: JoinableQueue<u8> = JoinableQueue::new().expect("queue");
    q.put(1).expect("put");
    let consumer_q = q.clone();
    let mut consumer = Process::new(move || {
        consumer_q.get().expect("get");
        consumer_q.task_done().expect("task_done");
    });
    consumer.start().expect("start");
    assert_eq!(join_bounded(&consumer), 0);
    // One task left, ours: a join that times out must say so, not blame the consumer that
    // took an item and acknowledged it before it exited.
    q.put(2).expect("put");
    assert_eq!(
        q.join_timeout(Duration::from_millis(100)),
        Ok(false),
        "task_done must also forget that this process holds the item it took"
    );
    assert_eq!(q.unfinished(), 1);
    q.get().expect("get");
    q.task_done().expect("task_done");
    assert_eq!(q.join_timeout(BOUND), Ok(true), "all done");
}

// ---- exercise 4.2: join ---------------------------------------------------------------------------

#[test]
fn join_returns_at_once_when_nothing_is_unfinished() {
    let q: JoinableQueue<u8> = JoinableQueue::new().expect("queue");
    assert_eq!(q.join_timeout(Duration::ZERO), Ok(true), "fresh queue");
    q.put(1).expect("put");
    q.get().expect("get");
    q.task_done().expect("task_done");
    q.join().expect("all done");
}

#[test]
fn join_timeout_reports_the_unfinished_tasks() {
    let q: JoinableQueue<u8> = JoinableQueue::new().expect("queue");
    q.put(1).expect("put");
    q.put(2).expect("put");
    q.get().expect("get");
    let began = Instant::now();
    assert_eq!(
        q.join_timeout(Duration::from_millis(100)),
        Ok(false),
        "taken is not done"
    );
    assert!(began.elapsed() >= Duration::from_millis(100), "returned early");
    assert_eq!(q.unfinished(), 2, "a join that times out changes no count");
}

#[test]
fn join_reports_a_consumer_that_died_before_task_done() {
    let q: JoinableQueue<u8> = JoinableQueue::new().expect("queue");
    q.put(1).expect("put");
    let (mut took_r, mut took_w) = pipe();
    let consumer_q = q.clone();
    let mut consumer = Process::new(move || {
        consumer_q.get().expect("get");
        send_line(&mut took_w, "took");
        idle_until_killed();
    });
    consumer.start().expect("start");
    let pid = consumer.pid().expect("pid");
    assert_eq!(read_line(&mut took_r), "took");
    consumer.signal(Signal::SIGKILL).expect("kill");
    assert_eq!(
        q.join_timeout(BOUND),
        Err(JoinError::ConsumerDied {
            pid,
            unacknowledged: 1
        })
    );
    assert_eq!(join_bounded(&consumer), -9);
}

// ---- exercise 4.3: the bakery ---------------------------------------------------------------------

#[test]
fn example_bakery() {
    let run = run_example_of("forkway-joinable", "bakery", &[]);
    assert_eq!(run.code, 0, "{run:?}");
    let lines: Vec<&str> = run.stdout.lines().collect();
    let eaten: Vec<&str> = lines
        .iter()
        .copied()
        .filter(|l| l.starts_with("consumer"))
        .collect();
    assert_eq!(eaten.len(), 10, "every bun eaten once: {lines:?}");
    for i in 0..10 {
        let bun = format!(" got bun {i}.");
        assert_eq!(
            eaten.iter().filter(|l| l.ends_with(&bun)).count(),
            1,
            "bun {i}: {lines:?}"
        );
    }
    let sold_out = lines
        .iter()
        .position(|l| *l == "buns sold out..")
        .expect("sold out line");
    let last_eaten = lines
        .iter()
        .rposition(|l| l.starts_with("consumer"))
        .expect("eaten");
    assert!(
        last_eaten < sold_out,
        "join returned before the last bun was eaten: {lines:?}"
    );
    assert_eq!(lines.last(), Some(&"main process.."), "{lines:?}");
}
