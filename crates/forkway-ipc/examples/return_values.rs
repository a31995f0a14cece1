//! Seed: getting return values back from processes through a Queue.
//!
//! ```python
//! def job(q, a):
//!     time.sleep(3)
//!     q.put(a)
//!
//! q = multiprocessing.Queue()
//! p1 = Process(target=job, args=(q, 1)); p2 = Process(target=job, args=(q, 2))
//! p1.start(); p2.start(); p1.join(); p2.join()
//! res1 = q.get(); res2 = q.get()
//! print(res1, res2)
//! ```
//! "As many gets as there are return values": a process's return value does not come back by
//! itself, each job puts one result. The seed joins before it gets, which only works in Python
//! because the results are tiny (see the chapter: joining before draining can deadlock there).
//! forkway's `put` stores the message before it returns, so this order is always safe here.
//! Run it: `cargo run -p forkway-ipc --example return_values`

use forkway_ipc::Queue;
use forkway_process::Process;

/// The "work": square the argument, and send back who did it.
fn job(q: &Queue<(u32, u64)>, a: u32) {
    let gate = std::env::var_os(GATE);
    if let (Some(gate), 1) = (&gate, a) {
        wait_for_job_2(gate);
    }
    q.put((a, u64::from(a) * u64::from(a))).expect("put");
    if let (Some(gate), 2) = (&gate, a) {
        job_2_is_done(gate);
    }
}

/// The course's check sets this to a pipe it holds open (a `/proc/<pid>/fd/<n>` path): job 1
/// then waits until job 2 has put its result, so the results arrive as 2, 1. A real run gives
/// that order whenever job 2 happens to finish first; the check makes it happen every time.
const GATE: &str = "RETURN_VALUES_GATE";

fn wait_for_job_2(gate: &std::ffi::OsStr) {
    use std::io::Read;
    let mut pipe = std::fs::File::open(gate).expect("open the gate");
    pipe.read_exact(&mut [0u8; 1]).expect("job 2's byte");
}

fn job_2_is_done(gate: &std::ffi::OsStr) {
    use std::io::Write;
    let mut pipe = std::fs::OpenOptions::new()
        .write(true)
        .open(gate)
        .expect("open the gate");
    pipe.write_all(b"2").expect("tell job 1");
}

// ANCHOR: main
fn main() -> Result<(), Box<dyn std::error::Error>> {
    let q: Queue<(u32, u64)> = Queue::new()?;
    // ANCHOR: exercise_2_7
    let mut jobs: Vec<Process> = (1..=2)
        .map(|a| {
            let q = q.clone();
            Process::new(move || job(&q, a))
        })
        .collect();
    for p in &mut jobs {
        p.start()?;
    }
    for p in &jobs {
        p.join()?;
    }
    // One get per result. They arrive in the order the jobs finished, so sort by argument.
    let mut results: Vec<(u32, u64)> = jobs.iter().map(|_| q.get()).collect::<Result<_, _>>()?;
    results.sort_unstable();
    for (a, square) in results {
        println!("job({a}) returned {square}");
    }
    // ANCHOR_END: exercise_2_7
    Ok(())
}
// ANCHOR_END: main
