// wrong: each rank splits by its own items.len(), but only rank 0 has the items (no broadcast)
let root = comm.process_at_rank(0);
let is_root = comm.rank() == 0;
let total = items.len();
let counts: Vec<Count> = split_counts(total, comm.size() as usize)
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
let mine: Vec<u64> = share.into_iter().map(f).collect();
if is_root {
    let mut results = vec![0u64; total];
    let mut whole = PartitionMut::new(&mut results[..], &counts[..], &displs[..]);
    root.gather_varcount_into_root(&mine[..], &mut whole);
    Some(results)
} else {
    root.gather_varcount_into(&mine[..]);
    None
}
