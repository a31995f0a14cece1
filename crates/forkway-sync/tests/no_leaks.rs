//! Every primitive used across processes — holders killed included — leaves no shared
//! mapping, file descriptor or child behind once its handles are gone. One test in its own
//! binary, so nothing else maps or opens while it counts.

use forkway_testkit as support;

use forkway_process::{Process, Signal};
use forkway_sync::{Array, Barrier, Condition, Event, Lock, RLock, RawLock, Semaphore, Value};
use support::*;

#[test]
fn nothing_leaks() {
    let (maps, fds) = (shared_mappings(), open_fds());
    for round in 0..6 {
        let lock = Lock::new().expect("lock");
        let rlock = RLock::new().expect("rlock");
        let raw = RawLock::new().expect("raw");
        let sem = Semaphore::new(1).expect("sem");
        let event = Event::new().expect("event");
        let cond = Condition::new().expect("cond");
        let barrier = Barrier::new(2).expect("barrier");
        let value = Value::new(0u32).expect("value");
        let array = Array::<u8>::zeroed(100).expect("array");
        assert_eq!(shared_mappings(), maps + 9, "the count sees our 9 mappings");
        let (mut ready_r, mut ready_w) = pipe();
        let c = (
            lock.clone(),
            rlock.clone(),
            raw.clone(),
            sem.clone(),
            event.clone(),
        );
        let (cond2, barrier2, value2, array2) = (cond.clone(), barrier.clone(), value.clone(), array.clone());
        let mut child = Process::new(move || {
            let (lock, rlock, raw, sem, event) = c;
            let _a = lock.acquire().expect("lock");
            let _b = rlock.acquire().expect("rlock");
            raw.lock();
            sem.acquire();
            event.set();
            drop(cond2.acquire().expect("cond"));
            value2.set(1);
            array2.set(0, 1);
            let _ = barrier2.wait_timeout(std::time::Duration::from_millis(1));
            send_line(&mut ready_w, "holding everything");
            idle_until_killed();
        });
        child.start().expect("start");
        assert_eq!(read_line(&mut ready_r), "holding everything");
        if round % 2 == 0 {
            child.signal(Signal::SIGKILL).expect("kill");
        } else {
            child.terminate().expect("terminate");
        }
        join_bounded(&child);
    }
    assert_eq!(shared_mappings(), maps, "shared memory left mapped");
    assert_eq!(open_fds(), fds, "file descriptors leaked");
    assert!(no_children_left(), "a child was left behind");
}
