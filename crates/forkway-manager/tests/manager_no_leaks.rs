//! No zombies, no descriptors, no socket directories left behind: managers started, used from
//! children and pool workers, then shut down, dropped, or killed, ten times over. Its own
//! binary, because it counts what the whole process holds.

use forkway_testkit as support;

use forkway_manager::{Address, DictProxy, Manager, QueueProxy};
use forkway_pool::Pool;
use forkway_process::{Process, Signal};
use support::*;

fn put_one(q: QueueProxy<u32>) -> u32 {
    q.put(1).expect("put");
    std::process::id()
}

#[test]
fn managers_leave_nothing_behind() {
    // Warm up once: process-wide state (the authkey, std's buffers) is not a leak.
    drop(Manager::start().expect("manager"));
    let fds_before = open_fds();
    for round in 0..10 {
        let mut m = Manager::start().expect("manager");
        let Address::Unix(socket) = m.address().clone() else {
            panic!("unix")
        };
        let dir = socket.parent().expect("dir").to_owned();
        let q: QueueProxy<u32> = m.queue().expect("queue");
        let d: DictProxy<u32, u32> = m.dict().expect("dict");
        let d2 = d.clone();
        let mut child = Process::new(move || {
            d2.insert(&1, &2).expect("insert");
        });
        child.start().expect("start");
        assert_eq!(join_bounded(&child), 0);
        let pool = Pool::new(2).expect("pool");
        assert_eq!(
            pool.map(put_one, (0..4).map(|_| q.clone())).expect("map").len(),
            4
        );
        drop(pool);
        assert_eq!(q.qsize().expect("qsize"), 4);
        match round % 3 {
            0 => m.shutdown().expect("shutdown"),
            1 => {
                let pid = m.pid().expect("pid");
                let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), Signal::SIGKILL);
                assert!(q.put(2).is_err(), "a killed manager answers nothing");
                m.shutdown().expect("shutdown reaps it");
            }
            _ => {}
        }
        drop((q, d));
        drop(m);
        assert!(!dir.exists(), "round {round}: the socket directory is gone");
    }
    assert_eq!(open_fds(), fds_before, "file descriptors");
    assert!(no_children_left(), "every server and worker was reaped");
    let own = format!("forkway-{}-", std::process::id());
    let left: Vec<_> = std::fs::read_dir(std::env::temp_dir())
        .expect("tmp")
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(&own))
        .map(|e| e.path())
        .collect();
    assert!(
        left.is_empty(),
        "directories of this process left behind: {left:?}"
    );
}
