//! Unauthenticated peers cannot take a listener or a manager down. Its own binary: the flood
//! test opens a thousand sockets and raises this process's descriptor limit for them.
//!
//! - `accept` authenticates every peer that has connected at once, and returns the first to
//!   finish: four silent peers in front of an honest client delay it by nothing (before, by
//!   four handshake timeouts, 41 s).
//! - A thousand peers that announce a 256-byte answer and trickle it a byte at a time hold
//!   neither a thread each nor a descriptor each in the manager's server, and an honest client
//!   is served at once, over Unix and TCP (before, the server reached 1 018 threads and 1 024
//!   descriptors and refused everyone until the attackers left).

use forkway_testkit as support;

use std::net::TcpStream;
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use forkway_manager::connection::MAX_UNAUTHENTICATED;
use forkway_manager::{client, Address, Listener, Manager};
use forkway_process::Process;
use support::*;

const KEY: &[u8] = b"flood test key";

fn tcp_any() -> Address {
    Address::Tcp("127.0.0.1:0".parse().expect("addr"))
}

#[test]
fn silent_peers_do_not_delay_an_honest_client() {
    for family in ["tcp", "unix"] {
        let listener = match family {
            "tcp" => Listener::bind(&tcp_any(), Some(KEY)).expect("listener"),
            _ => Listener::new(Some(KEY)).expect("listener"),
        };
        let address = listener.address().clone();
        // Four peers that connect and say nothing, ahead of the honest one in the backlog.
        let silent: Vec<OwnedFd> = (0..4)
            .map(|_| connect_nonblocking(&address).expect("connect"))
            .collect();
        let start = Instant::now();
        let client_address = address.clone();
        let mut p = Process::new(move || {
            let mut c = client::<u8>(&client_address, Some(KEY)).expect("connect");
            c.send(&7).expect("send");
        });
        p.start().expect("start");
        let mut conn = loop {
            match listener.accept_timeout::<u8>(BOUND) {
                Ok(conn) => break conn,
                Err(e) => assert!(
                    start.elapsed() < BOUND,
                    "{family}: no honest client after {:?}: {e}",
                    start.elapsed()
                ),
            }
        };
        let waited = start.elapsed();
        println!("{family}: honest client accepted after {waited:?} behind 4 silent peers");
        assert_eq!(conn.recv().expect("recv"), 7);
        assert!(waited < Duration::from_secs(5), "{family}: waited {waited:?}");
        assert_eq!(join_bounded(&p), 0);
        assert_eq!(
            listener.unauthenticated(),
            4,
            "the silent peers are still pending"
        );
        drop(silent);
    }
}

#[test]
fn a_thousand_trickling_peers_do_not_take_the_manager_down() {
    let unix = Manager::builder().authkey(KEY).start().expect("unix manager");
    let tcp = Manager::builder()
        .address(tcp_any())
        .authkey(KEY)
        .start()
        .expect("tcp manager");
    // After the servers forked: they keep the usual limit (1 024), which the old server
    // exhausted; this process needs room for a thousand sockets.
    raise_nofile_limit();
    for m in [&unix, &tcp] {
        let address = m.address().clone();
        let server = m.pid().expect("pid");
        let attackers = Trickle::start(&address, 1000);
        let started = Instant::now();
        let served = std::sync::mpsc::channel();
        let (tx, rx) = served;
        let honest = address.clone();
        // On its own thread, so that a server that never answers fails the test instead of
        // hanging it.
        std::thread::spawn(move || {
            let outcome = Manager::connect(&honest, KEY).and_then(|m| m.number_of_objects());
            let _ = tx.send(outcome.map_err(|e| e.to_string()));
        });
        let outcome = rx.recv_timeout(BOUND);
        let latency = started.elapsed();
        let threads = count_dir(&format!("/proc/{server}/task"));
        let fds = count_dir(&format!("/proc/{server}/fd"));
        println!(
            "{address}: {} trickling peers connected; honest client served in {latency:?}; \
             server holds {threads} threads and {fds} descriptors",
            attackers.connected
        );
        let connected = attackers.connected;
        attackers.stop();
        match outcome {
            Ok(Ok(objects)) => assert_eq!(objects, 0),
            Ok(Err(e)) => panic!("{address}: the honest client failed after {latency:?}: {e}"),
            Err(_) => panic!("{address}: the honest client got no answer within {BOUND:?}"),
        }
        assert!(
            latency < Duration::from_secs(5),
            "{address}: served after {latency:?}"
        );
        assert!(threads <= 8, "{address}: the server runs {threads} threads");
        assert!(
            fds <= MAX_UNAUTHENTICATED + 32,
            "{address}: the server holds {fds} descriptors"
        );
        assert!(connected >= 900, "the attack was real: {connected} peers");
    }
}

