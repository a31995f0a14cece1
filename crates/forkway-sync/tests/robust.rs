//! The robust futex mutex under `Lock` (forkway-sys's `RobustMutex`, joined to glibc's
//! per-thread robust list): the deaths the kernel must see through it — several sleepers, a
//! thread rather than a process, a fork while held, and glibc's own robust mutexes held in the
//! same list.

use forkway_testkit as support;

use std::time::{Duration, Instant};

use forkway_process::{Process, Signal};
use forkway_sync::{AcquireError, Lock, ReleaseError};
use forkway_sys::Shm;
use support::*;

fn start(p: &mut Process) -> u32 {
    p.start().expect("start");
    p.pid().expect("pid")
}

/// Waits (bounded) until `pid` sleeps in a futex wait.
fn wait_until_asleep(pid: u32) {
    let deadline = Instant::now() + BOUND;
    while !std::fs::read_to_string(format!("/proc/{pid}/wchan"))
        .unwrap_or_default()
        .contains("futex")
    {
        assert!(Instant::now() < deadline, "process {pid} never slept on the lock");
        std::thread::sleep(Duration::from_millis(1));
    }
}

#[test]
fn every_sleeping_waiter_wakes_when_the_holder_is_killed() {
    let lock = Lock::new().expect("lock");
    let (mut ready_r, mut ready_w) = pipe();
    let holder_lock = lock.clone();
    let mut holder = Process::new(move || {
        let _g = holder_lock.acquire().expect("acquire");
        send_line(&mut ready_w, "held");
        idle_until_killed();
    });
    start(&mut holder);
    assert_eq!(read_line(&mut ready_r), "held");
    let (mut said_r, said_w) = pipe();
    let mut waiters: Vec<Process> = (0..3)
        .map(|_| {
            let (lock, mut said_w) = (lock.clone(), said_w.try_clone().expect("clone"));
            Process::new(move || {
                let verdict = match lock.acquire() {
                    Err(AcquireError::OwnerDied(mut g)) => {
                        g.mark_consistent();
                        "owner died"
                    }
                    Ok(_) => "clean",
                    Err(_) => "error",
                };
                send_line(&mut said_w, verdict);
            })
        })
        .collect();
    drop(said_w);
    for w in &mut waiters {
        let pid = start(w);
        wait_until_asleep(pid);
    }
    holder.signal(Signal::SIGKILL).expect("kill");
    // The kernel wakes one sleeper with "owner died"; each unlock then wakes the next.
    let mut verdicts: Vec<String> = (0..3).map(|_| read_line(&mut said_r)).collect();
    verdicts.sort();
    assert_eq!(verdicts, ["clean", "clean", "owner died"]);
    for w in &waiters {
        assert_eq!(join_bounded(w), 0);
    }
    assert_eq!(join_bounded(&holder), -9);
    let _g = lock.acquire_timeout(BOUND).expect("free and consistent");
}

#[test]
fn a_thread_that_ends_holding_a_lock_is_a_dead_owner() {
    let lock = Lock::new().expect("lock");
    std::thread::scope(|s| {
        s.spawn(|| lock.acquire().expect("acquire").leak())
            .join()
            .expect("thread");
    });
    assert!(lock.locked(), "the record still names the dead thread");
    let mut g = match lock.acquire_timeout(BOUND) {
        Err(AcquireError::OwnerDied(g)) => g,
        other => panic!("expected OwnerDied, got {other:?}"),
    };
    g.mark_consistent();
    drop(g);
    let _again = lock.acquire_timeout(BOUND).expect("usable again");
}

