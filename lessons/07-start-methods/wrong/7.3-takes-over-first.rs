// wrong: takes over before recording the hook, so a spawned target cannot spawn again.
    if let Some(fd) = std::env::var_os(SPAWN_FD_VAR) {
        run_spawned(&fd);
    }
    match std::thread::current().name() {
        Some("main") | None => PROGRAM_HOOK.store(true, Ordering::SeqCst),
        Some(test) => {
            let test = test.to_owned();
            TEST_HOOK.with(|t| *t.borrow_mut() = Some(test));
        }
    }
