//! No zombies, no file descriptors, no shared mappings left behind: pools made, used (with a
//! worker SIGKILLed mid-task), closed or terminated or just dropped, ten times over. Its own
//! binary, because it counts what the whole process holds.

use forkway_testkit as support;

use std::time::Duration;

use forkway_pool::{Pool, PoolError, TaskError};
use forkway_process::Signal;
use support::*;

fn hang(_: u32) -> u32 {
    loop {
        std::thread::sleep(Duration::from_secs(1));
    }
}

#[test]
fn pools_leave_nothing_behind() {
    // Warm up once: the first pool sets up process-wide state (the panic handler, std's
    // buffers) that is not a leak.
    drop(Pool::new(1).expect("pool"));
    let fds_before = open_fds();
    let maps_before = shared_mappings();
    for round in 0..10 {
        let pool = Pool::new(2).expect("pool");
        assert!(shared_mappings() > maps_before, "the pool's mappings are counted");
        let hung = pool.apply_async(hang, 0).expect("submit");
        assert_eq!(pool.map(|x: u32| x + 1, 0..100).expect("map").len(), 100);
        // Kill whichever worker holds the hung task: the other one answers the map above.
        for pid in pool.worker_pids() {
            if round % 2 == 0 {
                let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), Signal::SIGKILL);
            }
        }
        if round % 2 == 0 {
            assert!(matches!(
                hung.get(),
                Err(PoolError::Task(TaskError::WorkerDied { .. }))
            ));
        } else {
            drop(hung);
        }
        match round % 3 {
            0 => {
                pool.close();
                // The hung task of an odd round would keep join waiting: terminate those.
                if round % 2 == 1 {
                    pool.terminate();
                }
                pool.join().expect("join");
            }
            1 => pool.terminate(),
            _ => {}
        }
        drop(pool);
    }
    assert_eq!(open_fds(), fds_before, "file descriptors");
    assert_eq!(shared_mappings(), maps_before, "shared mappings");
    assert!(no_children_left(), "every worker was reaped");
}
