//! What can go wrong with a manager and its proxies.

use forkway_ipc::{DecodeError, EncodeError, RecvError};
use forkway_process::ProcessError;

use crate::auth::AuthError;
use crate::connection::Address;

/// A cause kept whole for [`std::error::Error::source`] where several error types can be it
/// (a connection breaks on a send or on a receive).
pub(crate) type Cause = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Why a manager's server did not start ([`ManagerError::Start`]).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// The server process could not be started.
    #[error("{0}")]
    Process(#[from] ProcessError),
    /// The pipe the server reports its address on could not be made.
    #[error("cannot make the pipe the server reports on: {0}")]
    Pipe(#[source] std::io::Error),
    /// The server could not listen, in its own words (the error happened in the server's
    /// process: only its text crosses over).
    #[error("{0}")]
    Refused(String),
    /// The server exited (or stayed silent) before it said it was ready.
    #[error("the server exited before it was ready ({status}): {source}")]
    NotReady {
        /// Its exit code, or "still running".
        status: String,
        /// What reading its report gave instead.
        source: RecvError,
    },
}

/// Why a manager or a proxy call failed. The variants for the referent's own failures
/// ([`Empty`](ManagerError::Empty), [`Full`](ManagerError::Full),
/// [`IndexOutOfRange`](ManagerError::IndexOutOfRange),
/// [`ReleaseUnlocked`](ManagerError::ReleaseUnlocked)) are the ones Python re-raises from the
/// server (`queue.Empty`, `queue.Full`, `IndexError`, `RuntimeError`); the others are Python's
/// connection errors and `RemoteError`, with the cause spelled out.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ManagerError {
    /// The server process could not be started, or exited before it was ready.
    #[error("the manager's server did not start: {0}")]
    Start(#[source] StartError),
    /// Waiting for, or stopping, the server process failed (it was reaped by someone else).
    #[error("the manager's server process: {0}")]
    Server(#[source] ProcessError),
    /// This manager was shut down. Python: `ProcessError('Manager has shut down')`.
    #[error("Manager has shut down")]
    ShutDown,
    /// No manager answers at the address (it has shut down, was killed, or never existed).
    #[error("cannot reach the manager at {address} (has it shut down?): {source}")]
    Unreachable {
        /// Where we tried.
        address: Address,
        /// The socket error (connection refused, no such file, …).
        source: std::io::Error,
    },
    /// The connection broke during a call: the manager shut down or was killed meanwhile.
    #[error("lost the connection to the manager at {address} during a call: {source}")]
    Lost {
        /// The manager's address.
        address: Address,
        /// What the connection reported (a [`SendError`](forkway_ipc::SendError) or a
        /// [`RecvError`]).
        source: Cause,
    },
    /// The authkey handshake failed (a different key on the two sides).
    #[error("authentication with the manager failed: {0}")]
    Auth(#[from] AuthError),
    /// A value could not be serialized for the server.
    #[error("cannot serialize the value for the manager: {0}")]
    Encode(#[from] EncodeError),
    /// A value from the server is not the type this proxy expects.
    #[error("cannot decode the manager's answer: {0}")]
    Decode(#[from] DecodeError),
    /// The object is gone from the server: its last proxy was dropped.
    #[error("the manager has no object {id} (its last proxy was dropped)")]
    NoSuchObject {
        /// The object's id.
        id: u64,
    },
    /// A release or claim of a reference the client does not hold (its token is not one the
    /// server gave out for this object, or it was released already).
    #[error("no such reference to object {id} is held")]
    NotHeld {
        /// The object's id.
        id: u64,
    },
    /// A proxy's bytes name a manager this process may not trust: one it did not start, did
    /// not inherit from the parent that started it, and did not [`connect`](crate::Manager::connect)
    /// to. Connecting there would answer that server's challenge with this process's authkey.
    #[error(
        "refusing a proxy for the manager at {address}: this process did not start it, inherit \
         it, or connect to it (use Manager::connect(address, key) to trust it)"
    )]
    Untrusted {
        /// The address the proxy names.
        address: Address,
    },
    /// A proxy of one type was used for an object of another (a name shared as a
    /// `DictProxy<String, u32>` looked up as a `ListProxy<u32>`).
    #[error("object {id} is a {found}, not a {expected}")]
    WrongType {
        /// The object's id.
        id: u64,
        /// The proxy type asked for.
        expected: String,
        /// The type the object was created as.
        found: String,
    },
    /// [`Manager::lookup`](crate::Manager::lookup) of a name nobody shared.
    #[error("the manager has no object shared as {0:?}")]
    NoSuchName(String),
    /// A get that did not wait, or waited in vain. Python: `queue.Empty`.
    #[error("the queue is empty")]
    Empty,
    /// A put into a full bounded queue that did not wait, or waited in vain. Python: `queue.Full`.
    #[error("the queue is full")]
    Full,
    /// An index past the end of a list. Python: `IndexError('list index out of range')`.
    #[error("list index {index} out of range for a list of {len}")]
    IndexOutOfRange {
        /// The index asked for.
        index: usize,
        /// The list's length at the time.
        len: usize,
    },
    /// `release` of a lock nobody holds. Python: `RuntimeError('release unlocked lock')`.
    #[error("release unlocked lock")]
    ReleaseUnlocked,
    /// A bounded queue of size 0 (it could never hold anything).
    #[error("a bounded queue needs a maxsize of at least 1 (use `queue()` for an unbounded one)")]
    ZeroMaxsize,
    /// The server refused the request as malformed, or answered with a reply that does not
    /// fit the request. Python: `RemoteError`. The text is the server's (its error happened in
    /// another process: only the text crosses over).
    #[error("the manager refused the request: {0}")]
    Remote(String),
}
