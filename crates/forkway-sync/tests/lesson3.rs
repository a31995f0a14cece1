//! The graded checks of lesson 3. `lessons/03-locks-and-shared-state/lesson.toml` lists each
//! test here with its points; `cargo xtask lesson 3` runs them one by one.
//!
//! Each test proves one exercise (see the `exercise_3_N` regions in the crate and its examples).

use forkway_testkit as support;

use std::time::{Duration, Instant};

use forkway_process::Process;
use forkway_sync::{Event, RawLock, RawValue, ReleaseError, Semaphore};
use forkway_sys::futex_calls;
use support::*;

// ---- exercise 3.1: the three-state futex mutex, lock ------------------------------------------

#[test]
fn raw_lock_takes_a_free_lock_and_sees_a_held_one() {
    let lock = RawLock::new().expect("lock");
    assert!(!lock.locked());
    lock.lock();
    assert!(lock.locked());
    assert!(
        !lock.contended(),
        "a free lock taken with nobody waiting must hold the word at 1 (held), not 2: \
         at 2, every unlock would make a needless futex_wake system call"
    );
    assert!(!lock.try_lock(), "held: try_lock must fail");
}

#[test]
fn raw_lock_excludes_across_processes() {
    // A counter updated with two separate accesses: only mutual exclusion keeps it exact.
    let lock = RawLock::new().expect("lock");
    let counter = RawValue::new(0u64).expect("counter");
    let mut workers: Vec<Process> = (0..4)
        .map(|_| {
            let (lock, counter) = (lock.clone(), counter.clone());
            Process::new(move || {
                for _ in 0..2000 {
                    lock.lock();
                    counter.set(counter.get() + 1);
                    lock.unlock().expect("unlock");
                }
            })
        })
        .collect();
    for w in &mut workers {
        w.start().expect("start");
    }
    for w in &workers {
        assert_eq!(join_bounded(w), 0);
    }
    assert_eq!(counter.get(), 8000);
}

#[test]
fn raw_lock_waiter_marks_the_word_and_holds_the_lock_once_woken() {
    let lock = RawLock::new().expect("lock");
    lock.lock();
    assert!(!lock.contended(), "nobody waits yet: the word is 1");
    let (mut got_r, mut got_w) = pipe();
    let (mut go_r, go) = release_pipe();
    let child_lock = lock.clone();
    let mut child = Process::new(move || {
        child_lock.lock();
        send_line(&mut got_w, "got it");
        wait_for_release(&mut go_r);
        child_lock.unlock().expect("unlock");
    });
    child.start().expect("start");
    wait_asleep(child.pid().expect("pid"));
    // Before sleeping, the waiter must have set the word to 2: an unlock that finds 1 wakes
    // nobody, and the waiter would sleep forever.
    let marked = lock.contended();
    if !marked {
        child.kill().expect("kill the sleeper");
    }
    assert!(
        marked,
        "a process asleep in lock() left the word at 1 (held, nobody waiting): set it to 2 \
         before futex_wait, or unlock will not wake it"
    );
    lock.unlock().expect("unlock");
    assert_eq!(read_line(&mut got_r), "got it");
    // The woken waiter holds the lock: taking it means setting the word, not just waking up.
    let held = lock.locked() && !lock.try_lock();
    go.release();
    assert!(
        held,
        "the woken waiter returned from lock() but the lock is free: loop until the swap \
         returns 0"
    );
    assert_eq!(join_bounded(&child), 0);
    assert!(!lock.locked());
}

// ---- exercise 3.2: unlock ---------------------------------------------------------------------

#[test]
fn raw_unlock_frees_and_refuses_a_second_time() {
    let lock = RawLock::new().expect("lock");
    lock.lock();
    lock.unlock().expect("unlock");
    assert!(!lock.locked());
    assert_eq!(
        lock.unlock(),
        Err(ReleaseError::NotHeld),
        "released too many times"
    );
    assert!(lock.try_lock(), "free again");
}

#[test]
fn raw_lock_and_unlock_without_contention_make_no_system_call() {
    // The whole point of a futex lock: the kernel is asked only when somebody must sleep. The
    // futex calls of this thread are counted (`forkway_sys::futex_calls`), so "no system call"
    // is checked exactly, not guessed from timing.
    let lock = RawLock::new().expect("lock");
    let before = futex_calls();
    for _ in 0..100 {
        lock.lock();
        lock.unlock().expect("unlock");
    }
    let after = futex_calls();
    assert_eq!(
        after.waits - before.waits,
        0,
        "lock() on a free lock must not sleep (futex_wait)"
    );
    assert_eq!(
        after.wakes - before.wakes,
        0,
        "100 lock+unlock pairs with nobody waiting made {} futex_wake calls: when the word \
         was 1 (held, nobody waiting), unlock must return Ok(()) without waking anyone",
        after.wakes - before.wakes
    );
}

#[test]
fn raw_unlock_wakes_a_sleeping_waiter() {
    let lock = RawLock::new().expect("lock");
    lock.lock();
    let (mut got_r, mut got_w) = pipe();
    let child_lock = lock.clone();
    let mut child = Process::new(move || {
        child_lock.lock();
        send_line(&mut got_w, "got it");
        child_lock.unlock().expect("unlock");
    });
    child.start().expect("start");
    wait_asleep(child.pid().expect("pid"));
    lock.unlock().expect("unlock"); // must wake the sleeper: it would sleep forever otherwise
    assert_eq!(read_line(&mut got_r), "got it");
    assert_eq!(join_bounded(&child), 0);
}

// ---- exercise 3.3: a semaphore ----------------------------------------------------------------

