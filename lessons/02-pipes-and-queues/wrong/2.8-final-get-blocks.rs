// wrong: the final get is a blocking get, which waits forever on the empty queue.
    for msg in ["msg1", "msg2", "msg3"] {
        q.put(msg.to_owned())?;
    }
    println!("full: {}", q.is_full());
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
    let last = q.get()?;
    println!("unexpected: {last}");
    let _: Option<GetError> = None;

