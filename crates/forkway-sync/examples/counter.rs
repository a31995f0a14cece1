//! The lost update, and its fix: four processes add 1 to a shared `Value` 10 000 times each.
//!
//! ```python
//! v = Value('i', 0)
//! def work(v):
//!     for _ in range(10000):
//!         with v.get_lock():        # without this line, the total comes out short
//!             v.value += 1
//! ```
//! `v.value += 1` is a read and a write; another process can write in between, and one of the
//! two increments is lost. Holding the lock across both makes the total exact. Run it:
//! `cargo run -p forkway-sync --example counter` (`-- --no-lock` to watch updates vanish).

use forkway_process::Process;
use forkway_sync::Value;

const WORKERS: u64 = 4;
const TIMES: u64 = 10_000;

// ANCHOR: work
fn work(v: &Value<u64>) {
    // ANCHOR: exercise_3_6
    for _ in 0..TIMES {
        // One lock for the whole read-modify-write.
        *v.lock().expect("the counter's lock") += 1;
    }
    // ANCHOR_END: exercise_3_6
}
// ANCHOR_END: work

/// Python's `v.value += 1` without the lock: `get` and `set` are separate locked accesses.
fn work_without_lock(v: &Value<u64>) {
    for _ in 0..TIMES {
        v.set(v.get() + 1);
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let no_lock = std::env::args().any(|a| a == "--no-lock");
    let v = Value::new(0u64)?;
    let mut workers: Vec<Process> = (0..WORKERS)
        .map(|_| {
            let v = v.clone();
            Process::new(move || if no_lock { work_without_lock(&v) } else { work(&v) })
        })
        .collect();
    for w in &mut workers {
        w.start()?;
    }
    for w in &workers {
        w.join()?;
    }
    println!("expected {}, got {}", WORKERS * TIMES, v.get());
    Ok(())
}