#[test]
fn semaphore_counts_down_then_waits_until_the_timeout() {
    let sem = Semaphore::new(2).expect("semaphore");
    assert!(sem.acquire_timeout(Duration::ZERO));
    sem.acquire();
    assert_eq!(sem.value(), 0);
    let began = Instant::now();
    let waiter = sem.clone();
    let got = within_bound("acquire_timeout(100 ms) without a permit", move || {
        waiter.acquire_timeout(Duration::from_millis(100))
    });
    assert!(!got, "no permit left");
    assert!(began.elapsed() >= Duration::from_millis(100), "returned early");
}

#[test]
fn semaphore_waiter_wakes_on_a_release_from_another_process() {
    let sem = Semaphore::new(0).expect("semaphore");
    let (mut got_r, mut got_w) = pipe();
    let child_sem = sem.clone();
    let mut child = Process::new(move || {
        child_sem.acquire();
        send_line(&mut got_w, "acquired");
    });
    child.start().expect("start");
    wait_asleep(child.pid().expect("pid"));
    sem.release().expect("release");
    assert_eq!(read_line(&mut got_r), "acquired");
    assert_eq!(join_bounded(&child), 0);
    assert_eq!(sem.value(), 0, "the permit was taken");
}

#[test]
fn semaphore_waiter_that_finds_no_permit_sleeps_again() {
    // Two waiters, one permit: a release wakes every waiter, one takes the permit, and the
    // other must look again and go back to sleep, not return as if it had one.
    let sem = Semaphore::new(0).expect("semaphore");
    let (mut got_r, got_w) = pipe();
    let mut waiters: Vec<Process> = (0..2)
        .map(|i| {
            let (sem, mut got_w) = (sem.clone(), got_w.try_clone().expect("dup"));
            Process::new(move || {
                sem.acquire();
                send_line(&mut got_w, &i.to_string());
            })
        })
        .collect();
    drop(got_w);
    for w in &mut waiters {
        w.start().expect("start");
        wait_asleep(w.pid().expect("pid"));
    }
    let pids: Vec<u32> = waiters.iter().map(|w| w.pid().expect("pid")).collect();
    let sleeps_before: Vec<u64> = pids.iter().map(|&p| voluntary_sleeps(p)).collect();
    sem.release().expect("release");
    let winner: usize = read_line(&mut got_r).parse().expect("index");
    let loser = 1 - winner;
    assert_eq!(join_bounded(&waiters[winner]), 0);
    // Either the loser sleeps again (it woke: one more voluntary sleep, and it is back in the
    // futex), or it wrongly returns and writes its line. One of the two happens soon.
    let deadline = Instant::now() + BOUND;
    loop {
        if readable(std::os::fd::AsFd::as_fd(&got_r), Duration::ZERO) {
            let line = read_line(&mut got_r);
            panic!("waiter {line} returned from acquire() although the only permit was taken");
        }
        if voluntary_sleeps(pids[loser]) > sleeps_before[loser] {
            wait_asleep(pids[loser]);
            break;
        }
        assert!(Instant::now() < deadline, "the second waiter never woke up");
        std::thread::sleep(Duration::from_millis(1));
    }
    assert_eq!(sem.value(), 0);
    sem.release().expect("release");
    assert_eq!(read_line(&mut got_r), loser.to_string());
    assert_eq!(join_bounded(&waiters[loser]), 0);
}

// ---- exercise 3.4: an event -------------------------------------------------------------------

#[test]
fn event_wait_times_out_while_unset_and_returns_at_once_when_set() {
    let event = Event::new().expect("event");
    let began = Instant::now();
    let waiter = event.clone();
    let set = within_bound("wait_timeout(100 ms) on an unset event", move || {
        waiter.wait_timeout(Duration::from_millis(100))
    });
    assert!(!set, "nobody set it");
    assert!(began.elapsed() >= Duration::from_millis(100), "returned early");
    event.set();
    assert!(event.wait_timeout(Duration::ZERO));
    event.wait();
}

#[test]
fn event_set_by_a_child_wakes_every_waiter() {
    let event = Event::new().expect("event");
    let mut waiters: Vec<Process> = (0..3)
        .map(|_| {
            let e = event.clone();
            Process::new(move || e.wait())
        })
        .collect();
    for w in &mut waiters {
        w.start().expect("start");
        wait_asleep(w.pid().expect("pid"));
    }
    let setter_event = event.clone();
    let mut setter = Process::new(move || setter_event.set());
    setter.start().expect("start");
    assert_eq!(join_bounded(&setter), 0);
    for w in &waiters {
        assert_eq!(join_bounded(w), 0, "every waiter wakes");
    }
}

// ---- exercises 3.5 and 3.6: the seeds' programs -----------------------------------------------

fn run(name: &str, args: &[&str]) -> Vec<String> {
    let run = run_example_of("forkway-sync", name, args);
    assert_eq!(run.code, 0, "the example failed:{run}");
    run.stdout.lines().map(str::to_owned).collect()
}

#[test]
fn example_tickets_sells_exactly_one() {
    let lines = run("tickets", &[]);
    assert_eq!(
        lines.last().map(String::as_str),
        Some("sold: 1, left: 0"),
        "{lines:?}"
    );
    let got = lines.iter().filter(|l| l.ends_with(" got a ticket")).count();
    let none = lines.iter().filter(|l| l.ends_with(" got no ticket")).count();
    assert_eq!((got, none), (1, 9), "{lines:?}");
}

#[test]
fn example_counter_is_exact() {
    assert_stdout_lines(
        &run_example_of("forkway-sync", "counter", &[]),
        &["expected 40000, got 40000"],
    );
}
