//! The client side of the manager protocol: one connection per thread and manager, kept for
//! the next call (Python keeps one per thread too), and never shared with a forked child.
//!
//! Every connection of a process says hello with the process's *session*, a random number the
//! server files the process's references under. The server releases them all when the last
//! connection of the session closes — when the process exits or is killed. So that the
//! references outlive the threads whose connections made them, each process keeps one more,
//! idle connection per manager, its *anchor*, until the manager is shut down or the process
//! ends.

use std::cell::RefCell;
use std::sync::Arc;

use crate::forksafe::ForkSafeMutex;

use forkway_ipc::{codec, Connection};

use crate::connection::{client, peer_gone, Address, ConnectError};
use crate::error::{Cause, ManagerError};
use crate::protocol::{Reply, Request};

struct Cached {
    pid: u32,
    address: Address,
    /// The key the connection was authenticated with: a call with another key must make its
    /// own handshake (and fail it, if the key is wrong).
    key: Vec<u8>,
    conn: Connection<()>,
}

thread_local! {
    static CONNECTIONS: RefCell<Vec<Cached>> = const { RefCell::new(Vec::new()) };
}

/// Takes this thread's connection to `address` out of the cache. A connection inherited from
/// the parent is never used: its socket is the parent's conversation, and a frame written
/// here would land in the middle of it.
fn take_cached(address: &Address, key: Option<&[u8]>) -> Option<Connection<()>> {
    let pid = std::process::id();
    CONNECTIONS
        .try_with(|cache| {
            let mut cache = cache.borrow_mut();
            cache.retain(|c| c.pid == pid);
            let i = cache
                .iter()
                .position(|c| &c.address == address && key.is_none_or(|k| k == c.key))?;
            Some(cache.swap_remove(i).conn)
        })
        .ok()
        .flatten()
}

fn put_back(address: &Address, key: Vec<u8>, conn: Connection<()>) {
    let cached = Cached {
        pid: std::process::id(),
        address: address.clone(),
        key,
        conn,
    };
    // During thread exit the cache may be gone already: the connection just closes.
    let _ = CONNECTIONS.try_with(move |cache| cache.borrow_mut().push(cached));
}

/// Closes cached connections whose manager has hung up (it shut down, or was killed): a
/// thread that used many managers would otherwise keep a descriptor for each dead one. Runs
/// only when a new connection is made, so a steady conversation pays nothing for it.
fn sweep() {
    let _ = CONNECTIONS.try_with(|cache| {
        cache
            .borrow_mut()
            .retain(|c| !c.conn.closed() && !peer_gone(std::os::fd::AsFd::as_fd(&c.conn)));
    });
}

/// Forgets this thread's connection to `address` (after a shutdown).
pub(crate) fn forget(address: &Address) {
    while take_cached(address, None).is_some() {}
}

fn key_or_process_key(authkey: Option<&[u8]>) -> Vec<u8> {
    authkey.map_or_else(forkway_process::authkey, <[u8]>::to_vec)
}

/// This process's session: random, made anew in each process (a forked child has its own).
pub(crate) fn session() -> u128 {
    static SESSION: ForkSafeMutex<(u32, u128)> = ForkSafeMutex::new((0, 0));
    let pid = std::process::id();
    let mut s = SESSION.lock();
    if s.0 != pid {
        let mut bytes = [0u8; 16];
        // The session only groups references for release; a failed getrandom (never seen on
        // Linux ≥ 3.17) falls back to the pid and the clock, unique enough for that.
        let fallback = u128::from(pid) << 64
            | u128::from(
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_nanos() as u64),
            );
        // SAFETY: `bytes` is ours and 16 bytes long.
        let got = unsafe { libc::getrandom(bytes.as_mut_ptr().cast(), bytes.len(), 0) };
        *s = (
            pid,
            if got == 16 {
                u128::from_ne_bytes(bytes)
            } else {
                fallback
            },
        );
    }
    s.1
}

struct Anchor {
    pid: u32,
    address: Address,
    conn: Connection<()>,
}

/// One idle connection per process and manager, which keeps the session (and so the
/// process's references) alive however the per-thread connections come and go.
static ANCHORS: ForkSafeMutex<Vec<Anchor>> = ForkSafeMutex::new(Vec::new());

fn anchor(address: &Address, key: &[u8]) -> Result<(), ManagerError> {
    let pid = std::process::id();
    let stale: Vec<Anchor>;
    {
        let mut anchors = ANCHORS.lock();
        // A parent's anchors are not ours (they were closed at fork); a dead manager's are
        // useless.
        let (keep, gone): (Vec<Anchor>, Vec<Anchor>) = anchors
            .drain(..)
            .partition(|a| a.pid == pid && !a.conn.closed() && !peer_gone(std::os::fd::AsFd::as_fd(&a.conn)));
        *anchors = keep;
        stale = gone;
        if anchors.iter().any(|a| &a.address == address) {
            drop(anchors);
            drop(stale);
            return Ok(());
        }
    }
    drop(stale); // closed outside the lock
                 // Not under the lock: a handshake takes time, and a fork meanwhile must find it free.
    let conn = open(address, key)?;
    let mut anchors = ANCHORS.lock();
    if !anchors.iter().any(|a| a.pid == pid && &a.address == address) {
        anchors.push(Anchor {
            pid,
            address: address.clone(),
            conn,
        });
        return Ok(());
    }
    drop(anchors);
    drop(conn); // another thread anchored it first
    Ok(())
}

