//! The graded checks of lesson 1. `lessons/01-process-basics/lesson.toml` lists each test here
//! with its points; `cargo xtask lesson 1` runs them one by one.
//!
//! Each test proves one exercise (see the `exercise_1_N` regions in the crate and its examples).

use forkway_testkit as support;

use std::time::Duration;

use forkway_process::{exitcode_from_status, Process, Signal};
use nix::sys::wait::WaitStatus;
use nix::unistd::Pid;
use support::*;

// ---- exercise 1.1: a wait status becomes Python's exit code ----------------------------------

#[test]
fn exitcode_of_a_normal_exit() {
    let pid = Pid::from_raw(4242);
    for code in [0, 1, 3, 255] {
        assert_eq!(
            exitcode_from_status(WaitStatus::Exited(pid, code)),
            Some(code),
            "_exit({code})"
        );
    }
}

#[test]
fn exitcode_of_a_signal_is_negative() {
    let pid = Pid::from_raw(4242);
    assert_eq!(
        exitcode_from_status(WaitStatus::Signaled(pid, Signal::SIGTERM, false)),
        Some(-15)
    );
    assert_eq!(
        exitcode_from_status(WaitStatus::Signaled(pid, Signal::SIGKILL, false)),
        Some(-9)
    );
    assert_eq!(
        exitcode_from_status(WaitStatus::Signaled(pid, Signal::SIGSEGV, true)),
        Some(-11)
    );
}

#[test]
fn exitcode_while_not_terminated_is_none() {
    let pid = Pid::from_raw(4242);
    assert_eq!(exitcode_from_status(WaitStatus::StillAlive), None);
    assert_eq!(
        exitcode_from_status(WaitStatus::Stopped(pid, Signal::SIGSTOP)),
        None
    );
    assert_eq!(exitcode_from_status(WaitStatus::Continued(pid)), None);
}

// ---- exercise 1.2: reaping ------------------------------------------------------------------

#[test]
fn join_reaps_the_child() {
    let mut p = Process::new(|| ());
    p.start().expect("start");
    let pid = p.pid().expect("pid after start");
    assert_eq!(join_bounded(&p), 0);
    assert!(!p.is_alive());
    assert!(
        is_reaped(pid),
        "pid {pid} is still waiting to be reaped: a zombie"
    );
}

#[test]
fn join_timeout_returns_while_the_child_runs() {
    // The child blocks until the parent releases it with a byte through a pipe.
    let (mut r, release) = release_pipe();
    let mut p = Process::new(move || wait_for_release(&mut r));
    p.start().expect("start");
    // On a thread, so that a join that blocks until the child ends becomes a failure here
    // (then the release lets the child, and the thread, finish).
    let mut release = Some(release);
    let returned = std::thread::scope(|s| {
        let (done, joined) = std::sync::mpsc::channel();
        let p = &p;
        s.spawn(move || {
            let result = p.join_timeout(Duration::from_millis(50));
            let _ = done.send(result);
        });
        let returned = joined.recv_timeout(BOUND).ok();
        if returned.is_none() {
            release.take(); // lets the child end, so the blocked join (and the scope) can end
        }
        returned
    });
    let (Some(result), Some(release)) = (returned, release) else {
        panic!("join_timeout(50 ms) was still waiting after {BOUND:?}: does try_reap block?");
    };
    assert!(
        !result.expect("join with timeout"),
        "join_timeout must answer false (not exited) while the child runs"
    );
    assert_eq!(
        p.exitcode(),
        None,
        "join_timeout must return, not wait, while the child runs"
    );
    assert!(p.is_alive());
    release.release();
    assert_eq!(join_bounded(&p), 0);
}

