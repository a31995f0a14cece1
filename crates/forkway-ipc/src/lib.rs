//! # forkway-ipc — lesson 2: moving data between processes
//!
//! Processes share no memory; they talk through the kernel. This crate starts with the wire —
//! length-prefixed frames carrying serde values — and Python's `Pipe()`/`Connection` on a Unix
//! socket pair or a kernel pipe, then builds Python's `Queue` on shared memory and futexes
//! (crash-safe: a process killed mid-`put` or mid-`get` breaks nothing) and `SimpleQueue` on a
//! pipe with robust locks.
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
//! | `Queue()`, `Queue(3)` | [`Queue::new`], [`Queue::bounded`] |
//! | `q.put(x)`, `q.put(x, timeout=t)`, `q.put_nowait(x)` | [`Queue::put`], [`Queue::put_timeout`], [`Queue::put_nowait`] |
//! | `q.get()`, `q.get(timeout=t)`, `q.get_nowait()` | [`Queue::get`], [`Queue::get_timeout`], [`Queue::get_nowait`] |
//! | `queue.Full`, `queue.Empty` | [`PutError::Full`] (with the item), [`GetError::Empty`] |
//! | `SimpleQueue()` | [`SimpleQueue`] |
//!
//! Bad input is an error, never a panic or an unbounded allocation: a corrupt header, a
//! truncated message, one over the size limit, or one that is not a `T` each has its variant.
//!
//! Linux only, like the rest of forkway.

pub mod codec;
mod connection;
mod error;
#[doc(hidden)]
pub mod fault;
pub mod fds;
mod queue;
mod simple_queue;

pub use connection::{pipe, simplex, Connection, CONNECTION_TRAVELS_AS_ARGUMENT};
pub use error::{DecodeError, EncodeError, GetError, PutError, RecvError, SendError};
pub use queue::{Queue, INHERITANCE_ONLY};
pub use simple_queue::SimpleQueue;
