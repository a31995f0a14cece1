//! Seed: the producer/consumer model — a cook makes ten buns, a consumer eats them, and `None`
//! on the queue says "no more buns".
//!
//! ```python
//! def consumer(q, name):
//!     while True:
//!         res = q.get()
//!         if res is None: break
//!         print('consumer %s got %s.' % (name, res))
//!
//! def producer(seq, q, name):
//!     for item in seq:
//!         q.put(item)
//!         print('producer %s made %s.' % (name, item))
//!     q.put(None)
//! ```
//! In Rust the sentinel is part of the message type: an enum with a `Done` variant, so "no more"
//! can never be confused with a real item, and the compiler makes the consumer handle it.
//! Run it: `cargo run -p forkway-ipc --example producer_consumer` (an argument in ms adds the
//! seed's random-ish pauses).

use std::time::Duration;

use forkway_ipc::Queue;
use forkway_process::Process;
use serde::{Deserialize, Serialize};

#[derive(Debug, Serialize, Deserialize)]
enum Bun {
    Bun(String),
    Done,
}

// ANCHOR: consumer
fn consumer(q: &Queue<Bun>, name: &str) {
    // ANCHOR: exercise_2_6
    loop {
        match q.get() {
            Ok(Bun::Bun(bun)) => println!("consumer {name} got {bun}."),
            Ok(Bun::Done) => break,
            Err(e) => {
                eprintln!("consumer {name}: {e}");
                break;
            }
        }
    }
    // ANCHOR_END: exercise_2_6
}
// ANCHOR_END: consumer

fn producer(q: &Queue<Bun>, name: &str, pause: Duration) {
    for i in 0..10 {
        std::thread::sleep(pause * (i % 3));
        let bun = format!("bun {i}");
        println!("producer {name} made {bun}.");
        q.put(Bun::Bun(bun)).expect("put");
    }
    q.put(Bun::Done).expect("put");
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let pause = Duration::from_millis(std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(0));
    let q: Queue<Bun> = Queue::new()?;
    let mut c = Process::new({
        let q = q.clone();
        move || consumer(&q, "egon")
    });
    c.start()?;
    let mut p = Process::new(move || producer(&q, "cook", pause));
    p.start()?;
    c.join()?;
    p.join()?;
    println!("main process..");
    Ok(())
}
