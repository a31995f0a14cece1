// wrong: writes the length little-endian, so another reader sees a different number.
    match i32::try_from(len) {
        Ok(n) => n.to_le_bytes().to_vec(),
        Err(_) => {
            let mut h = (-1i32).to_le_bytes().to_vec();
            h.extend_from_slice(&(len as u64).to_le_bytes());
            h
        }
    }
