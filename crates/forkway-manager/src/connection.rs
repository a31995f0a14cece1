//! `multiprocessing.connection`'s `Listener` and `Client`: connections between processes that
//! did not fork from each other, over a Unix socket or TCP, optionally authenticated.

use std::collections::VecDeque;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use forkway_ipc::codec::DEFAULT_MAX_MESSAGE;
use forkway_ipc::Connection;
use nix::sys::socket::{setsockopt, sockopt};
use nix::sys::time::TimeVal;

use crate::auth::{answer_challenge, deliver_challenge, AuthError, PRE_AUTH_MAX};
pub use crate::handshake::MAX_UNAUTHENTICATED;
use crate::handshake::{Peer, Progress};

/// How long a peer may take to complete the authkey handshake before it is dropped.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Where a listener listens. Python infers the family from the address: a path is `AF_UNIX`, a
/// `(host, port)` tuple `AF_INET`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Address {
    /// A Unix socket file.
    Unix(PathBuf),
    /// A TCP address; port 0 picks a free port (see [`Listener::address`]).
    Tcp(SocketAddr),
}

impl std::fmt::Display for Address {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Address::Unix(p) => write!(f, "{}", p.display()),
            Address::Tcp(a) => write!(f, "{a}"),
        }
    }
}

/// Why a listener or client failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConnectError {
    /// The socket call failed (address in use, connection refused, …).
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// The authkey handshake failed. Python: `AuthenticationError`.
    #[error("authentication failed: {0}")]
    Auth(#[from] AuthError),
    /// `accept` on a closed listener. Python: `OSError('listener is closed')`.
    #[error("listener is closed")]
    Closed,
    /// [`Listener::accept_timeout`]: no peer finished connecting in time.
    #[error("no client finished connecting within {0:?}")]
    Timeout(Duration),
}

enum Socket {
    Unix(UnixListener),
    Tcp(TcpListener),
}

/// Accepts connections. Python's `multiprocessing.connection.Listener`.
///
/// With an authkey, peers are authenticated concurrently: `accept` runs the handshake of every
/// peer that has connected, all on the calling thread with nonblocking sockets, and returns
/// the first that finishes it — a silent or trickling peer holds up nobody. Each handshake has
/// one deadline for the whole exchange, and at most [`MAX_UNAUTHENTICATED`] peers may be in
/// the middle of one (the one that has waited longest is dropped for a newcomer).
pub struct Listener {
    socket: Option<Socket>,
    address: Address,
    authkey: Option<Vec<u8>>,
    /// The private directory made for a default address: removed with the listener.
    private_dir: Option<PathBuf>,
    handshake_timeout: Duration,
    /// Peers in the middle of the handshake, oldest first. Kept between `accept` calls: a
    /// peer half-way through is not lost because another finished first.
    pending: Mutex<VecDeque<Peer>>,
}

impl Listener {
    /// Listens on a fresh Unix socket in a private directory (mode 0700) that only this user
    /// can enter — Python's default address `/tmp/pymp-…/listener-…`.
    ///
    /// # Errors
    /// The OS error when the directory or socket cannot be made.
    pub fn new(authkey: Option<&[u8]>) -> Result<Listener, ConnectError> {
        let dir = private_dir()?;
        let mut listener = match Listener::bind(&Address::Unix(dir.join("listener")), authkey) {
            Ok(l) => l,
            Err(e) => {
                let _ = std::fs::remove_dir(&dir);
                return Err(e);
            }
        };
        listener.private_dir = Some(dir);
        Ok(listener)
    }

