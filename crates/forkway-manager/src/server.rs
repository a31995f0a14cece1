//! The manager's server process: it owns the shared objects and answers proxies' requests,
//! one thread per connection. The server never forks, so its threads are safe (a forking
//! parent is the one that must stay single-threaded).

use std::collections::{HashMap, HashSet, VecDeque};
use std::os::fd::{AsFd, BorrowedFd};
use std::path::PathBuf;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use forkway_ipc::{codec, Connection};
use indexmap::IndexMap;
use serde_bytes::ByteBuf;

use crate::connection::{peer_gone, ConnectError, Listener};
use crate::protocol::{Call, Failure, Init, Kind, Reply, Request, Token, Wait};

/// How often a waiting method looks whether its client is still there. A client killed while
/// it waits must not, minutes later, take an item or a lock that nobody will ever receive.
const LIVENESS_SLICE: Duration = Duration::from_millis(50);

/// The objects and the names they are shared under.
pub(crate) struct Server {
    registry: Mutex<Registry>,
    /// The socket file and private directory, removed on shutdown.
    socket: Option<PathBuf>,
    dir: Option<PathBuf>,
}

/// The objects, and who holds references to them. A reference is a [`Token`]; the server
/// counts an object's references by their tokens, so a client can release only what it holds,
/// and a client that goes away (all its connections closed: it exited or was killed) releases
/// everything it held.
#[derive(Default)]
struct Registry {
    next_id: u64,
    objects: HashMap<u64, Entry>,
    /// A name, its object, and the name's own reference.
    names: HashMap<String, (u64, Token)>,
    refs: HashMap<Token, Reference>,
    sessions: HashMap<u128, Session>,
}

struct Entry {
    object: Arc<Object>,
    /// How many tokens refer to it.
    refs: u64,
    tag: String,
}

struct Reference {
    id: u64,
    holder: Holder,
}

/// Who holds a reference.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Holder {
    /// A client process (all its connections).
    Session(u128),
    /// A shared name.
    Name,
    /// Nobody yet: the bytes of a proxy on their way (a queue item, a task argument), or a
    /// proxy moved into a forked child that has not used it yet.
    InFlight,
}

/// A client process: how many of its connections are open, and the references it holds.
#[derive(Default)]
struct Session {
    connections: usize,
    refs: HashSet<Token>,
}

impl Registry {
    /// A new reference to `id` (which must exist), held by `holder`.
    fn new_ref(&mut self, id: u64, holder: Holder) -> Result<Token, Failure> {
        let entry = self.objects.get_mut(&id).ok_or(Failure::NoSuchObject { id })?;
        let token = loop {
            let t = random_token().map_err(Failure::Malformed)?;
            if !self.refs.contains_key(&t) {
                break t;
            }
        };
        entry.refs = entry.refs.saturating_add(1);
        self.refs.insert(token, Reference { id, holder });
        if let Holder::Session(s) = holder {
            self.sessions.entry(s).or_default().refs.insert(token);
        }
        Ok(token)
    }

    /// Whether `token` is a reference to `id`.
    fn check(&self, id: u64, token: Token) -> Result<(), Failure> {
        match self.refs.get(&token) {
            Some(r) if r.id == id => Ok(()),
            _ => Err(Failure::NotHeld { id }),
        }
    }

    /// Releases `token`; the object it deleted, if it was the last reference (to be dropped
    /// after the registry lock: a big object's memory is freed without holding up every
    /// other client).
    fn release(&mut self, token: Token) -> Option<Entry> {
        let r = self.refs.remove(&token)?;
        if let Holder::Session(s) = r.holder {
            if let Some(session) = self.sessions.get_mut(&s) {
                session.refs.remove(&token);
            }
        }
        let entry = self.objects.get_mut(&r.id)?;
        entry.refs = entry.refs.saturating_sub(1);
        if entry.refs == 0 {
            return self.objects.remove(&r.id);
        }
        None
    }

