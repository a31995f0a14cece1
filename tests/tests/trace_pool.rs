//! Tracing a pool whose worker dies in a task: the parent records the death on the dead
//! worker's lane (a killed process cannot), with its exit code and the task it held.
//!
//! Tracing is per program (a global switch), so this file is its own test binary with one test.

use std::time::Duration;

use forkway::pool::{Pool, PoolError, TaskError};
use serde_json::Value;

const WAIT: Duration = Duration::from_secs(30);

/// The worker dies by a signal in the middle of a task, as a crash would end it.
fn die(_: u32) -> u32 {
    std::process::abort()
}

#[test]
fn a_worker_killed_in_a_task_shows_as_worker_died_on_its_lane() {
    struct RemoveOnDrop(std::path::PathBuf);
    impl Drop for RemoveOnDrop {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
    let dir = std::env::temp_dir().join(format!("forkway-trace-pool-{}", std::process::id()));
    let _cleanup = RemoveOnDrop(dir.clone());
    let out = dir.join("trace.json");
    forkway::trace::start(&out).expect("start tracing");
    let pool = Pool::new(1).expect("pool");
    let worker = pool.worker_pids()[0];
    let result = pool.apply_async(die, 1).expect("submit").get_timeout(WAIT);
    match result {
        Err(PoolError::Task(TaskError::WorkerDied { pid, exitcode })) => {
            assert_eq!((pid, exitcode), (worker, -6));
        }
        other => panic!("expected the worker's death, got {other:?}"),
    }
    drop(pool);
    let merged = forkway::trace::finish().expect("merge").expect("the root merges");
    let trace: Value = serde_json::from_slice(&std::fs::read(&merged).expect("read")).expect("json");
    let events = trace["traceEvents"].as_array().expect("events");
    let died: Vec<&Value> = events.iter().filter(|e| e["name"] == "worker died").collect();
    assert_eq!(died.len(), 1, "one death recorded: {died:?}");
    assert_eq!(died[0]["pid"], worker);
    assert_eq!(died[0]["args"]["exitcode"], -6);
    assert_eq!(died[0]["args"]["task"], 0);
}
