//! The forkserver: a small single-threaded process, forked early, that makes children on request.
//!
//! # When it starts
//! On the first forkserver start, or when [`ensure_running`] is called. A program that will
//! start threads calls `ensure_running()` first thing in `main`, so the server is a copy of a
//! process that has one thread and holds no locks; every child is then a copy of that clean
//! server, however many threads the program has by the time it asks. (Started later, from a
//! threaded process, the server is forked like any `fork` child — the same risk, once instead
//! of once per child.)
//!
//! # How it is asked
//! A `SOCK_SEQPACKET` socket pair made at its start (no path on disk, nothing to clean up):
//! one datagram per request carries the request (target offset, arguments, name, daemon flag,
//! the caller's name) and, with `SCM_RIGHTS`, the descriptors among the arguments. A request
//! too big for one datagram (large arguments) travels in a memfd passed along with it instead.
//! The server makes the child and replies with its pid; when the child is the server's own, the
//! reply also carries a pidfd for it and the read end of a fresh *status pipe* (see below).
//!
//! # How its children are joined: the caller's own children
//! `waitid` (even `waitid(P_PIDFD)`) only works on one's own children, so a child the server
//! forks cannot be joined by the caller. So the server does not fork: it calls `clone` with
//! `CLONE_PARENT` (see `sibling.rs`), which makes the child a sibling of the server — a child
//! of the caller. The reply carries the pid; the caller adopts the child as it adopts a spawned
//! one (forkway-process's `start_exec`), and joins, signals and lists it as a fork child, with
//! the kernel's own exit status. The server forgets it at once: one hand-off fewer than the
//! relay below (request, reply, the child's exit straight to the caller), and no server work
//! after the clone. `getppid()` in the child is the caller (in Python it is the server).
//!
//! A raw `clone` skips what glibc's `fork` does in the child; the two things a Rust child on
//! glibc needs are done by hand and checked at the server's start: glibc's cached thread id
//! (`CLONE_CHILD_SETTID` with the address of the `tid` field, found through the
//! `_thread_db_pthread_tid` symbol glibc publishes for the thread debugger and checked against
//! `gettid()`), and the robust mutex list (registered again in the child). `pthread_atfork`
//! handlers do not run; forkway's own (the trace's) is run by hand.
//!
//! # The relay, when the child is the server's
//! The server forks instead when any of that cannot be verified (not glibc on x86_64/aarch64,
//! the symbol missing, the offset check failing, the kernel refusing the clone with `EINVAL`,
//! `EPERM` or `ENOSYS`, e.g. under seccomp: decided once per server), when [`force_relay`] was
//! called before the server started, and for a daemon child of a server started from another
//! thread than `main`'s (a daemon dies with its parent through `PR_SET_PDEATHSIG`, which fires
//! when the parent *thread* ends, and a cloned child's parent thread is the one that started
//! the server). Then it does what Python's forkserver does: it reaps the child itself and
//! *relays* its exit code, four bytes written into the child's status pipe. The caller keeps:
//! - the status pipe's read end: `join` waits for it to become readable and reads the code;
//! - the pidfd, received over the socket: `is_alive`, `terminate` and `kill` act on the exact
//!   process (`pidfd_send_signal`), with no pid-reuse race, and a pidfd becomes readable when
//!   the process ends even for a non-parent — so liveness survives a dead server.
//!
//! If the server dies first, the pipe reports EOF with no code: `join` says
//! [`ExitStatusLost`](crate::StartError::ExitStatusLost) once the child has ended.
//!
//! # How it ends
//! With its owner: EOF on the socket when the owner dies, however it dies (the kernel closes a
//! dead process's descriptors, and no other process holds the owner's end: it is close-on-fork
//! and close-on-exec), or when it exits normally (an `atexit` handler shuts the socket down).
//! A server started from the main thread also sets `PR_SET_PDEATHSIG(SIGKILL)`; not from
//! another thread, because the kernel sends that signal when the *thread* that forked the
//! server ends, which for a test thread is long before its process does. At
//! its exit it waits for its non-daemon children and terminates daemon ones, as any forkway
//! process does (the ones it relays for: the others are the owner's, whose own exit does it). The owner's normal exit then reaps the server — so it waits for those
//! children, as Python's exit joins the non-daemon children it started through its
//! forkserver. The server is left out of forkway-process's own exit cleanup and of
//! `active_children()` (Python does not list its forkserver either): that cleanup would wait
//! for the server before the socket closes. An owner that is itself a forked child ends with
//! `_exit`, which runs no `atexit` handler: its server sees EOF, ends, and is reaped by the
//! system like any orphan.

