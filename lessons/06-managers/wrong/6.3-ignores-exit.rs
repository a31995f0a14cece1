// wrong: never honours a shutdown request, so the server keeps running.
    loop {
        let Ok(frame) = conn.recv_bytes() else {
            return; // end of file, or a frame that cannot be read: the client is gone
        };
        let handled = match codec::decode::<Request>(&frame) {
            Ok(request) => server.handle(request, conn.as_fd()),
            Err(e) => failed(Failure::Malformed(e.to_string())),
        };
        let sent = codec::encode(&handled.reply)
            .map_err(|e| e.to_string())
            .and_then(|bytes| conn.send_bytes(&bytes).map_err(|e| e.to_string()));
        if sent.is_err() {
            if let Some(undo) = handled.undo {
                undo.apply();
            }
            return;
        }
        let _ = handled.exit;
    }

