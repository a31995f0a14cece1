// wrong: reaps the child but never tells the caller its code.
    let _ = child.process.join();
    keep_on_fork(child.status.as_raw_fd());