/// Closes this process's anchor to `address` (its manager was shut down).
pub(crate) fn drop_anchor(address: &Address) {
    let pid = std::process::id();
    let gone: Vec<Anchor> = {
        let mut anchors = ANCHORS.lock();
        let (gone, kept) = anchors
            .drain(..)
            .partition(|a| a.pid == pid && &a.address == address);
        *anchors = kept;
        gone
    };
    drop(gone);
}

/// The managers this process may connect decoded proxies to, with their keys (`None`: the
/// process authkey): the ones it started, inherited from the process that started them (a
/// forked child has a copy of this list), or connected to with `Manager::connect`.
static TRUSTED: ForkSafeMutex<Vec<(Address, Key)>> = ForkSafeMutex::new(Vec::new());

/// A trusted manager's key: `None` is the process authkey.
type Key = Option<Arc<[u8]>>;

/// Lets proxies for the manager at `address` be decoded in this process (and its children).
pub(crate) fn trust(address: &Address, key: Option<Arc<[u8]>>) {
    let mut trusted = TRUSTED.lock();
    trusted.retain(|(a, _)| a != address);
    trusted.push((address.clone(), key));
}

/// Forgets `address` (its manager was shut down: a later listener there is someone else).
pub(crate) fn distrust(address: &Address) {
    TRUSTED.lock().retain(|(a, _)| a != address);
}

/// The key for a trusted manager's proxies, `None` when `address` is not trusted.
pub(crate) fn trusted_key(address: &Address) -> Option<Option<Arc<[u8]>>> {
    TRUSTED
        .lock()
        .iter()
        .find(|(a, _)| a == address)
        .map(|(_, k)| k.clone())
}

/// A new connection to the manager at `address`, authenticated and part of this process's
/// session (whose anchor it makes first, if there is none).
pub(crate) fn connect(address: &Address, authkey: Option<&[u8]>) -> Result<Connection<()>, ManagerError> {
    let key = key_or_process_key(authkey);
    anchor(address, &key)?;
    open(address, &key)
}

/// A new connection without an anchor: for the one request `shutdown` sends.
pub(crate) fn connect_unanchored(
    address: &Address,
    authkey: Option<&[u8]>,
) -> Result<Connection<()>, ManagerError> {
    open(address, &key_or_process_key(authkey))
}

fn open(address: &Address, key: &[u8]) -> Result<Connection<()>, ManagerError> {
    let mut conn = client::<()>(address, Some(key)).map_err(|e| match e {
        ConnectError::Io(source) => ManagerError::Unreachable {
            address: address.clone(),
            source,
        },
        ConnectError::Auth(a) => ManagerError::Auth(a),
        other => ManagerError::Lost {
            address: address.clone(),
            source: Box::new(other),
        },
    })?;
    // A child forked while we hold this connection must not keep the socket open: the
    // server would then never see this side hang up.
    conn.set_close_on_fork(true);
    let lost = |source: Cause| ManagerError::Lost {
        address: address.clone(),
        source,
    };
    let hello = codec::encode(&Request::Hello { session: session() })?;
    conn.send_bytes(&hello).map_err(|e| lost(e.into()))?;
    let answer = conn.recv_bytes().map_err(|e| lost(e.into()))?;
    match codec::decode::<Reply>(&answer)? {
        Reply::Done => Ok(conn),
        Reply::Failed(f) => Err(f.into()),
        other => Err(ManagerError::Remote(format!("unexpected reply {other:?}"))),
    }
}

/// Sends `request` to the manager at `address` and waits for the reply.
///
/// The request is encoded before any connection is taken, so a proxy inside it (which makes a
/// call of its own to count the reference it sends) uses the cache freely.
pub(crate) fn call(
    address: &Address,
    authkey: Option<&[u8]>,
    request: &Request,
) -> Result<Reply, ManagerError> {
    let frame = codec::encode(request)?;
    let key = key_or_process_key(authkey);
    let mut conn = match take_cached(address, Some(&key)) {
        Some(conn) => conn,
        None => {
            sweep();
            connect(address, Some(&key))?
        }
    };
    let lost = |source: Cause| ManagerError::Lost {
        address: address.clone(),
        source,
    };
    conn.send_bytes(&frame).map_err(|e| lost(e.into()))?;
    let answer = conn.recv_bytes().map_err(|e| lost(e.into()))?;
    put_back(address, key, conn);
    match codec::decode::<Reply>(&answer)? {
        Reply::Failed(f) => Err(f.into()),
        reply => Ok(reply),
    }
}

/// Records a manager call on the trace: a `manager call` span named by the request (`Put`,
/// `DictGet`, `Acquire`…).
pub(crate) fn trace_call(start: forkway_trace::Stamp, request: &Request, ok: bool) {
    /// Keeps the first identifier of a `Debug` text and stops the formatting there, so that a
    /// request carrying a large payload costs nothing to name.
    struct Name(String);
    impl std::fmt::Write for Name {
        fn write_str(&mut self, s: &str) -> std::fmt::Result {
            for c in s.chars() {
                if !(c.is_alphanumeric() || c == '_') {
                    return Err(std::fmt::Error);
                }
                self.0.push(c);
            }
            Ok(())
        }
    }
    let mut name = Name(String::new());
    let _ = match request {
        Request::Call { call, .. } => std::fmt::write(&mut name, format_args!("{call:?}")),
        other => std::fmt::write(&mut name, format_args!("{other:?}")),
    };
    use forkway_trace::Arg;
    let args = [("method", Arg::Str(&name.0)), ("ok", Arg::Int(ok.into()))];
    forkway_trace::complete(start, "manager", "manager call", 0, &args);
}