    /// Listens on `address`. `authkey: None` means no authentication, as in Python (it does not
    /// default to a process key).
    ///
    /// # Errors
    /// The OS error: `AddrInUse` when the address is taken (Python's test_multiple_bind).
    pub fn bind(address: &Address, authkey: Option<&[u8]>) -> Result<Listener, ConnectError> {
        let (socket, address) = match address {
            Address::Unix(path) => {
                let l = UnixListener::bind(path)?;
                // `accept` takes every waiting peer at once, then polls.
                l.set_nonblocking(true)?;
                (Socket::Unix(l), address.clone())
            }
            Address::Tcp(addr) => {
                // std sets SO_REUSEADDR on Unix, as Python's Listener does.
                let l = TcpListener::bind(addr)?;
                l.set_nonblocking(true)?;
                let real = l.local_addr()?;
                (Socket::Tcp(l), Address::Tcp(real))
            }
        };
        Ok(Listener {
            socket: Some(socket),
            address,
            authkey: authkey.map(<[u8]>::to_vec),
            private_dir: None,
            handshake_timeout: HANDSHAKE_TIMEOUT,
            pending: Mutex::new(VecDeque::new()),
        })
    }

    /// How long a client may take over the whole handshake ([`HANDSHAKE_TIMEOUT`] by default;
    /// `Duration::MAX`: no limit). Applies to peers that connect from now on.
    pub fn set_handshake_timeout(&mut self, timeout: Duration) {
        self.handshake_timeout = timeout;
    }

    /// The address clients connect to (the real port for a TCP port 0).
    pub fn address(&self) -> &Address {
        &self.address
    }

    /// The private directory [`Listener::new`] made for its socket (removed with the listener).
    pub fn private_dir(&self) -> Option<&Path> {
        self.private_dir.as_deref()
    }

    /// How many peers are in the middle of the handshake now.
    pub fn unauthenticated(&self) -> usize {
        lock(&self.pending).len()
    }

    /// Waits for a client and, with an authkey, authenticates it — both ways: the client must
    /// prove the key to us, and we to it. Python's `accept()`. Returns the first peer to finish
    /// its handshake, whenever it connected.
    ///
    /// # Errors
    /// [`ConnectError::Auth`] when a peer fails the handshake or its time is up (it gets
    /// `#FAILURE#` for a wrong answer; the listener goes on), [`ConnectError::Closed`] after
    /// `close`, OS errors.
    pub fn accept<T>(&self) -> Result<Connection<T>, ConnectError> {
        self.accept_until(None)
    }

    /// [`accept`](Listener::accept), waiting at most `timeout` for a peer to finish connecting
    /// (`Duration::MAX`: no limit). Python's `Listener` has no such method; a test or a
    /// supervisor that must not wait forever for a peer that may have died needs one.
    ///
    /// # Errors
    /// [`ConnectError::Timeout`] when no peer finished in time; as `accept`.
    pub fn accept_timeout<T>(&self, timeout: Duration) -> Result<Connection<T>, ConnectError> {
        self.accept_until(Instant::now().checked_add(timeout))
            .map_err(|e| match e {
                ConnectError::Timeout(_) => ConnectError::Timeout(timeout),
                other => other,
            })
    }

