// wrong: says the dead worker held a task but never answers it, so its caller waits forever.
        let Some(seq) = claim else {
            return false; // idle: it lost nothing
        };
        if seq >= taken || held.contains(&seq) {
            // Still in the queue (it died inside its claim, before the take committed), or a
            // living worker took it since: someone else will answer it.
            return false;
        }
        let _ = death;
        true

