//! The spawn start method starts its child with `posix_spawn` (no copy of the parent) and
//! adopts it as a forkway-process child: everything a forked child answers, a spawned one
//! answers too, and a failed start leaves nothing behind.
//!
//! Each test calls `bootstrap()` on its first line: a spawned child re-runs this binary with
//! `--exact <test name>`. Scenarios that count descriptors, change limits or the environment, or
//! end at the exit cleanup run in a forked child of their own (one thread, no neighbours).

use std::os::fd::{AsFd, FromRawFd, OwnedFd};
use std::time::Duration;

use forkway_ipc::Queue;
use forkway_start::{bootstrap, Context, StartError, StartMethod};

/// The bound of every wait: a hang becomes a failure.
const BOUND: Duration = Duration::from_secs(20);

fn spawn_ctx() -> Context {
    Context::new(StartMethod::Spawn)
}

fn code(n: i32) -> i32 {
    n
}

fn sleep_long() {
    std::thread::sleep(Duration::from_secs(600));
}

/// Waits for one value on `q`, then exits with it.
fn wait_for(q: Queue<i32>) -> i32 {
    q.get_timeout(BOUND).unwrap_or(99)
}

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count())
}

/// Whether this process has any child left, exited or not (`waitpid(-1)` answers ECHILD when
/// none is left, zombies included).
fn has_children() -> bool {
    !matches!(
        nix::sys::wait::waitpid(None, Some(nix::sys::wait::WaitPidFlag::WNOHANG)),
        Err(nix::errno::Errno::ECHILD)
    )
}

fn pidfd_open(pid: u32) -> OwnedFd {
    // SAFETY: pidfd_open takes a pid and flags and returns a new fd or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::pid_t, 0) };
    assert!(fd >= 0, "pidfd_open({pid}) failed");
    // SAFETY: the kernel just returned this descriptor; we own it.
    unsafe { OwnedFd::from_raw_fd(fd as i32) }
}

/// Whether the process behind `pidfd` ends within [`BOUND`].
fn ends(pidfd: &OwnedFd) -> bool {
    let mut fds = [nix::poll::PollFd::new(
        pidfd.as_fd(),
        nix::poll::PollFlags::POLLIN,
    )];
    let ms = u16::try_from(BOUND.as_millis()).unwrap_or(u16::MAX);
    matches!(nix::poll::poll(&mut fds, nix::poll::PollTimeout::from(ms)), Ok(1))
}

/// One test of this file at a time. Several fork a scenario child (`isolated`) that then sets
/// environment variables and starts processes: a fork while another test's thread held the
/// environment's lock (reading it to spawn) would leave that lock held in the child for ever.
fn serial() -> std::sync::MutexGuard<'static, ()> {
    static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());
    SERIAL.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Runs `scenario` in a forked child of its own and checks it returned `Ok`.
fn isolated(scenario: fn() -> Result<(), String>) {
    let mut p = forkway_process::Process::fallible(scenario);
    p.start().expect("start");
    let ended = p.join_timeout(BOUND).expect("join");
    if !ended {
        let _ = p.kill();
        let _ = p.join();
        panic!("the scenario did not end within {BOUND:?}");
    }
    assert_eq!(p.exitcode(), Some(0), "the scenario failed (its error is above)");
}

#[test]
fn a_spawned_child_is_our_child_for_every_call() {
    let _serial = serial();
    bootstrap();
    let mut p = spawn_ctx().process(sleep_long, ()).with_name("adopted");
    p.start().expect("start");
    let pid = p.pid().expect("pid");
    assert!(p.is_alive());
    // Listed by both lists, with its name.
    let listed = forkway_start::active_children();
    let found = listed.iter().find(|c| c.pid() == pid);
    assert_eq!(found.map(|c| c.name()), Some("adopted".to_owned()), "{listed:?}");
    assert!(
        forkway_process::active_children()
            .iter()
            .any(|c| c.pid() == pid && c.name() == "adopted"),
        "forkway-process does not list the spawned child"
    );
    // Its sentinel is a pidfd that becomes readable when it ends.
    let sentinel = p.sentinel().expect("sentinel");
    let mut fds = [nix::poll::PollFd::new(sentinel, nix::poll::PollFlags::POLLIN)];
    assert_eq!(
        nix::poll::poll(&mut fds, nix::poll::PollTimeout::ZERO).expect("poll"),
        0,
        "the sentinel is readable while the child runs"
    );
    p.terminate().expect("terminate");
    assert!(
        p.join_timeout(BOUND).expect("join"),
        "terminated child still running"
    );
    assert_eq!(p.exitcode(), Some(-15));
    let mut fds = [nix::poll::PollFd::new(
        p.sentinel().expect("sentinel"),
        nix::poll::PollFlags::POLLIN,
    )];
    assert_eq!(
        nix::poll::poll(&mut fds, nix::poll::PollTimeout::ZERO).expect("poll"),
        1
    );
    assert!(!p.is_alive());
    assert!(forkway_start::active_children().iter().all(|c| c.pid() != pid));
    // Starting twice is refused, as for any process.
    assert!(p.start().expect_err("second start").is_misuse());

    let mut p = spawn_ctx().process(sleep_long, ());
    p.start().expect("start");
    p.kill().expect("kill");
    assert!(p.join_timeout(BOUND).expect("join"));
    assert_eq!(p.exitcode(), Some(-9));

    let mut p = spawn_ctx().process(code, (42,));
    p.start().expect("start");
    p.join().expect("join");
    assert_eq!(p.exitcode(), Some(42));
}

