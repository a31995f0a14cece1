//! Every start method runs the same targets with the same results.
//!
//! Spawn tests call `forkway_start::bootstrap()` on their first line: the spawned child re-runs
//! this test binary with `--exact <test name>`, and `bootstrap` is where it takes over.
//! Scenarios that kill a forkserver, or count descriptors, run inside a forked child of their
//! own, so that they get a forkserver of their own and do not disturb tests running beside them.

use std::os::fd::AsFd;
use std::time::Duration;

use forkway_ipc::Queue;
use forkway_start::{bootstrap, forkserver, Context, StartError, StartMethod};

const METHODS: [StartMethod; 3] = [StartMethod::Fork, StartMethod::Forkserver, StartMethod::Spawn];
/// The bound of every wait: a hang becomes a failure.
const BOUND: Duration = Duration::from_secs(20);

fn run(method: StartMethod, p: &mut forkway_start::Process) -> Option<i32> {
    p.start().unwrap_or_else(|e| panic!("{method}: start: {e}"));
    let ended = p
        .join_timeout(BOUND)
        .unwrap_or_else(|e| panic!("{method}: join: {e}"));
    if !ended {
        let _ = p.kill();
        let _ = p.join();
        panic!("{method}: the child did not end within {BOUND:?}");
    }
    p.exitcode()
}

fn check_sum(a: u64, b: String, c: Vec<u8>) -> i32 {
    if a == 40 && b == "two" && c.len() == 3 {
        0
    } else {
        5
    }
}

#[test]
fn every_method_runs_a_target_with_its_arguments() {
    bootstrap();
    for method in METHODS {
        let mut p = Context::new(method).process(check_sum, (40u64, "two".to_owned(), vec![1u8, 2, 3]));
        assert_eq!(run(method, &mut p), Some(0), "{method}");
    }
}

fn code(n: i32) -> i32 {
    n
}

fn panics() {
    panic!("this panic is expected by the test");
}

fn exits(n: i32) {
    forkway_process::exit(n);
}

fn fails() -> Result<(), String> {
    Err("expected failure".to_owned())
}

#[test]
fn exit_codes_are_pythons_under_every_method() {
    bootstrap();
    for method in METHODS {
        let ctx = Context::new(method);
        assert_eq!(
            run(method, &mut ctx.process(code, (3,))),
            Some(3),
            "{method}: returned code"
        );
        assert_eq!(
            run(method, &mut ctx.process(panics, ())),
            Some(1),
            "{method}: panic"
        );
        assert_eq!(
            run(method, &mut ctx.process(exits, (7,))),
            Some(7),
            "{method}: exit(7)"
        );
        assert_eq!(run(method, &mut ctx.process(fails, ())), Some(1), "{method}: Err");
        assert_eq!(
            run(method, &mut ctx.process(|| {}, ())),
            Some(0),
            "{method}: closure"
        );
    }
}

fn sleep_long() {
    std::thread::sleep(Duration::from_secs(600));
}

#[test]
fn terminate_kill_and_bounded_join_under_every_method() {
    bootstrap();
    for method in METHODS {
        let ctx = Context::new(method);
        let mut p = ctx.process(sleep_long, ());
        p.start().expect("start");
        assert!(p.is_alive(), "{method}");
        assert!(
            !p.join_timeout(Duration::from_millis(50)).expect("join_timeout"),
            "{method}"
        );
        assert_eq!(p.exitcode(), None, "{method}");
        p.terminate().expect("terminate");
        assert!(
            p.join_timeout(BOUND).expect("join"),
            "{method}: terminated child still running"
        );
        assert_eq!(p.exitcode(), Some(-15), "{method}");
        assert!(!p.is_alive(), "{method}");
        // Signalling an ended child is not an error, as in Python.
        p.terminate().expect("terminate after the end");

        let mut p = ctx.process(sleep_long, ());
        p.start().expect("start");
        p.kill().expect("kill");
        assert!(p.join_timeout(BOUND).expect("join"), "{method}");
        assert_eq!(p.exitcode(), Some(-9), "{method}");
    }
}

