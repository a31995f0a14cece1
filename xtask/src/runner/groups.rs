//! The runner's children and their process groups: registered so that an interrupt can kill
//! them, cleaned up (orphans reaped, leftovers killed) when a check ends.

use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use nix::sys::signal::{killpg, sigaction, SaFlags, SigAction, SigHandler, SigSet, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

/// Process groups of the children this runner started (checks and cargo builds) and has not
/// cleaned up yet: what an interrupt must kill. Every child gets a group of its own, so a check's
/// grandchildren can be found and killed with it.
static LIVE_GROUPS: Mutex<Vec<i32>> = Mutex::new(Vec::new());

/// Set by `--watch` when a file changes during a run: the running check is stopped at once.
static STOP: AtomicBool = AtomicBool::new(false);

fn live_groups() -> std::sync::MutexGuard<'static, Vec<i32>> {
    // A panic while holding this lock cannot leave the list inconsistent: use it anyway.
    LIVE_GROUPS.lock().unwrap_or_else(|e| e.into_inner())
}

pub(super) fn register(pgid: i32) {
    live_groups().push(pgid);
}

pub(super) fn unregister(pgid: i32) {
    live_groups().retain(|&g| g != pgid);
}

/// The signal that asked the runner to stop (0: none yet). Set by the signal handler, which may
/// do nothing else: the work happens on the `interrupts` thread.
static PENDING_SIGNAL: AtomicI32 = AtomicI32::new(0);

extern "C" fn on_signal(sig: libc::c_int) {
    PENDING_SIGNAL.store(sig, Ordering::SeqCst);
}

/// Makes Ctrl-C (SIGINT), SIGTERM and SIGHUP stop the runner cleanly: the running check's whole
/// process group (and a running build) is killed and reaped before the runner exits with
/// 128 + the signal's number.
///
/// Why not the default action: the checks run in process groups of their own (so that a hang
/// can be killed with its grandchildren), and a terminal's Ctrl-C only reaches the foreground
/// group. Dying without passing it on would leave the check running, re-parented to init.
///
/// Why a handler and a watcher thread rather than blocking the signals and `sigwait`: a blocked
/// mask is inherited by the checks we start and by every process they fork, and a check whose
/// children cannot receive SIGTERM fails for reasons that are not the learner's.
pub fn handle_interrupts() {
    let action = SigAction::new(
        SigHandler::Handler(on_signal),
        SaFlags::SA_RESTART,
        SigSet::empty(),
    );
    for sig in [Signal::SIGINT, Signal::SIGTERM, Signal::SIGHUP] {
        // SAFETY: the handler only stores into an atomic, which is async-signal-safe, and it
        // replaces the default action of signals nobody else in this program handles.
        if unsafe { sigaction(sig, &action) }.is_err() {
            return;
        }
    }
    let _ = std::thread::Builder::new().name("interrupts".into()).spawn(|| {
        let sig = loop {
            match PENDING_SIGNAL.load(Ordering::SeqCst) {
                0 => std::thread::sleep(Duration::from_millis(20)),
                sig => break sig,
            }
        };
        // No further check may start, and the main thread, which sees its check die, must not
        // report it as a failure and exit first (see `wait_if_interrupted`).
        request_stop();
        let groups: Vec<i32> = live_groups().clone();
        for &g in &groups {
            let _ = killpg(Pid::from_raw(g), Signal::SIGKILL);
        }
        let mut left = 0;
        for &g in &groups {
            left += clean_up_group(Pid::from_raw(g));
        }
        reap_orphans();
        let name = Signal::try_from(sig).map(|s| s.as_str()).unwrap_or("a signal");
        eprintln!(
            "\n{}",
            crate::i18n::current().interrupted(name, groups.len(), left)
        );
        std::process::exit(128 + sig);
    });
}

/// Called by `main` before it exits: after a signal, the interrupts thread is cleaning up and
/// will end the process with 128 + the signal's number; returning first would exit with a
/// check's status instead.
pub fn wait_if_interrupted() {
    if PENDING_SIGNAL.load(Ordering::SeqCst) != 0 {
        loop {
            std::thread::park();
        }
    }
}

/// Asks the running check to stop (the runner kills its group) and the rest not to start.
pub fn request_stop() {
    STOP.store(true, Ordering::SeqCst);
}

/// True once a stop was requested; clears the request.
pub fn take_stop() -> bool {
    STOP.swap(false, Ordering::SeqCst)
}

/// True while a stop is requested.
pub fn stop_requested() -> bool {
    STOP.load(Ordering::SeqCst)
}

/// Runs `cmd` to completion in a process group of its own, registered so that an interrupt
/// kills it (a build must not outlive a Ctrl-C'd runner either).
pub(super) fn run_in_own_group(cmd: &mut Command) -> std::io::Result<std::process::Output> {
    use std::os::unix::process::CommandExt;
    let child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()?;
    let pgid = child.id() as i32;
    register(pgid);
    let out = child.wait_with_output();
    unregister(pgid);
    out
}

/// Makes this process the subreaper of everything it starts (Linux).
pub fn become_subreaper() {
    // SAFETY: PR_SET_CHILD_SUBREAPER takes an integer flag; no memory is passed.
    unsafe {
        libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
    }
}

/// Reaps orphans re-parented to us, waits briefly for the check's group to empty (daemons die
/// a moment after their parent), then kills whatever is left. Returns how many were left.
pub(super) fn clean_up_group(pgid: Pid) -> usize {
    let deadline = Instant::now() + Duration::from_millis(1000);
    loop {
        reap_orphans();
        let members = group_members(pgid);
        if members == 0 {
            return 0;
        }
        if Instant::now() >= deadline {
            let _ = killpg(pgid, Signal::SIGKILL);
            std::thread::sleep(Duration::from_millis(20));
            reap_orphans();
            return members;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn reap_orphans() {
    while let Ok(status) = waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
        if status == WaitStatus::StillAlive {
            break;
        }
    }
}

/// Reaps the zombies among our children except `keep` (the check itself, whose status
/// `try_wait` must still find). Children are read from `/proc/<pid>/stat`'s ppid field.
pub(super) fn reap_zombies_except(keep: u32) {
    let me = std::process::id().to_string();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return;
    };
    for e in entries.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|n| n.parse::<i32>().ok()) else {
            continue;
        };
        if pid as u32 == keep {
            continue;
        }
        let Ok(stat) = std::fs::read_to_string(e.path().join("stat")) else {
            continue;
        };
        let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
        let fields: Vec<&str> = rest.split_whitespace().collect();
        if fields.len() > 1 && fields[0] == "Z" && fields[1] == me {
            let _ = waitpid(Pid::from_raw(pid), Some(WaitPidFlag::WNOHANG));
        }
    }
}

/// Counts live (non-zombie) processes in process group `pgid`, from `/proc`.
fn group_members(pgid: Pid) -> usize {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return 0;
    };
    entries
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_str()
                .is_some_and(|n| n.bytes().all(|b| b.is_ascii_digit()))
        })
        .filter_map(|e| std::fs::read_to_string(e.path().join("stat")).ok())
        .filter(|stat| {
            // Fields after the `(comm)`: state, ppid, pgrp, …
            let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
            let fields: Vec<&str> = rest.split_whitespace().collect();
            fields.len() > 2 && fields[0] != "Z" && fields[2] == pgid.as_raw().to_string()
        })
        .count()
}
