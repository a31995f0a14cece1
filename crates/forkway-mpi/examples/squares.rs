//! The seeds' pool of squares, on MPI ranks: `map(job, range(10))`, `apply_async(job, (2,))`,
//! and ten async results collected in a list.
//!
//! ```text
//! cargo build -p forkway-mpi --examples
//! mpirun --oversubscribe -n 3 target/debug/examples/squares
//! ```

use forkway_mpi::{MpiPool, PoolError};

// ANCHOR: job
/// The task: as in the seed, `def job(a): return a*a`.
pub fn job(a: u64) -> u64 {
    a * a
}
// ANCHOR_END: job

/// What the seed's three programs print.
#[derive(Debug, PartialEq, Eq)]
pub struct Squares {
    /// `po.map(job, range(10))`
    pub mapped: Vec<u64>,
    /// `po.apply_async(job, (2,)).get()`
    pub one: u64,
    /// `[r.get() for r in [po.apply_async(job, (i,)) for i in range(10)]]`
    pub each: Vec<u64>,
}

// ANCHOR: squares
/// The seed's three programs on `pool` (rank 0).
pub fn squares(pool: &MpiPool) -> Result<Squares, PoolError> {
    // ANCHOR: exercise_8_4
    let mapped = pool.map(job, 0..10)?;
    let one = pool.apply_async(job, 2)?.get()?;
    // Submit all ten first, then wait: the tasks run while we collect.
    let pending = (0..10)
        .map(|i| pool.apply_async(job, i))
        .collect::<Result<Vec<_>, _>>()?;
    let each = pending
        .into_iter()
        .map(|r| r.get())
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Squares { mapped, one, each })
    // ANCHOR_END: exercise_8_4
}
// ANCHOR_END: squares

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let universe = mpi::initialize().ok_or("MPI is already initialized")?;
    let world = universe.world();
    // Every rank makes the pool; only rank 0 gets it, the others serve it until it is closed.
    if let Some(pool) = MpiPool::new(&world)? {
        let s = squares(&pool)?;
        println!("{:?}", s.mapped);
        println!("{}", s.one);
        println!("{:?}", s.each);
        pool.close();
        pool.join()?;
    }
    Ok(())
}
