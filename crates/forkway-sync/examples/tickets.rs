//! Seed: the ticket-selling race (进程锁Lock) — ten buyers read a JSON file of remaining
//! tickets, "wait for the network", and write it back.
//!
//! ```python
//! def buy_ticket(i, lock):
//!     lock.acquire()
//!     with open('ticket') as f:
//!         dic = json.load(f)
//!     time.sleep(0.1)                      # network delay
//!     if dic['ticket'] > 0:
//!         dic['ticket'] -= 1
//!         print('%s got a ticket' % i)
//!     else:
//!         print('%s got no ticket' % i)
//!     with open('ticket', 'w') as f:
//!         json.dump(dic, f)
//!     lock.release()
//! ```
//! Without the lock, every buyer can read "1 left" before anyone writes, and ten tickets are
//! sold out of one. The seed shows it with sleeps, sometimes; here it shows every time: a buyer
//! that reads without holding the ticket lock waits at a `Barrier` until all ten have read, then
//! writes (`--no-lock` runs it so). With the lock, exactly one ticket is sold. Run it:
//! `cargo run -p forkway-sync --example tickets` and `… --example tickets -- --no-lock`

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use forkway_process::Process;
use forkway_sync::{Barrier, Lock};
use serde_json::json;

const BUYERS: u32 = 10;

fn read_tickets(file: &Path) -> u64 {
    let text = std::fs::read_to_string(file).expect("read the ticket file");
    let dic: serde_json::Value = serde_json::from_str(&text).expect("a JSON object");
    dic["ticket"].as_u64().expect("a ticket count")
}

fn write_tickets(file: &Path, left: u64) {
    std::fs::write(file, json!({ "ticket": left }).to_string()).expect("write the ticket file");
}

/// The ticket lock, and a barrier for all buyers: set by `main` before it forks.
static RACE: OnceLock<(Lock, Barrier)> = OnceLock::new();

/// One purchase: read, decide, write. Returns whether this buyer got a ticket.
fn purchase(file: &Path, before_writing: impl FnOnce()) -> bool {
    let left = read_tickets(file);
    // The seed's "network delay", made certain: a buyer that read without holding the ticket
    // lock waits until every buyer has read, so without the lock all ten write `1 - 1`.
    if let Some((lock, all_have_read)) = RACE.get() {
        if !lock.locked() {
            all_have_read.wait().expect("barrier");
        }
    }
    before_writing();
    if left > 0 {
        write_tickets(file, left - 1);
        true
    } else {
        false
    }
}

// ANCHOR: buy
/// Buys under the lock: nobody else can read between our read and our write.
fn buy(i: u32, file: &Path, lock: &Lock) -> bool {
    // ANCHOR: exercise_3_5
    let _held = lock.acquire().expect("the ticket lock");
    let got = purchase(file, || {});
    println!("buyer {i} {}", if got { "got a ticket" } else { "got no ticket" });
    got
    // ANCHOR_END: exercise_3_5
}
// ANCHOR_END: buy

/// The race, made certain by `purchase`: everyone reads, then everyone writes.
fn buy_without_lock(i: u32, file: &Path) -> bool {
    let got = purchase(file, || {});
    println!("buyer {i} {}", if got { "got a ticket" } else { "got no ticket" });
    got
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let no_lock = std::env::args().any(|a| a == "--no-lock");
    let file: PathBuf = std::env::temp_dir().join(format!("forkway-tickets-{}.json", std::process::id()));
    // Removes the file however main ends, a failed join included. (Buyers never run it: a forked
    // child leaves with `_exit`, which runs no destructor of the parent's.)
    let _cleanup = RemoveOnDrop(file.clone());
    write_tickets(&file, 1);
    let lock = Lock::new()?;
    let barrier = Barrier::new(BUYERS)?;
    let _ = RACE.set((lock.clone(), barrier));
    let mut buyers: Vec<Process> = (0..BUYERS)
        .map(|i| {
            let (file, lock) = (file.clone(), lock.clone());
            // The exit code says whether this buyer got a ticket: 0 yes, 1 no.
            Process::new(move || {
                let got = if no_lock {
                    buy_without_lock(i, &file)
                } else {
                    buy(i, &file, &lock)
                };
                if !got {
                    forkway_process::exit(1);
                }
            })
        })
        .collect();
    for b in &mut buyers {
        b.start()?;
    }
    let mut sold = 0;
    for b in &buyers {
        b.join()?;
        sold += u32::from(b.exitcode() == Some(0));
    }
    println!("sold: {sold}, left: {}", read_tickets(&file));
    Ok(())
}

/// Deletes its file when dropped.
struct RemoveOnDrop(PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}
