// wrong: settles the job when any chunk arrives, not when its last one does, so callbacks run per chunk.
    let Some(job) = inner.jobs.get_mut(&chunk.job) else {
        // The job's handle was dropped and the job forgotten (an imap read no further).
        return;
    };
    job.sink.deliver(chunk.start, chunk.len, outcome);
    job.chunks_left -= 1;
    if job.sealed {
        inner.settling.push(chunk.job);
    }

