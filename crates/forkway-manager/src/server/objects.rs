//! The shared objects and their methods: what one `Request::Call` does to a queue, a dict, a
//! list, a value, a lock or an event.

use std::collections::VecDeque;
use std::os::fd::BorrowedFd;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use indexmap::IndexMap;
use serde_bytes::ByteBuf;

use crate::connection::peer_gone;
use crate::protocol::{Call, Failure, Kind, Reply, Wait};

use super::{bytes, failed, lock, reply, Handled};

/// How often a waiting method looks whether its client is still there. A client killed while
/// it waits must not, minutes later, take an item or a lock that nobody will ever receive.
const LIVENESS_SLICE: Duration = Duration::from_millis(50);

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

/// Gives back what a request took, when its reply could not be sent.
pub(crate) enum Undo {
    QueueFront(Arc<Object>, Vec<u8>),
    ListBack(Arc<Object>, Vec<u8>),
    DictEntry(Arc<Object>, Vec<u8>, Vec<u8>),
    Unlock(Arc<Object>),
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

impl SharedQueue {
    pub(super) fn new(maxsize: Option<usize>) -> SharedQueue {
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

pub(super) fn call_method(object: &Arc<Object>, call: Call, peer: BorrowedFd<'_>) -> Handled {
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