    fn set_holder(&mut self, token: Token, holder: Holder) {
        let Some(r) = self.refs.get_mut(&token) else {
            return;
        };
        if let Holder::Session(s) = r.holder {
            if let Some(session) = self.sessions.get_mut(&s) {
                session.refs.remove(&token);
            }
        }
        r.holder = holder;
        if let Holder::Session(s) = holder {
            self.sessions.entry(s).or_default().refs.insert(token);
        }
    }

    fn join(&mut self, session: u128) {
        let s = self.sessions.entry(session).or_default();
        s.connections = s.connections.saturating_add(1);
    }

    /// One connection of `session` closed; the last one takes the session's references with
    /// it. The deleted objects are returned, to be dropped after the lock.
    fn leave(&mut self, session: u128) -> Vec<Entry> {
        let Some(s) = self.sessions.get_mut(&session) else {
            return Vec::new();
        };
        s.connections = s.connections.saturating_sub(1);
        if s.connections > 0 {
            return Vec::new();
        }
        let tokens = self.sessions.remove(&session).map(|s| s.refs).unwrap_or_default();
        tokens.into_iter().filter_map(|t| self.release(t)).collect()
    }
}

/// A fresh random token (tokens are capabilities: they must not be guessable).
fn random_token() -> Result<u128, String> {
    let mut bytes = [0u8; 16];
    let mut filled = 0;
    while filled < bytes.len() {
        // SAFETY: the pointer and length describe the unfilled tail of `bytes`, which we own.
        let got = unsafe { libc::getrandom(bytes[filled..].as_mut_ptr().cast(), bytes.len() - filled, 0) };
        match usize::try_from(got) {
            Ok(n) => filled += n,
            Err(_) => {
                let e = std::io::Error::last_os_error();
                if e.kind() != std::io::ErrorKind::Interrupted {
                    return Err(format!("no random bytes: {e}"));
                }
            }
        }
    }
    Ok(u128::from_ne_bytes(bytes))
}

/// A shared object. Values are kept as their encoded bytes.
pub(crate) enum Object {
    Queue(SharedQueue),
    Dict(Mutex<IndexMap<Vec<u8>, Vec<u8>>>),
    List(Mutex<Vec<Vec<u8>>>),
    Value(Mutex<Vec<u8>>),
    Lock(Flag),
    Event(Flag),
}

pub(crate) struct SharedQueue {
    items: Mutex<VecDeque<Vec<u8>>>,
    not_empty: Condvar,
    not_full: Condvar,
    maxsize: Option<usize>,
}