#[test]
fn active_children_reaps_finished_children() {
    let mut p = Process::new(|| ());
    p.start().expect("start");
    let pid = p.pid().expect("pid");
    let deadline = std::time::Instant::now() + BOUND;
    // Poll active_children() only (never join): it must notice the exit and reap.
    while forkway_process::active_children().iter().any(|c| c.pid() == pid) {
        assert!(
            std::time::Instant::now() < deadline,
            "child never left active_children()"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
    assert!(
        is_reaped(pid),
        "active_children() must reap what it drops from the list"
    );
    assert_eq!(p.exitcode(), Some(0));
}

#[test]
fn a_child_reaped_behind_our_back_is_lost() {
    let mut p = Process::new(|| ());
    p.start().expect("start");
    let pid = p.pid().expect("pid");
    // Reap it ourselves, as a stray `waitpid(-1)` elsewhere in a program would.
    let status = nix::sys::wait::waitpid(Pid::from_raw(pid as i32), None).expect("waitpid");
    assert!(matches!(status, WaitStatus::Exited(_, 0)), "{status:?}");
    match p.join_timeout(BOUND) {
        Err(forkway_process::ProcessError::Lost { pid: lost }) => assert_eq!(lost, pid),
        other => panic!("join of a child reaped by someone else: expected Err(Lost), got {other:?}"),
    }
    assert_eq!(p.exitcode(), None, "nobody can know its exit code");
    assert!(!p.is_alive());
}

// ---- exercise 1.3: terminate and kill ---------------------------------------------------------

fn sleeper() -> Process {
    Process::new(|| idle_until_killed())
}

#[test]
fn terminate_gives_minus_sigterm() {
    let mut p = sleeper();
    p.start().expect("start");
    p.terminate().expect("terminate");
    assert_eq!(join_bounded(&p), -15);
}

#[test]
fn kill_gives_minus_sigkill() {
    let mut p = sleeper();
    p.start().expect("start");
    p.kill().expect("kill");
    assert_eq!(join_bounded(&p), -9);
}

#[test]
fn terminate_after_reaping_is_a_noop() {
    let mut p = Process::new(|| ());
    p.start().expect("start");
    assert_eq!(join_bounded(&p), 0);
    p.terminate()
        .expect("terminate after join is a no-op, as in Python");
    p.kill().expect("kill after join is a no-op");
    assert_eq!(p.exitcode(), Some(0));
}

#[test]
fn terminate_before_start_is_an_error() {
    let p = Process::new(|| ());
    let err = p.terminate().expect_err("terminate before start");
    assert_eq!(err.to_string(), "can only terminate a started process");
}

// ---- exercise 1.4: the child's bootstrap --------------------------------------------------------

fn exitcode_of(mut p: Process) -> i32 {
    p.start().expect("start");
    join_bounded(&p)
}

#[test]
fn returning_gives_zero() {
    assert_eq!(exitcode_of(Process::new(|| ())), 0);
    assert_eq!(exitcode_of(Process::fallible(|| Ok::<(), String>(()))), 0);
}

#[test]
fn panicking_gives_one() {
    assert_eq!(exitcode_of(Process::new(|| silent_panic("boom"))), 1);
}

#[test]
fn explicit_exit_codes_keep_the_low_byte() {
    // Python: sys.exit(3) → 3, sys.exit(256) → 0, sys.exit(-1) → 255.
    assert_eq!(exitcode_of(Process::new(|| forkway_process::exit(3))), 3);
    assert_eq!(exitcode_of(Process::new(|| forkway_process::exit(256))), 0);
    assert_eq!(exitcode_of(Process::new(|| forkway_process::exit(-1))), 255);
    let code: i32 = rand::random_range(2..255);
    assert_eq!(
        exitcode_of(Process::new(move || forkway_process::exit(code))),
        code,
        "exit({code})"
    );
    assert_eq!(
        exitcode_of(Process::new(move || forkway_process::exit(code + 256))),
        code,
        "exit({code} + 256)"
    );
    assert_eq!(exitcode_of(Process::fallible(|| 8)), 8);
    assert_eq!(
        exitcode_of(Process::fallible(|| {
            redirect_stderr_to_null();
            Err::<(), _>("failed")
        })),
        1
    );
}

#[test]
fn a_panic_message_reaches_stderr() {
    let (mut r, w) = pipe();
    let mut p = Process::new(move || {
        redirect_stderr(&w);
        drop(w);
        panic!("the sky is falling");
    })
    .with_name("falling");
    p.start().expect("start");
    assert_eq!(join_bounded(&p), 1);
    drop(p);
    let stderr = read_to_end(&mut r);
    assert!(stderr.contains("the sky is falling"), "stderr was: {stderr:?}");
    assert!(
        stderr.contains("Process falling"),
        "the message names the process: {stderr:?}"
    );
    assert!(
        stderr.contains("lesson1.rs"),
        "the message says where: {stderr:?}"
    );
}

#[test]
fn the_child_never_runs_the_parents_code() {
    let (mut r, mut w) = pipe();
    let mut p = Process::new(|| ());
    p.start().expect("start");
    // If the child returned from `start`, it would get here too and write a second line.
    send_line(&mut w, &format!("from {}", std::process::id()));
    assert_eq!(join_bounded(&p), 0);
    drop(w);
    let all = read_to_end(&mut r);
    assert_eq!(all.lines().count(), 1, "only the parent may write here: {all:?}");
}

#[test]
fn a_line_without_newline_is_flushed_before_exit() {
    let (mut r, w) = pipe();
    let mut p = Process::new(move || {
        redirect_stdout(&w);
        drop(w);
        // Buffered: only the bootstrap's flush before `_exit` can get it out.
        let _ = std::io::Write::write_all(&mut std::io::stdout(), b"no newline yet");
    });
    p.start().expect("start");
    assert_eq!(join_bounded(&p), 0);
    drop(p);
    let out = read_to_end(&mut r);
    assert!(
        out.contains("no newline yet"),
        "what the child wrote to stdout was lost: flush before _exit. Got {out:?}"
    );
}

fn become_subreaper() {
    // SAFETY: PR_SET_CHILD_SUBREAPER takes an integer flag; no memory is passed.
    let rc = unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
    assert_eq!(rc, 0, "prctl(PR_SET_CHILD_SUBREAPER)");
}

fn pidfd(pid: u32) -> std::os::fd::OwnedFd {
    // SAFETY: pidfd_open takes a pid and flags; returns a new fd or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::pid_t, 0) };
    assert!(fd >= 0, "pidfd_open({pid}) failed: is it already gone?");
    // SAFETY: a fresh fd that we own.
    unsafe { std::os::fd::FromRawFd::from_raw_fd(fd as i32) }
}

#[test]
fn a_child_stops_its_daemons_and_waits_for_its_children_before_exiting() {
    use std::os::fd::AsFd;
    // Orphaned grandchildren (of a child that forgot its cleanup) come back to this process,
    // which reaps them: nothing is left for the machine's init.
    become_subreaper();
    let (mut r, mut w) = pipe();
    let (mut go_r, go) = release_pipe();
    let (mut hold_r, hold) = release_pipe();
    let mut parent = Process::new(move || {
        let mut daemon = Process::new(|| idle_until_killed()).with_daemon(true);
        daemon.start().expect("start daemon");
        let mut worker = Process::new(move || wait_for_release(&mut go_r));
        worker.start().expect("start worker");
        let pids = (daemon.pid().expect("pid"), worker.pid().expect("pid"));
        send_line(&mut w, &format!("{} {}", pids.0, pids.1));
        // Leak both handles: no drop stops or joins them. Only the exit cleanup can.
        std::mem::forget(daemon);
        std::mem::forget(worker);
        // Stay until the test holds a pidfd of each: the cleanup may reap them at once.
        wait_for_release(&mut hold_r);
    });
    parent.start().expect("start");
    let line = read_line(&mut r);
    let pids: Vec<u32> = line.split(' ').map(|p| p.parse().expect("pid")).collect();
    let (daemon, worker) = (pidfd(pids[0]), pidfd(pids[1]));
    hold.release();
    go.release();
    assert_eq!(join_bounded(&parent), 0);
    // Who reaped them tells whether the parent cleaned up: its own children it reaped before
    // `_exit` are unknown to us (ECHILD); the ones it left behind were handed to us, the
    // subreaper, when it exited. (A daemon left behind dies of its parent-death signal, or of
    // our SIGKILL: orphaned to us and unreaped, its pid is still its own.)
    let mut orphaned = Vec::new();
    for (fd, pid, what) in [
        (&daemon, pids[0], "its daemon"),
        (&worker, pids[1], "its non-daemon child"),
    ] {
        let pid = Pid::from_raw(pid as i32);
        if !readable(fd.as_fd(), Duration::ZERO) {
            let _ = nix::sys::signal::kill(pid, Signal::SIGKILL);
        }
        assert!(
            readable(fd.as_fd(), BOUND),
            "pid {pid} still alive after {BOUND:?}"
        );
        if nix::sys::wait::waitpid(pid, None).is_ok() {
            orphaned.push(what);
        }
    }
    assert!(
        orphaned.is_empty(),
        "the child exited without reaping {}: run the exit cleanup (terminate the daemons, join the \
         others) before _exit",
        orphaned.join(" and ")
    );
}

/// Panics with the message going to /dev/null: the test is about the exit code, not the text.
fn silent_panic(msg: &str) -> ! {
    redirect_stderr_to_null();
    panic!("{msg}");
}

// ---- exercises 1.5 to 1.9: the seed programs ----------------------------------------------------

fn field(line: &str, key: &str) -> u32 {
    line.split_whitespace()
        .find_map(|w| w.strip_prefix(&format!("{key}=")))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no {key}=N in {line:?}"))
}

#[test]
fn example_pid_ppid() {
    let run = run_example("pid_ppid", &[]);
    assert_eq!(run.code, 0, "{run:?}");
    let lines: Vec<&str> = run.stdout.lines().collect();
    let main = lines
        .iter()
        .find(|l| l.starts_with("main: ppid="))
        .expect("main's line");
    let child = lines
        .iter()
        .find(|l| l.starts_with("child:"))
        .expect("the child's line");
    let exited = lines
        .iter()
        .find(|l| l.contains("exited with"))
        .expect("the join line");
    assert_eq!(
        field(child, "ppid"),
        field(main, "pid"),
        "the child's parent is main"
    );
    assert_ne!(
        field(child, "pid"),
        field(main, "pid"),
        "a child is a new process"
    );
    assert!(
        exited.contains(&format!("child {} ", field(child, "pid"))),
        "{exited}"
    );
    assert!(exited.ends_with("Some(0)"), "{exited}");
}

#[test]
fn example_four_workers() {
    let run = run_example("four_workers", &["20"]);
    assert_eq!(run.code, 0, "{run:?}");
    let lines: Vec<&str> = run.stdout.lines().collect();
    let pos = |needle: &str| {
        lines
            .iter()
            .position(|l| *l == needle)
            .unwrap_or_else(|| panic!("no line {needle:?} in {lines:?}"))
    };
    let last = pos("main process...");
    assert_eq!(
        last,
        lines.len() - 1,
        "main prints last, after joining all workers: {lines:?}"
    );
    for name in ["egon", "alex", "jack", "tom"] {
        assert!(pos(&format!("{name} piaoing..")) < pos(&format!("{name} piao end..")));
    }
    assert!(lines.contains(&"p1 name is Process-1."), "{lines:?}");
    assert_eq!(lines.len(), 10, "4 workers × 2 lines + 2 main lines: {lines:?}");
}

#[test]
fn example_daemon() {
    let run = run_example("daemon", &[]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stdout.contains("main process."), "{run:?}");
    assert!(
        !run.stdout.contains("is gone"),
        "the daemon must not finish its work: {run:?}"
    );
    let pid = field(
        run.stdout
            .lines()
            .find(|l| l.contains("daemon pid"))
            .expect("pid line"),
        "pid",
    );
    // run_example already failed if anything of the example's process group was left running.
    assert!(pid > 0);
}

#[test]
fn example_subclass() {
    let run = run_example("subclass", &[]);
    assert_eq!(run.code, 0, "{run:?}");
    let lines: Vec<&str> = run.stdout.lines().collect();
    let pos = |needle: &str| lines.iter().position(|l| *l == needle);
    let (Some(start), Some(end)) = (pos("egon piaoing.."), pos("egon piao end..")) else {
        panic!("the child runs Run::run: {run:?}");
    };
    assert!(start < end, "{run:?}");
    assert!(run.stdout.contains("parent..."), "{run:?}");
}

#[path = "../examples/echo_server.rs"]
mod echo_server;

#[test]
fn echo_server_serves_concurrent_clients() {
    use std::io::{BufRead, BufReader, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    let mut server = Process::fallible(move || echo_server::serve(listener, 8));
    server.start().expect("start server");
    // Six clients talk at the same time, each on its own thread, each with its own words.
    let clients: Vec<_> = (0..6)
        .map(|i| {
            std::thread::spawn(move || {
                let conn = std::net::TcpStream::connect(addr).expect("connect");
                conn.set_read_timeout(Some(BOUND)).expect("timeout");
                let mut reader = BufReader::new(conn.try_clone().expect("clone"));
                let mut conn = conn;
                let mut answers = Vec::new();
                for round in 0..3 {
                    writeln!(conn, "client {i} round {round} hello").expect("send");
                    let mut line = String::new();
                    reader.read_line(&mut line).expect("echo");
                    answers.push(line);
                }
                answers
            })
        })
        .collect();
    for (i, c) in clients.into_iter().enumerate() {
        let answers = c.join().expect("client thread");
        for (round, a) in answers.iter().enumerate() {
            assert_eq!(a, &format!("CLIENT {i} ROUND {round} HELLO\n"));
        }
    }
    server.terminate().expect("stop server");
    assert_eq!(join_bounded(&server), -15);
}

#[test]
fn echo_server_bounds_live_connection_processes() {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    let mut server = Process::fallible(move || echo_server::serve(listener, 2));
    server.start().expect("start server");
    let echo = |conn: &mut std::net::TcpStream, msg: &str, timeout: Duration| -> Option<String> {
        conn.write_all(msg.as_bytes()).expect("send");
        conn.set_read_timeout(Some(timeout)).expect("timeout");
        let mut buf = vec![0u8; msg.len()];
        conn.read_exact(&mut buf)
            .ok()
            .map(|_| String::from_utf8_lossy(&buf).into_owned())
    };
    let mut a = std::net::TcpStream::connect(addr).expect("a");
    let mut b = std::net::TcpStream::connect(addr).expect("b");
    assert_eq!(echo(&mut a, "a", BOUND).as_deref(), Some("A"));
    assert_eq!(echo(&mut b, "b", BOUND).as_deref(), Some("B"));
    // Two connection processes are live: the third client is accepted by the kernel's backlog
    // but not served. (A negative check needs some time window; a short one cannot make a
    // correct server fail, only let a broken one slip through now and then.)
    let mut c = std::net::TcpStream::connect(addr).expect("c");
    assert_eq!(
        echo(&mut c, "c", Duration::from_millis(300)),
        None,
        "a third process was started"
    );
    // When `a` hangs up, its process exits, and `c` gets served. `shutdown`, not `drop`: a child
    // that another test forked at the wrong moment may hold a copy of this fd, and closing one
    // copy would not end the connection; shutdown acts on the socket itself.
    a.shutdown(std::net::Shutdown::Both).expect("shutdown");
    let mut rest = [0u8; 1];
    c.set_read_timeout(Some(BOUND)).expect("timeout");
    c.read_exact(&mut rest).expect("c is served once a is gone");
    assert_eq!(&rest, b"C");
    drop((b, c));
    server.terminate().expect("stop server");
    assert_eq!(join_bounded(&server), -15);
}
