// wrong: prints the results in the order they arrive, which is the order the jobs finished.
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
    for _ in &jobs {
        let (a, square) = q.get()?;
        println!("job({a}) returned {square}");
    }
