//! `Manager`: starts the server process, makes shared objects, shuts down.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use forkway_ipc::Connection;
use forkway_process::Process;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::client;
use crate::connection::{Address, Listener};
use crate::error::{ManagerError, StartError};
use crate::protocol::{Init, Kind, Reply, Request, Token};
use crate::proxy::handle::Handle;
use crate::proxy::{encode, DictProxy, EventProxy, ListProxy, LockProxy, Proxy, QueueProxy, ValueProxy};
use crate::server::{serve_forever, Server};

/// How long `shutdown` waits for the server to exit before it terminates it (Python's
/// `shutdown_timeout`).
pub const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(1);

/// How long `start` waits for the server to report its address.
const START_TIMEOUT: Duration = Duration::from_secs(30);

static STARTED: AtomicUsize = AtomicUsize::new(0);

/// What the server tells its starter once it listens.
#[derive(Serialize, Deserialize)]
enum Ready {
    Unix {
        socket: PathBuf,
        private_dir: Option<PathBuf>,
    },
    Tcp(SocketAddr),
    Failed(String),
}

/// A server process that owns shared objects, and the handle to it. Python's
/// `multiprocessing.Manager()` (a `SyncManager`).
///
/// The objects live in the server; what you hold are proxies, which send every method call
/// there over a socket. That costs a round trip per call, and buys what inheritance cannot
/// give: a proxy can be sent to any process that can reach the address and knows the key —
/// a pool worker that was forked long before the object existed, or another machine.
pub struct Manager {
    address: Address,
    /// `None`: this process's authkey, which every child inherits.
    authkey: Option<Arc<[u8]>>,
    /// The server, when this handle started it (not for [`Manager::connect`]).
    server: Option<Process>,
    private_dir: Option<PathBuf>,
    creator: u32,
    shut_down: bool,
}

/// Options for [`Manager::builder`]: where to listen, with which key, and code to run in the
/// server before it serves.
#[derive(Default)]
pub struct ManagerBuilder {
    address: Option<Address>,
    authkey: Option<Vec<u8>>,
    initializer: Option<Box<dyn FnOnce() + Send + 'static>>,
}

impl ManagerBuilder {
    /// Listens on `address` (a Unix path, or TCP with port 0 for a free port) instead of a
    /// fresh private Unix socket.
    #[must_use]
    pub fn address(mut self, address: Address) -> ManagerBuilder {
        self.address = Some(address);
        self
    }

    /// Uses `key` instead of the process authkey. Clients must present the same key
    /// ([`Manager::connect`]); proxies sent to other processes use the key *that* process
    /// knows for this manager (this one in a child forked after `start`, the one given to
    /// `connect` elsewhere).
    #[must_use]
    pub fn authkey(mut self, key: &[u8]) -> ManagerBuilder {
        self.authkey = Some(key.to_vec());
        self
    }

    /// Runs `f` once in the server process before it serves (Python's `start(initializer)`).
    #[must_use]
    pub fn initializer(mut self, f: impl FnOnce() + Send + 'static) -> ManagerBuilder {
        self.initializer = Some(Box::new(f));
        self
    }

    /// Starts the server process and waits until it listens.
    ///
    /// # Errors
    /// [`ManagerError::Start`] when the address cannot be bound or the server dies first
    /// (a panicking initializer).
    pub fn start(self) -> Result<Manager, ManagerError> {
        let key = self.authkey.clone().unwrap_or_else(forkway_process::authkey);
        let (mut ready_rx, mut ready_tx) =
            forkway_ipc::simplex::<Ready>().map_err(|e| ManagerError::Start(StartError::Pipe(e)))?;
        ready_rx.set_close_on_fork(true);
        let address = self.address.clone();
        let initializer = self.initializer;
        let n = STARTED.fetch_add(1, Ordering::Relaxed) + 1;
        let mut server = Process::new(move || run_server(address, &key, initializer, &mut ready_tx))
            .with_name(format!("SyncManager-{n}"))
            .with_daemon(true);
        server
            .start()
            .map_err(|e| ManagerError::Start(StartError::Process(e)))?;
        let ready = ready_rx.recv_timeout(START_TIMEOUT);
        let failed = |why: StartError| {
            let _ = server.kill();
            let _ = server.join();
            Err(ManagerError::Start(why))
        };
        let (address, private_dir) = match ready {
            Ok(Ready::Unix { socket, private_dir }) => (Address::Unix(socket), private_dir),
            Ok(Ready::Tcp(addr)) => (Address::Tcp(addr), None),
            Ok(Ready::Failed(why)) => return failed(StartError::Refused(why)),
            Err(source) => {
                let _ = server.join_timeout(SHUTDOWN_TIMEOUT);
                let status = server
                    .exitcode()
                    .map_or("still running".into(), |c| format!("exit code {c}"));
                return failed(StartError::NotReady { status, source });
            }
        };
        let authkey: Option<Arc<[u8]>> = self.authkey.map(Arc::from);
        client::trust(&address, authkey.clone());
        Ok(Manager {
            address,
            authkey,
            server: Some(server),
            private_dir,
            creator: std::process::id(),
            shut_down: false,
        })
    }
}

