// wrong: stops when the queue is momentarily empty instead of on the producer's Done.
    while let Ok(Bun::Bun(bun)) = q.get_nowait() {
        println!("consumer {name} got {bun}.");
    }