/// Many spawns, some with a queue among the arguments: no descriptor and no child is left.
#[test]
fn many_spawns_leak_no_descriptor_and_no_zombie() {
    let _serial = serial();
    bootstrap();
    isolated(|| {
        bootstrap();
        let q: Queue<i32> = Queue::new_sendable().map_err(|e| e.to_string())?;
        // One first: lazily made state (the exit handler) settles.
        let mut p = spawn_ctx().process(code, (0,));
        p.start().map_err(|e| e.to_string())?;
        p.join().map_err(|e| e.to_string())?;
        let before = open_fds();
        for i in 0..20 {
            let mut p = if i % 2 == 0 {
                spawn_ctx().process(code, (i,))
            } else {
                q.put(i).map_err(|e| e.to_string())?;
                spawn_ctx().process(wait_for, (q.clone(),))
            };
            p.start().map_err(|e| e.to_string())?;
            p.join().map_err(|e| e.to_string())?;
            if p.exitcode() != Some(i) {
                return Err(format!("spawn {i}: exit code {:?}", p.exitcode()));
            }
        }
        let after = open_fds();
        if before != after {
            return Err(format!("{before} descriptors before, {after} after"));
        }
        if has_children() {
            return Err("a child is left unreaped".into());
        }
        Ok(())
    });
}

/// An exec that fails (here: an environment string longer than the kernel takes, E2BIG) is a
/// `StartError` from `start`, not a child that hangs or exits 127; nothing is left behind, and
/// the next start works.
#[test]
fn a_failed_exec_is_an_error_and_leaves_nothing() {
    let _serial = serial();
    bootstrap();
    isolated(|| {
        bootstrap();
        let mut warm = spawn_ctx().process(code, (0,));
        warm.start().map_err(|e| e.to_string())?;
        warm.join().map_err(|e| e.to_string())?;
        let before = open_fds();
        // One thread here (a forked child), so changing the environment races with nobody.
        std::env::set_var("FORKWAY_TEST_TOO_LONG", "x".repeat(256 * 1024));
        let mut p = spawn_ctx().process(code, (0,));
        let result = p.start();
        std::env::remove_var("FORKWAY_TEST_TOO_LONG");
        match result {
            Err(StartError::Spawn {
                op: "posix_spawn",
                source,
            }) if source.raw_os_error() == Some(libc::E2BIG) => {}
            other => return Err(format!("start with an oversized environment: {other:?}")),
        }
        if p.pid().is_some() || p.is_alive() {
            return Err("a failed start still has a pid".into());
        }
        if has_children() {
            return Err("the failed exec left a child".into());
        }
        if open_fds() != before {
            return Err(format!("{before} descriptors before, {} after", open_fds()));
        }
        // The same process, started again now that the environment fits.
        p.start().map_err(|e| e.to_string())?;
        p.join().map_err(|e| e.to_string())?;
        match p.exitcode() {
            Some(0) => Ok(()),
            other => Err(format!("after the failure: exit code {other:?}")),
        }
    });
}

