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

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count())
}

/// The zombies whose parent is `parent`: children that ended and nobody reaped.
fn zombies_of(parent: u32) -> Vec<u32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            // `pid (comm) state ppid …`; comm may hold spaces, so split after its last ')'.
            std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
                let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
                let mut fields = rest.split_whitespace();
                let state = fields.next();
                let ppid = fields.next().and_then(|p| p.parse::<u32>().ok());
                state == Some("Z") && ppid == Some(parent)
            })
        })
        .collect()
}

/// In a forked child of its own (one thread, its own server): 50 starts and joins leave no
/// descriptor and no zombie behind, in it or in its server.
#[test]
fn fifty_sibling_starts_leak_no_descriptor_and_no_zombie() {
    let mut p = forkway_process::Process::fallible(|| -> Result<(), String> {
        forkserver::ensure_running().map_err(|e| e.to_string())?;
        let server = forkserver::server_pid().ok_or("no server")?;
        let me = std::process::id();
        let ctx = Context::new(StartMethod::Forkserver);
        // One first: lazily made state (the panic hook, the at-exit handler) settles.
        let mut first = ctx.process(parent_is, (me,));
        first.start().map_err(|e| e.to_string())?;
        first.join().map_err(|e| e.to_string())?;
        let before = open_fds();
        for i in 0..50 {
            let mut p = ctx.process(parent_is, (me,));
            p.start().map_err(|e| e.to_string())?;
            if !p.join_timeout(BOUND).map_err(|e| e.to_string())? {
                let _ = p.kill();
                return Err(format!("start {i} did not end"));
            }
            if p.exitcode() != Some(0) {
                return Err(format!("start {i}: exit code {:?}", p.exitcode()));
            }
        }
        let after = open_fds();
        let zombies = [zombies_of(me), zombies_of(server)].concat();
        if before != after {
            Err(format!("{before} descriptors before, {after} after"))
        } else if !zombies.is_empty() {
            Err(format!("zombies left: {zombies:?}"))
        } else {
            Ok(())
        }
    });
    p.start().expect("start");
    assert!(p.join_timeout(BOUND).expect("join"), "the scenario ended");
    assert_eq!(p.exitcode(), Some(0));
}

/// 0 when glibc's view of this thread is a forked child's: its cached thread id (in the field
/// `_thread_db_pthread_tid` locates) is our `gettid()`, and a robust list is registered.
fn glibc_sees_its_own_thread() -> i32 {
    // SAFETY: looks a NUL-terminated name up in the loaded objects.
    let symbol = unsafe { libc::dlsym(libc::RTLD_DEFAULT, c"_thread_db_pthread_tid".as_ptr()) };
    if symbol.is_null() {
        return 2;
    }
    // SAFETY: glibc's `const uint32_t _thread_db_pthread_tid[3]`, read-only data.
    let [_, _, offset] = unsafe { symbol.cast::<[u32; 3]>().read() };
    // SAFETY: the `tid` field of our own thread descriptor, at the offset glibc publishes.
    let cached =
        unsafe { std::ptr::read_volatile((libc::pthread_self() as usize + offset as usize) as *const i32) };
    if cached != nix::unistd::gettid().as_raw() {
        return 3;
    }
    let mut head: *mut libc::c_void = std::ptr::null_mut();
    let mut len: libc::size_t = 0;
    // SAFETY: writes this thread's robust list head and length into the two locals.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_get_robust_list,
            0,
            &mut head as *mut *mut libc::c_void,
            &mut len as *mut libc::size_t,
        )
    };
    if rc != 0 || head.is_null() {
        return 4;
    }
    0
}

/// The two things glibc's `fork` does in a child and a raw `clone` does not, done by hand.
#[test]
fn a_sibling_has_glibcs_thread_id_and_robust_list() {
    let mut p = Context::new(StartMethod::Forkserver).process(glibc_sees_its_own_thread, ());
    assert_eq!(
        run(&mut p),
        Some(0),
        "2: no symbol, 3: stale thread id, 4: no robust list"
    );
}

/// Reports its pid and its parent's, then waits to be killed.
fn report_and_wait(out: Queue<(u32, u32)>) {
    let _ = out.put((std::process::id(), nix::unistd::getppid().as_raw() as u32));
    std::thread::sleep(Duration::from_secs(600));
}