    /// The accept loop: take every peer that is waiting, move every handshake on, return the
    /// first that finished (or failed, or ran out of time).
    fn accept_until<T>(&self, deadline: Option<Instant>) -> Result<Connection<T>, ConnectError> {
        let socket = self.socket.as_ref().ok_or(ConnectError::Closed)?;
        let mut pending = lock(&self.pending);
        // While the process is out of descriptors, the listening socket stays readable and
        // `accept` keeps failing: leave it out of the poll for a moment.
        let mut listen_again = Instant::now();
        loop {
            let now = Instant::now();
            // Expired handshakes first: an answer at the last moment does not count.
            if let Some(i) = pending.iter().position(|p| p.deadline.is_some_and(|d| d <= now)) {
                drop(pending.remove(i));
                return Err(ConnectError::Auth(AuthError::Timeout));
            }
            if deadline.is_some_and(|d| d <= now) {
                return Err(ConnectError::Timeout(Duration::ZERO));
            }
            let listening = now >= listen_again;
            let mut fds: Vec<libc::pollfd> = Vec::with_capacity(pending.len() + 1);
            fds.push(libc::pollfd {
                fd: socket.as_fd().as_raw_fd(),
                events: if listening { libc::POLLIN } else { 0 },
                revents: 0,
            });
            fds.extend(pending.iter().map(|p| libc::pollfd {
                fd: p.fd().as_raw_fd(),
                events: p.events(),
                revents: 0,
            }));
            let wake = pending
                .iter()
                .filter_map(|p| p.deadline)
                .chain(deadline)
                .chain((!listening).then_some(listen_again))
                .min();
            let ms = wake.map_or(-1, |w| {
                let left = w.saturating_duration_since(now);
                // Rounded up: waking a little early would spin.
                libc::c_int::try_from(left.as_micros().div_ceil(1000)).unwrap_or(libc::c_int::MAX)
            });
            let nfds = libc::nfds_t::try_from(fds.len()).unwrap_or(libc::nfds_t::MAX);
            // SAFETY: `fds` is a valid array of `nfds` pollfds for the duration of the call.
            let n = unsafe { libc::poll(fds.as_mut_ptr(), nfds, ms) };
            if n < 0 {
                let e = std::io::Error::last_os_error();
                if e.kind() == std::io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(ConnectError::Io(e));
            }
            // Handshakes in progress first: a flood of newcomers must not starve them.
            for (i, pfd) in fds.iter().enumerate().skip(1).rev() {
                if pfd.revents == 0 {
                    continue;
                }
                let Some(key) = &self.authkey else { break };
                let Some(peer) = pending.get_mut(i - 1) else {
                    continue;
                };
                match peer.progress(key) {
                    Ok(Progress::Waiting) => {}
                    Ok(Progress::Done) => {
                        let peer = pending.remove(i - 1).ok_or(ConnectError::Closed)?;
                        return Ok(Connection::from_stream(peer.into_fd()));
                    }
                    Err(e) => {
                        drop(pending.remove(i - 1));
                        return Err(ConnectError::Auth(e));
                    }
                }
            }
            if listening && fds[0].revents != 0 {
                // Every peer that is waiting, not just one: they then all progress together.
                loop {
                    let fd = match accept_one(socket) {
                        Ok(Some(fd)) => fd,
                        Ok(None) => break,
                        Err(e) if is_out_of_resources(&e) => {
                            // Make room by dropping the stranger that has waited longest; with
                            // nobody to drop, stop listening for a moment.
                            if pending.pop_front().is_none() {
                                listen_again = Instant::now() + Duration::from_millis(10);
                            }
                            break;
                        }
                        Err(e) => return Err(ConnectError::Io(e)),
                    };
                    if self.authkey.is_none() {
                        return Ok(Connection::from_stream(fd));
                    }
                    let peer_deadline = Instant::now().checked_add(self.handshake_timeout);
                    match Peer::start(fd, peer_deadline) {
                        Ok(peer) => {
                            if pending.len() >= MAX_UNAUTHENTICATED {
                                drop(pending.pop_front());
                            }
                            pending.push_back(peer);
                        }
                        Err(e) => return Err(ConnectError::Auth(e)),
                    }
                }
            }
        }
    }

    /// Stops listening; a Unix socket file (and a default address's directory) is removed.
    pub fn close(&mut self) {
        lock(&self.pending).clear();
        if self.socket.take().is_some() {
            if let Address::Unix(path) = &self.address {
                let _ = std::fs::remove_file(path);
            }
            if let Some(dir) = self.private_dir.take() {
                let _ = std::fs::remove_dir(dir);
            }
        }
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.close();
    }
}

impl AsFd for Socket {
    fn as_fd(&self) -> BorrowedFd<'_> {
        match self {
            Socket::Unix(l) => l.as_fd(),
            Socket::Tcp(l) => l.as_fd(),
        }
    }
}

