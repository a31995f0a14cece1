// wrong: records the hook but never runs a spawned child's request.
    match std::thread::current().name() {
        Some("main") | None => PROGRAM_HOOK.store(true, Ordering::SeqCst),
        Some(test) => {
            let test = test.to_owned();
            TEST_HOOK.with(|t| *t.borrow_mut() = Some(test));
        }
    }
