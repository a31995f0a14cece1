//! # forkway-mpi: lesson 8, the Pool's call shapes on MPI
//!
//! When a `multiprocessing` program outgrows one machine, the standard engine for
//! process-parallel programs is MPI: `mpirun -n 64 --hostfile hosts ./prog` starts the same
//! program 64 times, on many machines, and the copies (*ranks*) talk through messages. This
//! crate gives a forkway user the same [`Pool`](forkway_pool::Pool) calls on MPI ranks, with
//! [rsmpi](https://docs.rs/mpi) and Open MPI:
//!
//! ```no_run
//! use forkway_mpi::MpiPool;
//!
//! fn square(x: u64) -> u64 {
//!     x * x
//! }
//!
//! let universe = mpi::initialize().expect("MPI is initialized once");
//! let world = universe.world();
//! // Every rank calls `new`: rank 0 gets the pool, the others serve it until it is closed.
//! if let Some(pool) = MpiPool::new(&world)? {
//!     assert_eq!(pool.map(square, 0..10)?, [0, 1, 4, 9, 16, 25, 36, 49, 64, 81]);
//!     pool.close();
//!     pool.join()?;
//! }
//! # Ok::<(), forkway_mpi::PoolError>(())
//! ```
//!
//! | Python | forkway-mpi |
//! |---|---|
//! | `Pool(3)` (mpi4py: `MPICommExecutor(comm, root=0)`) | `mpirun -n 4 prog` + [`MpiPool::new(&world)?`](MpiPool::new) |
//! | `p.apply_async(f, (x,)).get()` | [`pool.apply_async(f, x)?.get()?`](MpiPool::apply_async) |
//! | `p.map(f, xs)`, `p.map(f, xs, chunksize=20)` | [`pool.map(f, xs)?`](MpiPool::map), [`pool.chunksize(20)?.map(f, xs)?`](MpiPool::chunksize) |
//! | `p.starmap(f, pairs)`, `p.imap(f, xs)` | [`starmap`](MpiPool::starmap), [`imap`](MpiPool::imap) |
//! | `p.close()`, `p.join()`, `p.terminate()` | the same names |
//! | `Queue.put` / `Queue.get` between two processes | `send_with_tag` / `receive` between two ranks |
//! | a static split of the work | [`scatter_map`]: scatter, compute, gather |
//!
//! ## Tasks
//! As in forkway-pool, a task is a fn item or a closure that captures nothing, and its argument
//! and result travel serialized with serde. The code travels as an offset into the executable,
//! which is the same in every rank because `mpirun` starts the same program everywhere; the pool
//! checks that when it starts ([`PoolError::NotSameProgram`]).
//!
//! ## When a rank dies
//! A task's panic is caught in its worker and comes back as that task's
//! [`TaskError::Panicked`]. A rank that *dies* (killed, `abort`, `exit`) ends the whole job:
//! MPI's default error handler aborts every rank, and `mpirun` reports which one died. There is
//! no `WorkerDied` to receive, because no process is left to receive it. Long jobs checkpoint
//! and restart; fault-tolerant MPI (ULFM) or a task system (Ray, Dask) keeps going instead.

mod collective;
mod error;
mod pool;
mod result;
mod task;
pub mod wait;
mod worker;

pub use collective::{displacements, scatter_map, split_counts};
pub use error::{PoolError, TaskError};
pub use forkway_pool::StarFn;
pub use pool::{Chunked, MpiPool};
pub use result::{AsyncResult, IMap};
