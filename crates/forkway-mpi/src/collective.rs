//! A map with collectives: scatter the chunks, every rank computes, gather the results.
//!
//! This is the other way to share out a map in MPI, and the one MPI was designed for: no
//! parent, no messages per task, one call that every rank makes together. It fits work whose
//! size is known in advance and whose items cost about the same; [`MpiPool`](crate::MpiPool)
//! (a parent handing chunks to whichever worker is idle) fits the rest.

use mpi::datatype::{Partition, PartitionMut};
use mpi::topology::Communicator;
use mpi::traits::Root;
use mpi::Count;

// ANCHOR: split_counts
/// How [`scatter_map`] shares `items` among `ranks`: as evenly as possible, the first
/// `items % ranks` ranks one item more than the others. `ranks == 0` is treated as 1.
///
/// ```
/// use forkway_mpi::split_counts;
///
/// assert_eq!(split_counts(10, 3), [4, 3, 3]);
/// assert_eq!(split_counts(2, 3), [1, 1, 0]);
/// assert_eq!(split_counts(9, 3), [3, 3, 3]);
/// ```
pub fn split_counts(items: usize, ranks: usize) -> Vec<usize> {
    // ANCHOR: exercise_8_1
    let ranks = ranks.max(1);
    let (base, extra) = (items / ranks, items % ranks);
    (0..ranks).map(|r| base + usize::from(r < extra)).collect()
    // ANCHOR_END: exercise_8_1
}
// ANCHOR_END: split_counts

/// Where each rank's share starts in the whole: the running sum of `counts`.
pub fn displacements(counts: &[Count]) -> Vec<Count> {
    counts
        .iter()
        .scan(0, |next, &c| {
            let start = *next;
            *next += c;
            Some(start)
        })
        .collect()
}

// ANCHOR: scatter_map
/// `f` on every item of `items`, shared out among all ranks of `comm` with collectives.
///
/// Collective: every rank calls it, with the same `f`; only rank 0's `items` are read. Rank 0
/// scatters the items in [`split_counts`] shares (keeping the first share itself), every rank
/// applies `f` to its share, and rank 0 gathers the results in input order and returns them.
/// The other ranks return `None`.
///
/// # Panics
/// With more than `i32::MAX` items (MPI counts are `int`).
pub fn scatter_map<C: Communicator>(comm: &C, f: fn(u64) -> u64, items: &[u64]) -> Option<Vec<u64>> {
    // ANCHOR: exercise_8_2
    let root = comm.process_at_rank(0);
    let is_root = comm.rank() == 0;
    // Only rank 0 has the items: every rank learns how many there are, to know its share.
    let mut total = items.len() as u64;
    root.broadcast_into(&mut total);
    let counts: Vec<Count> = split_counts(total as usize, comm.size() as usize)
        .into_iter()
        .map(|c| Count::try_from(c).expect("at most i32::MAX items"))
        .collect();
    let displs = displacements(&counts);
    let mut share = vec![0u64; counts[comm.rank() as usize] as usize];
    if is_root {
        let whole = Partition::new(items, &counts[..], &displs[..]);
        root.scatter_varcount_into_root(&whole, &mut share[..]);
    } else {
        root.scatter_varcount_into(&mut share[..]);
    }
    let mine: Vec<u64> = share.into_iter().map(f).collect();
    if is_root {
        let mut results = vec![0u64; total as usize];
        let mut whole = PartitionMut::new(&mut results[..], &counts[..], &displs[..]);
        root.gather_varcount_into_root(&mine[..], &mut whole);
        Some(results)
    } else {
        root.gather_varcount_into(&mine[..]);
        None
    }
    // ANCHOR_END: exercise_8_2
}
// ANCHOR_END: scatter_map
