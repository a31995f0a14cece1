// wrong: joins the daemon, so it finishes its work instead of dying with main.
    let mut p1 = Process::new(|| fun("egon")).with_daemon(true);
    p1.start()?;
    println!("main process. daemon pid={}", p1.pid().unwrap_or_default());
    p1.join()?;
    Ok(())
