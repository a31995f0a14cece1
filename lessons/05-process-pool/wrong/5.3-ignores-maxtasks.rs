// wrong: never counts its tasks, so a worker never retires after maxtasksperchild.
    let slot = &shared.page().slots[index];
    let mut out = Vec::new();
    let mut done = 0u64;
    loop {
        let Ok(task) = shared
            .tasks
            .get_claimed(|task| slot.store(task.seq + 1, Ordering::SeqCst))
        else {
            // The queue is closed or a message is corrupt: nothing sensible is left to do.
            return;
        };
        if task.run == 0 {
            // A stop message (`close`). The slot keeps its seq: the parent reads it to tell
            // "took a stop, do not replace me" from "died mid-task".
            return;
        }
        // SAFETY: task messages come only from the parent that forked us, which put the
        // address of a trampoline of this very executable in `run`.
        let run = unsafe { trampoline_at(task.run) };
        run(&task.args, &mut out);
        let reply = FromWorker {
            seq: task.seq,
            outcome: std::mem::take(&mut out),
        };
        if let Err(refused) = shared.results.put(reply) {
            // Too large for the queue, most likely: the task still gets an answer.
            let error = TaskError::ResultNotSerializable(refused.to_string());
            if shared
                .results
                .put(FromWorker {
                    seq: task.seq,
                    outcome: chunk_error(error),
                })
                .is_err()
            {
                return;
            }
        }
        // Only now, with the result safely in the queue, do we let go of the task.
        slot.store(0, Ordering::SeqCst);
        done += 1;
        let _ = maxtasks;
    }

