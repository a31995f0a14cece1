// wrong: joins without closing the pool first, which is refused: join needs close (or terminate) first.
    let pool = Pool::new(3)?;
    let pids = Arc::new(Mutex::new(Vec::new()));
    for i in 0..10 {
        let pids = Arc::clone(&pids);
        // The handle is not kept: the callback receives the result in the parent.
        let _ = pool
            .apply_async(worker, (i, scale))?
            .callback(move |pid| pids.lock().expect("pids").push(*pid));
    }
    println!("----start----");
    pool.join()?;
    println!("-----end-----");
    let pids = pids.lock().expect("pids").clone();
    Ok(pids)

