// wrong: measures the offset the wrong way round (anchor minus entry).
    let entry = run_entry::<F, Args> as Entry as usize;
    (anchor as Entry as usize as i64).wrapping_sub(entry as i64)
