//! The manager's server process: it owns the shared objects and answers proxies' requests,
//! one thread per connection. The server never forks, so its threads are safe (a forking
//! parent is the one that must stay single-threaded).
//!
//! [`registry`] keeps the objects and their references, [`objects`] does their methods; this
//! file answers a connection's requests with them.

mod objects;
mod registry;
#[cfg(test)]
mod tests;

use std::os::fd::{AsFd, BorrowedFd};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use forkway_ipc::{codec, Connection};
use serde_bytes::ByteBuf;

use crate::connection::{ConnectError, Listener};
use crate::protocol::{Failure, Init, Kind, Reply, Request};

pub(crate) use objects::Undo;
use objects::{call_method, Flag, Object, SharedQueue};
use registry::{random_token, Entry, Holder, Registry};

/// The objects and the names they are shared under.
pub(crate) struct Server {
    registry: Mutex<Registry>,
    /// The socket file and private directory, removed on shutdown.
    socket: Option<PathBuf>,
    dir: Option<PathBuf>,
}

/// The outcome of one request.
pub(crate) struct Handled {
    /// What to answer.
    pub(crate) reply: Reply,
    /// What to put back if the answer cannot be delivered (the client died): a taken item, an
    /// acquired lock. Nothing is lost because a client vanished.
    pub(crate) undo: Option<Undo>,
    /// The request was `Shutdown`: exit once it is answered.
    pub(crate) exit: bool,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic in a server thread cannot leave an object half-changed (every change is one
    // call on a std collection), so the data behind a poisoned mutex is still sound.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn reply(reply: Reply) -> Handled {
    Handled {
        reply,
        undo: None,
        exit: false,
    }
}

fn failed(f: Failure) -> Handled {
    reply(Reply::Failed(f))
}

fn bytes(b: Vec<u8>) -> ByteBuf {
    ByteBuf::from(b)
}

impl Server {
    pub(crate) fn new(socket: Option<PathBuf>, dir: Option<PathBuf>) -> Server {
        Server {
            registry: Mutex::new(Registry::default()),
            socket,
            dir,
        }
    }

    /// A new connection's view of the server: a session of its own until it says hello.
    pub(crate) fn client(&self) -> Client<'_> {
        let session = random_token().unwrap_or_default();
        lock(&self.registry).join(session);
        Client {
            server: self,
            session: std::cell::Cell::new(session),
        }
    }

