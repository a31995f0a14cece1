// wrong: prints the parent's own pid where the child's is asked for.
    let mut p1 = Process::new(run_proc);
    p1.start()?;
    p1.join()?;
    println!(
        "main: child {} exited with {:?}",
        std::process::id(),
        p1.exitcode()
    );
