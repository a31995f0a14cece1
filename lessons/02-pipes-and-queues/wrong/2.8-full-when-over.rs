// wrong: calls the queue full only when it holds more than maxsize items.
    for msg in ["msg1", "msg2", "msg3"] {
        q.put(msg.to_owned())?;
    }
    println!("full: {}", q.qsize() > 3);
    match q.put_timeout("msg4".to_owned(), Duration::from_millis(200)) {
        Err(PutError::Full(item)) => println!("full after 200 ms: {item} handed back"),
        other => println!("unexpected: {other:?}"),
    }
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