/// A boolean that threads wait on: "locked" for a lock, "set" for an event.
#[derive(Default)]
pub(crate) struct Flag {
    on: Mutex<bool>,
    changed: Condvar,
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

/// Gives back what a request took, when its reply could not be sent.
pub(crate) enum Undo {
    QueueFront(Arc<Object>, Vec<u8>),
    ListBack(Arc<Object>, Vec<u8>),
    DictEntry(Arc<Object>, Vec<u8>, Vec<u8>),
    Unlock(Arc<Object>),
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic in a server thread cannot leave an object half-changed (every change is one
    // call on a std collection), so the data behind a poisoned mutex is still sound.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Why a wait ended without its condition.
enum Stop {
    TimedOut,
    PeerGone,
}

/// Waits on `cv` until `ready` holds, the wait's time is up, or the client hangs up.
fn wait_until<'a, T>(
    mut guard: MutexGuard<'a, T>,
    cv: &Condvar,
    wait: Wait,
    peer: BorrowedFd<'_>,
    ready: impl Fn(&T) -> bool,
) -> Result<MutexGuard<'a, T>, Stop> {
    let deadline = wait.deadline();
    loop {
        if ready(&guard) {
            return Ok(guard);
        }
        if deadline.passed() {
            return Err(Stop::TimedOut);
        }
        let slice = deadline
            .left()
            .map_or(LIVENESS_SLICE, |left| left.min(LIVENESS_SLICE));
        let (g, outcome) = cv
            .wait_timeout(guard, slice)
            .unwrap_or_else(PoisonError::into_inner);
        guard = g;
        if outcome.timed_out() && !ready(&guard) && peer_gone(peer) {
            return Err(Stop::PeerGone);
        }
    }
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

fn kind_of(object: &Object) -> Kind {
    match object {
        Object::Queue(_) => Kind::Queue,
        Object::Dict(_) => Kind::Dict,
        Object::List(_) => Kind::List,
        Object::Value(_) => Kind::Value,
        Object::Lock(_) => Kind::Lock,
        Object::Event(_) => Kind::Event,
    }
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

impl SharedQueue {
    fn new(maxsize: Option<usize>) -> SharedQueue {
        SharedQueue {
            items: Mutex::default(),
            not_empty: Condvar::new(),
            not_full: Condvar::new(),
            maxsize,
        }
    }
}

fn wrong_call(object: &Object, call: &Call) -> Handled {
    failed(Failure::Malformed(format!(
        "a {:?} has no method {call:?}",
        kind_of(object)
    )))
}

fn call_method(object: &Arc<Object>, call: Call, peer: BorrowedFd<'_>) -> Handled {
    match (&**object, call) {
        (Object::Queue(q), Call::Put { item, wait }) => {
            let full = |items: &VecDeque<Vec<u8>>| q.maxsize.is_some_and(|m| items.len() >= m);
            match wait_until(lock(&q.items), &q.not_full, wait, peer, |items| !full(items)) {
                Ok(mut items) => {
                    items.push_back(item.into_vec());
                    q.not_empty.notify_one();
                    reply(Reply::Done)
                }
                Err(_) => failed(Failure::Full),
            }
        }
        (Object::Queue(q), Call::Get { wait }) => {
            match wait_until(lock(&q.items), &q.not_empty, wait, peer, |items| {
                !items.is_empty()
            }) {
                Ok(mut items) => {
                    let Some(item) = items.pop_front() else {
                        return failed(Failure::Empty); // `ready` said otherwise; cannot happen
                    };
                    q.not_full.notify_one();
                    Handled {
                        reply: Reply::Item(bytes(item.clone())),
                        undo: Some(Undo::QueueFront(Arc::clone(object), item)),
                        exit: false,
                    }
                }
                Err(_) => failed(Failure::Empty),
            }
        }
        (Object::Queue(q), Call::Len) => reply(Reply::Count(lock(&q.items).len() as u64)),
        (Object::Dict(d), call) => dict_method(object, d, call),
        (Object::List(l), call) => list_method(object, l, call),
        (Object::Value(v), Call::ValueGet) => reply(Reply::Item(bytes(lock(v).clone()))),
        (Object::Value(v), Call::ValueSet { value }) => {
            *lock(v) = value.into_vec();
            reply(Reply::Done)
        }
        (Object::Lock(f), Call::Acquire { wait }) => {
            match wait_until(lock(&f.on), &f.changed, wait, peer, |locked| !*locked) {
                Ok(mut locked) => {
                    *locked = true;
                    Handled {
                        reply: Reply::Flag(true),
                        undo: Some(Undo::Unlock(Arc::clone(object))),
                        exit: false,
                    }
                }
                Err(Stop::TimedOut) => reply(Reply::Flag(false)),
                Err(Stop::PeerGone) => reply(Reply::Flag(false)),
            }
        }
        (Object::Lock(f), Call::Release) => {
            let mut locked = lock(&f.on);
            if !*locked {
                return failed(Failure::ReleaseUnlocked);
            }
            *locked = false;
            f.changed.notify_one();
            reply(Reply::Done)
        }
        (Object::Event(f), Call::Set) => {
            *lock(&f.on) = true;
            f.changed.notify_all();
            reply(Reply::Done)
        }
        (Object::Event(f), Call::Unset) => {
            *lock(&f.on) = false;
            reply(Reply::Done)
        }
        (Object::Event(f), Call::IsSet) => reply(Reply::Flag(*lock(&f.on))),
        (Object::Event(f), Call::WaitSet { wait }) => reply(Reply::Flag(
            wait_until(lock(&f.on), &f.changed, wait, peer, |on| *on).is_ok(),
        )),
        (object, call) => wrong_call(object, &call),
    }
}

fn dict_method(object: &Arc<Object>, d: &Mutex<IndexMap<Vec<u8>, Vec<u8>>>, call: Call) -> Handled {
    let mut d = lock(d);
    match call {
        Call::Len => reply(Reply::Count(d.len() as u64)),
        Call::Clear => {
            d.clear();
            reply(Reply::Done)
        }
        Call::DictGet { key } => reply(Reply::MaybeItem(d.get(key.as_slice()).cloned().map(bytes))),
        Call::DictInsert { key, value } => reply(Reply::MaybeItem(
            d.insert(key.into_vec(), value.into_vec()).map(bytes),
        )),
        Call::DictUpdate { pairs } => {
            d.extend(pairs.into_iter().map(|(k, v)| (k.into_vec(), v.into_vec())));
            reply(Reply::Done)
        }
        Call::DictRemove { key } => match d.shift_remove_entry(key.as_slice()) {
            None => reply(Reply::MaybeItem(None)),
            Some((k, v)) => Handled {
                reply: Reply::MaybeItem(Some(bytes(v.clone()))),
                undo: Some(Undo::DictEntry(Arc::clone(object), k, v)),
                exit: false,
            },
        },
        Call::DictContains { key } => reply(Reply::Flag(d.contains_key(key.as_slice()))),
        Call::Keys => reply(Reply::Items(d.keys().cloned().map(bytes).collect())),
        Call::Values => reply(Reply::Items(d.values().cloned().map(bytes).collect())),
        Call::Items => reply(Reply::Pairs(
            d.iter()
                .map(|(k, v)| (bytes(k.clone()), bytes(v.clone())))
                .collect(),
        )),
        call => wrong_call(object, &call),
    }
}

fn list_method(object: &Arc<Object>, l: &Mutex<Vec<Vec<u8>>>, call: Call) -> Handled {
    let mut l = lock(l);
    let len = l.len() as u64;
    let out_of_range = |index| failed(Failure::IndexOutOfRange { index, len });
    match call {
        Call::Len => reply(Reply::Count(len)),
        Call::Clear => {
            l.clear();
            reply(Reply::Done)
        }
        Call::Push { item } => {
            l.push(item.into_vec());
            reply(Reply::Done)
        }
        Call::Extend { items } => {
            l.extend(items.into_iter().map(ByteBuf::into_vec));
            reply(Reply::Done)
        }
        Call::ListGet { index } => reply(Reply::MaybeItem(
            usize::try_from(index)
                .ok()
                .and_then(|i| l.get(i))
                .cloned()
                .map(bytes),
        )),
        Call::ListSet { index, item } => match usize::try_from(index).ok().and_then(|i| l.get_mut(i)) {
            Some(slot) => reply(Reply::Item(bytes(std::mem::replace(slot, item.into_vec())))),
            None => out_of_range(index),
        },
        Call::ListInsert { index, item } => match usize::try_from(index).ok().filter(|&i| i <= l.len()) {
            Some(i) => {
                l.insert(i, item.into_vec());
                reply(Reply::Done)
            }
            None => out_of_range(index),
        },
        Call::ListPop => match l.pop() {
            None => reply(Reply::MaybeItem(None)),
            Some(item) => Handled {
                reply: Reply::MaybeItem(Some(bytes(item.clone()))),
                undo: Some(Undo::ListBack(Arc::clone(object), item)),
                exit: false,
            },
        },
        Call::ListRemove { index } => match usize::try_from(index).ok().filter(|&i| i < l.len()) {
            Some(i) => reply(Reply::Item(bytes(l.remove(i)))),
            None => out_of_range(index),
        },
        Call::ToVec => reply(Reply::Items(l.iter().cloned().map(bytes).collect())),
        call => wrong_call(object, &call),
    }
}

impl Undo {
    /// Puts back what the undelivered reply took.
    pub(crate) fn apply(self) {
        match self {
            Undo::QueueFront(object, item) => {
                if let Object::Queue(q) = &*object {
                    lock(&q.items).push_front(item);
                    q.not_empty.notify_one();
                }
            }
            Undo::ListBack(object, item) => {
                if let Object::List(l) = &*object {
                    lock(l).push(item);
                }
            }
            Undo::DictEntry(object, key, value) => {
                if let Object::Dict(d) = &*object {
                    lock(d).entry(key).or_insert(value);
                }
            }
            Undo::Unlock(object) => {
                if let Object::Lock(f) = &*object {
                    *lock(&f.on) = false;
                    f.changed.notify_one();
                }
            }
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::net::UnixStream;

    fn call(server: &Client<'_>, peer: &UnixStream, request: Request) -> Reply {
        server.handle(request, peer.as_fd()).reply
    }

    fn create_ref(server: &Client<'_>, peer: &UnixStream, kind: Kind, tag: &str) -> (u64, Token) {
        let init = Init::Empty;
        match call(
            server,
            peer,
            Request::Create {
                kind,
                tag: tag.into(),
                init,
            },
        ) {
            Reply::Ref { id, token } => (id, token),
            other => panic!("no id: {other:?}"),
        }
    }

    fn create(server: &Client<'_>, peer: &UnixStream, kind: Kind, tag: &str) -> u64 {
        create_ref(server, peer, kind, tag).0
    }

    fn on(id: u64, call: Call) -> Request {
        Request::Call { id, call }
    }

    #[test]
    fn the_last_decref_deletes_the_object() {
        let s = Server::new(None, None);
        let server = s.client();
        let (peer, _other) = UnixStream::pair().unwrap();
        let (id, token) = create_ref(&server, &peer, Kind::List, "list");
        let incref = |tag: &str| Request::Incref {
            id,
            token,
            tag: tag.into(),
            in_flight: false,
        };
        let Reply::Ref { token: second, .. } = call(&server, &peer, incref("list")) else {
            panic!("incref")
        };
        let wrong = call(&server, &peer, incref("dict"));
        assert!(
            matches!(wrong, Reply::Failed(Failure::WrongType { .. })),
            "{wrong:?}"
        );
        call(&server, &peer, Request::Decref { id, token });
        assert_eq!(s.objects(), 1);
        let again = call(&server, &peer, Request::Decref { id, token });
        assert!(
            matches!(again, Reply::Failed(Failure::NotHeld { .. })),
            "a released reference cannot be released twice: {again:?}"
        );
        assert_eq!(s.objects(), 1);
        call(&server, &peer, Request::Decref { id, token: second });
        assert_eq!(s.objects(), 0);
        let gone = call(&server, &peer, on(id, Call::Len));
        assert!(
            matches!(gone, Reply::Failed(Failure::NoSuchObject { .. })),
            "{gone:?}"
        );
    }

    #[test]
    fn a_waiting_get_gives_up_when_its_client_hangs_up() {
        let s = Server::new(None, None);
        let server = s.client();
        let (peer, other) = UnixStream::pair().unwrap();
        let id = create(&server, &peer, Kind::Queue, "q");
        drop(other);
        let r = call(&server, &peer, on(id, Call::Get { wait: Wait::Forever }));
        assert!(matches!(r, Reply::Failed(Failure::Empty)), "{r:?}");
    }

    #[test]
    fn an_undelivered_get_puts_the_item_back_in_front() {
        let s = Server::new(None, None);
        let server = s.client();
        let (peer, _other) = UnixStream::pair().unwrap();
        let id = create(&server, &peer, Kind::Queue, "q");
        for item in [b"a".to_vec(), b"b".to_vec()] {
            let item = ByteBuf::from(item);
            call(
                &server,
                &peer,
                on(
                    id,
                    Call::Put {
                        item,
                        wait: Wait::Forever,
                    },
                ),
            );
        }
        let handled = server.handle(on(id, Call::Get { wait: Wait::Never }), peer.as_fd());
        handled.undo.expect("a get can be undone").apply();
        let again = call(&server, &peer, on(id, Call::Get { wait: Wait::Never }));
        assert!(
            matches!(again, Reply::Item(ref b) if b.as_slice() == b"a"),
            "{again:?}"
        );
    }

    #[test]
    fn a_method_of_another_kind_is_refused_not_obeyed() {
        let s = Server::new(None, None);
        let server = s.client();
        let (peer, _other) = UnixStream::pair().unwrap();
        let id = create(&server, &peer, Kind::Lock, "lock");
        let r = call(&server, &peer, on(id, Call::Keys));
        assert!(matches!(r, Reply::Failed(Failure::Malformed(_))), "{r:?}");
        let r = call(
            &server,
            &peer,
            Request::Create {
                kind: Kind::Value,
                tag: "v".into(),
                init: Init::Empty,
            },
        );
        assert!(
            matches!(r, Reply::Failed(Failure::Malformed(_))),
            "a value needs one: {r:?}"
        );
    }

    #[test]
    fn a_client_releases_only_what_it_holds_and_a_name_holds_its_own() {
        let s = Server::new(None, None);
        let (peer, _other) = UnixStream::pair().unwrap();
        let a = s.client();
        let (id, token) = create_ref(&a, &peer, Kind::Dict, "v");
        let shared = call(
            &a,
            &peer,
            Request::Share {
                name: "n".into(),
                id,
                token,
            },
        );
        assert!(matches!(shared, Reply::Done), "{shared:?}");
        // Another client knows the id, not the token: its decrefs are refused.
        let b = s.client();
        for guess in [0, 1, token.wrapping_add(1)] {
            let r = call(&b, &peer, Request::Decref { id, token: guess });
            assert!(matches!(r, Reply::Failed(Failure::NotHeld { .. })), "{r:?}");
        }
        call(&a, &peer, Request::Decref { id, token });
        for _ in 0..3 {
            let r = call(
                &b,
                &peer,
                Request::Lookup {
                    name: "n".into(),
                    tag: "v".into(),
                },
            );
            assert!(matches!(r, Reply::Ref { id: got, .. } if got == id), "{r:?}");
        }
        drop(b); // its three lookups are released with it
        assert_eq!(s.objects(), 1, "the name's reference");
        drop(a);
        assert_eq!(s.objects(), 1, "the name outlives its sharer");
    }

    #[test]
    fn no_request_panics_the_server() {
        let s = Server::new(None, None);
        let (peer, _other) = UnixStream::pair().unwrap();
        let c = s.client();
        let (id, token) = create_ref(&c, &peer, Kind::List, "l");
        for id in [0, id, u64::MAX] {
            for token in [0, token, u128::MAX] {
                let requests = [
                    Request::Incref {
                        id,
                        token,
                        tag: "l".into(),
                        in_flight: true,
                    },
                    Request::Claim { id, token },
                    Request::Detach { id, token },
                    Request::Share {
                        name: String::new(),
                        id,
                        token,
                    },
                    Request::Lookup {
                        name: String::new(),
                        tag: "x".into(),
                    },
                    on(
                        id,
                        Call::ListSet {
                            index: u64::MAX,
                            item: ByteBuf::new(),
                        },
                    ),
                    on(
                        id,
                        Call::ListInsert {
                            index: u64::MAX,
                            item: ByteBuf::new(),
                        },
                    ),
                    on(id, Call::ListRemove { index: u64::MAX }),
                    on(
                        id,
                        Call::Get {
                            wait: Wait::For(Duration::MAX),
                        },
                    ),
                    on(
                        id,
                        Call::Acquire {
                            wait: Wait::For(Duration::MAX),
                        },
                    ),
                    Request::Hello { session: 0 },
                    Request::Decref { id, token },
                    Request::Decref { id, token },
                    Request::Count,
                ];
                for r in requests {
                    let _ = call(&c, &peer, r);
                }
            }
        }
    }
}
