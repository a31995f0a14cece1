//! Errors of the wire layer and of connections.

use thiserror::Error;

/// The boxed cause an error keeps: the serializer's own error, kept behind the codec module
/// (bincode is an implementation detail, so its type is not part of the API).
pub(crate) type Cause = Box<dyn std::error::Error + Send + Sync + 'static>;

/// A value could not be serialized (at `send` time, in the caller: nothing is half-sent).
/// Its [`source`](std::error::Error::source) is the serializer's error.
#[derive(Debug, Error)]
#[error("cannot encode the message: {source}")]
pub struct EncodeError {
    source: Cause,
}

impl EncodeError {
    pub(crate) fn new(source: impl Into<Cause>) -> EncodeError {
        EncodeError {
            source: source.into(),
        }
    }

    /// The error of an encoder other than this crate's codec (a pool's own compact format),
    /// so that its callers report one kind of encoding error.
    pub fn from_encoder(source: impl std::error::Error + Send + Sync + 'static) -> EncodeError {
        EncodeError::new(source)
    }
}

/// A payload is not a valid encoding of the type asked for: wrong type, garbage, bytes left
/// over after the value, or a claim on more memory than a payload of its length can hold.
/// Its [`source`](std::error::Error::source) is the deserializer's error, when it had one.
#[derive(Debug)]
pub struct DecodeError {
    type_name: &'static str,
    why: DecodeFailure,
}

#[derive(Debug)]
enum DecodeFailure {
    /// The deserializer refused the bytes.
    Invalid(Cause),
    /// A whole value decoded, and this many bytes were left after it.
    LeftOver(usize),
}

impl DecodeError {
    pub(crate) fn invalid<T: ?Sized>(source: impl Into<Cause>) -> DecodeError {
        DecodeError {
            type_name: std::any::type_name::<T>(),
            why: DecodeFailure::Invalid(source.into()),
        }
    }

    pub(crate) fn left_over<T: ?Sized>(bytes: usize) -> DecodeError {
        DecodeError {
            type_name: std::any::type_name::<T>(),
            why: DecodeFailure::LeftOver(bytes),
        }
    }

    /// The Rust type that was expected.
    pub fn type_name(&self) -> &'static str {
        self.type_name
    }
}

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "cannot decode the message as {}: ", self.type_name)?;
        match &self.why {
            DecodeFailure::Invalid(e) => write!(f, "{e}"),
            DecodeFailure::LeftOver(n) => write!(f, "{n} bytes left over after the value"),
        }
    }
}

impl std::error::Error for DecodeError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.why {
            DecodeFailure::Invalid(e) => Some(&**e),
            DecodeFailure::LeftOver(_) => None,
        }
    }
}

/// What can go wrong when receiving.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum RecvError {
    /// The peer closed its end and every message has been read (Python's `EOFError`).
    #[error("end of file: the other end was closed")]
    Eof,
    /// This handle was closed with `close()` (Python: `OSError: handle is closed`).
    #[error("handle is closed")]
    Closed,
    /// Reading from the write end of a simplex pipe.
    #[error("connection is write-only")]
    WriteOnly,
    /// The peer closed in the middle of a message (Python: `got end of file during message`).
    #[error("got end of file during message ({got} of {expected} bytes)")]
    Truncated {
        /// Bytes of the payload that arrived.
        got: usize,
        /// Bytes the header announced.
        expected: usize,
    },
    /// The header announced more than this connection accepts; nothing was allocated.
    #[error("message of {len} bytes exceeds the limit of {max} bytes")]
    TooLarge {
        /// The announced length.
        len: u64,
        /// The connection's limit.
        max: usize,
    },
    /// The header is not a valid length (bytes of garbage on the stream).
    #[error("corrupt frame header: {0}")]
    CorruptHeader(String),
    /// The payload is not a valid encoding of the expected type (wrong type, or garbage).
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// No message arrived within the timeout.
    #[error("timed out")]
    Timeout,
    /// The operating system refused the read.
    #[error("read failed: {0}")]
    Io(#[from] std::io::Error),
}

/// What can go wrong when sending.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum SendError {
    /// This handle was closed with `close()`.
    #[error("handle is closed")]
    Closed,
    /// Writing to the read end of a simplex pipe.
    #[error("connection is read-only")]
    ReadOnly,
    /// The value could not be serialized.
    #[error(transparent)]
    Encode(#[from] EncodeError),
    /// The message is larger than this connection accepts.
    #[error("message of {len} bytes exceeds the limit of {max} bytes")]
    TooLarge {
        /// The message's length.
        len: usize,
        /// The connection's limit.
        max: usize,
    },
    /// The reader is gone (EPIPE): nobody will ever read this.
    #[error("broken pipe: the other end was closed")]
    BrokenPipe,
    /// The operating system refused the write.
    #[error("write failed: {0}")]
    Io(std::io::Error),
}