    /// Does what one request asks, for a client of `session`. `peer` is the client's socket,
    /// watched while a method waits. No request, however malformed, panics.
    fn handle(&self, request: Request, peer: BorrowedFd<'_>, session: u128) -> Handled {
        let outcome = match request {
            Request::Hello { .. } => Ok(Reply::Done), // handled by `Client`
            Request::Create { kind, tag, init } => return self.create(kind, tag, init, session),
            Request::Incref {
                id,
                token,
                tag,
                in_flight,
            } => {
                let mut reg = lock(&self.registry);
                reg.check(id, token).and_then(|()| {
                    let found = reg.objects.get(&id).map(|e| e.tag.clone()).unwrap_or_default();
                    if found != tag {
                        return Err(Failure::WrongType {
                            id,
                            expected: tag,
                            found,
                        });
                    }
                    let holder = if in_flight {
                        Holder::InFlight
                    } else {
                        Holder::Session(session)
                    };
                    reg.new_ref(id, holder).map(|token| Reply::Ref { id, token })
                })
            }
            Request::Decref { id, token } => {
                let mut reg = lock(&self.registry);
                match reg.check(id, token) {
                    Ok(()) => {
                        let gone = reg.release(token);
                        drop(reg);
                        drop(gone);
                        Ok(Reply::Done)
                    }
                    Err(e) => Err(e),
                }
            }
            Request::Claim { id, token } => {
                let mut reg = lock(&self.registry);
                reg.check(id, token).map(|()| {
                    reg.set_holder(token, Holder::Session(session));
                    Reply::Done
                })
            }
            Request::Detach { id, token } => {
                let mut reg = lock(&self.registry);
                reg.check(id, token).map(|()| {
                    // Only from this session: a child that claimed it first keeps it.
                    if reg
                        .refs
                        .get(&token)
                        .is_some_and(|r| r.holder == Holder::Session(session))
                    {
                        reg.set_holder(token, Holder::InFlight);
                    }
                    Reply::Done
                })
            }
            Request::Share { name, id, token } => {
                let mut reg = lock(&self.registry);
                match reg.check(id, token).and_then(|()| reg.new_ref(id, Holder::Name)) {
                    Ok(own) => {
                        let old = reg.names.insert(name, (id, own));
                        let gone = old.and_then(|(_, t)| reg.release(t));
                        drop(reg);
                        drop(gone);
                        Ok(Reply::Done)
                    }
                    Err(e) => Err(e),
                }
            }
            Request::Lookup { name, tag } => {
                let mut reg = lock(&self.registry);
                match reg.names.get(&name).copied() {
                    None => Err(Failure::NoSuchName(name)),
                    Some((id, _)) => {
                        let found = reg.objects.get(&id).map(|e| e.tag.clone()).unwrap_or_default();
                        if found != tag {
                            Err(Failure::WrongType {
                                id,
                                expected: tag,
                                found,
                            })
                        } else {
                            reg.new_ref(id, Holder::Session(session))
                                .map(|token| Reply::Ref { id, token })
                        }
                    }
                }
            }
            Request::Call { id, call } => {
                let object = match lock(&self.registry).objects.get(&id) {
                    Some(e) => Arc::clone(&e.object),
                    None => return failed(Failure::NoSuchObject { id }),
                };
                // The registry is not held while a method runs (or waits).
                return call_method(&object, call, peer);
            }
            Request::Ping => Ok(Reply::Done),
            Request::Count => Ok(Reply::Count(lock(&self.registry).objects.len() as u64)),
            Request::Shutdown => {
                return Handled {
                    reply: Reply::Done,
                    undo: None,
                    exit: true,
                }
            }
        };
        match outcome {
            Ok(r) => reply(r),
            Err(f) => failed(f),
        }
    }

    fn create(&self, kind: Kind, tag: String, init: Init, session: u128) -> Handled {
        let object = match (kind, init) {
            (Kind::Queue, Init::Empty) => Object::Queue(SharedQueue::new(None)),
            (Kind::Queue, Init::Bounded(n)) if n > 0 => {
                Object::Queue(SharedQueue::new(Some(usize::try_from(n).unwrap_or(usize::MAX))))
            }
            (Kind::Dict, Init::Empty) => Object::Dict(Mutex::default()),
            (Kind::Dict, Init::Pairs(pairs)) => Object::Dict(Mutex::new(
                pairs
                    .into_iter()
                    .map(|(k, v)| (k.into_vec(), v.into_vec()))
                    .collect(),
            )),
            (Kind::List, Init::Empty) => Object::List(Mutex::default()),
            (Kind::List, Init::Items(items)) => {
                Object::List(Mutex::new(items.into_iter().map(ByteBuf::into_vec).collect()))
            }
            (Kind::Value, Init::Value(v)) => Object::Value(Mutex::new(v.into_vec())),
            (Kind::Lock, Init::Empty) => Object::Lock(Flag::default()),
            (Kind::Event, Init::Empty) => Object::Event(Flag::default()),
            (kind, init) => {
                return failed(Failure::Malformed(format!(
                    "cannot make a {kind:?} from {init:?}"
                )));
            }
        };
        let mut reg = lock(&self.registry);
        reg.next_id = reg.next_id.wrapping_add(1);
        let id = reg.next_id;
        reg.objects.insert(
            id,
            Entry {
                object: Arc::new(object),
                refs: 0,
                tag,
            },
        );
        match reg.new_ref(id, Holder::Session(session)) {
            Ok(token) => reply(Reply::Ref { id, token }),
            Err(f) => {
                reg.objects.remove(&id);
                failed(f)
            }
        }
    }

    /// How many objects the server holds (for the leak tests, through `Request::Call`-free
    /// introspection in this crate's unit tests).
    #[cfg(test)]
    fn objects(&self) -> usize {
        lock(&self.registry).objects.len()
    }

