//! Pool workers count the words of a text into one shared `Manager().dict()`.
//!
//! ```python
//! def count(line, counts, lock):
//!     mine = collections.Counter(line.split())
//!     with lock:                          # get + set is two round trips: not atomic
//!         for w, n in mine.items():
//!             counts[w] = counts.get(w, 0) + n
//!
//! with Manager() as m, Pool(3) as pool:
//!     counts, lock = m.dict(), m.Lock()
//!     pool.starmap(count, [(line, counts, lock) for line in text.splitlines()])
//!     print(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))
//! ```
//! Run it: `cargo run -p forkway-manager --example word_count [FILE]` (without a file, a short
//! built-in text). Prints `word count` lines, most frequent first, then the total.

use std::collections::HashMap;

use forkway_manager::{DictProxy, LockProxy, Manager};
use forkway_pool::Pool;

const TEXT: &str = "\
the pool forks its workers once
the manager owns the shared dict
a proxy sends every call to the manager
the workers count words and the manager adds them up
";

// ANCHOR: count_line
/// Counts one line's words, then adds them to the shared counts under the shared lock.
/// Returns how many distinct words the line had.
fn count_line(line: String, counts: DictProxy<String, u64>, lock: LockProxy) -> usize {
    // ANCHOR: exercise_6_5
    let mut mine: HashMap<String, u64> = HashMap::new();
    for word in line.split_whitespace() {
        *mine.entry(word.to_owned()).or_default() += 1;
    }
    // Counting locally first means one lock and one round trip per distinct word, not per
    // word. The lock makes each read-modify-write whole: without it two workers may read
    // the same old count, and one addition is lost.
    lock.acquire().expect("the manager's lock");
    for (word, n) in &mine {
        let old = counts.get(word).expect("get").unwrap_or(0);
        counts.insert(word, &(old + n)).expect("insert");
    }
    lock.release().expect("release");
    mine.len()
    // ANCHOR_END: exercise_6_5
}
// ANCHOR_END: count_line

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let text = match std::env::args().nth(1) {
        Some(path) => std::fs::read_to_string(path)?,
        None => TEXT.to_owned(),
    };
    let manager = Manager::start()?;
    let counts: DictProxy<String, u64> = manager.dict()?;
    let lock = manager.lock()?;
    let pool = Pool::new(3)?;
    let tasks: Vec<_> = text
        .lines()
        .map(|line| Ok((line.to_owned(), counts.try_clone()?, lock.try_clone()?)))
        .collect::<Result<_, forkway_manager::ManagerError>>()?;
    pool.chunksize(1)?.starmap(count_line, tasks)?;
    pool.close();
    pool.join()?;
    let mut all = counts.items()?;
    all.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    for (word, n) in &all {
        println!("{word} {n}");
    }
    println!("total {}", all.iter().map(|(_, n)| n).sum::<u64>());
    Ok(())
}
