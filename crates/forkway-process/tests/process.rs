//! Behaviour of `Process` beyond the graded checks: Python's misuse errors and their messages,
//! names, current/parent process, active children, many processes, drop, threads, `wait`.
//! Ported cases name their CPython test (`_TestProcess.test_…`).

use forkway_testkit as support;

use std::time::Duration;

use forkway_process::{active_children, current_process, parent_process, Process, ProcessError};
use support::*;

fn blocker() -> (Process, Release) {
    // A child that runs until the parent releases it (or drops the Release).
    let (mut r, release) = release_pipe();
    let p = Process::new(move || wait_for_release(&mut r));
    (p, release)
}

#[test]
fn misuse_errors_carry_pythons_messages() {
    let mut p = Process::new(|| ());
    let err = p.join().expect_err("join before start");
    assert_eq!(err.to_string(), "can only join a started process");
    assert!(err.is_misuse());
    assert_eq!(
        p.sentinel().expect_err("sentinel").to_string(),
        "process not started"
    );
    p.start().expect("start");
    assert_eq!(
        p.start().expect_err("twice").to_string(),
        "cannot start a process twice"
    );
    assert_eq!(
        p.set_daemon(true).expect_err("daemon").to_string(),
        "process has already started"
    );
    assert_eq!(join_bounded(&p), 0);
    assert_eq!(
        p.start().expect_err("after exit").to_string(),
        "cannot start a process twice"
    );
}

#[test]
fn close_follows_python() {
    // _TestProcess.test_close
    let (mut p, w) = blocker();
    p.start().expect("start");
    let err = p.close().expect_err("close while running");
    assert!(
        err.to_string()
            .starts_with("Cannot close a process while it is still running."),
        "{err}"
    );
    drop(w);
    assert_eq!(join_bounded(&p), 0);
    p.close().expect("close after join");
    p.close().expect("a second close is a no-op");
    assert_eq!(
        p.join().expect_err("join").to_string(),
        "process object is closed"
    );
    assert_eq!(
        p.terminate().expect_err("terminate").to_string(),
        "process object is closed"
    );
    assert!(!p.is_alive());
    assert!(p.name().starts_with("Process-"), "the name stays readable");
}

#[test]
fn a_copied_handle_in_the_child_cannot_join() {
    let (mut r, mut w) = pipe();
    let (mut sibling, release) = blocker();
    sibling.start().expect("start");
    let sibling = std::sync::Arc::new(sibling);
    let in_child = std::sync::Arc::clone(&sibling);
    let mut p = Process::new(move || {
        let msg = match in_child.join() {
            Err(e @ ProcessError::NotAChild { .. }) => e.to_string(),
            other => format!("unexpected {other:?}"),
        };
        send_line(&mut w, &msg);
        // Never run the parent's drop logic for `in_child` here: leak the copy.
        std::mem::forget(in_child);
    });
    p.start().expect("start");
    assert_eq!(read_line(&mut r), "can only join a child process");
    assert_eq!(join_bounded(&p), 0);
    drop(release);
    assert_eq!(join_bounded(&sibling), 0);
}

#[test]
fn a_daemon_may_not_have_children() {
    let (mut r, mut w) = pipe();
    let mut p = Process::new(move || {
        let mut grandchild = Process::new(|| ());
        let msg = match grandchild.start() {
            Err(e) => e.to_string(),
            Ok(()) => "started".to_owned(),
        };
        send_line(&mut w, &msg);
    })
    .with_daemon(true);
    p.start().expect("start");
    assert_eq!(
        read_line(&mut r),
        "daemonic processes are not allowed to have children"
    );
    assert_eq!(join_bounded(&p), 0);
}

#[test]
fn names_count_every_process_and_nest() {
    let a = Process::new(|| ());
    let b = Process::new(|| ());
    let n = |p: &Process| {
        p.name()
            .strip_prefix("Process-")
            .and_then(|s| s.parse::<u32>().ok())
            .expect("Process-N")
    };
    assert!(n(&b) > n(&a), "{} then {}", a.name(), b.name());
    let (mut r, mut w) = pipe();
    let mut parent = Process::new(move || {
        let first = Process::new(|| ());
        let second = Process::new(|| ());
        send_line(
            &mut w,
            &format!("{} {} {}", current_process().name, first.name(), second.name()),
        );
    });
    let name = parent.name();
    parent.start().expect("start");
    assert_eq!(read_line(&mut r), format!("{name} {name}:1 {name}:2"));
    assert_eq!(join_bounded(&parent), 0);
    let renamed = Process::new(|| ()).with_name("worker");
    assert_eq!(renamed.name(), "worker");
}

