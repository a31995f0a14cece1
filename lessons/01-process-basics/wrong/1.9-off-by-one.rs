// wrong: waits only when more than max_live processes run, so one too many is started.
        while live.len() > max_live.max(1) {
            let handles: Vec<&Process> = live.iter().collect();
            let finished = forkway_process::wait(&handles, None).map_err(io::Error::other)?;
            let mut index = 0;
            live.retain(|_| {
                let keep = !finished.contains(&index);
                index += 1;
                keep
            });
        }
