//! `wait_blocked_in` on a process that exits instead of blocking: a clear message at once, not
//! a generic one after the whole bound (lesson 2's `put-wakes` with a put that never waits).

use std::time::{Duration, Instant};

use forkway_testkit::{wait_blocked_in, BOUND};

#[test]
fn a_process_that_exits_without_blocking_is_reported_at_once() {
    let mut child = std::process::Command::new("true").spawn().expect("spawn true");
    let pid = child.id();
    // Not reaped yet: it stays a zombie until `wait` below.
    let deadline = Instant::now() + BOUND;
    while !std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .unwrap_or_default()
        .rsplit(')')
        .next()
        .is_some_and(|rest| rest.trim_start().starts_with('Z'))
    {
        assert!(Instant::now() < deadline, "`true` (pid {pid}) never exited");
        std::thread::sleep(Duration::from_millis(1));
    }
    let asked = Instant::now();
    let outcome = std::panic::catch_unwind(|| wait_blocked_in(pid, "futex"));
    let took = asked.elapsed();
    child.wait().expect("reap");
    let panic = outcome.expect_err("a process that exited cannot be blocked");
    let message = panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or_default();
    assert!(
        message.contains("exited without ever blocking in futex"),
        "unclear message: {message:?}"
    );
    assert!(took < BOUND / 2, "reported only after {took:?}");
}