#[test]
fn active_children_lists_the_children_of_every_method() {
    bootstrap();
    let mut started = Vec::new();
    for method in METHODS {
        let mut p = Context::new(method)
            .process(sleep_long, ())
            .with_name(format!("listed-{method}"));
        p.start().expect("start");
        started.push(p);
    }
    let listed = forkway_start::active_children();
    for p in &started {
        let pid = p.pid().expect("pid");
        let found = listed.iter().find(|c| c.pid() == pid);
        let found = found.unwrap_or_else(|| panic!("{} ({pid}) not in {listed:?}", p.name()));
        assert_eq!(found.name(), p.name());
        assert!(found.is_alive(), "{}", p.name());
    }
    if let Some(server) = forkserver::server_pid() {
        assert!(
            listed.iter().all(|c| c.pid() != server),
            "the forkserver itself is not listed, as in Python"
        );
    }
    // Ended through the listed handle (the forkserver child's is not ours to waitpid).
    for child in listed
        .iter()
        .filter(|c| started.iter().any(|p| p.pid() == Some(c.pid())))
    {
        child.kill().expect("kill");
    }
    for p in &started {
        assert!(p.join_timeout(BOUND).expect("join"), "{}", p.name());
        assert_eq!(p.exitcode(), Some(-9), "{}", p.name());
    }
    let after = forkway_start::active_children();
    for p in &started {
        assert!(
            after.iter().all(|c| Some(c.pid()) != p.pid()),
            "{} still listed after it ended",
            p.name()
        );
    }
}

#[test]
fn misuse_is_reported_with_pythons_messages() {
    bootstrap();
    for method in METHODS {
        let mut p = Context::new(method).process(code, (0,));
        let e = p.join().expect_err("join before start");
        assert_eq!(e.to_string(), "can only join a started process", "{method}");
        assert!(e.is_misuse());
        p.start().expect("start");
        let e = p.start().expect_err("start twice");
        assert_eq!(e.to_string(), "cannot start a process twice", "{method}");
        p.join().expect("join");
    }
    let e = "thread".parse::<StartMethod>().expect_err("unknown method");
    assert_eq!(e.to_string(), "cannot find context for 'thread'");
    assert_eq!(
        "forkserver".parse::<StartMethod>().ok(),
        Some(StartMethod::Forkserver)
    );
}

#[test]
fn spawn_without_the_entry_hook_is_an_error() {
    // No bootstrap() in this test: its thread never handed control to forkway.
    let mut p = Context::new(StartMethod::Spawn).process(code, (0,));
    let e = p.start().expect_err("spawn without bootstrap");
    assert!(matches!(e, StartError::MissingEntryHook), "{e:?}");
    assert!(e.to_string().contains("forkway_start::bootstrap()"), "{e}");
    assert_eq!(p.pid(), None);
}

#[test]
fn set_start_method_works_once() {
    // The only test that touches the process-wide method.
    assert_eq!(
        forkway_start::get_context(None).start_method(),
        forkway_start::DEFAULT_START_METHOD
    );
    let e = forkway_start::set_start_method(StartMethod::Spawn).expect_err("already fixed by get_context");
    assert_eq!(e.to_string(), "context has already been set");
    assert!(e.is_misuse());
}

#[test]
fn set_start_method_in_a_fresh_process() {
    let mut p = forkway_process::Process::fallible(|| -> Result<(), String> {
        forkway_start::set_start_method(StartMethod::Forkserver).map_err(|e| e.to_string())?;
        if forkway_start::get_start_method() != StartMethod::Forkserver {
            return Err("not forkserver".into());
        }
        match forkway_start::set_start_method(StartMethod::Fork) {
            Err(StartError::ContextAlreadySet) => Ok(()),
            other => Err(format!("second set: {other:?}")),
        }
    });
    p.start().expect("start");
    p.join_timeout(BOUND).expect("join");
    assert_eq!(p.exitcode(), Some(0));
}

fn parent_is(pid: u32) -> i32 {
    if nix::unistd::getppid().as_raw() as u32 == pid {
        0
    } else {
        9
    }
}

/// The server clones its children with `CLONE_PARENT`: they are ours, as spawn children are.
#[test]
fn forkserver_and_spawn_children_are_ours() {
    bootstrap();
    forkserver::ensure_running().expect("forkserver");
    let mut p = Context::new(StartMethod::Forkserver).process(parent_is, (std::process::id(),));
    assert_eq!(run(StartMethod::Forkserver, &mut p), Some(0));
    let mut p = Context::new(StartMethod::Spawn).process(parent_is, (std::process::id(),));
    assert_eq!(run(StartMethod::Spawn, &mut p), Some(0));
}

/// With the relay forced (in a forked child of its own, whose server is its own), the child
/// is the server's, as in Python.
#[test]
fn a_relaying_forkservers_children_are_its_own() {
    let mut p = forkway_process::Process::fallible(|| -> Result<(), String> {
        forkserver::force_relay(true);
        forkserver::ensure_running().map_err(|e| e.to_string())?;
        let server = forkserver::server_pid().ok_or("no server")?;
        let mut p = Context::new(StartMethod::Forkserver).process(parent_is, (server,));
        p.start().map_err(|e| e.to_string())?;
        if !p.join_timeout(BOUND).map_err(|e| e.to_string())? {
            let _ = p.kill();
            return Err("the child did not end".into());
        }
        match p.exitcode() {
            Some(0) => Ok(()),
            other => Err(format!(
                "exit code {other:?}: the child's parent is not the server"
            )),
        }
    });
    p.start().expect("start");
    assert!(p.join_timeout(BOUND).expect("join"), "the scenario ended");
    assert_eq!(p.exitcode(), Some(0));
}

