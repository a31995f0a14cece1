// wrong: prints the name line inside the start loop, once per worker instead of once.
    let mut workers: Vec<Process> = ["egon", "alex", "jack", "tom"]
        .into_iter()
        .map(|name| Process::new(move || piao(name, max_ms)))
        .collect();
    for w in &mut workers {
        w.start()?;
        println!("p1 name is {}.", w.name());
    }
    for w in &workers {
        w.join()?;
    }
