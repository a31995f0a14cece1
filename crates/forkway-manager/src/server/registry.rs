//! The registry: which objects exist, and who holds references to them.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use crate::protocol::{Failure, Token};

use super::objects::Object;

/// The objects, and who holds references to them. A reference is a [`Token`]; the server
/// counts an object's references by their tokens, so a client can release only what it holds,
/// and a client that goes away (all its connections closed: it exited or was killed) releases
/// everything it held.
#[derive(Default)]
pub(super) struct Registry {
    pub(super) next_id: u64,
    pub(super) objects: HashMap<u64, Entry>,
    /// A name, its object, and the name's own reference.
    pub(super) names: HashMap<String, (u64, Token)>,
    pub(super) refs: HashMap<Token, Reference>,
    sessions: HashMap<u128, Session>,
}

pub(super) struct Entry {
    pub(super) object: Arc<Object>,
    /// How many tokens refer to it.
    pub(super) refs: u64,
    pub(super) tag: String,
}

pub(super) struct Reference {
    pub(super) id: u64,
    pub(super) holder: Holder,
}

/// Who holds a reference.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Holder {
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
    pub(super) fn new_ref(&mut self, id: u64, holder: Holder) -> Result<Token, Failure> {
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
    pub(super) fn check(&self, id: u64, token: Token) -> Result<(), Failure> {
        match self.refs.get(&token) {
            Some(r) if r.id == id => Ok(()),
            _ => Err(Failure::NotHeld { id }),
        }
    }

    /// Releases `token`; the object it deleted, if it was the last reference (to be dropped
    /// after the registry lock: a big object's memory is freed without holding up every
    /// other client).
    pub(super) fn release(&mut self, token: Token) -> Option<Entry> {
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

    pub(super) fn set_holder(&mut self, token: Token, holder: Holder) {
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

    pub(super) fn join(&mut self, session: u128) {
        let s = self.sessions.entry(session).or_default();
        s.connections = s.connections.saturating_add(1);
    }

    /// One connection of `session` closed; the last one takes the session's references with
    /// it. The deleted objects are returned, to be dropped after the lock.
    pub(super) fn leave(&mut self, session: u128) -> Vec<Entry> {
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
pub(super) fn random_token() -> Result<u128, String> {
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
