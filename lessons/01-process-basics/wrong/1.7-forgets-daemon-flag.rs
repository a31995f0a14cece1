// wrong: forgets the daemon flag, so main waits for the child at exit and "is gone" prints.
    let mut p1 = Process::new(|| fun("egon"));
    p1.start()?;
    println!("main process. daemon pid={}", p1.pid().unwrap_or_default());
    Ok(())
