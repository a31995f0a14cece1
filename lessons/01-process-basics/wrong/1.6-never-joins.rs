// wrong: never joins the workers, so main prints its last line while they still work.
    let mut workers: Vec<Process> = ["egon", "alex", "jack", "tom"]
        .into_iter()
        .map(|name| Process::new(move || piao(name, max_ms)))
        .collect();
    for w in &mut workers {
        w.start()?;
    }
    println!("p1 name is {}.", workers[0].name());
