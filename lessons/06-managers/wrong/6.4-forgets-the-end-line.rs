    // wrong: forgets the `(pid) End` line after the pool is joined
    println!("({}) start", std::process::id());
    let manager = Manager::start()?;
    let q: QueueProxy<char> = manager.queue()?;
    let pool = Pool::new(2)?;
    pool.apply_async(writer, q.clone())?.get()?;
    pool.apply_async(reader, q.clone())?.get()?;
    pool.close();
    pool.join()?;
    Ok(())
