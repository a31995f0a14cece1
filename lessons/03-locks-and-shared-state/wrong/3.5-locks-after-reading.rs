// wrong: takes the lock only after the purchase has read and written, which protects nothing.
    let got = purchase(file, || {});
    let _held = lock.acquire().expect("the ticket lock");
    println!("buyer {i} {}", if got { "got a ticket" } else { "got no ticket" });
    got
