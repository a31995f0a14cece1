// wrong: `let _ = lock.acquire()` drops the guard at once, so the lock is released before the purchase.
    let _ = lock.acquire().expect("the ticket lock");
    let got = purchase(file, || {});
    println!("buyer {i} {}", if got { "got a ticket" } else { "got no ticket" });
    got
