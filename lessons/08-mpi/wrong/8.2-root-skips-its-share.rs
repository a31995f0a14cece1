// wrong: rank 0 forgets that it is one of the ranks: its own share is gathered without f
let root = comm.process_at_rank(0);
let is_root = comm.rank() == 0;
let mut total = items.len() as u64;
root.broadcast_into(&mut total);
let counts: Vec<Count> = split_counts(total as usize, comm.size() as usize)
    .into_iter()
    .map(|c| c as Count)
    .collect();
let displs = displacements(&counts);
let mut share = vec![0u64; counts[comm.rank() as usize] as usize];
if is_root {
    let whole = Partition::new(items, &counts[..], &displs[..]);
    root.scatter_varcount_into_root(&whole, &mut share[..]);
} else {
    root.scatter_varcount_into(&mut share[..]);
}
if is_root {
    let mut results = vec![0u64; total as usize];
    let mut whole = PartitionMut::new(&mut results[..], &counts[..], &displs[..]);
    root.gather_varcount_into_root(&share[..], &mut whole);
    Some(results)
} else {
    let mine: Vec<u64> = share.into_iter().map(f).collect();
    root.gather_varcount_into(&mine[..]);
    None
}
