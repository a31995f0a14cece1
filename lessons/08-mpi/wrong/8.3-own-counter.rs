// wrong: the reply carries the worker's own chunk count instead of the chunk's seq
let parent = comm.process_at_rank(0);
let rank = comm.rank();
let mut out = Vec::new();
let mut done = 0u64;
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
        seq: done,
        outcome: std::mem::take(&mut out),
    };
    done += 1;
    let bytes = codec::encode(&reply).unwrap_or_default();
    parent.send_with_tag(&bytes[..], tag::RESULT);
}
