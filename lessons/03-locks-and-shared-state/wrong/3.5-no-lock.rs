// wrong: buys without taking the ticket lock, so every buyer can read "1 left" before anyone writes.
    let _ = lock;
    let got = purchase(file, || {});
    println!("buyer {i} {}", if got { "got a ticket" } else { "got no ticket" });
    got