#[test]
fn current_and_parent_process() {
    // _TestProcess.test_current, test_parent_process_attributes
    let me = current_process();
    assert_eq!(
        (me.name.as_str(), me.pid, me.daemon),
        ("MainProcess", std::process::id(), false)
    );
    assert!(parent_process().is_none());
    let (mut r, mut w) = pipe();
    let mut p = Process::new(move || {
        let me = current_process();
        let parent = parent_process().expect("a child has a parent");
        send_line(
            &mut w,
            &format!(
                "{} {} {} {} {} {}",
                me.name,
                me.pid,
                me.daemon,
                parent.name,
                parent.pid,
                parent.is_alive()
            ),
        );
    })
    .with_name("kid")
    .with_daemon(true);
    p.start().expect("start");
    let line = read_line(&mut r);
    assert_eq!(
        line,
        format!(
            "kid {} true MainProcess {} true",
            p.pid().expect("pid"),
            std::process::id()
        )
    );
    assert_eq!(join_bounded(&p), 0);
}

#[test]
fn active_children_lists_only_running_children() {
    // _TestProcess.test_active_children
    let (mut p, w) = blocker();
    let listed = |p: &Process| active_children().iter().any(|c| Some(c.pid()) == p.pid());
    assert!(!listed(&p), "not before start");
    p.start().expect("start");
    assert!(listed(&p), "listed while running");
    let child = active_children()
        .into_iter()
        .find(|c| Some(c.pid()) == p.pid())
        .expect("listed");
    assert_eq!(child.name(), p.name());
    drop(w);
    assert_eq!(join_bounded(&p), 0);
    assert!(!listed(&p), "not after join");
}

#[test]
fn cpu_count_is_at_least_one() {
    assert!(forkway_process::cpu_count() >= 1);
}

#[test]
fn many_processes() {
    // _TestProcess.test_many_processes: 100 short children, then 100 terminated sleepers.
    let mut short: Vec<Process> = (0..100).map(|_| Process::new(|| ())).collect();
    for p in &mut short {
        p.start().expect("start");
    }
    for p in &short {
        assert_eq!(join_bounded(p), 0);
    }
    let mut sleepers: Vec<Process> = (0..100).map(|_| Process::new(|| idle_until_killed())).collect();
    for p in &mut sleepers {
        p.start().expect("start");
    }
    for p in &sleepers {
        p.terminate().expect("terminate");
    }
    for p in &sleepers {
        assert_eq!(join_bounded(p), -15);
        assert!(is_reaped(p.pid().expect("pid")));
    }
}

#[test]
fn dropping_a_daemon_terminates_and_reaps_it() {
    let (mut p, _w) = blocker();
    p.set_daemon(true).expect("daemon");
    p.start().expect("start");
    let pid = p.pid().expect("pid");
    drop(p);
    assert!(is_reaped(pid), "a dropped daemon is terminated and reaped");
}

#[test]
fn dropping_a_non_daemon_waits_for_it() {
    let mut p = Process::new(|| std::thread::sleep(Duration::from_millis(100))); // simulated work
    p.start().expect("start");
    let pid = p.pid().expect("pid");
    drop(p);
    assert!(is_reaped(pid), "drop waited for the child and reaped it");
}

#[test]
fn a_panicking_test_does_not_leave_its_children_behind() {
    let (pid_tx, pid_rx) = std::sync::mpsc::channel();
    let outcome = std::thread::spawn(move || {
        let (mut p, _w) = blocker();
        p.start().expect("start");
        pid_tx.send(p.pid().expect("pid")).expect("send");
        panic!("an assertion failed while a child ran");
    })
    .join();
    assert!(outcome.is_err());
    let pid = pid_rx.recv().expect("pid");
    assert!(
        is_reaped(pid),
        "unwinding terminated and reaped the child instead of hanging"
    );
}

#[test]
fn fork_while_other_threads_hold_std_locks() {
    // Other threads keep taking the stdout and stderr locks and allocating. A child forked
    // while one of them held a lock would deadlock on it, unless `start` holds those locks
    // across fork (it does). Every child takes both locks and allocates, then exits.
    use std::io::Write;
    use std::sync::atomic::{AtomicBool, Ordering};
    let stop = std::sync::Arc::new(AtomicBool::new(false));
    let hammers: Vec<_> = (0..3)
        .map(|_| {
            let stop = std::sync::Arc::clone(&stop);
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let _ = std::io::stdout().lock().write_all(b"");
                    let _ = std::io::stderr().lock().write_all(b"");
                    let _ = forkway_process::active_children();
                    std::hint::black_box(vec![0u8; 4096]);
                }
            })
        })
        .collect();
    for _ in 0..150 {
        let mut p = Process::new(|| {
            let _ = std::io::stdout().lock().flush();
            let _ = std::io::stderr().lock().flush();
            std::hint::black_box(vec![1u8; 1 << 16]);
        });
        p.start().expect("start");
        let code = join_bounded(&p);
        assert_eq!(code, 0);
    }
    stop.store(true, Ordering::Relaxed);
    for h in hammers {
        h.join().expect("hammer thread");
    }
}