use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, AtomicPtr, Ordering};
use std::sync::Mutex;

use forkway_ipc::codec;
use forkway_process::clofork::{close_on_fork, keep_on_fork};
use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::socket::{shutdown, socketpair, AddressFamily, Shutdown, SockFlag, SockType};
use serde::{Deserialize, Serialize};

use crate::sibling::Cloner;
use crate::sys;
use crate::target::Payload;
use crate::StartError;

/// What the caller asks the server for: one child.
#[derive(Serialize, Deserialize)]
pub(crate) struct Request {
    pub payload: Payload,
    pub name: String,
    pub daemon: bool,
    /// The caller's name: a child cloned as the caller's own reports it as its parent's.
    pub parent_name: String,
}

/// What the server made of a request.
pub(crate) enum Reply {
    /// A child of the caller's own (cloned with `CLONE_PARENT`), with this pid: the caller
    /// adopts and joins it as a fork child.
    Sibling(u32),
    /// A child of the server's, whose exit code the server relays.
    Relayed(Started),
}

/// A started forkserver child whose exit code the server relays, seen from the caller.
pub(crate) struct Started {
    pub pid: u32,
    pub pidfd: OwnedFd,
    pub status: OwnedFd,
}

/// This process's connection to its forkserver.
struct Client {
    /// The process this connection belongs to; a forked child that finds another pid here
    /// inherited the pointer and must start its own server.
    owner: u32,
    sock: OwnedFd,
    /// One request and its reply at a time.
    exchange: Mutex<()>,
    /// Set when the server stopped answering: the next start makes a new one.
    dead: AtomicBool,
    /// The server, a forkway child of this process (reaped by forkway at exit).
    server: forkway_process::Process,
}

/// The current connection, leaked so that `&'static` borrows stay valid. A pointer rather than
/// a `Mutex<Option<…>>`: a child forked while another thread held such a mutex would find it
/// locked for ever; a pointer with a stale `owner` is simply replaced.
static CLIENT: AtomicPtr<Client> = AtomicPtr::new(std::ptr::null_mut());

/// Set by [`force_relay`]: servers started from now on relay every child's exit code.
static FORCE_RELAY: AtomicBool = AtomicBool::new(false);

/// Makes the servers this process starts from now on (and those its forked children start)
/// make every child their own and relay its exit code through a pipe, as Python's forkserver
/// does, instead of making it the caller's own child. A server already running keeps its way.
///
/// forkway relays on its own when it cannot clone children as the caller's (see the module
/// docs); this forces it, for tests of the relay and for programs whose `pthread_atfork` child
/// handlers must run in forkserver children (a cloned child runs none but forkway's own).
pub fn force_relay(force: bool) {
    FORCE_RELAY.store(force, Ordering::SeqCst);
}

/// Starts this process's forkserver now, if it is not running. Python's
/// `multiprocessing.forkserver.ensure_running()`.
///
/// Call it first thing in `main`, before the program starts threads, so that the server — and
/// so every forkserver child — is a copy of a single-threaded process.
///
/// # Errors
/// [`Forkserver`](StartError::Forkserver) when the socket or the server cannot be made.
pub fn ensure_running() -> Result<(), StartError> {
    client().map(|_| ())
}

