// wrong: takes the argument for the result and never runs job(2).
    let mapped = pool.map(job, 0..10)?;
    let one = 2;
    // Submit all ten first, then collect: the tasks run while we wait for the first.
    let pending = (0..10)
        .map(|i| pool.apply_async(job, i))
        .collect::<Result<Vec<_>, _>>()?;
    let collected = pending
        .into_iter()
        .map(|r| r.get())
        .collect::<Result<Vec<_>, _>>()?;
    Ok((mapped, one, collected))

