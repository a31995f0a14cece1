//! The worker: what every rank but 0 runs while the pool lives.

use forkway_ipc::codec;
use mpi::point_to_point::Destination;
use mpi::topology::{Communicator, SimpleCommunicator};

use crate::task::{tag, trampoline_at, FromWorker, ToWorker};
use crate::wait::receive_bytes;

/// Serves rank 0 until it stops the pool; returns when it has.
pub(crate) fn serve(comm: &SimpleCommunicator) {
    crate::task::capture_task_panics();
    worker_loop(comm);
}

// ANCHOR: worker_loop
/// Receives chunks from rank 0, runs each, and sends its outcome back, until rank 0 sends a
/// stop message.
///
/// Messages between two ranks on one communicator arrive in the order they were sent, so the
/// stop message, sent after the last chunk, is the last thing this rank receives.
fn worker_loop(comm: &SimpleCommunicator) {
    // ANCHOR: exercise_8_3
    let parent = comm.process_at_rank(0);
    let rank = comm.rank();
    let mut out = Vec::new();
    loop {
        let (bytes, status) = receive_bytes(&parent, None);
        if status.tag() == tag::STOP {
            return;
        }
        let Ok(task) = codec::decode::<ToWorker>(&bytes) else {
            // Rank 0 encoded it; a chunk that does not decode means the ranks disagree on the
            // protocol, and rank 0 would wait for its reply for ever. End the job loudly.
            eprintln!("forkway-mpi: rank {rank} received a chunk it cannot decode");
            comm.abort(70);
        };
        // SAFETY: chunks come only from rank 0, which put the offset of a trampoline of this
        // same executable in `run` (MpiPool::new checked that every rank runs the same build).
        let run = unsafe { trampoline_at(task.run) };
        run(&task.args, &mut out, rank);
        let reply = FromWorker {
            seq: task.seq,
            outcome: std::mem::take(&mut out),
        };
        // A sequence number and a byte vector always encode.
        let bytes = codec::encode(&reply).unwrap_or_default();
        parent.send_with_tag(&bytes[..], tag::RESULT);
    }
    // ANCHOR_END: exercise_8_3
}
// ANCHOR_END: worker_loop
