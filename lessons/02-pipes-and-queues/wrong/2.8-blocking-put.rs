// wrong: the fourth put is a plain blocking put, which waits forever for room nobody makes.
    for msg in ["msg1", "msg2", "msg3"] {
        q.put(msg.to_owned())?;
    }
    println!("full: {}", q.is_full());
    q.put("msg4".to_owned())?;
    let _ = Duration::from_millis(200);
    match q.put_nowait("msg4".to_owned()) {
        Err(PutError::Full(item)) => println!("full at once: {item} handed back"),
        other => println!("unexpected: {other:?}"),
    }
    // In one process nobody else touches the queue, so is_empty() is exact here; with other
    // processes around, loop on get_nowait() and stop on Empty instead.
    while !q.is_empty() {
        println!("got {}", q.get_nowait()?);
    }
    match q.get_nowait() {
        Err(GetError::Empty) => println!("empty: {}", q.is_empty()),
        other => println!("unexpected: {other:?}"),
    }