/// A server started from the main thread (here: of a forked child, which has only that one)
/// clones daemon children too; they die with their parent through PR_SET_PDEATHSIG, even
/// when it is SIGKILLed and runs no cleanup.
#[test]
fn a_daemon_sibling_dies_with_its_sigkilled_parent() {
    let out: Queue<(u32, u32)> = Queue::new_sendable().expect("queue");
    let tx = out.clone();
    let mut owner = forkway_process::Process::new(move || {
        forkserver::ensure_running().expect("forkserver");
        let mut d = Context::new(StartMethod::Forkserver)
            .process(report_and_wait, (tx,))
            .with_daemon(true);
        d.start().expect("start the daemon");
        std::thread::sleep(Duration::from_secs(600));
    });
    owner.start().expect("start");
    let (daemon, parent) = out.get_timeout(BOUND).expect("the daemon reports");
    assert_eq!(Some(parent), owner.pid(), "the daemon is the owner's own child");
    // SAFETY: pidfd_open takes a pid and flags and returns a new fd or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, daemon as libc::pid_t, 0) };
    owner.kill().expect("kill");
    assert!(owner.join_timeout(BOUND).expect("join"), "the owner ended");
    if fd >= 0 {
        use std::os::fd::{AsFd, FromRawFd, OwnedFd};
        // SAFETY: the kernel just returned this descriptor; we own it.
        let fd = unsafe { OwnedFd::from_raw_fd(fd as i32) };
        let mut fds = [nix::poll::PollFd::new(fd.as_fd(), nix::poll::PollFlags::POLLIN)];
        let ready = nix::poll::poll(&mut fds, nix::poll::PollTimeout::from(20_000u16)).expect("poll");
        assert_eq!(ready, 1, "the daemon {daemon} outlived its SIGKILLed parent");
    }
}

/// 0 when this process is called `name` and names `parent` (its pid) as its parent.
fn named(name: String, parent: u32) -> i32 {
    let me = forkway_process::current_process();
    let Some(p) = forkway_process::parent_process() else {
        return 5;
    };
    match (me.name == name, p.pid == parent, p.is_alive()) {
        (true, true, true) => 0,
        (false, _, _) => 6,
        (_, false, _) => 7,
        _ => 8,
    }
}

#[test]
fn a_sibling_knows_its_name_and_its_parent() {
    let me = std::process::id();
    let mut p = Context::new(StartMethod::Forkserver)
        .process(named, ("worker-7".to_owned(), me))
        .with_name("worker-7");
    assert_eq!(
        run(&mut p),
        Some(0),
        "5: no parent, 6: wrong name, 7: wrong parent, 8: parent dead"
    );
}

/// Makes every later `clone` with `CLONE_PARENT`, in this process and its descendants, fail
/// with EPERM, as a seccomp policy may (x86_64 and aarch64: the flags are the first argument).
fn refuse_clone_parent() -> Result<(), String> {
    const LD_W_ABS: u16 = (libc::BPF_LD | libc::BPF_W | libc::BPF_ABS) as u16;
    const JEQ_K: u16 = (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16;
    const JSET_K: u16 = (libc::BPF_JMP | libc::BPF_JSET | libc::BPF_K) as u16;
    const RET_K: u16 = (libc::BPF_RET | libc::BPF_K) as u16;
    let op = |code, jt, jf, k| libc::sock_filter { code, jt, jf, k };
    // seccomp_data: nr at 0, then arch, ip, and args from byte 16 (the low word first).
    let filter = [
        op(LD_W_ABS, 0, 0, 0),
        op(JEQ_K, 0, 3, libc::SYS_clone as u32),
        op(LD_W_ABS, 0, 0, 16),
        op(JSET_K, 0, 1, libc::CLONE_PARENT as u32),
        op(RET_K, 0, 0, libc::SECCOMP_RET_ERRNO | libc::EPERM as u32),
        op(RET_K, 0, 0, libc::SECCOMP_RET_ALLOW),
    ];
    let prog = libc::sock_fprog {
        len: filter.len() as u16,
        filter: filter.as_ptr().cast_mut(),
    };
    // SAFETY: PR_SET_NO_NEW_PRIVS takes plain integers; it is what an unprivileged filter needs.
    if unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) } != 0 {
        return Err(format!("no_new_privs: {}", std::io::Error::last_os_error()));
    }
    // SAFETY: `prog` points at `filter`, both alive for the call; the kernel copies them.
    if unsafe {
        libc::prctl(
            libc::PR_SET_SECCOMP,
            libc::SECCOMP_MODE_FILTER,
            &prog as *const libc::sock_fprog,
        )
    } != 0
    {
        return Err(format!("seccomp: {}", std::io::Error::last_os_error()));
    }
    Ok(())
}

/// Where the kernel refuses the clone (here a seccomp filter), the server relays instead: the
/// child is the server's, and its exit code still arrives, for that start and the next.
#[test]
fn a_refused_clone_falls_back_to_the_relay() {
    let mut p = forkway_process::Process::fallible(|| -> Result<(), String> {
        refuse_clone_parent()?;
        forkserver::ensure_running().map_err(|e| e.to_string())?;
        let server = forkserver::server_pid().ok_or("no server")?;
        let ctx = Context::new(StartMethod::Forkserver);
        for round in 0..2 {
            let mut p = ctx.process(parent_is, (server,));
            p.start().map_err(|e| format!("start {round}: {e}"))?;
            if !p.join_timeout(BOUND).map_err(|e| e.to_string())? {
                let _ = p.kill();
                return Err(format!("start {round} did not end"));
            }
            if p.exitcode() != Some(0) {
                return Err(format!(
                    "start {round}: exit code {:?} (9: not the server's)",
                    p.exitcode()
                ));
            }
        }
        Ok(())
    });
    p.start().expect("start");
    assert!(p.join_timeout(BOUND).expect("join"), "the scenario ended");
    assert_eq!(p.exitcode(), Some(0));
}
