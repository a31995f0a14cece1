// wrong: MACs the random bytes only, leaving the {sha256} prefix out.
    let challenge = conn.recv_bytes()?;
    let Some(message) = challenge.strip_prefix(CHALLENGE) else {
        return Err(AuthError::Protocol("expected a challenge".into()));
    };
    if message.len() < LEGACY_CHALLENGE_LENGTH {
        return Err(AuthError::Protocol(format!(
            "challenge too short: {} bytes",
            message.len()
        )));
    }
    let (digest, _, prefixed) = digest_and_payload(message)?;
    let mut response = Vec::new();
    if prefixed {
        // Modern protocol: say which digest, then the MAC of the whole message.
        response.extend_from_slice(if digest == Digest::Sha256 {
            b"{sha256}"
        } else {
            b"{md5}"
        });
    }
    response.extend(mac(digest, authkey, message.strip_prefix(b"{sha256}").unwrap_or(message)));
    conn.send_bytes(&response)?;
    if conn.recv_bytes()? != WELCOME {
        return Err(AuthError::Rejected);
    }
    Ok(())