fn threads_of(pid: u32) -> Option<usize> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("Threads:"))
        .and_then(|n| n.trim().parse().ok())
}

#[test]
fn the_forkserver_is_single_threaded() {
    forkserver::ensure_running().expect("forkserver");
    let server = forkserver::server_pid().expect("the server runs");
    assert_eq!(threads_of(server), Some(1));
}

/// Held by a thread of the test process while children try it.
static HELD: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn try_the_held_lock() -> i32 {
    match HELD.try_lock() {
        Ok(_) => 0,
        Err(_) => 3,
    }
}

/// The reason for forkserver: a fork child inherits a lock another thread holds, locked for
/// ever; a forkserver child is a copy of the server, which was forked before that thread.
#[test]
fn a_lock_held_by_another_thread_is_held_in_a_fork_child_but_not_in_a_forkserver_child() {
    forkserver::ensure_running().expect("forkserver");
    let (locked_tx, locked_rx) = std::sync::mpsc::channel();
    let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
    let holder = std::thread::spawn(move || {
        let _guard = HELD.lock().expect("lock");
        locked_tx.send(()).expect("send");
        let _ = done_rx.recv_timeout(BOUND);
    });
    locked_rx.recv_timeout(BOUND).expect("the thread took the lock");
    let mut fork_child = Context::new(StartMethod::Fork).process(try_the_held_lock, ());
    let mut server_child = Context::new(StartMethod::Forkserver).process(try_the_held_lock, ());
    let fork_code = run(StartMethod::Fork, &mut fork_child);
    let server_code = run(StartMethod::Forkserver, &mut server_child);
    let _ = done_tx.send(());
    holder.join().expect("holder thread");
    assert_eq!(fork_code, Some(3), "the fork child should see the lock held");
    assert_eq!(server_code, Some(0), "the forkserver child should see it free");
}

fn nested(method: u8) -> i32 {
    let inner = if method == 0 {
        StartMethod::Forkserver
    } else {
        StartMethod::Fork
    };
    let mut p = Context::new(inner).process(code, (11,));
    if p.start().is_err() || p.join_timeout(BOUND).ok() != Some(true) {
        return 90;
    }
    p.exitcode().unwrap_or(91)
}

#[test]
fn children_start_children_under_any_method() {
    bootstrap();
    for method in METHODS {
        for inner in [0u8, 1] {
            let mut p = Context::new(method).process(nested, (inner,));
            assert_eq!(run(method, &mut p), Some(11), "{method} then {inner}");
        }
    }
}

fn big(v: Vec<u64>) -> i32 {
    if v.len() == 300_000 && v.iter().enumerate().all(|(i, &x)| x == i as u64) {
        0
    } else {
        4
    }
}

#[test]
fn arguments_of_megabytes_travel() {
    bootstrap();
    let v: Vec<u64> = (0..300_000).collect();
    for method in METHODS {
        let mut p = Context::new(method).process(big, (v.clone(),));
        assert_eq!(run(method, &mut p), Some(0), "{method}");
    }
}

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count())
}

/// In a forked child of its own (one thread, nothing running beside it): starting and joining
/// leaves no descriptor behind.
#[test]
fn no_descriptor_leaks() {
    let mut p = forkway_process::Process::fallible(|| -> Result<(), String> {
        forkway_start::bootstrap();
        forkserver::ensure_running().map_err(|e| e.to_string())?;
        // One of each first: lazily made state (the panic hook, the at-exit handler) settles.
        for method in METHODS {
            let mut p = Context::new(method).process(code, (0,));
            p.start().map_err(|e| e.to_string())?;
            p.join().map_err(|e| e.to_string())?;
        }
        let before = open_fds();
        for _ in 0..5 {
            for method in METHODS {
                let mut p = Context::new(method).process(code, (0,));
                p.start().map_err(|e| e.to_string())?;
                p.join().map_err(|e| e.to_string())?;
            }
        }
        let after = open_fds();
        if before == after {
            Ok(())
        } else {
            Err(format!("{before} descriptors before, {after} after"))
        }
    });
    p.start().expect("start");
    assert!(p.join_timeout(BOUND).is_ok());
    assert_eq!(p.exitcode(), Some(0));
}