/// Peers that announce a 256-byte frame and send it one byte per peer per 500 ms.
struct Trickle {
    connected: usize,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Trickle {
    fn start(address: &Address, n: usize) -> Trickle {
        let mut peers: Vec<OwnedFd> = Vec::with_capacity(n);
        let deadline = Instant::now() + BOUND;
        while peers.len() < n && Instant::now() < deadline {
            match connect_nonblocking(address) {
                Some(fd) => {
                    let _ = write_some(&fd, &256i32.to_be_bytes());
                    peers.push(fd);
                }
                // A full backlog: the server has not accepted yet.
                None => std::thread::sleep(Duration::from_millis(1)),
            }
        }
        let connected = peers.len();
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            // Bounded: a test that forgot to stop it still ends.
            let end = Instant::now() + BOUND;
            while !stopping.load(Ordering::Relaxed) && Instant::now() < end {
                for fd in &peers {
                    let _ = write_some(fd, b"x");
                }
                std::thread::sleep(Duration::from_millis(500));
            }
        });
        Trickle {
            connected,
            stop,
            thread: Some(thread),
        }
    }

    fn stop(mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            t.join().expect("trickler");
        }
    }
}

/// A socket connected to `address` without waiting for the server to accept it; `None` when
/// the listener's backlog is full.
fn connect_nonblocking(address: &Address) -> Option<OwnedFd> {
    use nix::sys::socket::{connect, socket, AddressFamily, SockFlag, SockType, UnixAddr};
    match address {
        Address::Unix(path) => {
            let flags = SockFlag::SOCK_NONBLOCK | SockFlag::SOCK_CLOEXEC;
            let fd = socket(AddressFamily::Unix, SockType::Stream, flags, None).expect("socket");
            let addr = UnixAddr::new(path.as_path()).expect("path");
            match connect(fd.as_raw_fd(), &addr) {
                Ok(()) => Some(fd),
                Err(nix::errno::Errno::EAGAIN) => None,
                Err(e) => panic!("connect to {address}: {e}"),
            }
        }
        // The kernel completes a TCP connect before the server accepts it, unless the accept
        // queue is full (then SYNs are dropped: give up quickly and try again).
        Address::Tcp(addr) => {
            let s = TcpStream::connect_timeout(addr, Duration::from_millis(100)).ok()?;
            s.set_nonblocking(true).expect("nonblocking");
            Some(s.into())
        }
    }
}

fn write_some(fd: &OwnedFd, bytes: &[u8]) -> nix::Result<usize> {
    nix::sys::socket::send(fd.as_raw_fd(), bytes, nix::sys::socket::MsgFlags::MSG_NOSIGNAL)
}

fn count_dir(path: &str) -> usize {
    std::fs::read_dir(path).map_or(0, Iterator::count)
}

/// Soft limit up to the hard limit: room for a thousand sockets in this process.
fn raise_nofile_limit() {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `lim` is a valid rlimit to fill in.
    assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) }, 0);
    lim.rlim_cur = lim.rlim_max;
    // SAFETY: `lim` is a valid rlimit; raising the soft limit up to the hard one is allowed.
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) }, 0);
    assert!(
        lim.rlim_cur >= 1200,
        "RLIMIT_NOFILE hard limit {} is too low",
        lim.rlim_max
    );
}