    /// Removes the socket file and its private directory, then ends the server process.
    pub(crate) fn exit(&self) -> ! {
        if let Some(socket) = &self.socket {
            let _ = std::fs::remove_file(socket);
        }
        if let Some(dir) = &self.dir {
            let _ = std::fs::remove_dir(dir);
        }
        // SAFETY: `_exit` ends the process at once, without running the atexit handlers and
        // destructors of the program this server was forked from — which are not ours to run.
        unsafe { libc::_exit(0) }
    }
}

/// One connection's view of the server: requests are done for its client process (its
/// session). Dropped when the connection ends: the last connection of a session releases the
/// references the session held.
pub(crate) struct Client<'s> {
    server: &'s Server,
    session: std::cell::Cell<u128>,
}

impl Client<'_> {
    /// Does what one request asks. `peer` is the client's socket, watched while a method waits.
    pub(crate) fn handle(&self, request: Request, peer: BorrowedFd<'_>) -> Handled {
        if let Request::Hello { session } = request {
            let old = self.session.replace(session);
            if old != session {
                let mut reg = lock(&self.server.registry);
                reg.join(session);
                let gone = reg.leave(old);
                drop(reg);
                drop(gone);
            }
            return reply(Reply::Done);
        }
        self.server.handle(request, peer, self.session.get())
    }

    /// Ends the server process (after a `Shutdown` request).
    pub(crate) fn exit(&self) -> ! {
        self.server.exit()
    }
}

impl Drop for Client<'_> {
    fn drop(&mut self) {
        let mut reg = lock(&self.server.registry);
        let gone = reg.leave(self.session.get());
        drop(reg);
        drop(gone);
    }
}

// ANCHOR: serve_connection
/// Serves one client until it hangs up: read a request, do it, answer, repeat. `server` is
/// the server as this connection's client sees it (its references are its own). A request that
/// does not decode is answered with an error and the connection goes on (its frame was whole);
/// a broken frame or a vanished client ends this connection only. If the answer cannot be
/// sent, whatever the request took goes back where it was.
pub(crate) fn serve_connection(server: &Client<'_>, conn: &mut Connection<()>) {
    // ANCHOR: exercise_6_3
    loop {
        let Ok(frame) = conn.recv_bytes() else {
            return; // end of file, or a frame that cannot be read: the client is gone
        };
        let handled = match codec::decode::<Request>(&frame) {
            Ok(request) => server.handle(request, conn.as_fd()),
            Err(e) => failed(Failure::Malformed(e.to_string())),
        };
        let sent = codec::encode(&handled.reply)
            .map_err(|e| e.to_string())
            .and_then(|bytes| conn.send_bytes(&bytes).map_err(|e| e.to_string()));
        if sent.is_err() {
            if let Some(undo) = handled.undo {
                undo.apply();
            }
            return;
        }
        if handled.exit {
            server.exit();
        }
    }
    // ANCHOR_END: exercise_6_3
}
// ANCHOR_END: serve_connection

/// The server's main loop: authenticate peers (all of them on this thread, see
/// [`Listener::accept`]), and give each authenticated connection a thread of its own, which
/// runs [`serve_connection`]. A stranger costs a descriptor for at most the handshake timeout,
/// and never a thread.
pub(crate) fn serve_forever(listener: &Listener, server: &Arc<Server>) -> ! {
    loop {
        match listener.accept::<()>() {
            Ok(mut conn) => {
                let server = Arc::clone(server);
                let spawned = std::thread::Builder::new()
                    .name("forkway-manager-client".into())
                    .spawn(move || serve_connection(&server.client(), &mut conn));
                // Out of threads: that client's connection is dropped (it sees end of file);
                // the others go on.
                drop(spawned);
            }
            // A peer that failed the handshake or ran out of time: the next.
            Err(ConnectError::Auth(_)) => {}
            // Anything else (the listener's own socket failed): do not spin.
            Err(_) => std::thread::sleep(Duration::from_millis(10)),
        }
    }
}
