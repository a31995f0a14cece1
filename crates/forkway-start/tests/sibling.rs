//! A forkserver child is the caller's own child (the server clones it with `CLONE_PARENT`):
//! its parent is the caller, and the caller joins it as it joins a fork child, with the real
//! exit code or signal.
//!
//! The test harness starts the server from a test thread, so daemon children there take the
//! relay path (see the `forkserver` module); these tests start non-daemon children.

use std::time::Duration;

use forkway_ipc::Queue;
use forkway_start::{forkserver, Context, StartMethod};

/// The bound of every wait: a hang becomes a failure.
const BOUND: Duration = Duration::from_secs(20);

fn run(p: &mut forkway_start::Process) -> Option<i32> {
    p.start().unwrap_or_else(|e| panic!("start: {e}"));
    let ended = p.join_timeout(BOUND).unwrap_or_else(|e| panic!("join: {e}"));
    if !ended {
        let _ = p.kill();
        let _ = p.join_timeout(BOUND);
        panic!("the child did not end within {BOUND:?}");
    }
    p.exitcode()
}

/// 0 when this process's parent is `pid`, else 9.
fn parent_is(pid: u32) -> i32 {
    if nix::unistd::getppid().as_raw() as u32 == pid {
        0
    } else {
        9
    }
}

#[test]
fn a_forkserver_child_is_the_callers_child() {
    forkserver::ensure_running().expect("forkserver");
    let mut p = Context::new(StartMethod::Forkserver).process(parent_is, (std::process::id(),));
    assert_eq!(
        run(&mut p),
        Some(0),
        "getppid() in a forkserver child is the caller"
    );
}

fn code(n: i32) -> i32 {
    n
}

fn panics() {
    panic!("this panic is expected by the test");
}

fn sleeps() {
    std::thread::sleep(Duration::from_secs(600));
}

/// Says it runs (a handshake, not a sleep), then waits to be signalled.
fn started(ready: Queue<u32>) {
    let _ = ready.put(std::process::id());
    std::thread::sleep(Duration::from_secs(600));
}

#[test]
fn exit_codes_and_signals_of_a_sibling_are_its_own() {
    let ctx = Context::new(StartMethod::Forkserver);
    for n in [0, 3, 200] {
        assert_eq!(run(&mut ctx.process(code, (n,))), Some(n), "returns {n}");
    }
    assert_eq!(run(&mut ctx.process(panics, ())), Some(1), "a panic is 1");
    let mut p = ctx.process(sleeps, ());
    p.start().expect("start");
    p.kill().expect("kill");
    assert!(p.join_timeout(BOUND).expect("join"), "the killed child ended");
    assert_eq!(p.exitcode(), Some(-9));
    let ready: Queue<u32> = Queue::new_sendable().expect("queue");
    let mut p = ctx.process(started, (ready.clone(),));
    p.start().expect("start");
    assert_eq!(ready.get_timeout(BOUND).ok(), p.pid(), "the child started");
    p.terminate().expect("terminate");
    assert!(p.join_timeout(BOUND).expect("join"), "the terminated child ended");
    assert_eq!(p.exitcode(), Some(-15));
}
