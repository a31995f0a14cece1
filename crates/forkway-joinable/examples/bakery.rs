//! Seed: the bakery with a `JoinableQueue` — a cook makes ten buns, three daemon consumers eat
//! them, and the cook's `join()` returns only when every bun was *eaten*, not just taken.
//!
//! ```python
//! def consumer(q, name):
//!     while True:
//!         res = q.get()
//!         q.task_done()            # the seed acknowledges *before* eating…
//!         print('consumer %s got %s .' % (name, res))
//!
//! def producer(seq, q, name):
//!     for item in seq:
//!         q.put(item)
//!         print('producer %s made %s .' % (name, item))
//!     q.join()                     # …so this may return while buns are still being eaten
//!     print('buns sold out..')
//!
//! c1 = Process(target=consumer, args=(q, 'c1')); c1.daemon = True   # (and c2, c3)
//! p = Process(target=producer, args=(seq, q, 'cook'))
//! p.start(); p.join()
//! print('main process..')         # main ends, and the daemon consumers with it
//! ```
//! The seed prints in Chinese (`消费者 %s 拿到了 %s .`: "consumer %s got %s ."); the lines here
//! are its translation. Here each consumer calls `task_done` *after* its work, so "sold out"
//! always comes after the last bun is eaten. The daemons never see a sentinel: they end with the main process. Run it:
//! `cargo run -p forkway-joinable --example bakery` (an argument in ms adds pauses).

use std::time::Duration;

use forkway_joinable::JoinableQueue;
use forkway_process::Process;

// ANCHOR: consumer
fn consumer(q: &JoinableQueue<String>, name: &str, pause: Duration) {
    // ANCHOR: exercise_4_3
    while let Ok(bun) = q.get() {
        std::thread::sleep(pause); // eating
        println!("consumer {name} got {bun}.");
        // Done means *processed*: acknowledge after the work, never before.
        q.task_done().expect("one task_done per get");
    }
    // ANCHOR_END: exercise_4_3
}
// ANCHOR_END: consumer

fn producer(q: &JoinableQueue<String>, name: &str) {
    for i in 0..10 {
        let bun = format!("bun {i}");
        q.put(bun.clone()).expect("put");
        println!("producer {name} made {bun}.");
    }
    q.join().expect("every bun eaten");
    println!("buns sold out..");
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let pause = Duration::from_millis(std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(0));
    let q: JoinableQueue<String> = JoinableQueue::new()?;
    let mut consumers: Vec<Process> = ["c1", "c2", "c3"]
        .into_iter()
        .map(|name| {
            let q = q.clone();
            Process::new(move || consumer(&q, name, pause)).with_daemon(true)
        })
        .collect();
    for c in &mut consumers {
        c.start()?;
    }
    let mut p = Process::new(move || producer(&q, "cook"));
    p.start()?;
    p.join()?;
    println!("main process..");
    // Leaving main terminates the daemon consumers (they would wait for buns forever).
    Ok(())
}
