// wrong: inverts the "a living worker took it" test, so a task only the dead worker held is never written off.
        let Some(seq) = claim else {
            return false; // idle: it lost nothing
        };
        if seq >= taken || !held.contains(&seq) {
            // Still in the queue (it died inside its claim, before the take committed), or a
            // living worker took it since: someone else will answer it.
            return false;
        }
        if let Some(chunk) = inner.inflight.remove(&seq) {
            deliver(inner, chunk, Err(death));
        }
        true