/// The pid of this process's forkserver, when it runs.
pub fn server_pid() -> Option<u32> {
    let ptr = CLIENT.load(Ordering::SeqCst);
    // SAFETY: a non-null CLIENT points to a leaked, never freed `Client`.
    let client = unsafe { ptr.as_ref() }?;
    (client.owner == std::process::id() && !client.dead.load(Ordering::SeqCst))
        .then(|| client.server.pid())
        .flatten()
}

fn client() -> Result<&'static Client, StartError> {
    let me = std::process::id();
    let current = CLIENT.load(Ordering::SeqCst);
    // SAFETY: a non-null CLIENT points to a leaked, never freed `Client`.
    if let Some(c) = unsafe { current.as_ref() } {
        if c.owner == me && !c.dead.load(Ordering::SeqCst) {
            return Ok(c);
        }
        if c.owner == me {
            // A server that stopped answering: make sure it ends, and reap it.
            let _ = shutdown(c.sock.as_raw_fd(), Shutdown::Both);
            let _ = c.server.kill();
            let _ = c.server.join();
        }
    }
    let fresh = Box::into_raw(Box::new(start_server()?));
    match CLIENT.compare_exchange(current, fresh, Ordering::SeqCst, Ordering::SeqCst) {
        Ok(_) => {
            install_exit_handler();
            // SAFETY: just leaked; never freed.
            Ok(unsafe { &*fresh })
        }
        Err(winner) => {
            // Another thread started one at the same time: ours goes (EOF ends it).
            // SAFETY: `fresh` came from Box::into_raw above and was never shared.
            let ours = unsafe { Box::from_raw(fresh) };
            let _ = shutdown(ours.sock.as_raw_fd(), Shutdown::Both);
            keep_on_fork(ours.sock.as_raw_fd());
            let _ = ours.server.join();
            // SAFETY: CLIENT only ever holds leaked `Client`s.
            unsafe { winner.as_ref() }.ok_or_else(|| StartError::Forkserver {
                op: "start",
                source: io::Error::other("lost a race to a null server"),
            })
        }
    }
}

fn start_server() -> Result<Client, StartError> {
    let (ours, theirs) = socketpair(
        AddressFamily::Unix,
        SockType::SeqPacket,
        None,
        SockFlag::SOCK_CLOEXEC,
    )
    .map_err(|e| StartError::Forkserver {
        op: "socketpair",
        source: e.into(),
    })?;
    // Children forked from here on (by any method) must not hold our end: the server sees EOF
    // only when every copy is closed.
    close_on_fork(ours.as_raw_fd());
    let owner = std::process::id();
    // PR_SET_PDEATHSIG fires when the *thread* that forked us ends, not the process: only a
    // server started from the main thread may use it (a test thread ends long before its
    // process). EOF on the socket covers every case, PDEATHSIG only adds speed.
    let main_thread = nix::unistd::gettid().as_raw() as u32 == owner;
    let relay_only = FORCE_RELAY.load(Ordering::SeqCst);
    let mut server =
        forkway_process::Process::fallible(move || serve(theirs, owner, main_thread, relay_only))
            .with_name("ForkServer");
    if let Err(e) = server.start() {
        keep_on_fork(ours.as_raw_fd());
        return Err(e.into());
    }
    // The owner's exit must not wait for the server: the server waits for the owner's EOF.
    server.detach_from_exit();
    Ok(Client {
        owner,
        sock: ours,
        exchange: Mutex::new(()),
        dead: AtomicBool::new(false),
        server,
    })
}

/// At a normal exit of the owner the socket is shut down, so that the server sees EOF and
/// ends, and the server is reaped.
fn install_exit_handler() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // SAFETY: `at_exit` is an `extern "C" fn()` that cannot unwind (it catches panics).
        unsafe {
            libc::atexit(at_exit);
        }
    });
}

