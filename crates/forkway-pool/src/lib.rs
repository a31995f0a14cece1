//! # forkway-pool: lesson 5, the process pool
//!
//! Python's `multiprocessing.Pool` on forked worker processes: start a few workers once, then
//! send them thousands of tasks. Functions travel by reference and data by value, as in Python:
//! a task is a fn item or a closure that captures nothing, and its argument and result are
//! serialized with serde.
//!
//! ```
//! use forkway_pool::Pool;
//!
//! fn square(x: u64) -> u64 {
//!     x * x
//! }
//!
//! let pool = Pool::new(3)?;
//! assert_eq!(pool.map(square, 0..10)?, [0, 1, 4, 9, 16, 25, 36, 49, 64, 81]);
//! assert_eq!(pool.apply_async(square, 7)?.get()?, 49);
//! assert_eq!(pool.apply(|(a, b): (u32, u32)| a + b, (2, 3))?, 5);
//! pool.close();
//! pool.join()?;
//! # Ok::<(), forkway_pool::PoolError>(())
//! ```
//!
//! A closure that captures a variable is refused at compile time, with the reason:
//!
//! ```compile_fail
//! let pool = forkway_pool::Pool::new(2)?;
//! let offset = 10u64;
//! // error: a pool task must be a fn item or a closure that captures nothing: the workers were
//! // forked before this closure existed, so its captured variables cannot reach them. …
//! pool.map(move |x: u64| x + offset, 0..10)?;
//! # Ok::<(), forkway_pool::PoolError>(())
//! ```
//!
//! | Python | forkway |
//! |---|---|
//! | `Pool(processes=3)`, `Pool()` | [`Pool::new(3)`](Pool::new), [`Pool::builder()`](Pool::builder)`.build()` |
//! | `Pool(initializer=f, maxtasksperchild=n)` | [`Pool::builder()`](Pool::builder)`.initializer(f).maxtasksperchild(n)` |
//! | `get_context('spawn').Pool()` (lesson 7) | [`Pool::builder()`](Pool::builder)`.context(ctx)` ([`PoolBuilder::context`]) |
//! | `apply(f, (x,))` | [`pool.apply(f, x)`](Pool::apply) |
//! | `apply_async(f, (x,), callback=cb, error_callback=eb)` | [`pool.apply_async(f, x)?`](Pool::apply_async)`.callback(cb).error_callback(eb)` |
//! | `map(f, xs)`, `map(f, xs, chunksize=20)` | [`pool.map(f, xs)`](Pool::map), [`pool.chunksize(20)?`](Pool::chunksize)`.map(f, xs)` |
//! | `map_async`, `starmap`, `starmap_async` | [`map_async`](Pool::map_async), [`starmap`](Pool::starmap), [`starmap_async`](Pool::starmap_async) |
//! | `imap(f, xs)`, `imap_unordered(f, xs)` | [`imap`](Pool::imap), [`imap_unordered`](Pool::imap_unordered) (bounded memory) |
//! | `res.get()`, `res.get(timeout=t)`, `wait`, `ready`, `successful` | [`AsyncResult`] |
//! | `close()`, `terminate()`, `join()`, `with Pool() as p:` | [`close`](Pool::close), [`terminate`](Pool::terminate), [`join`](Pool::join), drop |
//! | a worker killed mid-task: `get()` hangs forever | [`TaskError::WorkerDied`] for that task; a replacement starts |
//!
//! ## No helper threads
//! Python's pool runs three threads in the parent: one feeds tasks, one collects results and
//! runs callbacks, one replaces dead workers. forkway's has none, because a parent with threads
//! forks replacement workers that may inherit a lock held by another thread (stdout's, say) and
//! hang on their first `println!`. Workers take tasks from a shared-memory queue on their own, so
//! work proceeds while the parent does something else; what needs the parent — collecting
//! results, running callbacks, replacing a dead worker, feeding `imap` — happens inside the
//! pool's calls (`get`, `wait`, `ready`, `join`, iterating, submitting). Callbacks therefore run
//! in the thread that owns the pool, never concurrently with it.

mod arena;
mod chunk;
mod chunked;
mod error;
mod format;
mod jobs;
mod plain;
mod pool;
mod result;
mod start;
mod supervise;
mod task;
#[doc(hidden)]
pub mod wire;
mod worker;

use serde::de::DeserializeOwned;
use serde::Serialize;

pub use chunk::default_chunksize;
pub use chunked::Chunked;
pub use error::{PoolError, TaskError};
pub use pool::{Pool, PoolBuilder};
pub use result::{AsyncResult, IMap, MapResult};
pub use task::StarFn;

/// The most workers one pool can have (their slots share two pages of memory with two flags).
pub const MAX_PROCESSES: usize = 1022;

/// What a task's result must be to come back from a worker: serializable there, deserializable
/// here, and free to move to the thread that owns the pool. The bound of the map family's `R`,
/// written once.
///
/// Every type that is all of these is a `Wire` already (a blanket implementation); there is
/// nothing to implement.
pub trait Wire: Serialize + DeserializeOwned + Send + 'static {}

impl<T: Serialize + DeserializeOwned + Send + 'static> Wire for T {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::supervise::Page;

    #[test]
    fn a_pool_can_move_to_another_thread() {
        fn assert_send<T: Send>() {}
        assert_send::<Pool>();
    }

    #[test]
    fn the_shared_page_fits_its_mapping_size() {
        assert!(std::mem::size_of::<Page>() <= 8192);
    }

    #[test]
    fn invalid_sizes_are_refused_before_any_fork() {
        assert!(matches!(Pool::new(0), Err(PoolError::NoProcesses)));
        assert!(matches!(
            Pool::new(MAX_PROCESSES + 1),
            Err(PoolError::TooManyProcesses { .. })
        ));
        assert!(matches!(
            Pool::builder().processes(1).maxtasksperchild(0).build(),
            Err(PoolError::ZeroMaxTasks)
        ));
    }
}
