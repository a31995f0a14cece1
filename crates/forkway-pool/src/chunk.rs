//! Chunking: many tiny tasks cost one message each way per *chunk*, not per task.

// ANCHOR: default_chunksize
/// The chunk size `map` and `starmap` use when you do not choose one: Python's heuristic,
/// `ceil(items / (4 * workers))`, so that each worker gets about four chunks — few messages,
/// and still some balancing when chunks take different times. Empty input needs no chunk.
///
/// ```
/// use forkway_pool::default_chunksize;
///
/// assert_eq!(default_chunksize(10, 2), 2);
/// assert_eq!(default_chunksize(100, 4), 7);
/// assert_eq!(default_chunksize(1000, 8), 32);
/// assert_eq!(default_chunksize(7, 4), 1);
/// assert_eq!(default_chunksize(0, 4), 0);
/// ```
pub fn default_chunksize(items: usize, workers: usize) -> usize {
    // ANCHOR: exercise_5_1
    let per_round = 4 * workers.max(1);
    items.div_ceil(per_round)
    // ANCHOR_END: exercise_5_1
}
// ANCHOR_END: default_chunksize
