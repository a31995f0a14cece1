//! Who may release a reference: only its holder. A reference is a token the server gave its
//! holder; a client process's references are released when its last connection closes (it
//! exited or was killed); a shared name holds a reference of its own. Before, the server
//! counted bare ids: any client could decref any object, replayed proxy bytes released the
//! same reference again and again, and a name could be left pointing at a deleted object —
//! after which every lookup panicked a server thread.

use forkway_testkit as support;

use std::time::{Duration, Instant};

use forkway_manager::{ListProxy, Manager, ManagerError, QueueProxy};
use forkway_process::Process;
use support::*;

/// Polls (bounded) until the server holds `n` objects: a client that just died is noticed
/// when the server reads the end of its connections, and no event tells us when.
fn settles_at(m: &Manager, n: usize) -> bool {
    let start = Instant::now();
    while start.elapsed() < BOUND {
        if m.number_of_objects().expect("count") == n {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    false
}

#[test]
fn replayed_proxy_bytes_release_one_reference_and_a_name_keeps_its_object() {
    let m = Manager::start().expect("manager");
    let l: ListProxy<u8> = m.list_from([1, 2, 3]).expect("list");
    m.share("n", &l).expect("share");
    // The bytes of a proxy carry one reference. Decoding them three times (a replay) must
    // not release three.
    let bytes = forkway_ipc::codec::encode(&l).expect("encode");
    for _ in 0..3 {
        let replay: Result<ListProxy<u8>, _> = forkway_ipc::codec::decode(&bytes);
        drop(replay);
    }
    assert_eq!(l.len().expect("the sharer's own proxy still works"), 3);
    drop(l);
    let again: ListProxy<u8> = m.lookup("n").expect("the name still holds its object");
    assert_eq!(again.to_vec().expect("copy"), [1, 2, 3]);
    let again2: ListProxy<u8> = m.lookup("n").expect("every later lookup works too");
    drop((again, again2));
    assert_eq!(m.number_of_objects().expect("count"), 1, "the name's object");
}

#[test]
fn a_killed_client_releases_what_it_held_and_its_names_stay() {
    let m = Manager::start().expect("manager");
    let (mut r, mut w) = pipe();
    let address = m.address().clone();
    let mut p = Process::new(move || {
        // A process that did not start the manager: it connects, as another program would.
        let m = Manager::connect(&address, &forkway_process::authkey()).expect("connect");
        let kept: ListProxy<u8> = m.list_from([7]).expect("list");
        m.share("kept", &kept).expect("share");
        let _leaked: Vec<QueueProxy<u8>> = (0..5).map(|_| m.queue().expect("queue")).collect();
        send_line(&mut w, "ready");
        idle_until_killed();
    });
    p.start().expect("start");
    assert_eq!(read_line(&mut r), "ready");
    assert_eq!(m.number_of_objects().expect("count"), 6);
    p.kill().expect("kill");
    assert_eq!(join_bounded(&p), -9);
    assert!(settles_at(&m, 1), "the killed client's five queues are released");
    let kept: ListProxy<u8> = m.lookup("kept").expect("the name outlives its sharer");
    assert_eq!(kept.to_vec().expect("copy"), [7]);
}

#[test]
fn a_proxy_moved_into_a_child_outlives_the_parents_copy_and_the_child_releases_it() {
    let m = Manager::start().expect("manager");
    let q: QueueProxy<u32> = m.queue().expect("queue");
    let keep = q.clone();
    let (mut r, mut w) = pipe();
    let (mut go_r, go) = release_pipe();
    let mut p = Process::new(move || {
        wait_for_release(&mut go_r);
        // The parent has dropped its copy of `q` by now: it is ours.
        q.put(1).expect("put");
        send_line(&mut w, "put");
        drop(q);
        send_line(&mut w, "dropped");
        idle_until_killed();
    });
    p.start().expect("start");
    go.release();
    assert_eq!(read_line(&mut r), "put");
    assert_eq!(read_line(&mut r), "dropped");
    assert_eq!(keep.get_timeout(BOUND).expect("get"), 1);
    p.kill().expect("kill");
    assert_eq!(join_bounded(&p), -9);
    assert_eq!(m.number_of_objects().expect("count"), 1, "only `keep`'s queue");
    drop(keep);
    assert!(settles_at(&m, 0));
    assert!(matches!(
        m.lookup::<ListProxy<u8>>("nobody"),
        Err(ManagerError::NoSuchName(_))
    ));
}
