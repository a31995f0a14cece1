//! Seed: `map(job, range(10))`, `apply_async(job, (2,)).get()`, and a list of async results.
//!
//! ```python
//! def job(a):
//!     return a * a
//!
//! po = multiprocessing.Pool()
//! print(po.map(job, range(10)))           # [0, 1, 4, 9, 16, 25, 36, 49, 64, 81]
//! print(po.apply_async(job, (2,)).get())  # 4
//! res = [po.apply_async(job, (i,)) for i in range(10)]
//! print([r.get() for r in res])
//! ```
//! Plus what the seeds only mention: `callback=` and `error_callback=`. Run it:
//! `cargo run -p forkway-pool --example squares`

use std::sync::{Arc, Mutex};

use forkway_pool::{Pool, PoolError};

fn job(a: u64) -> u64 {
    a * a
}

/// Fails for 13, to show the error callback.
fn unlucky(a: u64) -> u64 {
    assert_ne!(a, 13, "13 is unlucky");
    a
}

// ANCHOR: squares
fn squares(pool: &Pool) -> Result<(Vec<u64>, u64, Vec<u64>), PoolError> {
    // ANCHOR: exercise_5_6
    let mapped = pool.map(job, 0..10)?;
    let one = pool.apply_async(job, 2)?.get()?;
    // Submit all ten first, then collect: the tasks run while we wait for the first.
    let pending = (0..10)
        .map(|i| pool.apply_async(job, i))
        .collect::<Result<Vec<_>, _>>()?;
    let collected = pending
        .into_iter()
        .map(|r| r.get())
        .collect::<Result<Vec<_>, _>>()?;
    Ok((mapped, one, collected))
    // ANCHOR_END: exercise_5_6
}
// ANCHOR_END: squares

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let pool = Pool::builder().build()?; // as many workers as CPUs, like Pool()
    let (mapped, one, collected) = squares(&pool)?;
    println!("{mapped:?}");
    println!("{one}");
    println!("{collected:?}");

    let log = Arc::new(Mutex::new(Vec::new()));
    for i in [12, 13] {
        let (ok, err) = (Arc::clone(&log), Arc::clone(&log));
        let _ = pool
            .apply_async(unlucky, i)?
            .callback(move |v| ok.lock().expect("log").push(format!("callback: {v}")))
            .error_callback(move |e| err.lock().expect("log").push(format!("error_callback: {e}")));
    }
    pool.close();
    pool.join()?;
    let mut log = log.lock().expect("log").clone();
    log.sort();
    for line in log {
        println!("{line}");
    }
    Ok(())
}