/// Why a `put` failed. Every variant hands the item back ([`PutError::into_inner`]): a failed
/// put loses nothing.
#[derive(Error)]
#[non_exhaustive]
pub enum PutError<T> {
    /// A bounded queue stayed full (at once for `put_nowait`, or until the timeout) — or, for
    /// any queue, its internal lock stayed held that long by another process that is stopped
    /// or stuck (Python's `put(timeout=t)` raises `Full` when its lock wait times out, too).
    #[error("the queue is full")]
    Full(T),
    /// `close()` was called on this handle (Python: `ValueError: Queue is closed`).
    #[error("the queue is closed")]
    Closed(T),
    /// The encoded item is over the queue's message limit.
    #[error("message of {len} bytes exceeds the limit of {max} bytes")]
    TooLarge {
        /// The item.
        item: T,
        /// Its encoded length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The item could not be serialized (Python loses it silently on its feeder thread).
    #[error("{error}")]
    Encode {
        /// The item.
        item: T,
        /// What the encoder said.
        error: EncodeError,
    },
    /// The queue's shared memory cannot grow enough to hold the item.
    #[error("the queue's shared memory is exhausted: {needed} bytes needed, {reserved} reserved")]
    NoSpace {
        /// The item.
        item: T,
        /// Bytes the queue would need to hold everything plus this item.
        needed: usize,
        /// The queue's reservation.
        reserved: usize,
    },
    /// A writer died in the middle of a message on a pipe-based queue, or the shared memory of
    /// a [`Queue`](crate::Queue) was overwritten; see [`GetError::Poisoned`].
    #[error("the queue is poisoned: {reason}")]
    Poisoned {
        /// The item.
        item: T,
        /// What happened.
        reason: String,
    },
    /// The operating system refused the write.
    #[error("write failed: {error}")]
    Io {
        /// The item.
        item: T,
        /// The OS error.
        error: std::io::Error,
    },
}

impl<T> PutError<T> {
    /// The item that was not put.
    pub fn into_inner(self) -> T {
        match self {
            PutError::Full(item) | PutError::Closed(item) => item,
            PutError::TooLarge { item, .. }
            | PutError::Encode { item, .. }
            | PutError::NoSpace { item, .. }
            | PutError::Poisoned { item, .. }
            | PutError::Io { item, .. } => item,
        }
    }

    /// Whether this is [`PutError::Full`].
    pub fn is_full(&self) -> bool {
        matches!(self, PutError::Full(_))
    }
}

/// Debug without requiring `T: Debug`, so `put(x).unwrap()` works for any item type.
impl<T> std::fmt::Debug for PutError<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match self {
            PutError::Full(_) => "Full",
            PutError::Closed(_) => "Closed",
            PutError::TooLarge { .. } => "TooLarge",
            PutError::Encode { .. } => "Encode",
            PutError::NoSpace { .. } => "NoSpace",
            PutError::Poisoned { .. } => "Poisoned",
            PutError::Io { .. } => "Io",
        };
        write!(f, "PutError::{kind}({self})")
    }
}

/// Why a `get` failed.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum GetError {
    /// Nothing arrived (at once for `get_nowait`, or until the timeout) — or the queue's
    /// internal lock stayed held that long by another process that is stopped or stuck.
    /// Python's `queue.Empty`, which its `get(timeout=t)` raises for a lock wait too.
    #[error("the queue is empty")]
    Empty,
    /// `close()` was called on this handle (Python: `ValueError: Queue is closed`).
    #[error("the queue is closed")]
    Closed,
    /// The message was taken off the queue but is not a valid `T`. The queue goes on: the
    /// next `get` returns the next message.
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// A pipe-based queue lost its framing: a writer or reader died in the middle of a
    /// message, or bytes that are not a frame were written into the pipe. Every later call
    /// fails the same way rather than return a torn message. [`Queue`](crate::Queue) commits
    /// whole messages only; it gets here only when something wrote into its shared memory
    /// behind its back (its header no longer describes a valid ring), and then refuses to
    /// follow it rather than read outside the mapping.
    #[error("the queue is poisoned: {0}")]
    Poisoned(String),
    /// Every process closed the write end: nothing can arrive any more.
    #[error("end of file: every writer is gone")]
    Disconnected,
    /// The operating system refused the read.
    #[error("read failed: {0}")]
    Io(std::io::Error),
}

impl From<RecvError> for GetError {
    fn from(e: RecvError) -> GetError {
        match e {
            RecvError::Decode(e) => GetError::Decode(e),
            RecvError::Timeout => GetError::Empty,
            RecvError::Closed => GetError::Closed,
            RecvError::Eof => GetError::Disconnected,
            RecvError::Io(e) => GetError::Io(e),
            other => GetError::Poisoned(other.to_string()),
        }
    }
}
