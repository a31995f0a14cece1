//! Scenarios where a parent dies before its children: daemons must die with it, and a child
//! must be able to see that its parent is gone.
//!
//! These tests orphan grandchildren on purpose. An orphan is re-parented to the nearest
//! "subreaper", normally pid 1; this test binary makes itself a subreaper
//! (`PR_SET_CHILD_SUBREAPER`) so the orphans come back to it, and it reaps each one by pid.
//! Nothing is left behind for the machine's init to clean up.

use forkway_testkit as support;

use std::os::fd::{AsFd, OwnedFd};
use std::time::Duration;

use forkway_process::{parent_process, Process};
use nix::sys::wait::waitpid;
use nix::unistd::Pid;
use support::*;

fn become_subreaper() {
    // SAFETY: PR_SET_CHILD_SUBREAPER takes an integer flag; no memory is passed.
    let rc = unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
    assert_eq!(rc, 0, "prctl(PR_SET_CHILD_SUBREAPER)");
}

fn pidfd(pid: u32) -> OwnedFd {
    // SAFETY: pidfd_open takes a pid and flags; returns a new fd or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::pid_t, 0) };
    assert!(fd >= 0, "pidfd_open({pid}) failed: is it already gone?");
    // SAFETY: a fresh fd that we own.
    unsafe { std::os::fd::FromRawFd::from_raw_fd(fd as i32) }
}

/// Waits (bounded) until the process behind `fd` has exited, then reaps it: it was orphaned
/// and re-parented to us, the subreaper.
fn wait_dead_and_reap(fd: &OwnedFd, pid: u32, what: &str) {
    assert!(
        readable(fd.as_fd(), BOUND),
        "{what} (pid {pid}) still alive after {BOUND:?}"
    );
    let _ = waitpid(Pid::from_raw(pid as i32), None);
}

#[test]
fn a_daemon_dies_when_its_parent_is_sigkilled() {
    become_subreaper();
    let (mut r, mut w) = pipe();
    let mut parent = Process::new(move || {
        let mut daemon = Process::new(|| idle_until_killed()).with_daemon(true);
        daemon.start().expect("start daemon");
        send_line(&mut w, &daemon.pid().expect("pid").to_string());
        idle_until_killed()
    });
    parent.start().expect("start");
    let daemon_pid: u32 = read_line(&mut r).parse().expect("pid");
    let daemon = pidfd(daemon_pid);
    // SIGKILL: the parent runs no cleanup at all. Only PR_SET_PDEATHSIG can save us now.
    parent.kill().expect("kill");
    assert_eq!(join_bounded(&parent), -9);
    wait_dead_and_reap(&daemon, daemon_pid, "the daemon");
}

#[test]
fn a_child_sees_its_parent_die() {
    // _TestProcess.test_parent_process: a grandchild sees its parent alive, then dead.
    become_subreaper();
    // Two pipes: the parent reports the grandchild's pid on one, the grandchild reports what
    // it sees on the other. On a single pipe their lines could arrive in either order.
    let (mut pid_r, mut pid_w) = pipe();
    let (mut seen_r, seen_w) = pipe();
    let mut parent = Process::new(move || {
        let mut seen_w = seen_w;
        let mut child = Process::new(move || {
            let parent = parent_process().expect("parent");
            send_line(&mut seen_w, &format!("alive={}", parent.is_alive()));
            let died = parent.join(Some(BOUND));
            send_line(&mut seen_w, &format!("died={died} alive={}", parent.is_alive()));
        });
        child.start().expect("start");
        send_line(&mut pid_w, &child.pid().expect("pid").to_string());
        std::mem::forget(child); // we are about to be killed; never join
        idle_until_killed()
    });
    parent.start().expect("start");
    let child_pid: u32 = read_line(&mut pid_r).parse().expect("pid");
    let child = pidfd(child_pid);
    assert_eq!(read_line(&mut seen_r), "alive=true");
    parent.terminate().expect("terminate");
    assert_eq!(join_bounded(&parent), -15);
    assert_eq!(read_line(&mut seen_r), "died=true alive=false");
    wait_dead_and_reap(&child, child_pid, "the grandchild");
}

#[test]
fn a_child_that_first_asks_after_its_parent_died_sees_it_dead() {
    // A child opens its pidfd on the parent when it first asks. Asked only after the parent
    // died, it must not find the dead parent (or a process that took its pid) alive.
    become_subreaper();
    let (mut pid_r, mut pid_w) = pipe();
    let (mut seen_r, seen_w) = pipe();
    let (mut go_r, go) = release_pipe();
    let mut parent = Process::new(move || {
        let mut seen_w = seen_w;
        let mut child = Process::new(move || {
            wait_for_release(&mut go_r);
            let parent = parent_process().expect("parent");
            let died = parent.join(Some(Duration::ZERO));
            send_line(&mut seen_w, &format!("alive={} died={died}", parent.is_alive()));
        });
        child.start().expect("start");
        send_line(&mut pid_w, &child.pid().expect("pid").to_string());
        std::mem::forget(child); // we are about to be killed; never join
        idle_until_killed()
    });
    parent.start().expect("start");
    let child_pid: u32 = read_line(&mut pid_r).parse().expect("pid");
    let child = pidfd(child_pid);
    parent.terminate().expect("terminate");
    assert_eq!(join_bounded(&parent), -15);
    go.release(); // only now does the grandchild ask about its parent
    assert_eq!(read_line(&mut seen_r), "alive=false died=true");
    wait_dead_and_reap(&child, child_pid, "the grandchild");
}

#[test]
fn a_leaked_daemon_is_terminated_when_its_parent_exits_normally() {
    become_subreaper();
    let (mut r, mut w) = pipe();
    let (mut go_r, go) = release_pipe();
    let mut parent = Process::new(move || {
        let mut daemon = Process::new(|| idle_until_killed()).with_daemon(true);
        daemon.start().expect("start daemon");
        send_line(&mut w, &daemon.pid().expect("pid").to_string());
        // Leak the handle: no drop will stop the daemon. The exit cleanup must.
        std::mem::forget(daemon);
        wait_for_release(&mut go_r);
    });
    parent.start().expect("start");
    let daemon_pid: u32 = read_line(&mut r).parse().expect("pid");
    let daemon = pidfd(daemon_pid);
    go.release(); // let the parent return from its target
    assert_eq!(join_bounded(&parent), 0);
    // The parent reaped its daemon before exiting, so it is gone, not orphaned.
    assert!(
        readable(daemon.as_fd(), Duration::ZERO),
        "the daemon outlived its parent's exit"
    );
}
