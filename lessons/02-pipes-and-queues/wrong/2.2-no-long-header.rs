// wrong: treats every negative header as corrupt, so a long header (-1, then an 8-byte length) is refused.
    let mut head = [0u8; 4];
    match read_full(&mut head)? {
        0 => return Err(RecvError::Eof),
        4 => {}
        got => return Err(RecvError::Truncated { got, expected: 4 }),
    }
    let short = i32::from_be_bytes(head);
    if short < 0 {
        return Err(RecvError::CorruptHeader(format!("negative length {short}")));
    }
    let len = short as u64;
    if len > max as u64 {
        return Err(RecvError::TooLarge { len, max });
    }
    let len = len as usize;
    let mut payload = vec![0u8; len];
    let got = read_full(&mut payload)?;
    if got < len {
        return Err(RecvError::Truncated { got, expected: len });
    }
    Ok(payload)
