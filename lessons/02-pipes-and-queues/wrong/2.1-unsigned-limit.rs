// wrong: lengths up to 4 GiB fit "four bytes" as u32, but the format's four bytes are a signed i32.
    match u32::try_from(len) {
        Ok(n) => n.to_be_bytes().to_vec(),
        Err(_) => {
            let mut h = (-1i32).to_be_bytes().to_vec();
            h.extend_from_slice(&(len as u64).to_be_bytes());
            h
        }
    }
