//! Seed: the download/analyse pair — one process "downloads" data into a Queue, another
//! analyses it.
//!
//! ```python
//! def download_from_web(q):
//!     for temp in [11, 22, 33, 44]:
//!         q.put(temp)
//!
//! def analysis_data(q):
//!     waitting_analysis_data = list()
//!     while True:
//!         data = q.get()
//!         waitting_analysis_data.append(data)
//!         if q.empty():
//!             break
//!     print(waitting_analysis_data)
//! ```
//! The seed stops when `q.empty()` — a race: if the analyser is faster than the downloader it
//! sees an empty queue after the first item and stops early. `empty()` only says what was true
//! a moment ago. The fix is to have the producer *say* it is done: here a `Done` message.
//! Run it: `cargo run -p forkway-ipc --example download_analyse`

use forkway_ipc::Queue;
use forkway_process::Process;
use serde::{Deserialize, Serialize};

/// What travels on the queue: data, then one message that means "no more".
#[derive(Debug, Serialize, Deserialize)]
enum Download {
    Data(u32),
    Done,
}

fn download_from_web(q: &Queue<Download>) {
    for temp in [11, 22, 33, 44] {
        q.put(Download::Data(temp)).expect("put");
    }
    q.put(Download::Done).expect("put");
}

// ANCHOR: analysis_data
fn analysis_data(q: &Queue<Download>) {
    // ANCHOR: exercise_2_5
    let mut waiting_analysis_data = Vec::new();
    // Stop on the producer's own word, never on `is_empty()`: empty now may be full in a moment.
    while let Ok(Download::Data(data)) = q.get() {
        waiting_analysis_data.push(data);
    }
    println!("{waiting_analysis_data:?}");
    // ANCHOR_END: exercise_2_5
}
// ANCHOR_END: analysis_data

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Created before the processes: both inherit it.
    let q: Queue<Download> = Queue::new()?;
    let mut p1 = Process::new({
        let q = q.clone();
        move || download_from_web(&q)
    });
    let mut p2 = Process::new(move || analysis_data(&q));
    p1.start()?;
    p2.start()?;
    p1.join()?;
    p2.join()?;
    Ok(())
}
