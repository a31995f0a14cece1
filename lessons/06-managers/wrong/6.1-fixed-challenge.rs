// wrong: sends the same challenge every time, so a recorded answer opens the door.
    let mut message = b"{sha256}".to_vec();
    message.extend([7u8; MESSAGE_LENGTH]);
    let _ = random_bytes;
    conn.send_bytes(&[CHALLENGE, &message].concat())?;
    let response = conn.recv_bytes()?;
    let verdict = digest_and_payload(&response).and_then(|(digest, their_mac, _)| {
        // The MAC covers the whole message, `{sha256}` prefix included (as in CPython).
        let expected = mac(digest, authkey, &message);
        if same(&expected, their_mac) {
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

