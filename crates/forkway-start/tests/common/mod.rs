//! What the shared-object tests under forkserver and spawn have in common: their bound on
//! every wait, the methods they run under, and two bounded waits.

use std::time::Duration;

use forkway_start::{Process, StartMethod};

/// The longest any wait in these tests may take before it counts as a hang.
pub const BOUND: Duration = Duration::from_secs(20);

/// The methods whose children do not inherit the parent's mappings.
pub const METHODS: [StartMethod; 2] = [StartMethod::Forkserver, StartMethod::Spawn];

/// Waits (bounded) for `p` and checks that it exited with `code`.
pub fn reap(p: &Process, code: i32, what: &str) {
    assert!(
        p.join_timeout(BOUND).expect("join"),
        "{what}: the child did not end"
    );
    assert_eq!(p.exitcode(), Some(code), "{what}");
}

/// Runs `f` on a thread and waits for it at most [`BOUND`]: a wait that has no timeout of its
/// own (`Value::lock`, a `put` into a full pipe, a `send` of more than the socket holds)
/// becomes a failure instead of a hang when the child that should answer is not there.
pub fn bounded<R: Send + 'static>(what: &str, f: impl FnOnce() -> R + Send + 'static) -> R {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(BOUND)
        .unwrap_or_else(|e| panic!("{what}: no answer within {BOUND:?} ({e})"))
}
