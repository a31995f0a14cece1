// wrong: apply_async(job, 2) is replaced by a direct call on rank 0
let mapped = pool.map(job, 0..10)?;
let one = job(2);
let pending = (0..10)
    .map(|i| pool.apply_async(job, i))
    .collect::<Result<Vec<_>, _>>()?;
let each = pending
    .into_iter()
    .map(|r| r.get())
    .collect::<Result<Vec<_>, _>>()?;
Ok(Squares { mapped, one, each })
