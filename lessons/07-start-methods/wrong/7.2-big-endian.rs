// wrong: sends the code in the wrong byte order, so the caller reads another number.
    let _ = child.process.join();
    if let Some(code) = child.process.exitcode() {
        let _ = nix::unistd::write(&child.status, &code.to_be_bytes());
    }
    keep_on_fork(child.status.as_raw_fd());
