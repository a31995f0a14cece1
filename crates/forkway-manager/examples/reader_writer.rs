//! Seed: a writer and a reader in a `Pool`, talking through `Manager().Queue()`.
//!
//! ```python
//! def reader(q):
//!     print("reader启动(%s),父进程为(%s)" % (os.getpid(), os.getppid()))
//!     for i in range(q.qsize()):
//!         print("reader从Queue获取到消息:%s" % q.get(True))
//!
//! def writer(q):
//!     print("writer启动(%s),父进程为(%s)" % (os.getpid(), os.getppid()))
//!     for i in "itcast":
//!         q.put(i)
//!
//! q = Manager().Queue()        # multiprocessing.Queue() would fail: pool workers
//! po = Pool()                  # do not inherit it, and it cannot be pickled
//! po.apply_async(writer, (q,))
//! time.sleep(1)                # "let the writer go first"
//! po.apply_async(reader, (q,))
//! po.close()
//! po.join()
//! ```
//! The seed's `time.sleep(1)` hopes the writer is done before the reader counts the queue;
//! here the parent *waits for the writer's result* instead, which is a guarantee rather than
//! a hope. Run it: `cargo run -p forkway-manager --example reader_writer`.

use forkway_manager::{Manager, QueueProxy};
use forkway_pool::Pool;

fn parent_pid() -> u32 {
    std::os::unix::process::parent_id()
}

// ANCHOR: tasks
/// Puts the letters of "itcast" on the queue.
fn writer(q: QueueProxy<char>) -> usize {
    println!(
        "writer started ({}), parent ({})",
        std::process::id(),
        parent_pid()
    );
    let word = "itcast";
    for c in word.chars() {
        q.put(c).expect("the manager takes the letter");
    }
    word.len()
}

/// Takes as many letters as the queue holds when it starts.
fn reader(q: QueueProxy<char>) -> String {
    println!(
        "reader started ({}), parent ({})",
        std::process::id(),
        parent_pid()
    );
    let mut got = String::new();
    for _ in 0..q.qsize().expect("qsize") {
        let c = q.get().expect("a letter");
        println!("reader got from the queue: {c}");
        got.push(c);
    }
    got
}
// ANCHOR_END: tasks

// ANCHOR: run
fn run() -> Result<(), Box<dyn std::error::Error>> {
    // ANCHOR: exercise_6_4
    println!("({}) start", std::process::id());
    let manager = Manager::start()?;
    let q: QueueProxy<char> = manager.queue()?;
    let pool = Pool::new(2)?;
    // A proxy travels as an address and an object id; the worker connects with the authkey it
    // inherited. `clone()` gives the task a proxy of its own (one more reference). Waiting for
    // the writer's result is what the seed's `sleep(1)` only hoped for.
    pool.apply_async(writer, q.clone())?.get()?;
    pool.apply_async(reader, q.clone())?.get()?;
    pool.close();
    pool.join()?;
    println!("({}) End", std::process::id());
    Ok(())
    // ANCHOR_END: exercise_6_4
}
// ANCHOR_END: run

fn main() -> Result<(), Box<dyn std::error::Error>> {
    run()
}