/// The server process's body: listen, report the address, serve until shutdown.
fn run_server(
    address: Option<Address>,
    key: &[u8],
    initializer: Option<Box<dyn FnOnce() + Send>>,
    ready: &mut Connection<Ready>,
) {
    // Ctrl-C in a terminal signals the whole process group; the manager must outlive the
    // parent's handling of it (Python's server ignores SIGINT too).
    // SAFETY: SIG_IGN installs no handler code; nothing here races with another thread (the
    // server has none yet).
    unsafe {
        let _ = nix::sys::signal::signal(
            nix::sys::signal::Signal::SIGINT,
            nix::sys::signal::SigHandler::SigIgn,
        );
    }
    let listener = match address {
        None => Listener::new(Some(key)),
        Some(a) => Listener::bind(&a, Some(key)),
    };
    let listener = match listener {
        Ok(l) => l,
        Err(e) => {
            let _ = ready.send(&Ready::Failed(e.to_string()));
            return;
        }
    };
    if let Some(init) = initializer {
        init();
    }
    let (socket, dir) = match listener.address() {
        Address::Unix(p) => (Some(p.clone()), listener.private_dir().map(PathBuf::from)),
        Address::Tcp(_) => (None, None),
    };
    let message = match listener.address() {
        Address::Unix(p) => Ready::Unix {
            socket: p.clone(),
            private_dir: dir.clone(),
        },
        Address::Tcp(a) => Ready::Tcp(*a),
    };
    if ready.send(&message).is_err() {
        return; // the starter is gone
    }
    ready.close();
    let server = Arc::new(Server::new(socket, dir));
    serve_forever(&listener, &server)
}

impl Manager {
    /// Starts a manager on a private Unix socket, with this process's authkey. Python's
    /// `Manager()`.
    ///
    /// # Errors
    /// [`ManagerError::Start`].
    pub fn start() -> Result<Manager, ManagerError> {
        Manager::builder().start()
    }

    /// Options: address, authkey, initializer.
    pub fn builder() -> ManagerBuilder {
        ManagerBuilder::default()
    }

    /// Attaches to a manager another program started (Python's `BaseManager(address,
    /// authkey).connect()`). The returned handle makes objects and looks up shared ones; it
    /// does not own the server and never shuts it down.
    ///
    /// # Errors
    /// [`ManagerError::Unreachable`] when nothing listens there, [`ManagerError::Auth`] for a
    /// wrong key.
    pub fn connect(address: &Address, authkey: &[u8]) -> Result<Manager, ManagerError> {
        let m = Manager {
            address: address.clone(),
            authkey: Some(Arc::from(authkey)),
            server: None,
            private_dir: None,
            creator: std::process::id(),
            shut_down: false,
        };
        m.request(&Request::Ping)?;
        // The key is right: proxies for this manager may now be decoded here.
        client::trust(address, m.authkey.clone());
        Ok(m)
    }

    /// Where the server listens (give it to [`Manager::connect`] elsewhere).
    pub fn address(&self) -> &Address {
        &self.address
    }

    /// The server's pid, for a manager this handle started.
    pub fn pid(&self) -> Option<u32> {
        self.server.as_ref().and_then(Process::pid)
    }

    /// The server's exit code once it has been shut down (0 after a clean shutdown).
    pub fn exitcode(&self) -> Option<i32> {
        self.server.as_ref().and_then(Process::exitcode)
    }

    /// How many objects the server holds — Python's `_number_of_objects()`, for finding
    /// leaks: it falls back when the last proxy of each object is dropped.
    ///
    /// # Errors
    /// [`ManagerError::ShutDown`] and the connection errors.
    pub fn number_of_objects(&self) -> Result<usize, ManagerError> {
        match self.request(&Request::Count)? {
            Reply::Count(n) => Ok(usize::try_from(n).unwrap_or(usize::MAX)),
            other => Err(ManagerError::Remote(format!("unexpected reply {other:?}"))),
        }
    }

