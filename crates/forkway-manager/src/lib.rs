//! # forkway-manager: lesson 6 (first part), connections between unrelated processes
//!
//! Until lesson 5 every process was forked from the one that made the queue or lock: memory
//! and descriptors were inherited. A process that was *not* forked from us — a pool worker
//! started before the queue existed, another program, another machine — can only be reached
//! through an address. Python's `multiprocessing.connection` gives the address a `Listener`
//! and the other side a `Client`, and an *authkey* keeps strangers out. This crate rebuilds
//! both, wire-compatible with CPython: either side may be Python.
//!
//! ```
//! use forkway_manager::connection::{client, Listener};
//!
//! let listener = Listener::new(Some(b"secret"))?; // a private Unix socket
//! let address = listener.address().clone();
//! let mut p = forkway_process::Process::new(move || {
//!     let mut conn = client::<String>(&address, Some(b"secret")).expect("connect");
//!     conn.send(&"hello".to_owned()).expect("send");
//! });
//! p.start()?;
//! let mut conn = listener.accept::<String>()?;
//! assert_eq!(conn.recv()?, "hello");
//! p.join()?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! | Python | forkway |
//! |---|---|
//! | `Listener(authkey=b'k')`, `Listener(('127.0.0.1', 0), authkey=b'k')` | `Listener::new(Some(b"k"))?`, `Listener::bind(&Address::Tcp(addr), Some(b"k"))?` |
//! | `listener.address`, `listener.accept()` | `listener.address()`, `listener.accept::<T>()?` |
//! | `Client(address, authkey=b'k')` | `client::<T>(&address, Some(b"k"))?` |
//! | `conn.send_bytes(b)`, `conn.recv_bytes()` | the same (CPython interoperates) |
//! | `AuthenticationError('digest received was wrong')` / `('digest sent was rejected')` | `AuthError::WrongDigest` / `AuthError::Rejected` |

pub mod auth;
mod client;
pub mod connection;
mod error;
mod manager;
mod protocol;
pub mod proxy;
mod server;

pub use auth::AuthError;
pub use connection::{client, Address, ConnectError, Listener};
pub use error::ManagerError;
pub use manager::{Manager, ManagerBuilder, SHUTDOWN_TIMEOUT};
pub use proxy::{DictProxy, EventProxy, ListProxy, LockProxy, Proxy, QueueProxy, ValueProxy};
