// wrong: refuses a message of exactly `max` bytes: the limit is inclusive.
    let mut head = [0u8; 4];
    match read_full(&mut head)? {
        0 => return Err(RecvError::Eof),
        4 => {}
        got => return Err(RecvError::Truncated { got, expected: 4 }),
    }
    let short = i32::from_be_bytes(head);
    let len: u64 = if short >= 0 {
        short as u64
    } else if short == -1 {
        let mut long = [0u8; 8];
        let got = read_full(&mut long)?;
        if got < 8 {
            return Err(RecvError::Truncated { got, expected: 8 });
        }
        u64::from_be_bytes(long)
    } else {
        return Err(RecvError::CorruptHeader(format!("negative length {short}")));
    };
    if len >= max as u64 {
        return Err(RecvError::TooLarge { len, max });
    }
    let len = len as usize;
    let mut payload = vec![0u8; len];
    let got = read_full(&mut payload)?;
    if got < len {
        return Err(RecvError::Truncated { got, expected: len });
    }
    Ok(payload)