/// One waiting peer from the nonblocking listening socket, `None` when nobody waits.
fn accept_one(socket: &Socket) -> std::io::Result<Option<OwnedFd>> {
    loop {
        let accepted: std::io::Result<OwnedFd> = match socket {
            Socket::Unix(l) => l.accept().map(|(s, _)| s.into()),
            Socket::Tcp(l) => l.accept().and_then(|(s, _)| {
                // Linux does not pass O_NONBLOCK on to accepted sockets; set_nodelay as before.
                s.set_nodelay(true)?;
                Ok(s.into())
            }),
        };
        match accepted {
            Ok(fd) => return Ok(Some(fd)),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return Ok(None),
            // A peer that gave up between connecting and our accept: take the next.
            Err(e)
                if e.kind() == std::io::ErrorKind::Interrupted
                    || e.kind() == std::io::ErrorKind::ConnectionAborted =>
            {
                continue
            }
            Err(e) => return Err(e),
        }
    }
}

/// EMFILE, ENFILE, ENOBUFS, ENOMEM: the process or the system is out of something, not the
/// listener broken.
fn is_out_of_resources(e: &std::io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM)
    )
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // The queue of peers is consistent between any two statements that change it.
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Connects to a listener and, with an authkey, authenticates both ways. Python's `Client`.
///
/// # Errors
/// OS errors (`ConnectionRefused`, no such file), [`ConnectError::Auth`] for a wrong key.
pub fn client<T>(address: &Address, authkey: Option<&[u8]>) -> Result<Connection<T>, ConnectError> {
    let fd: OwnedFd = match address {
        Address::Unix(path) => UnixStream::connect(path)?.into(),
        Address::Tcp(addr) => {
            // Bounded: a proxy dropped after a remote manager's host vanished must not wait
            // for the kernel's SYN retries (minutes) to give up its reference.
            let s = TcpStream::connect_timeout(addr, HANDSHAKE_TIMEOUT)?;
            s.set_nodelay(true)?;
            s.into()
        }
    };
    let mut conn = Connection::from_stream(fd);
    if let Some(key) = authkey {
        handshake(&mut conn, HANDSHAKE_TIMEOUT, |c| {
            answer_challenge(c, key)?;
            deliver_challenge(c, key)
        })?;
    }
    Ok(conn)
}

/// Runs a handshake with the pre-authentication limits: frames of at most [`PRE_AUTH_MAX`]
/// bytes, and reads that give up after `timeout` — an unauthenticated peer can make us neither
/// allocate nor wait without bound.
fn handshake<T>(
    conn: &mut Connection<T>,
    timeout: Duration,
    steps: impl FnOnce(&mut Connection<T>) -> Result<(), AuthError>,
) -> Result<(), ConnectError> {
    conn.set_max_message(PRE_AUTH_MAX);
    set_read_timeout(conn, Some(timeout))?;
    let outcome = steps(conn);
    set_read_timeout(conn, None)?;
    conn.set_max_message(DEFAULT_MAX_MESSAGE);
    Ok(outcome?)
}

fn set_read_timeout<T>(conn: &Connection<T>, timeout: Option<Duration>) -> Result<(), ConnectError> {
    if conn.closed() {
        return Err(ConnectError::Closed);
    }
    let fd = conn.as_fd();
    let tv = TimeVal::new(
        // Clamped: `Duration::MAX` seconds would wrap to a negative time_t.
        timeout.map_or(0, |t| t.as_secs().min(i32::MAX as u64) as _),
        timeout.map_or(0, |t| t.subsec_micros() as _),
    );
    setsockopt(&fd, sockopt::ReceiveTimeout, &tv).map_err(|e| ConnectError::Io(e.into()))?;
    Ok(())
}

/// The prefix of the private directories, `forkway-<pid>-…`: the pid is the process that made
/// it, so a directory whose process is gone is known to be stale.
const DIR_PREFIX: &str = "forkway-";

