//! Errors of the wire layer and of connections.

use thiserror::Error;

/// A value could not be serialized (at `send` time, in the caller: nothing is half-sent).
#[derive(Debug, Error)]
#[error("cannot encode the message: {0}")]
pub struct EncodeError(pub(crate) String);

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
    #[error("cannot decode the message as {type_name}: {reason}")]
    Decode {
        /// The Rust type that was expected.
        type_name: &'static str,
        /// What the decoder said.
        reason: String,
    },
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
