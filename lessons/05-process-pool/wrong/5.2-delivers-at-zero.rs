// wrong: delivers every chunk at the start of the job's results, so chunks overwrite each other.
    let Some(job) = inner.jobs.get_mut(&chunk.job) else {
        // The job's handle was dropped and the job forgotten (an imap read no further).
        return;
    };
    job.sink.deliver(0, chunk.len, outcome);
    job.chunks_left -= 1;
    if job.chunks_left == 0 && job.sealed {
        inner.settling.push(chunk.job);
    }

