//! Seed: "开进程的方法1" — start four workers that do some random work, then wait for them.
//!
//! ```python
//! def piao(name):
//!     print('%s piaoing..' % name)
//!     time.sleep(random.randint(1, 3))
//!     print('%s piao end..' % name)
//!
//! if __name__ == '__main__':
//!     ps = [Process(target=piao, args=(n,)) for n in ('egon', 'alex', 'jack', 'tom')]
//!     for p in ps: p.start()
//!     print('p1 name is %s.' % ps[0].name)
//!     for p in ps: p.join()
//!     print('main process...')
//! ```
//! The seed joins only `p1`, so "main process..." may print while the others still work. We
//! join all four, so it always prints last. Run it:
//! `cargo run -p forkway-process --example four_workers`

use std::time::Duration;

use forkway_process::{Process, ProcessError};
use rand::Rng;

/// One worker: a name, and up to `max_ms` of pretend work.
fn piao(name: &str, max_ms: u64) {
    println!("{name} piaoing..");
    // Simulated work: a random nap (the seed sleeps 1-3 s; we keep it short).
    std::thread::sleep(Duration::from_millis(rand::rng().random_range(0..=max_ms)));
    println!("{name} piao end..");
}

fn main() -> Result<(), ProcessError> {
    // An optional argument bounds the pretend work, so tests can make it fast.
    let max_ms = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(300);
    // ANCHOR: exercise_1_6
    let mut workers: Vec<Process> = ["egon", "alex", "jack", "tom"]
        .into_iter()
        .map(|name| Process::new(move || piao(name, max_ms)))
        .collect();
    // Start them all first, then wait: starting and joining one by one would run them in turn.
    for w in &mut workers {
        w.start()?;
    }
    println!("p1 name is {}.", workers[0].name());
    for w in &workers {
        w.join()?;
    }
    // ANCHOR_END: exercise_1_6
    println!("main process...");
    Ok(())
}