/// A fresh directory only this user may enter, for default listener addresses. Directories
/// left by processes that died without removing theirs (SIGKILL, a server that died with its
/// parent) are removed first, so they do not pile up in `/tmp`.
fn private_dir() -> std::io::Result<PathBuf> {
    let base = std::env::temp_dir();
    remove_stale_dirs(&base);
    for attempt in 0..100u32 {
        let dir = base.join(format!(
            "{DIR_PREFIX}{}-{attempt}-{}",
            std::process::id(),
            nanos()
        ));
        match std::fs::DirBuilder::new().mode_0700().create(&dir) {
            Ok(()) => return Ok(dir),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
    Err(std::io::Error::other(
        "cannot make a private directory for the listener",
    ))
}

/// Removes `forkway-<pid>-…` directories of ours whose process no longer exists. Only what a
/// listener leaves is removed (its socket files); a directory holding anything else, or not
/// owned by this user, or whose pid is alive (even if reused by another program), is left
/// alone.
fn remove_stale_dirs(base: &Path) {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    let Ok(entries) = std::fs::read_dir(base) else {
        return;
    };
    // SAFETY: geteuid has no preconditions and cannot fail.
    let uid = unsafe { libc::geteuid() };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix(DIR_PREFIX))
            .and_then(|rest| rest.split('-').next())
            .and_then(|pid| pid.parse::<i32>().ok())
        else {
            continue;
        };
        if pid <= 0 || pid_alive(pid) {
            continue;
        }
        let dir = entry.path();
        // Not followed: a symlink planted under our prefix is not a directory of ours.
        let Ok(meta) = std::fs::symlink_metadata(&dir) else {
            continue;
        };
        if !meta.is_dir() || meta.uid() != uid {
            continue;
        }
        if let Ok(inside) = std::fs::read_dir(&dir) {
            for file in inside.flatten() {
                let is_socket = file.file_type().is_ok_and(|t| t.is_socket());
                if is_socket
                    && file
                        .file_name()
                        .to_str()
                        .is_some_and(|n| n.starts_with("listener"))
                {
                    let _ = std::fs::remove_file(file.path());
                }
            }
        }
        // Fails, harmlessly, if anything else is inside.
        let _ = std::fs::remove_dir(&dir);
    }
}

/// Whether a process with this pid exists (`kill(pid, 0)`: EPERM means it exists but is not
/// ours to signal).
fn pid_alive(pid: i32) -> bool {
    !matches!(
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None),
        Err(nix::errno::Errno::ESRCH)
    )
}

fn nanos() -> u32 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos())
}

trait Mode0700 {
    fn mode_0700(&mut self) -> &mut Self;
}

impl Mode0700 for std::fs::DirBuilder {
    fn mode_0700(&mut self) -> &mut Self {
        std::os::unix::fs::DirBuilderExt::mode(self, 0o700)
    }
}

/// Whether `path` is a directory only its owner can enter (for tests and diagnostics).
pub fn is_private_dir(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_dir() && m.permissions().mode() & 0o077 == 0)
}

/// Whether the peer of a connection has hung up (or the socket failed). `POLLRDHUP` reports a
/// peer that closed its end even while unread bytes wait on ours.
pub(crate) fn peer_gone(peer: BorrowedFd<'_>) -> bool {
    use std::os::fd::AsRawFd;
    let mut pfd = libc::pollfd {
        fd: peer.as_raw_fd(),
        events: libc::POLLRDHUP,
        revents: 0,
    };
    // SAFETY: one valid pollfd, borrowed for the call; timeout 0 never blocks.
    let n = unsafe { libc::poll(&mut pfd, 1, 0) };
    match n {
        0 => false,
        n if n > 0 => pfd.revents & (libc::POLLRDHUP | libc::POLLHUP | libc::POLLERR | libc::POLLNVAL) != 0,
        _ => std::io::Error::last_os_error().kind() != std::io::ErrorKind::Interrupted,
    }
}