    fn request(&self, request: &Request) -> Result<Reply, ManagerError> {
        if self.shut_down {
            return Err(ManagerError::ShutDown);
        }
        client::call(&self.address, self.authkey.as_deref(), request)
    }

    fn create<P: Proxy>(&self, kind: Kind, init: Init) -> Result<P, ManagerError> {
        let request = Request::Create {
            kind,
            tag: P::tag().to_owned(),
            init,
        };
        match self.request(&request)? {
            Reply::Ref { id, token } => Ok(self.proxy(id, token)),
            other => Err(ManagerError::Remote(format!("unexpected reply {other:?}"))),
        }
    }

    fn proxy<P: Proxy>(&self, id: u64, token: Token) -> P {
        P::from_handle(Handle::new(
            self.address.clone(),
            id,
            P::tag(),
            self.authkey.clone(),
            token,
        ))
    }

    /// A new unbounded queue. Python's `Manager().Queue()`.
    ///
    /// # Errors
    /// [`ManagerError::ShutDown`] and the connection errors.
    pub fn queue<T: Serialize + DeserializeOwned>(&self) -> Result<QueueProxy<T>, ManagerError> {
        self.create(Kind::Queue, Init::Empty)
    }

    /// A new queue that holds at most `maxsize` items. Python's `Manager().Queue(maxsize)`.
    ///
    /// # Errors
    /// [`ManagerError::ZeroMaxsize`] for 0; [`ManagerError::ShutDown`], connection errors.
    pub fn bounded_queue<T: Serialize + DeserializeOwned>(
        &self,
        maxsize: usize,
    ) -> Result<QueueProxy<T>, ManagerError> {
        if maxsize == 0 {
            return Err(ManagerError::ZeroMaxsize);
        }
        self.create(Kind::Queue, Init::Bounded(maxsize as u64))
    }

    /// A new empty map. Python's `Manager().dict()`.
    ///
    /// # Errors
    /// [`ManagerError::ShutDown`] and the connection errors.
    pub fn dict<K, V>(&self) -> Result<DictProxy<K, V>, ManagerError>
    where
        K: Serialize + DeserializeOwned,
        V: Serialize + DeserializeOwned,
    {
        self.create(Kind::Dict, Init::Empty)
    }

