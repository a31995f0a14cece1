// wrong: writes off a task the dead worker had only claimed (it never left the queue), so a task nobody started fails with WorkerDied.
        let Some(seq) = claim else {
            return false; // idle: it lost nothing
        };
        if held.contains(&seq) {
            // A living worker took it since: someone else will answer it.
            return false;
        }
        if let Some(chunk) = inner.inflight.remove(&seq) {
            deliver(inner, chunk, Err(death));
        }
        true