extern "C" fn at_exit() {
    let ptr = CLIENT.load(Ordering::SeqCst);
    // SAFETY: a non-null CLIENT points to a leaked, never freed `Client`.
    if let Some(c) = unsafe { ptr.as_ref() } {
        if c.owner == std::process::id() {
            let _ = shutdown(c.sock.as_raw_fd(), Shutdown::Both);
            // The server now waits for its non-daemon children and ends: Python's exit, too,
            // joins the non-daemon children its forkserver started. Reaping it here leaves no
            // zombie behind.
            let _ = std::panic::catch_unwind(|| c.server.join());
        }
    }
}

/// Asks the server for a child running `request`.
pub(crate) fn start(request: &Request, fds: &[OwnedFd]) -> Result<Reply, StartError> {
    let bytes = codec::encode(request).map_err(StartError::Args)?;
    let client = client()?;
    let result = client.ask(&bytes, fds);
    if let Err(StartError::Forkserver { .. }) = &result {
        client.dead.store(true, Ordering::SeqCst);
    }
    result
}

impl Client {
    fn ask(&self, bytes: &[u8], arg_fds: &[OwnedFd]) -> Result<Reply, StartError> {
        let io_err = |op| move |source| StartError::Forkserver { op, source };
        // A request that fits in one datagram travels in it; a bigger one in a memfd.
        let (message, memfd) = if INLINE.len() + bytes.len() <= REQUEST_MAX {
            ([INLINE, bytes].concat(), None)
        } else {
            let memfd = sys::memfd_with("forkway-request", bytes).map_err(io_err("memfd"))?;
            (IN_MEMFD.to_vec(), Some(memfd))
        };
        let reply = {
            let _turn = self.exchange.lock().unwrap_or_else(|p| p.into_inner());
            let mut carried: Vec<RawFd> = memfd.iter().map(AsRawFd::as_raw_fd).collect();
            carried.extend(arg_fds.iter().map(AsRawFd::as_raw_fd));
            sys::send_with_fds(self.sock.as_fd(), &message, &carried).map_err(io_err("send"))?;
            let mut buf = [0u8; 512];
            let (n, fds) = sys::recv_with_fds(self.sock.as_fd(), &mut buf).map_err(io_err("receive"))?;
            (buf[..n].to_vec(), fds)
        };
        match reply {
            (bytes, mut fds) if bytes.len() == 6 && bytes.starts_with(b"ok") && fds.len() == 2 => {
                let pid = u32::from_le_bytes([bytes[2], bytes[3], bytes[4], bytes[5]]);
                let status = fds.remove(1);
                let pidfd = fds.remove(0);
                Ok(Reply::Relayed(Started { pid, pidfd, status }))
            }
            (bytes, fds) if bytes.len() == 6 && bytes.starts_with(SIBLING) && fds.is_empty() => {
                Ok(Reply::Sibling(u32::from_le_bytes([
                    bytes[2], bytes[3], bytes[4], bytes[5],
                ])))
            }
            (bytes, _) if bytes.is_empty() => Err(StartError::Forkserver {
                op: "receive",
                source: io::Error::new(io::ErrorKind::UnexpectedEof, "the forkserver exited"),
            }),
            (bytes, _) => Err(StartError::Forkserver {
                op: "start",
                source: io::Error::other(
                    String::from_utf8_lossy(bytes.strip_prefix(b"err").unwrap_or(&bytes)).into_owned(),
                ),
            }),
        }
    }
}

/// The start of a request datagram that carries the encoded request after it.
const INLINE: &[u8] = b"inline";
/// A request datagram whose encoded request is in the memfd it carries first.
const IN_MEMFD: &[u8] = b"start";
/// The largest request datagram; a bigger request goes in a memfd.
const REQUEST_MAX: usize = 4096;
/// The start of the reply for a child cloned as the caller's own (its pid follows).
const SIBLING: &[u8] = b"sb";

