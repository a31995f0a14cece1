// wrong: compares only the length of the answer's MAC, so any digest of the right size gets in.
    let mut message = b"{sha256}".to_vec();
    message.extend(random_bytes(MESSAGE_LENGTH)?);
    conn.send_bytes(&[CHALLENGE, &message].concat())?;
    let response = conn.recv_bytes()?;
    let verdict = digest_and_payload(&response).and_then(|(digest, their_mac, _)| {
        // The MAC covers the whole message, `{sha256}` prefix included (as in CPython).
        let expected = mac(digest, authkey, &message);
        if expected.len() == their_mac.len() {
            Ok(())
        } else {
            Err(AuthError::WrongDigest)
        }
    });
    match verdict {
        Ok(()) => conn.send_bytes(WELCOME)?,
        Err(e) => {
            let _ = conn.send_bytes(FAILURE);
            return Err(e);
        }
    }
    Ok(())