    /// A new map with these entries. Python's `Manager().dict(pairs)`.
    ///
    /// # Errors
    /// [`ManagerError::Encode`], [`ManagerError::ShutDown`], the connection errors.
    pub fn dict_from<K, V>(
        &self,
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Result<DictProxy<K, V>, ManagerError>
    where
        K: Serialize + DeserializeOwned,
        V: Serialize + DeserializeOwned,
    {
        let pairs = pairs
            .into_iter()
            .map(|(k, v)| Ok((encode(&k)?, encode(&v)?)))
            .collect::<Result<Vec<_>, ManagerError>>()?;
        self.create(Kind::Dict, Init::Pairs(pairs))
    }

    /// A new empty list. Python's `Manager().list()`.
    ///
    /// # Errors
    /// [`ManagerError::ShutDown`] and the connection errors.
    pub fn list<T: Serialize + DeserializeOwned>(&self) -> Result<ListProxy<T>, ManagerError> {
        self.create(Kind::List, Init::Empty)
    }

    /// A new list with these items. Python's `Manager().list(items)`.
    ///
    /// # Errors
    /// [`ManagerError::Encode`], [`ManagerError::ShutDown`], the connection errors.
    pub fn list_from<T: Serialize + DeserializeOwned>(
        &self,
        items: impl IntoIterator<Item = T>,
    ) -> Result<ListProxy<T>, ManagerError> {
        let items = items
            .into_iter()
            .map(|i| encode(&i))
            .collect::<Result<Vec<_>, _>>()?;
        self.create(Kind::List, Init::Items(items))
    }

    /// A new value. Python's `Manager().Value(typecode, value)`.
    ///
    /// # Errors
    /// [`ManagerError::Encode`], [`ManagerError::ShutDown`], the connection errors.
    pub fn value<T: Serialize + DeserializeOwned>(&self, value: &T) -> Result<ValueProxy<T>, ManagerError> {
        self.create(Kind::Value, Init::Value(encode(value)?))
    }

    /// A new lock. Python's `Manager().Lock()`.
    ///
    /// # Errors
    /// [`ManagerError::ShutDown`] and the connection errors.
    pub fn lock(&self) -> Result<LockProxy, ManagerError> {
        self.create(Kind::Lock, Init::Empty)
    }

    /// A new event. Python's `Manager().Event()`.
    ///
    /// # Errors
    /// [`ManagerError::ShutDown`] and the connection errors.
    pub fn event(&self) -> Result<EventProxy, ManagerError> {
        self.create(Kind::Event, Init::Empty)
    }

    /// Shares `proxy`'s object under `name`, for clients that [`connect`](Manager::connect)
    /// and [`lookup`](Manager::lookup) it — Python's `register('get_queue', callable=…)`. The
    /// name keeps the object alive; sharing another object under it releases the first.
    ///
    /// # Errors
    /// [`ManagerError::ShutDown`] and the connection errors.
    pub fn share<P: Proxy>(&self, name: &str, proxy: &P) -> Result<(), ManagerError> {
        self.request(&Request::Share {
            name: name.to_owned(),
            id: proxy.id(),
            token: proxy.handle().token,
        })
        .map(drop)
    }

    /// A proxy for the object shared under `name`, which must be a `P`.
    ///
    /// # Errors
    /// [`ManagerError::NoSuchName`], [`ManagerError::WrongType`], connection errors.
    pub fn lookup<P: Proxy>(&self, name: &str) -> Result<P, ManagerError> {
        let request = Request::Lookup {
            name: name.to_owned(),
            tag: P::tag().to_owned(),
        };
        match self.request(&request)? {
            Reply::Ref { id, token } => Ok(self.proxy(id, token)),
            other => Err(ManagerError::Remote(format!("unexpected reply {other:?}"))),
        }
    }

    /// Stops the server: asks it to exit, waits [`SHUTDOWN_TIMEOUT`], then terminates and at
    /// last kills it, and removes its socket. Proxies fail with a connection error afterwards.
    /// A second call does nothing. A handle from [`Manager::connect`] does not own the server:
    /// it only stops using it.
    ///
    /// # Errors
    /// [`ManagerError::Server`] when the server cannot be joined.
    pub fn shutdown(&mut self) -> Result<(), ManagerError> {
        if self.shut_down {
            return Ok(());
        }
        self.shut_down = true;
        client::forget(&self.address);
        let Some(server) = &self.server else { return Ok(()) };
        // Its proxies' references die with the server; and whoever listens at this address
        // next is not this manager.
        client::drop_anchor(&self.address);
        client::distrust(&self.address);
        if std::thread::panicking() {
            // A panic is unwinding (a failing test, an unfinished exercise): asking the server
            // over a new connection would run the handshake, and joining it the reaping code —
            // code that may panic again, and a second panic in a destructor aborts the whole
            // program. The server's `Process`, dropped with this manager, stops and reaps the
            // daemon without either.
        } else {
            if let Ok(mut conn) = client::connect_unanchored(&self.address, self.authkey.as_deref()) {
                if let Ok(frame) = forkway_ipc::codec::encode(&Request::Shutdown) {
                    // The reply, or the end of file of a server that exited first: either will do.
                    if conn.send_bytes(&frame).is_ok() {
                        let _ = conn.recv_bytes();
                    }
                }
            }
            let stop = ManagerError::Server;
            if !server.join_timeout(SHUTDOWN_TIMEOUT).map_err(stop)? {
                let _ = server.terminate();
                if !server.join_timeout(SHUTDOWN_TIMEOUT).map_err(stop)? {
                    let _ = server.kill();
                    server.join().map_err(stop)?;
                }
            }
        }
        // A killed server leaves its socket behind.
        if let Address::Unix(socket) = &self.address {
            let _ = std::fs::remove_file(socket);
        }
        if let Some(dir) = &self.private_dir {
            let _ = std::fs::remove_dir(dir);
        }
        Ok(())
    }
}

impl Drop for Manager {
    fn drop(&mut self) {
        // Only the process that started the server stops it: a forked child's copy of this
        // handle is not an owner.
        if std::process::id() == self.creator {
            let _ = self.shutdown();
        }
    }
}

impl std::fmt::Debug for Manager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = if self.shut_down { "shut down" } else { "running" };
        write!(f, "<Manager at {} {state}>", self.address)
    }
}