/// The forkserver dies with its owner, even one killed with SIGKILL.
#[test]
fn the_forkserver_dies_with_its_owner() {
    let q: Queue<u32> = Queue::new().expect("queue");
    let tx = q.clone();
    let mut owner = forkway_process::Process::new(move || {
        forkserver::ensure_running().expect("forkserver");
        tx.put(forkserver::server_pid().expect("server pid"))
            .expect("put");
        std::thread::sleep(Duration::from_secs(600));
    });
    owner.start().expect("start");
    let server = q.get_timeout(BOUND).expect("the owner reports its server");
    let pidfd = pidfd_open(server);
    owner.kill().expect("kill");
    owner.join_timeout(BOUND).expect("join");
    let mut fds = [nix::poll::PollFd::new(
        pidfd.as_fd(),
        nix::poll::PollFlags::POLLIN,
    )];
    let ready = nix::poll::poll(&mut fds, nix::poll::PollTimeout::from(20_000u16)).expect("poll");
    assert_eq!(ready, 1, "the forkserver {server} outlived its SIGKILLed owner");
}

fn pidfd_open(pid: u32) -> std::os::fd::OwnedFd {
    use std::os::fd::FromRawFd;
    // SAFETY: pidfd_open takes a pid and flags and returns a new fd or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::pid_t, 0) };
    assert!(fd >= 0, "pidfd_open({pid}) failed");
    // SAFETY: the kernel just returned this descriptor; we own it.
    unsafe { std::os::fd::OwnedFd::from_raw_fd(fd as i32) }
}

/// When a relaying forkserver dies before its child, the child's exit code is lost, and `join`
/// says so instead of hanging or inventing one; the pidfd still tells that the child ended.
#[test]
fn a_dead_forkserver_loses_exit_codes_loudly() {
    let mut p = forkway_process::Process::fallible(|| -> Result<(), String> {
        forkserver::force_relay(true);
        let mut child = Context::new(StartMethod::Forkserver).process(sleep_long, ());
        child.start().map_err(|e| e.to_string())?;
        let server = forkserver::server_pid().ok_or("no server")?;
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(server as i32),
            nix::sys::signal::Signal::SIGKILL,
        )
        .map_err(|e| e.to_string())?;
        child.kill().map_err(|e| e.to_string())?;
        match child.join_timeout(BOUND) {
            Err(StartError::ExitStatusLost { pid }) if Some(pid) == child.pid() => {}
            other => return Err(format!("join: {other:?}")),
        }
        if child.is_alive() {
            return Err("still alive".into());
        }
        // A new server replaces the dead one.
        let mut again = Context::new(StartMethod::Forkserver).process(code, (6,));
        let first = again.start();
        if first.is_err() {
            again.start().map_err(|e| e.to_string())?;
        }
        again.join().map_err(|e| e.to_string())?;
        match again.exitcode() {
            Some(6) => Ok(()),
            other => Err(format!("after restart: {other:?}")),
        }
    });
    p.start().expect("start");
    p.join_timeout(BOUND).expect("join");
    assert_eq!(p.exitcode(), Some(0));
}

/// A child cloned as ours does not need the server once started: a dead server loses nothing.
#[test]
fn a_dead_forkserver_loses_no_exit_code_of_a_child_of_ours() {
    let mut p = forkway_process::Process::fallible(|| -> Result<(), String> {
        let mut child = Context::new(StartMethod::Forkserver).process(sleep_long, ());
        child.start().map_err(|e| e.to_string())?;
        let server = forkserver::server_pid().ok_or("no server")?;
        let server = nix::unistd::Pid::from_raw(server as i32);
        nix::sys::signal::kill(server, nix::sys::signal::Signal::SIGKILL).map_err(|e| e.to_string())?;
        child.kill().map_err(|e| e.to_string())?;
        match child.join_timeout(BOUND) {
            Ok(true) => {}
            other => return Err(format!("join: {other:?}")),
        }
        match child.exitcode() {
            Some(-9) => Ok(()),
            other => Err(format!("exit code {other:?}")),
        }
    });
    p.start().expect("start");
    assert!(p.join_timeout(BOUND).expect("join"), "the scenario ended");
    assert_eq!(p.exitcode(), Some(0));
}

/// `exitcode()` and `is_alive()` answer at once while another thread waits in `join`.
#[test]
fn exitcode_does_not_wait_behind_a_join() {
    bootstrap();
    for method in METHODS {
        let mut p = Context::new(method).process(sleep_long, ());
        p.start().expect("start");
        let p = &p;
        std::thread::scope(|s| {
            let joiner = s.spawn(move || p.join_timeout(BOUND));
            // The joiner may or may not be waiting yet; either way these must not block.
            for _ in 0..100 {
                assert_eq!(p.exitcode(), None, "{method}");
                assert!(p.is_alive(), "{method}");
            }
            p.kill().expect("kill");
            let ended = joiner.join().expect("the joiner does not panic");
            assert!(matches!(ended, Ok(true)), "{method}: {ended:?}");
        });
        assert_eq!(p.exitcode(), Some(-9), "{method}");
    }
}
