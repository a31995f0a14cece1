    // wrong: prints `c1 got bun 3.` instead of the statement's `consumer c1 got bun 3.`
    while let Ok(bun) = q.get() {
        std::thread::sleep(pause); // eating
        println!("{name} got {bun}.");
        q.task_done().expect("one task_done per get");
    }
