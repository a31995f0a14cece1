// wrong: numbers the printed jobs by their position from 0 instead of by their argument.
    let mut jobs: Vec<Process> = (1..=2)
        .map(|a| {
            let q = q.clone();
            Process::new(move || job(&q, a))
        })
        .collect();
    for p in &mut jobs {
        p.start()?;
    }
    for p in &jobs {
        p.join()?;
    }
    let mut results: Vec<(u32, u64)> = jobs.iter().map(|_| q.get()).collect::<Result<_, _>>()?;
    results.sort_unstable();
    for (i, (_a, square)) in results.into_iter().enumerate() {
        println!("job({i}) returned {square}");
    }