/// One child the server forked, and where its exit code goes.
struct Child {
    process: forkway_process::Process,
    status: OwnedFd,
}

/// How the server makes children, decided once at its start.
struct Making {
    owner: u32,
    main_thread: bool,
    /// `None`: every child is the server's and its code is relayed.
    cloner: Option<Cloner>,
}

/// The server's loop. Single-threaded: it waits on its socket and its children's pidfds.
fn serve(sock: OwnedFd, owner: u32, main_thread: bool, relay_only: bool) -> i32 {
    // Die with the owner even if it is SIGKILLed; if it died before this line, no signal will
    // come, so check. (Its death also closes the socket: EOF ends us in the loop below.)
    if main_thread {
        let _ = sys::die_with_parent();
    }
    if nix::unistd::getppid().as_raw() as u32 != owner {
        return 0;
    }
    close_on_fork(sock.as_raw_fd());
    crate::target::warm_up_server();
    let mut making = Making {
        owner,
        main_thread,
        cloner: if relay_only { None } else { Cloner::probe() },
    };
    let mut children: Vec<Child> = Vec::new();
    loop {
        let mut fds = vec![PollFd::new(sock.as_fd(), PollFlags::POLLIN)];
        // Which child each pidfd after the socket belongs to.
        let mut owners = Vec::with_capacity(children.len());
        for (i, child) in children.iter().enumerate() {
            if let Ok(fd) = child.process.sentinel() {
                fds.push(PollFd::new(fd, PollFlags::POLLIN));
                owners.push(i);
            }
        }
        match poll(&mut fds, PollTimeout::NONE) {
            Err(nix::errno::Errno::EINTR) => continue,
            Err(_) => return 1,
            Ok(_) => {}
        }
        let request_ready = fds[0].any().unwrap_or(true);
        let ended: Vec<usize> = fds[1..]
            .iter()
            .zip(&owners)
            .filter(|(fd, _)| fd.any().unwrap_or(false))
            .map(|(_, &i)| i)
            .collect();
        drop(fds);
        for i in ended.into_iter().rev() {
            let child = children.swap_remove(i);
            relay_exit(child);
        }
        if request_ready && !serve_one(&sock, &mut children, &mut making) {
            break;
        }
    }
    // EOF: the owner is gone or exiting. The children still running are waited for (or, for
    // daemons, terminated) by forkway's exit cleanup; their codes have nobody to go to.
    for child in children {
        keep_on_fork(child.status.as_raw_fd());
    }
    keep_on_fork(sock.as_raw_fd());
    0
}

// ANCHOR: relay_exit
/// Reaps an ended child and writes its exit code into its status pipe.
fn relay_exit(child: Child) {
    // ANCHOR: exercise_7_2
    let _ = child.process.join();
    if let Some(code) = child.process.exitcode() {
        let _ = nix::unistd::write(&child.status, &code.to_le_bytes());
    }
    keep_on_fork(child.status.as_raw_fd());
    // ANCHOR_END: exercise_7_2
}
// ANCHOR_END: relay_exit

