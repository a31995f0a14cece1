// wrong: loops WORKERS times instead of TIMES, mixing up the two constants.
    for _ in 0..WORKERS {
        *v.lock().expect("the counter's lock") += 1;
    }
