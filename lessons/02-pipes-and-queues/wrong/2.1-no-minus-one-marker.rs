// wrong: a large length is sent as eight bytes without the -1 marker in front.
    match i32::try_from(len) {
        Ok(n) => n.to_be_bytes().to_vec(),
        Err(_) => (len as u64).to_be_bytes().to_vec(),
    }
