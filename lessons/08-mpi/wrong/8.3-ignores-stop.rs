// wrong: no stop message: a message that is not a chunk is skipped, so the worker never leaves its loop
let parent = comm.process_at_rank(0);
let rank = comm.rank();
let mut out = Vec::new();
loop {
    let (bytes, _status) = receive_bytes(&parent, None);
    let Ok(task) = codec::decode::<ToWorker>(&bytes) else {
        continue;
    };
    // SAFETY: chunks come only from rank 0, which put a trampoline offset of this program in `run`.
    let run = unsafe { trampoline_at(task.run) };
    run(&task.args, &mut out, rank);
    let reply = FromWorker {
        seq: task.seq,
        outcome: std::mem::take(&mut out),
    };
    let bytes = codec::encode(&reply).unwrap_or_default();
    parent.send_with_tag(&bytes[..], tag::RESULT);
}