/// Out of descriptors (EMFILE) before the child exists: an error, nothing leaked.
#[test]
fn running_out_of_descriptors_is_an_error_and_leaks_nothing() {
    let _serial = serial();
    bootstrap();
    isolated(|| {
        bootstrap();
        let mut warm = spawn_ctx().process(code, (0,));
        warm.start().map_err(|e| e.to_string())?;
        warm.join().map_err(|e| e.to_string())?;
        let before = open_fds();
        // The lowest free number: a new descriptor always takes it, so with the limit there no
        // new descriptor fits (those above it stay open).
        let lowest_free = {
            let probe = std::fs::File::open("/dev/null").map_err(|e| e.to_string())?;
            std::os::fd::AsRawFd::as_raw_fd(&probe) as u64
        };
        let mut old = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit fills in the struct we own.
        if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut old) } != 0 {
            return Err(format!("getrlimit: {}", std::io::Error::last_os_error()));
        }
        let tight = libc::rlimit {
            rlim_cur: lowest_free,
            rlim_max: old.rlim_max,
        };
        // SAFETY: setrlimit reads the struct we own.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &tight) } != 0 {
            return Err(format!("setrlimit: {}", std::io::Error::last_os_error()));
        }
        let mut p = spawn_ctx().process(code, (0,));
        let result = p.start();
        // SAFETY: as above.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &old) } != 0 {
            return Err(format!("setrlimit: {}", std::io::Error::last_os_error()));
        }
        match result {
            Err(StartError::Spawn { source, .. }) if source.raw_os_error() == Some(libc::EMFILE) => {}
            other => return Err(format!("start with no descriptor left: {other:?}")),
        }
        if has_children() {
            return Err("the failed start left a child".into());
        }
        if open_fds() != before {
            return Err(format!("{before} descriptors before, {} after", open_fds()));
        }
        p.start().map_err(|e| e.to_string())?;
        p.join().map_err(|e| e.to_string())?;
        match p.exitcode() {
            Some(0) => Ok(()),
            other => Err(format!("after the failure: exit code {other:?}")),
        }
    });
}

/// A spawned daemon dies with its parent even when the parent is SIGKILLed and runs no cleanup.
#[test]
fn a_spawned_daemon_dies_with_its_killed_parent() {
    let _serial = serial();
    bootstrap();
    let q: Queue<u32> = Queue::new().expect("queue");
    let tx = q.clone();
    let mut parent = forkway_process::Process::new(move || {
        let mut d = spawn_ctx().process(sleep_long, ()).with_daemon(true);
        d.start().expect("start the daemon");
        tx.put(d.pid().expect("pid")).expect("put");
        std::thread::sleep(Duration::from_secs(600));
    });
    parent.start().expect("start");
    let daemon = q.get_timeout(BOUND).expect("the parent reports its daemon");
    // Opened while the parent (which alone could reap the daemon) still runs: the pid is the daemon's.
    let pidfd = pidfd_open(daemon);
    parent.kill().expect("kill");
    assert!(parent.join_timeout(BOUND).expect("join"));
    assert!(
        ends(&pidfd),
        "the spawned daemon {daemon} outlived its SIGKILLed parent"
    );
}

/// At a normal exit a process terminates its spawned daemons and waits for its other spawned
/// children, as for forked ones.
#[test]
fn the_exit_cleanup_covers_spawned_children() {
    let _serial = serial();
    bootstrap();
    let pids: Queue<u32> = Queue::new().expect("queue");
    let go: Queue<i32> = Queue::new().expect("queue");
    let release: Queue<i32> = Queue::new_sendable().expect("queue");
    let (pids_tx, go_rx, release_c) = (pids.clone(), go.clone(), release.clone());
    let mut parent = forkway_process::Process::new(move || {
        let mut d = spawn_ctx().process(sleep_long, ()).with_daemon(true);
        d.start().expect("start the daemon");
        let mut w = spawn_ctx().process(wait_for, (release_c,));
        w.start().expect("start the worker");
        pids_tx.put(d.pid().expect("pid")).expect("put");
        pids_tx.put(w.pid().expect("pid")).expect("put");
        // Leaked: the handles must not do the work at drop, the exit cleanup must.
        std::mem::forget(d);
        std::mem::forget(w);
        go_rx.get_timeout(BOUND).expect("go");
    });
    parent.start().expect("start");
    let daemon = pids.get_timeout(BOUND).expect("the daemon's pid");
    let worker = pids.get_timeout(BOUND).expect("the worker's pid");
    let (daemon_fd, worker_fd) = (pidfd_open(daemon), pidfd_open(worker));
    go.put(0).expect("go");
    assert!(
        ends(&daemon_fd),
        "the spawned daemon {daemon} was not terminated at exit"
    );
    // The parent waits for its non-daemon child: still there until the worker is released.
    assert!(
        !parent.join_timeout(Duration::from_millis(200)).expect("join"),
        "the parent exited without waiting for its spawned non-daemon child"
    );
    release.put(5).expect("release");
    assert!(ends(&worker_fd), "the worker did not end");
    assert!(parent.join_timeout(BOUND).expect("join"));
    assert_eq!(parent.exitcode(), Some(0));
}
