//! Huge timeouts mean "wait forever", on the client, on the wire and in the server: every
//! public `*_timeout` takes `Duration::MAX`, and where the operation can complete it completes
//! normally (before, the server's connection thread panicked computing `now + timeout` and the
//! client saw `ManagerError::Lost`).

use forkway_testkit as support;

use std::time::Duration;

use forkway_manager::{client, Address, Listener, Manager, QueueProxy};
use forkway_process::Process;
use support::*;

#[test]
fn queue_timeouts_take_duration_max() {
    let m = Manager::start().expect("manager");
    let q: QueueProxy<u32> = m.bounded_queue(1).expect("queue");
    q.put_timeout(1, Duration::MAX)
        .expect("put_timeout(MAX) with room");
    assert_eq!(
        q.get_timeout(Duration::MAX)
            .expect("get_timeout(MAX) of a present item"),
        1
    );
    // A get that really waits: the item comes from another process.
    let q2 = q.clone();
    let mut p = Process::new(move || q2.put(2).expect("put"));
    p.start().expect("start");
    assert_eq!(
        q.get_timeout(Duration::MAX).expect("get_timeout(MAX) that waits"),
        2
    );
    assert_eq!(join_bounded(&p), 0);
    // The server survived all of it.
    assert_eq!(q.qsize().expect("qsize"), 0);
}

#[test]
fn lock_and_event_timeouts_take_duration_max() {
    let m = Manager::start().expect("manager");
    let lock = m.lock().expect("lock");
    assert!(lock
        .acquire_timeout(Duration::MAX)
        .expect("acquire_timeout(MAX) of a free lock"));
    lock.release().expect("release");
    let event = m.event().expect("event");
    let e2 = event.clone();
    let mut p = Process::new(move || e2.set().expect("set"));
    p.start().expect("start");
    assert!(event.wait_timeout(Duration::MAX).expect("wait_timeout(MAX)"));
    assert_eq!(join_bounded(&p), 0);
    assert!(event.is_set().expect("the server is still there"));
}

#[test]
fn listener_timeouts_take_duration_max() {
    let mut listener =
        Listener::bind(&Address::Tcp("127.0.0.1:0".parse().expect("addr")), Some(b"k")).expect("listener");
    listener.set_handshake_timeout(Duration::MAX);
    let address = listener.address().clone();
    let mut p = Process::new(move || {
        let mut c = client::<u8>(&address, Some(b"k")).expect("connect");
        c.send(&9).expect("send");
    });
    p.start().expect("start");
    let mut conn = listener
        .accept_timeout::<u8>(Duration::MAX)
        .expect("accept_timeout(MAX)");
    assert_eq!(conn.recv().expect("recv"), 9);
    assert_eq!(join_bounded(&p), 0);
}
