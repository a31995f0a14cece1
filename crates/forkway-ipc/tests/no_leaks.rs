//! Queues, simple queues and pipes used across processes — including killed ones — leave no
//! file descriptor, no shared-memory mapping and no child behind. One test in its own binary,
//! so no other test opens or maps anything while it counts.

use forkway_testkit as support;

use forkway_ipc::{pipe, Queue, SimpleQueue};
use forkway_process::{Process, Signal};
use support::*;

#[test]
fn nothing_leaks() {
    let (fds, maps) = (open_fds(), shared_mappings());
    for round in 0..10u32 {
        let q: Queue<u32> = Queue::bounded(4).expect("queue");
        let sq: SimpleQueue<u32> = SimpleQueue::new().expect("simple queue");
        // The check below can see a leak: our two mappings are counted while they live.
        assert_eq!(
            shared_mappings(),
            maps + 2,
            "Queue and SimpleQueue map one region each"
        );
        let (mut a, mut b) = pipe::<u32>().expect("pipe");
        a.set_close_on_fork(true);
        let idle: Queue<u32> = Queue::new().expect("queue");
        let (q2, sq2, idle2) = (q.clone(), sq.clone(), idle.clone());
        let mut worker = Process::new(move || {
            let n = b.recv().expect("recv");
            q2.put(n + 1).expect("put");
            sq2.put(n + 2).expect("put");
            if n % 2 == 1 {
                // Odd rounds: wait to be killed inside a get.
                let _ = idle2.get();
            }
        });
        worker.start().expect("start");
        a.send(&round).expect("send");
        assert_eq!(q.get_timeout(BOUND).expect("get"), round + 1);
        assert_eq!(sq.get_timeout(BOUND).expect("get"), round + 2);
        if round % 2 == 1 {
            worker.signal(Signal::SIGKILL).expect("kill");
        }
        join_bounded(&worker);
        drop(idle);
    }
    assert!(no_children_left(), "a child was left unreaped");
    assert_eq!(open_fds(), fds, "file descriptors leaked");
    assert_eq!(shared_mappings(), maps, "shared memory left mapped");
}
