//! A proxy's reference: the one thing every proxy type holds.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use crate::client;
use crate::connection::Address;
use crate::error::ManagerError;
use crate::protocol::{Call, Reply, Request, Token};

use super::unexpected;

/// One reference to one object in one manager.
pub struct Handle {
    pub(crate) address: Address,
    pub(crate) id: u64,
    pub(crate) tag: &'static str,
    /// `None`: this process's authkey.
    pub(crate) authkey: Option<Arc<[u8]>>,
    /// The reference's token: the server releases a reference only to whoever shows it.
    pub(crate) token: Token,
    /// The process whose session holds the reference. Another process — a forked child
    /// that inherited the proxy, or the decoder of a proxy's bytes (0) — claims it before
    /// its first use, so that it is released if that process dies.
    pub(crate) holder: AtomicU32,
}

impl Handle {
    /// A handle for a reference this process's session holds.
    pub(crate) fn new(
        address: Address,
        id: u64,
        tag: &'static str,
        authkey: Option<Arc<[u8]>>,
        token: Token,
    ) -> Handle {
        Handle {
            address,
            id,
            tag,
            authkey,
            token,
            holder: AtomicU32::new(std::process::id()),
        }
    }

    /// Sends a request as is (no claim first).
    pub(crate) fn send(&self, request: &Request) -> Result<Reply, ManagerError> {
        let start = forkway_trace::begin();
        let reply = client::call(&self.address, self.authkey.as_deref(), request);
        if let Some(start) = start {
            client::trace_call(start, request, reply.is_ok());
        }
        reply
    }

    /// Sends a request, after claiming the reference for this process if it is not ours yet.
    pub(crate) fn request(&self, request: &Request) -> Result<Reply, ManagerError> {
        let pid = std::process::id();
        if self.holder.load(Ordering::Relaxed) != pid {
            self.send(&Request::Claim {
                id: self.id,
                token: self.token,
            })?;
            self.holder.store(pid, Ordering::Relaxed);
        }
        self.send(request)
    }

    pub(crate) fn call(&self, call: Call) -> Result<Reply, ManagerError> {
        self.request(&Request::Call { id: self.id, call })
    }

    /// A new reference to the same object: held by this process, or in flight (for a
    /// proxy's bytes).
    pub(crate) fn new_ref(&self, in_flight: bool) -> Result<Token, ManagerError> {
        match self.request(&Request::Incref {
            id: self.id,
            token: self.token,
            tag: self.tag.to_owned(),
            in_flight,
        })? {
            Reply::Ref { token, .. } => Ok(token),
            other => Err(unexpected(&other)),
        }
    }

    /// A second reference to the same object.
    pub(crate) fn incref(&self) -> Result<Handle, ManagerError> {
        let token = self.new_ref(false)?;
        Ok(Handle::new(
            self.address.clone(),
            self.id,
            self.tag,
            self.authkey.clone(),
            token,
        ))
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        if std::thread::panicking() {
            // A release may have to connect, and so run the handshake: code that may panic
            // again, which in a destructor during unwinding aborts the program. The server
            // releases the reference with this process's session instead.
            return;
        }
        // After a shutdown there is nothing left to release; no error to report from a drop.
        let _ = if forkway_process::target_moved_to_child() {
            // The child owns this reference now: it is no longer this process's, so that
            // this process's exit does not release it (the child claims it).
            self.send(&Request::Detach {
                id: self.id,
                token: self.token,
            })
        } else {
            self.send(&Request::Decref {
                id: self.id,
                token: self.token,
            })
        };
    }
}