#[test]
fn wait_returns_the_processes_that_exited() {
    let (mut slow, release) = blocker();
    let mut fast = Process::new(|| ());
    slow.start().expect("start");
    fast.start().expect("start");
    let ready = forkway_process::wait(&[&slow, &fast], Some(BOUND)).expect("wait");
    assert_eq!(ready, vec![1]);
    assert_eq!(fast.exitcode(), Some(0));
    let none = forkway_process::wait(&[&slow], Some(Duration::from_millis(20))).expect("wait");
    assert!(none.is_empty(), "timed out: nothing ready");
    drop(release);
    assert_eq!(
        forkway_process::wait(&[&slow], Some(BOUND)).expect("wait"),
        vec![0]
    );
    let unstarted = Process::new(|| ());
    assert!(forkway_process::wait(&[&unstarted], None).is_err());
}

#[test]
fn debug_looks_like_pythons_repr() {
    let mut p = Process::new(|| forkway_process::exit(3)).with_name("w");
    assert_eq!(
        format!("{p:?}"),
        format!("<Process name=\"w\" parent={} initial>", std::process::id())
    );
    p.start().expect("start");
    join_bounded(&p);
    let pid = p.pid().expect("pid");
    assert_eq!(
        format!("{p:?}"),
        format!(
            "<Process name=\"w\" pid={pid} parent={} stopped exitcode=3>",
            std::process::id()
        )
    );
    let mut k = Process::new(|| idle_until_killed()).with_daemon(true);
    k.start().expect("start");
    k.terminate().expect("terminate");
    join_bounded(&k);
    assert!(
        format!("{k:?}").ends_with("stopped exitcode=-SIGTERM daemon>"),
        "{k:?}"
    );
}

#[test]
fn recursion_runs_depth_first() {
    // _TestProcess.test_recursion: each level starts two children and joins them in turn.
    fn level(id: Vec<u32>, depth: u32, w: &mut std::io::PipeWriter) {
        send_line(w, &format!("{id:?}"));
        if depth == 0 {
            return;
        }
        for i in 0..2 {
            let mut id = id.clone();
            id.push(i);
            let mut w2 = w.try_clone().expect("clone");
            let mut p = Process::new(move || level(id, depth - 1, &mut w2));
            p.start().expect("start");
            p.join().expect("join");
        }
    }
    let (mut r, mut w) = pipe();
    let mut root = Process::new(move || level(Vec::new(), 2, &mut w));
    root.start().expect("start");
    assert_eq!(join_bounded(&root), 0);
    drop(root);
    let lines: Vec<String> = (0..7).map(|_| read_line(&mut r)).collect();
    assert_eq!(
        lines,
        ["[]", "[0]", "[0, 0]", "[0, 1]", "[1]", "[1, 0]", "[1, 1]"]
    );
}

#[test]
fn any_signal_gives_its_negative_number() {
    // Python 3.14's interrupt() on a child with the default SIGINT action: exitcode -SIGINT.
    let mut p = Process::new(|| idle_until_killed());
    p.start().expect("start");
    p.signal(forkway_process::Signal::SIGINT).expect("signal");
    assert_eq!(join_bounded(&p), -2);
    let unstarted = Process::new(|| ());
    assert_eq!(
        unstarted
            .signal(forkway_process::Signal::SIGINT)
            .expect_err("before start")
            .to_string(),
        "can only signal a started process"
    );
}

fn child_authkey_hex() -> String {
    let (mut r, mut w) = pipe();
    let mut p = Process::new(move || {
        let hex: String = forkway_process::authkey()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        send_line(&mut w, &hex);
    });
    p.start().expect("start");
    let line = read_line(&mut r);
    assert_eq!(join_bounded(&p), 0);
    line
}

#[test]
fn children_share_the_process_authkey() {
    // Python: current_process().authkey, 32 random bytes inherited by every child.
    let key = forkway_process::authkey();
    assert_eq!(key.len(), 32);
    assert!(key.iter().any(|&b| b != 0));
    let hex: String = key.iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(child_authkey_hex(), hex, "a child has its parent's key");
    forkway_process::set_authkey(b"a key chosen by the program");
    assert_eq!(
        child_authkey_hex(),
        "61206b65792063686f73656e206279207468652070726f6772616d", // the bytes, in hex
        "children started after set_authkey inherit the new key"
    );
    forkway_process::set_authkey(&key);
}

#[test]
fn duration_max_timeouts_wait_for_ever_instead_of_overflowing() {
    // A huge timeout means "wait for ever" (it used to panic: overflow when adding duration
    // to instant).
    let mut p = Process::new(|| forkway_process::exit(4));
    p.start().expect("start");
    assert_eq!(
        forkway_process::wait(&[&p], Some(Duration::MAX)).expect("wait"),
        [0]
    );
    assert!(p.join_timeout(Duration::MAX).expect("join"));
    assert_eq!(p.exitcode(), Some(4));
}
