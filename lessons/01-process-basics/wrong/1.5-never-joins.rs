// wrong: prints the exit code without joining, so it is not known yet.
    let mut p1 = Process::new(run_proc);
    p1.start()?;
    println!(
        "main: child {} exited with {:?}",
        p1.pid().unwrap_or_default(),
        p1.exitcode()
    );
