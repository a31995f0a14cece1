//! Helpers shared by the pool's test files (each also includes the forkway-process support as
//! `support`).

use std::time::{Duration, Instant};

use forkway_process::Signal;
use forkway_sync::Value;

/// Waits (bounded) until a task has written its worker's pid into `holder`, then SIGKILLs that
/// worker mid-task. Returns the pid.
pub fn kill_the_holder(holder: &Value<u32>) -> u32 {
    let start = Instant::now();
    while holder.get() == 0 {
        assert!(start.elapsed() < crate::support::BOUND, "the task never started");
        std::thread::sleep(Duration::from_millis(1));
    }
    let pid = holder.get();
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), Signal::SIGKILL).expect("kill");
    pid
}
