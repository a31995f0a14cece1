// wrong: the reply is sent without the RESULT tag (plain `send` uses tag 0), so rank 0 never receives it
let parent = comm.process_at_rank(0);
let rank = comm.rank();
let mut out = Vec::new();
loop {
    let (bytes, status) = receive_bytes(&parent, None);
    if status.tag() == tag::STOP {
        return;
    }
    let Ok(task) = codec::decode::<ToWorker>(&bytes) else {
        comm.abort(70);
    };
    // SAFETY: chunks come only from rank 0, which put a trampoline offset of this program in `run`.
    let run = unsafe { trampoline_at(task.run) };
    run(&task.args, &mut out, rank);
    let reply = FromWorker {
        seq: task.seq,
        outcome: std::mem::take(&mut out),
    };
    let bytes = codec::encode(&reply).unwrap_or_default();
    parent.send(&bytes[..]);
}
