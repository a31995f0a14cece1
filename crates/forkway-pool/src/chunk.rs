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

/// Splits `items` into chunks of `size` (the last one may be shorter), keeping each chunk's
/// index of its first item.
pub(crate) fn chunks<A>(items: Vec<A>, size: usize) -> Vec<(usize, Vec<A>)> {
    debug_assert!(size > 0);
    let mut out = Vec::with_capacity(items.len().div_ceil(size));
    let mut start = 0;
    let mut items = items.into_iter().peekable();
    while items.peek().is_some() {
        let chunk: Vec<A> = items.by_ref().take(size).collect();
        let len = chunk.len();
        out.push((start, chunk));
        start += len;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::chunks;

    #[test]
    fn chunks_cover_every_item_once_in_order() {
        for n in 0..30usize {
            for size in 1..8 {
                let got = chunks((0..n).collect(), size);
                let flat: Vec<usize> = got.iter().flat_map(|(_, c)| c.clone()).collect();
                assert_eq!(flat, (0..n).collect::<Vec<_>>());
                for (start, c) in &got {
                    assert_eq!(c.first(), Some(start));
                    assert!(c.len() <= size && !c.is_empty());
                }
            }
        }
    }
}
