//! Seed: `q = multiprocessing.Queue(maxsize=3)` with `put`, `get`, `full()` and `empty()`.
//!
//! ```python
//! q = multiprocessing.Queue(3)
//! q.put("msg1"); q.put("msg2"); q.put("msg3")
//! print(q.full())               # True
//! try:
//!     q.put("msg4", True, 2)    # waits 2 s, then queue.Full
//! except queue.Full:
//!     print("full: msg4 not put")
//! try:
//!     q.put_nowait("msg4")      # queue.Full at once
//! except queue.Full:
//!     print("full again")
//! while not q.empty():
//!     print(q.get_nowait())
//! ```
//! forkway hands the refused item back inside the error (`PutError::Full(item)`), so nothing is
//! lost. Run it: `cargo run -p forkway-ipc --example maxsize3`

use std::time::Duration;

use forkway_ipc::{GetError, PutError, Queue};

// ANCHOR: main
fn main() -> Result<(), Box<dyn std::error::Error>> {
    let q: Queue<String> = Queue::bounded(3)?;
    // ANCHOR: exercise_2_8
    for msg in ["msg1", "msg2", "msg3"] {
        q.put(msg.to_owned())?;
    }
    println!("full: {}", q.is_full());
    match q.put_timeout("msg4".to_owned(), Duration::from_millis(200)) {
        Err(PutError::Full(item)) => println!("full after 200 ms: {item} handed back"),
        other => println!("unexpected: {other:?}"),
    }
    match q.put_nowait("msg4".to_owned()) {
        Err(PutError::Full(item)) => println!("full at once: {item} handed back"),
        other => println!("unexpected: {other:?}"),
    }
    // In one process nobody else touches the queue, so is_empty() is exact here; with other
    // processes around, loop on get_nowait() and stop on Empty instead.
    while !q.is_empty() {
        println!("got {}", q.get_nowait()?);
    }
    match q.get_nowait() {
        Err(GetError::Empty) => println!("empty: {}", q.is_empty()),
        other => println!("unexpected: {other:?}"),
    }
    // ANCHOR_END: exercise_2_8
    Ok(())
}
// ANCHOR_END: main