/// Handles one request. False at EOF (or a broken socket): the server should end.
fn serve_one(sock: &OwnedFd, children: &mut Vec<Child>, making: &mut Making) -> bool {
    let mut buf = [0u8; REQUEST_MAX];
    let (n, mut fds) = match sys::recv_with_fds(sock.as_fd(), &mut buf) {
        Ok(r) => r,
        Err(_) => return false,
    };
    if n == 0 {
        return false;
    }
    let message = &buf[..n];
    // The request's memfd (unless it came inline), then the descriptors of the target's
    // arguments.
    let in_memfd = message == IN_MEMFD;
    if in_memfd && fds.is_empty() {
        return reply_err(sock, "a request in a memfd must carry it");
    }
    let arg_fds = fds.split_off(usize::from(in_memfd));
    let bytes = match (in_memfd, message.strip_prefix(INLINE)) {
        (true, _) => sys::read_all(fds.remove(0)).map_err(|e| e.to_string()),
        (false, Some(inline)) => Ok(inline.to_vec()),
        (false, None) => Err("unknown request".to_owned()),
    };
    let request = match bytes.and_then(|bytes| codec::decode::<Request>(&bytes).map_err(|e| e.to_string())) {
        Ok(r) => r,
        Err(e) => return reply_err(sock, &format!("bad request: {e}")),
    };
    let Request {
        payload,
        name,
        daemon,
        parent_name,
    } = request;
    let mut process = forkway_process::Process::fallible(move || {
        let code = payload.run(arg_fds);
        // The child exits next: freeing the request would only write to the allocator's pages
        // it shares with the server (copy-on-write faults).
        std::mem::forget(payload);
        code
    })
    .with_name(name)
    .with_daemon(daemon);
    // A daemon child dies with its parent through PR_SET_PDEATHSIG, which fires when the
    // parent *thread* ends: a cloned child's parent thread is the one that started the server,
    // safe only when that was the owner's main thread (see the module docs).
    let cloner = making
        .cloner
        .as_ref()
        .filter(|c| (!daemon || making.main_thread) && c.robust_list_is_empty());
    if let Some(cloner) = cloner {
        // SAFETY: `clone_child` is a fork-like clone that sets glibc's cached thread id and
        // robust list in the child, as `start_unowned` requires; the server has one thread.
        match unsafe { process.start_unowned((parent_name, making.owner), || cloner.clone_child()) } {
            Ok(pid) => {
                // The caller waits for its own child: no code to relay.
                let mut reply = SIBLING.to_vec();
                reply.extend_from_slice(&pid.to_le_bytes());
                return sys::send_with_fds(sock.as_fd(), &reply, &[]).is_ok();
            }
            // The kernel (or a seccomp filter) refuses this clone: relay from now on.
            Err(forkway_process::ProcessError::Fork(Errno::EINVAL | Errno::EPERM | Errno::ENOSYS)) => {
                making.cloner = None;
            }
            Err(e) => return reply_err(sock, &e.to_string()),
        }
    }
    if let Err(e) = process.start() {
        return reply_err(sock, &e.to_string());
    }
    // The status pipe, made after the fork so that the child holds neither end: the write end
    // stays here (a dead server's EOF tells the caller the code is lost), the read end goes.
    let (status_r, status) =
        match nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC | nix::fcntl::OFlag::O_NONBLOCK) {
            Ok(ends) => ends,
            Err(e) => {
                let _ = process.kill();
                let _ = process.join();
                return reply_err(sock, &format!("pipe: {e}"));
            }
        };
    // Children forked later must not hold it, or our death would not close it.
    close_on_fork(status.as_raw_fd());
    let pid = process.pid().unwrap_or(0);
    // SCM_RIGHTS gives the caller its own copy of the child's pidfd; ours stays with `process`.
    let Some(pidfd) = process.sentinel().ok().map(|fd| fd.as_raw_fd()) else {
        // No pidfd (an old kernel): the caller could not signal the child safely.
        let _ = process.kill();
        children.push(Child { process, status });
        return reply_err(sock, "pidfd_open is not available");
    };
    let mut reply = b"ok".to_vec();
    reply.extend_from_slice(&pid.to_le_bytes());
    let sent = sys::send_with_fds(sock.as_fd(), &reply, &[pidfd, status_r.as_raw_fd()]);
    drop(status_r);
    children.push(Child { process, status });
    sent.is_ok()
}

fn reply_err(sock: &OwnedFd, message: &str) -> bool {
    let mut reply = b"err".to_vec();
    reply.extend_from_slice(message.as_bytes());
    reply.truncate(500);
    sys::send_with_fds(sock.as_fd(), &reply, &[]).is_ok()
}
