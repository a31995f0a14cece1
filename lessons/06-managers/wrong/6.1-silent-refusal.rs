// wrong: refuses a wrong digest without telling the other side, which then waits for a verdict.
    let mut message = b"{sha256}".to_vec();
    message.extend(random_bytes(MESSAGE_LENGTH)?);
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
            return Err(e);
        }
    }
    Ok(())

