// wrong: delivers the outcome but never counts the chunk, so a job never learns its last chunk came.
    let Some(job) = inner.jobs.get_mut(&chunk.job) else {
        // The job's handle was dropped and the job forgotten (an imap read no further).
        return;
    };
    job.sink.deliver(chunk.start, chunk.len, outcome);
    if job.chunks_left == 0 && job.sealed {
        inner.settling.push(chunk.job);
    }

