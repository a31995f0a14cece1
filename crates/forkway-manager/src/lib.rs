//! # forkway-manager: lesson 6, shared objects behind an address
//!
//! Until lesson 5 every process was forked from the one that made the queue or lock: memory
//! and descriptors were inherited. A process that was *not* forked from it — a pool worker
//! started before the queue existed, another program, another machine — can only be reached
//! through an address. This crate gives it two ways in:
//!
//! - a [`Manager`]: a server process that owns shared objects (a queue, a dict, a list, a
//!   value, a lock, an event) and hands out typed proxies that send every method call there.
//!   Proxies serialize as an address and an object id, so they can be pool task arguments.
//!   Python's `multiprocessing.Manager()`;
//! - [`Listener`] and [`client`]: authenticated connections, wire-compatible with CPython's
//!   `multiprocessing.connection` — either side may be Python.
//!
//! ```
//! use forkway_manager::{Manager, QueueProxy};
//! use forkway_pool::Pool;
//!
//! fn writer(q: QueueProxy<char>) {
//!     for c in "itcast".chars() {
//!         q.put(c).expect("put");
//!     }
//! }
//!
//! let manager = Manager::start()?;
//! let q: QueueProxy<char> = manager.queue()?;
//! let pool = Pool::new(2)?;
//! // The worker was forked before the queue existed: only its address travels.
//! pool.apply(writer, q.clone())?;
//! let word: String = (0..6).map(|_| q.get()).collect::<Result<_, _>>()?;
//! assert_eq!(word, "itcast");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Connections alone:
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
//! | `m = Manager()` | `let m = Manager::start()?;` (drop shuts it down) |
//! | `m.Queue()`, `m.dict()`, `m.list()`, `m.Value('i', 0)`, `m.Lock()`, `m.Event()` | `m.queue()?`, `m.dict()?`, `m.list()?`, `m.value(&0)?`, `m.lock()?`, `m.event()?` |
//! | `BaseManager(address, authkey).connect()` | [`Manager::connect`] |
//! | `Listener(authkey=b'k')`, `Listener(('127.0.0.1', 0), authkey=b'k')` | `Listener::new(Some(b"k"))?`, `Listener::bind(&Address::Tcp(addr), Some(b"k"))?` |
//! | `listener.address`, `listener.accept()` | `listener.address()`, `listener.accept::<T>()?` |
//! | `Client(address, authkey=b'k')` | `client::<T>(&address, Some(b"k"))?` |
//! | `conn.send_bytes(b)`, `conn.recv_bytes()` | the same (CPython interoperates) |
//! | `AuthenticationError('digest received was wrong')` / `('digest sent was rejected')` | `AuthError::WrongDigest` / `AuthError::Rejected` |
//!
//! Linux only, like the crates under it.

pub mod auth;
mod client;
pub mod connection;
mod error;
mod forksafe;
mod handshake;
mod manager;
mod protocol;
pub mod proxy;
mod server;

pub use auth::AuthError;
pub use connection::{client, Address, ConnectError, Listener};
pub use error::{ManagerError, StartError};
pub use manager::{Manager, ManagerBuilder, SHUTDOWN_TIMEOUT};
pub use proxy::{DictProxy, EventProxy, ListProxy, LockProxy, Proxy, QueueProxy, ValueProxy};
