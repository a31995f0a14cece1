//! The client side of the manager protocol: one connection per thread and manager, kept for
//! the next call (Python keeps one per thread too), and never shared with a forked child.

use std::cell::RefCell;

use forkway_ipc::{codec, Connection};

use crate::connection::{client, peer_gone, Address, ConnectError};
use crate::error::ManagerError;
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

pub(crate) fn connect(address: &Address, authkey: Option<&[u8]>) -> Result<Connection<()>, ManagerError> {
    let key = key_or_process_key(authkey);
    let mut conn = client::<()>(address, Some(&key)).map_err(|e| match e {
        ConnectError::Io(source) => ManagerError::Unreachable {
            address: address.clone(),
            source,
        },
        ConnectError::Auth(a) => ManagerError::Auth(a),
        ConnectError::Closed => ManagerError::Lost {
            address: address.clone(),
            reason: "closed".into(),
        },
    })?;
    // A child forked while we hold this connection must not keep the socket open: the
    // server would then never see this side hang up.
    conn.set_close_on_fork(true);
    Ok(conn)
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
    let frame = codec::encode(request).map_err(|e| ManagerError::Encode(e.to_string()))?;
    let key = key_or_process_key(authkey);
    let mut conn = match take_cached(address, Some(&key)) {
        Some(conn) => conn,
        None => {
            sweep();
            connect(address, Some(&key))?
        }
    };
    let lost = |reason: String| ManagerError::Lost {
        address: address.clone(),
        reason,
    };
    conn.send_bytes(&frame).map_err(|e| lost(e.to_string()))?;
    let answer = conn.recv_bytes().map_err(|e| lost(e.to_string()))?;
    put_back(address, key, conn);
    match codec::decode::<Reply>(&answer).map_err(|e| ManagerError::Decode(e.to_string()))? {
        Reply::Failed(f) => Err(f.into()),
        reply => Ok(reply),
    }
}
