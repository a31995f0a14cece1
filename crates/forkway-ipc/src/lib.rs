//! # forkway-ipc — lesson 2: moving data between processes
//!
//! Processes share no memory; they talk through the kernel. This crate starts with the wire —
//! length-prefixed frames carrying serde values — and Python's `Pipe()`/`Connection` on a Unix
//! socket pair or a kernel pipe. Queues build on it.
//!
//! | Python | forkway |
//! |---|---|
//! | `a, b = Pipe()` | `let (a, b) = forkway_ipc::pipe::<T>()?` |
//! | `r, w = Pipe(duplex=False)` | `let (r, w) = forkway_ipc::simplex::<T>()?` |
//! | `c.send(obj)`, `c.recv()` | `c.send(&obj)?`, `c.recv()?` |
//! | `c.send_bytes(b)`, `c.recv_bytes()` | `c.send_bytes(&b)?`, `c.recv_bytes()?` |
//! | `c.poll(0.5)` | `c.poll(Some(Duration::from_millis(500)))?` |
//! | `EOFError` | [`RecvError::Eof`] |
//! | `OSError: handle is closed` | [`RecvError::Closed`], [`SendError::Closed`] |
//!
//! Bad input is an error, never a panic or an unbounded allocation: a corrupt header, a
//! truncated message, one over the size limit, or one that is not a `T` each has its variant.
//!
//! Linux only, like the rest of forkway.

pub mod codec;
mod connection;
mod error;
mod queue;
mod shm;
mod simple_queue;

pub use connection::{pipe, simplex, Connection};
pub use error::{EncodeError, GetError, PutError, RecvError, SendError};
pub use queue::{Queue, INHERITANCE_ONLY};
pub use simple_queue::SimpleQueue;
