// wrong: maps over 0..=10, one item too many.
    let mapped = pool.map(job, 0..=10)?;
    let one = pool.apply_async(job, 2)?.get()?;
    // Submit all ten first, then collect: the tasks run while we wait for the first.
    let pending = (0..10)
        .map(|i| pool.apply_async(job, i))
        .collect::<Result<Vec<_>, _>>()?;
    let collected = pending
        .into_iter()
        .map(|r| r.get())
        .collect::<Result<Vec<_>, _>>()?;
    Ok((mapped, one, collected))

