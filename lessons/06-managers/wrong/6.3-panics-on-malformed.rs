// wrong: unwraps the decoded request, so one malformed frame kills the server.
    loop {
        let Ok(frame) = conn.recv_bytes() else {
            return; // end of file, or a frame that cannot be read: the client is gone
        };
        let request = codec::decode::<Request>(&frame).expect("a request");
        let handled = server.handle(request, conn.as_fd());
        let _ = failed;
        let sent = codec::encode(&handled.reply)
            .map_err(|e| e.to_string())
            .and_then(|bytes| conn.send_bytes(&bytes).map_err(|e| e.to_string()));
        if sent.is_err() {
            if let Some(undo) = handled.undo {
                undo.apply();
            }
            return;
        }
        if handled.exit {
            server.exit();
        }
    }

