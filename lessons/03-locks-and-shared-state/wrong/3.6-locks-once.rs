// wrong: takes the lock once around the loop's first step only, so each worker adds 1 instead of TIMES.
    let mut n = v.lock().expect("the counter's lock");
    *n += 1;
