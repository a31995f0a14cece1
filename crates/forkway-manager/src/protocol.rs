//! The manager's requests and replies. One request frame, one reply frame, over an
//! authenticated connection. The server never decodes the values it stores: keys, items and
//! values travel and rest as the bytes the client's serde made, so one server serves every
//! type, and only the proxies — which know their types — decode.

use std::time::Duration;

use forkway_sys::Deadline;
use serde::{Deserialize, Serialize};
use serde_bytes::ByteBuf;

use crate::error::ManagerError;

/// The kinds of object a manager holds.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Queue,
    Dict,
    List,
    Value,
    Lock,
    Event,
}

/// A reference's token. Every reference the server counts has one: random, known only to
/// the client holding it (and to the bytes of a proxy in flight), so only its holder can
/// release it.
pub(crate) type Token = u128;

/// What a client asks the server.
#[derive(Serialize, Deserialize, Debug)]
pub(crate) enum Request {
    /// This connection belongs to client process `session`: references taken over it belong
    /// to that process, and are released when the last of its connections closes. (A
    /// connection that never says hello is a session of its own.)
    Hello { session: u128 },
    /// A new object; the reply's reference is held by this connection's session.
    Create { kind: Kind, tag: String, init: Init },
    /// A new reference to `id` — if it is a `tag`, and `token` is a reference to it. Held by
    /// this session, or by nobody yet (`in_flight`: for a proxy's bytes, claimed by whoever
    /// decodes them).
    Incref {
        id: u64,
        token: Token,
        tag: String,
        in_flight: bool,
    },
    /// Releases the reference `token`; when the last reference goes, the object is deleted.
    Decref { id: u64, token: Token },
    /// The reference `token` (in flight, or inherited from a parent process) is now held by
    /// this session.
    Claim { id: u64, token: Token },
    /// The reference `token`, if this session holds it, is now in flight (the proxy was moved
    /// into a forked child, which claims it).
    Detach { id: u64, token: Token },
    /// A method of object `id`.
    Call { id: u64, call: Call },
    /// Binds `name` to `id`, which `token` must be a reference to; the name holds a reference
    /// of its own.
    Share { name: String, id: u64, token: Token },
    /// A new reference to the object bound to `name`, which must be a `tag`.
    Lookup { name: String, tag: String },
    /// Are you there? (`Manager::connect` checks the address and the key with it.)
    Ping,
    /// How many objects the server holds.
    Count,
    /// Stop the server.
    Shutdown,
}

/// The contents of a new object.
#[derive(Serialize, Deserialize, Debug)]
pub(crate) enum Init {
    Empty,
    Bounded(u64),
    Value(ByteBuf),
    Items(Vec<ByteBuf>),
    Pairs(Vec<(ByteBuf, ByteBuf)>),
}

/// How long a blocking method may wait.
#[derive(Serialize, Deserialize, Debug, Clone, Copy)]
pub(crate) enum Wait {
    /// Do not wait: now or never (Python's `block=False`).
    Never,
    /// Until it happens (`block=True, timeout=None`).
    Forever,
    /// At most this long.
    For(Duration),
}

impl Wait {
    /// The deadline the server waits until: the wire's spelling of a timeout becomes the one
    /// every other wait in forkway uses (`Never` is a deadline already passed, so a `_nowait`
    /// call still takes what is there now).
    pub(crate) fn deadline(self) -> Deadline {
        match self {
            Wait::Never => Deadline::now(),
            Wait::Forever => Deadline::never(),
            // A client can send any duration: one too large for the clock waits for ever.
            Wait::For(d) => Deadline::after(d),
        }
    }
}

/// The methods, by object kind. Every key, item and value is an encoded value.
#[derive(Serialize, Deserialize, Debug)]
pub(crate) enum Call {
    // Queue
    Put { item: ByteBuf, wait: Wait },
    Get { wait: Wait },
    // Queue, Dict, List
    Len,
    // Dict, List
    Clear,
    // Dict
    DictGet { key: ByteBuf },
    DictInsert { key: ByteBuf, value: ByteBuf },
    DictUpdate { pairs: Vec<(ByteBuf, ByteBuf)> },
    DictRemove { key: ByteBuf },
    DictContains { key: ByteBuf },
    Keys,
    Values,
    Items,
    // List
    Push { item: ByteBuf },
    Extend { items: Vec<ByteBuf> },
    ListGet { index: u64 },
    ListSet { index: u64, item: ByteBuf },
    ListInsert { index: u64, item: ByteBuf },
    ListPop,
    ListRemove { index: u64 },
    ToVec,
    // Value
    ValueGet,
    ValueSet { value: ByteBuf },
    // Lock
    Acquire { wait: Wait },
    Release,
    // Event
    Set,
    Unset,
    IsSet,
    WaitSet { wait: Wait },
}

/// What the server answers.
#[derive(Serialize, Deserialize, Debug)]
pub(crate) enum Reply {
    Done,
    /// A new reference: the object and the reference's token.
    Ref {
        id: u64,
        token: Token,
    },
    Flag(bool),
    Count(u64),
    Item(ByteBuf),
    MaybeItem(Option<ByteBuf>),
    Items(Vec<ByteBuf>),
    Pairs(Vec<(ByteBuf, ByteBuf)>),
    Failed(Failure),
}

/// Why the server could not do what was asked.
#[derive(Serialize, Deserialize, Debug)]
pub(crate) enum Failure {
    NoSuchObject {
        id: u64,
    },
    WrongType {
        id: u64,
        expected: String,
        found: String,
    },
    NoSuchName(String),
    NotHeld {
        id: u64,
    },
    Empty,
    Full,
    IndexOutOfRange {
        index: u64,
        len: u64,
    },
    ReleaseUnlocked,
    Malformed(String),
}

impl From<Failure> for ManagerError {
    fn from(f: Failure) -> ManagerError {
        match f {
            Failure::NoSuchObject { id } => ManagerError::NoSuchObject { id },
            Failure::WrongType { id, expected, found } => ManagerError::WrongType { id, expected, found },
            Failure::NoSuchName(name) => ManagerError::NoSuchName(name),
            Failure::NotHeld { id } => ManagerError::NotHeld { id },
            Failure::Empty => ManagerError::Empty,
            Failure::Full => ManagerError::Full,
            Failure::IndexOutOfRange { index, len } => ManagerError::IndexOutOfRange {
                index: usize::try_from(index).unwrap_or(usize::MAX),
                len: usize::try_from(len).unwrap_or(usize::MAX),
            },
            Failure::ReleaseUnlocked => ManagerError::ReleaseUnlocked,
            Failure::Malformed(why) => ManagerError::Remote(why),
        }
    }
}