#[test]
fn a_child_forked_while_the_parent_holds_a_lock_neither_owns_it_nor_breaks_other_locks() {
    let held = Lock::new().expect("lock");
    let other = Lock::new().expect("lock");
    let _g = held.acquire().expect("acquire");
    let (child_held, child_other) = (held.clone(), other.clone());
    let mut child = Process::new(move || {
        // The parent's lock is not the child's, though the child is a copy of its holder.
        assert!(matches!(child_held.try_acquire(), Err(AcquireError::WouldBlock)));
        assert_eq!(child_held.release(), Err(ReleaseError::NotOwner));
        // The child's own robust list works: lock, unlock, lock again, and die holding it.
        drop(child_other.acquire().expect("acquire"));
        child_other.acquire().expect("acquire").leak();
    });
    start(&mut child);
    assert_eq!(join_bounded(&child), 0);
    assert!(held.locked());
    assert!(matches!(
        other.acquire_timeout(BOUND),
        Err(AcquireError::OwnerDied(_))
    ));
    // The parent's own list came through the child's life intact.
    drop(_g);
    let _again = held.acquire_timeout(BOUND).expect("the parent released it");
}

/// A glibc robust, process-shared mutex at the start of `shm`.
fn glibc_robust(shm: &Shm) -> *mut libc::pthread_mutex_t {
    let m = shm.ptr().cast::<libc::pthread_mutex_t>();
    // SAFETY: the attribute lives across the calls; `m` is a fresh zeroed shared page.
    unsafe {
        let mut attr = std::mem::MaybeUninit::<libc::pthread_mutexattr_t>::uninit();
        assert_eq!(libc::pthread_mutexattr_init(attr.as_mut_ptr()), 0);
        assert_eq!(
            libc::pthread_mutexattr_setpshared(attr.as_mut_ptr(), libc::PTHREAD_PROCESS_SHARED),
            0
        );
        assert_eq!(
            libc::pthread_mutexattr_setrobust(attr.as_mut_ptr(), libc::PTHREAD_MUTEX_ROBUST),
            0
        );
        assert_eq!(libc::pthread_mutex_init(m, attr.as_ptr()), 0);
        libc::pthread_mutexattr_destroy(attr.as_mut_ptr());
    }
    m
}

#[test]
fn a_process_killed_holding_ours_and_glibcs_mutexes_leaves_both_recoverable() {
    // Lock ours and glibc's in either order, unlock one of them (from the middle or the front
    // of the list), take it again, and die holding both.
    for (glibc_first, unlock_ours) in [(false, false), (false, true), (true, false), (true, true)] {
        let lock = Lock::new().expect("lock");
        let shm = Shm::new(4096).expect("shm");
        let theirs = glibc_robust(&shm) as usize;
        let (mut ready_r, mut ready_w) = pipe();
        let child_lock = lock.clone();
        let mut child = Process::new(move || {
            let theirs = theirs as *mut libc::pthread_mutex_t;
            // SAFETY: initialized above, in a mapping the child inherited.
            unsafe {
                if glibc_first {
                    assert_eq!(libc::pthread_mutex_lock(theirs), 0);
                }
                let mut g = child_lock.acquire().expect("acquire");
                if !glibc_first {
                    assert_eq!(libc::pthread_mutex_lock(theirs), 0);
                }
                if unlock_ours {
                    drop(g);
                    g = child_lock.acquire().expect("again");
                } else {
                    assert_eq!(libc::pthread_mutex_unlock(theirs), 0);
                    assert_eq!(libc::pthread_mutex_lock(theirs), 0);
                }
                g.leak();
            }
            send_line(&mut ready_w, "held");
            idle_until_killed();
        });
        start(&mut child);
        assert_eq!(read_line(&mut ready_r), "held");
        child.signal(Signal::SIGKILL).expect("kill");
        assert_eq!(join_bounded(&child), -9);
        let theirs = theirs as *mut libc::pthread_mutex_t;
        // SAFETY: as above; the mapping lives until the end of the iteration.
        unsafe {
            assert_eq!(
                libc::pthread_mutex_lock(theirs),
                libc::EOWNERDEAD,
                "glibc's, case {glibc_first}/{unlock_ours}"
            );
            assert_eq!(libc::pthread_mutex_consistent(theirs), 0);
        }
        match lock.acquire_timeout(BOUND) {
            Err(AcquireError::OwnerDied(mut g)) => g.mark_consistent(),
            other => panic!("ours, case {glibc_first}/{unlock_ours}: expected OwnerDied, got {other:?}"),
        }
        // SAFETY: as above.
        unsafe { assert_eq!(libc::pthread_mutex_unlock(theirs), 0) };
    }
}
