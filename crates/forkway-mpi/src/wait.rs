//! Waiting for a message without burning a core.
//!
//! A blocking `MPI_Recv` in Open MPI polls the transports in a loop: an idle worker rank keeps
//! its core at 100 %. On a cluster node with a core per rank that is the fastest way to wait;
//! on a laptop running three ranks on two cores (or a machine shared with other work) the idle
//! ranks steal the CPU the busy ones need. So forkway-mpi polls with `MPI_Improbe` and backs
//! off: a short spin for the fast case, then sleeps growing to 1 ms. mpi4py.futures does the
//! same (its `MPI4PY_FUTURES_BACKOFF`).

use std::time::Duration;

use mpi::point_to_point::{MatchedReceiveVec, Source, Status};

/// Polls that spin before the first sleep: a reply that is microseconds away costs no sleep.
const SPINS: u32 = 200;
/// The longest sleep between two polls: the latency an idle rank adds, at most.
const MAX_PAUSE: Duration = Duration::from_millis(1);

/// Receives the next message from `source` (with tag `tag`, or any tag), as bytes.
pub fn receive_bytes<S: Source>(source: &S, tag: Option<i32>) -> (Vec<u8>, Status) {
    let mut polls = 0u32;
    let mut pause = Duration::from_micros(10);
    loop {
        let probed = match tag {
            Some(t) => source.immediate_matched_probe_with_tag(t),
            None => source.immediate_matched_probe(),
        };
        if let Some(message) = probed {
            return message.matched_receive_vec::<u8>();
        }
        polls += 1;
        if polls < SPINS {
            std::hint::spin_loop();
        } else {
            std::thread::sleep(pause);
            pause = (pause * 2).min(MAX_PAUSE);
        }
    }
}

/// Receives a message from `source` if one is waiting (with tag `tag`), without waiting.
pub(crate) fn try_receive_bytes<S: Source>(source: &S, tag: i32) -> Option<(Vec<u8>, Status)> {
    source
        .immediate_matched_probe_with_tag(tag)
        .map(MatchedReceiveVec::matched_receive_vec::<u8>)
}
