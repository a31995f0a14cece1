//! Seed: `Pool(3)` running ten timed workers with `apply_async`, then `close()` and `join()`.
//!
//! ```python
//! def worker(msg):
//!     t_start = time.time()
//!     print("%s开始执行,进程号为%d" % (msg, os.getpid()))
//!     time.sleep(random.random() * 2)
//!     t_stop = time.time()
//!     print(msg, "执行完毕,耗时%0.2f" % (t_stop - t_start))
//!
//! po = Pool(3)                          # at most three processes
//! for i in range(0, 10):
//!     po.apply_async(worker, (i,))      # an idle worker picks each one up
//! print("----start----")
//! po.close()                            # no new tasks from here on
//! po.join()                             # wait for all of them: only after close()
//! print("-----end-----")
//! ```
//! Ten tasks, three pids: the workers are reused. Here each task also *returns* its pid, and a
//! callback (run in the parent) collects them. Run it:
//! `cargo run -p forkway-pool --example pool_workers` (an argument scales the pauses; 0 = none).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use forkway_pool::Pool;

/// Half a "random" second per task (the seed's `random.random() * 2`, made repeatable), scaled.
fn pause_for(msg: u32, scale: f64) -> Duration {
    let pseudo_random = f64::from((msg * 7919) % 10) / 10.0;
    Duration::from_secs_f64(pseudo_random * 2.0 * scale)
}

// ANCHOR: worker
/// One task: say hello with our pid, pause, say how long it took, return the pid.
fn worker((msg, scale): (u32, f64)) -> u32 {
    let start = Instant::now();
    println!("{msg} starts, pid {}", std::process::id());
    std::thread::sleep(pause_for(msg, scale));
    println!("{msg} done in {:.2}s", start.elapsed().as_secs_f64());
    std::process::id()
}
// ANCHOR_END: worker

// ANCHOR: submit_all
fn run(scale: f64) -> Result<Vec<u32>, forkway_pool::PoolError> {
    // ANCHOR: exercise_5_5
    let pool = Pool::new(3)?;
    let pids = Arc::new(Mutex::new(Vec::new()));
    for i in 0..10 {
        let pids = Arc::clone(&pids);
        // The handle is not kept: the callback receives the result in the parent.
        let _ = pool
            .apply_async(worker, (i, scale))?
            .callback(move |pid| pids.lock().expect("pids").push(*pid));
    }
    println!("----start----");
    pool.close();
    pool.join()?;
    println!("-----end-----");
    let pids = pids.lock().expect("pids").clone();
    Ok(pids)
    // ANCHOR_END: exercise_5_5
}
// ANCHOR_END: submit_all

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let scale: f64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(0.5);
    let mut pids = run(scale)?;
    pids.sort_unstable();
    pids.dedup();
    println!("10 tasks ran in {} worker processes", pids.len());
    Ok(())
}
