//! # forkway
//!
//! Python's `multiprocessing`, rebuilt in Rust on real OS processes: `fork`, pipes, sockets,
//! shared memory and futexes. It is a library you can depend on, and the reference solution of
//! a test-driven course (run `cargo xtask lesson 1` in the repository, and read the book).
//!
//! ```
//! use forkway::prelude::*;
//!
//! let mut workers: Vec<Process> = ["egon", "alex"]
//!     .into_iter()
//!     .map(|name| Process::new(move || println!("{name} works in pid {}", std::process::id())))
//!     .collect();
//! for w in &mut workers {
//!     w.start()?;
//! }
//! for w in &workers {
//!     w.join()?;
//!     assert_eq!(w.exitcode(), Some(0));
//! }
//! # Ok::<(), ProcessError>(())
//! ```
//!
//! ## From Python to forkway
//!
//! | Python `multiprocessing` | forkway | lesson |
//! |---|---|---|
//! | `Process(target=f, args=(x,))`, `start`, `join`, `terminate`, `exitcode` | [`Process`] | 1 |
//! | `current_process()`, `parent_process()`, `active_children()`, `cpu_count()` | [`current_process`], [`parent_process`], [`active_children`], [`cpu_count`] | 1 |
//! | `sys.exit(n)` in a child | [`exit`] | 1 |
//! | `Pipe()`, `Pipe(duplex=False)`, `Connection` | [`pipe`], [`simplex`], [`Connection`] | 2 |
//! | `Queue()`, `Queue(maxsize)`, `SimpleQueue()` | [`Queue`], [`SimpleQueue`] | 2 |
//! | `Lock()`, `RLock()`, `Semaphore()`, `BoundedSemaphore()`, `Event()`, `Condition()`, `Barrier()`, `Value()`, `Array()` | [`Lock`], [`RLock`], [`Semaphore`], [`Event`], [`Value`], [`Array`], [`Condition`](sync::Condition), [`Barrier`](sync::Barrier) | 3 |
//! | `JoinableQueue()`, `task_done`, `join` | [`JoinableQueue`] (a killed consumer is reported, not waited for) | 4 |
//! | `Pool()`, `apply_async`, `map`, `imap` | [`Pool`] (a killed worker fails its task instead of hanging `get`) | 5 |
//! | `Manager()`, `m.Queue()`, `m.dict()`, `m.list()`, `m.Value()`, `m.Lock()`, `m.Event()` | [`Manager`] and its proxies ([`QueueProxy`], [`DictProxy`], …): a client killed mid-call takes nothing | 6 |
//! | `multiprocessing.connection.Listener`/`Client`, `authkey` | [`Listener`](manager::Listener), [`client`](manager::client), [`authkey`] (CPython interoperates) | 6 |
//! | `get_context('forkserver')`, `set_start_method('spawn')`, `ctx.Process(target=f, args=(x,))` | [`get_context`], [`set_start_method`], [`start::Process`]; [`bootstrap`] first in `main` for spawn | 7 |
//! | `ctx.Pool(4)` (workers started by forkserver or spawn) | [`Pool::builder()`](Pool::builder)`.processes(4).context(ctx).build()` | 7 |
//! | `active_children()` with forkserver children | [`start::active_children`] | 7 |
//! | `ctx.Queue()`, `ctx.Lock()`, `ctx.Event()`, `ctx.Value('i', 0)`, `ctx.JoinableQueue()`, … in a forkserver or spawn child's `args` | the `new_sendable` constructors: [`Queue::new_sendable`], [`Lock::new_sendable`], [`Event::new_sendable`], [`Value::new_sendable`], [`JoinableQueue::new_sendable`], … (a memfd that travels as an argument) | 7 |
//! | `ctx.SimpleQueue()`, `a, b = ctx.Pipe()` in a forkserver or spawn child's `args` | [`SimpleQueue::new_sendable`]; either [`Connection`] of a [`pipe`] as it is (its descriptor travels) | 7 |
//!
//! ## Waiting: one rule
//!
//! Every blocking operation comes in up to three forms: `op()` waits as long as it takes,
//! `op_timeout(d)` waits at most `d` (`Duration::MAX` waits for ever, never overflows), and
//! `try_op()` / `op_nowait()` does not wait at all. What a *miss* (the time ran out, or nothing
//! was there) looks like follows one rule, Python's:
//!
//! - an operation that **gives back a value** (an item, a guard, a connection, an arrival
//!   index) reports a miss as an error: `Err(Empty)`, `Err(Full)` (which hands the item back),
//!   `Err(Timeout)`;
//! - an operation that **gives back nothing** answers whether it happened: `bool`, or
//!   `Result<bool, E>` when it can also fail for another reason (a dead process, a lost
//!   connection). `false` is not an error, as Python's `False` is not an exception.
//!
//! | operation | a miss returns | Python |
//! |---|---|---|
//! | [`Queue`], [`SimpleQueue`], [`JoinableQueue`]: `get_timeout`, `get_nowait` | `Err(`[`GetError::Empty`]`)` | raises `queue.Empty` |
//! | [`Queue`], [`JoinableQueue`]: `put_timeout`, `put_nowait` | `Err(`[`PutError::Full`]`(item))` | raises `queue.Full` |
//! | [`Connection::recv_timeout`] | `Err(`[`RecvError::Timeout`]`)` | (no such method) |
//! | [`Connection::poll`] | `Ok(false)` | `False` |
//! | [`Lock`], [`RLock`] (a guard): `acquire_timeout` / `try_acquire`; [`Condition`](sync::Condition)`::acquire_timeout` | `Err(`[`AcquireError::Timeout`]`)` / `Err(`[`AcquireError::WouldBlock`]`)` | `False` |
//! | [`Semaphore`]: `acquire_timeout`, `try_acquire` | `false` | `False` |
//! | [`Event::wait_timeout`] | `false` | `False` |
//! | [`ConditionGuard::wait_timeout`](sync::ConditionGuard::wait_timeout), `wait_for` | `Ok(false)` | `False` |
//! | [`Barrier::wait_timeout`](sync::Barrier::wait_timeout) (an arrival index) | `Err(`[`BarrierError::Timeout`](sync::BarrierError::Timeout)`)` | raises `BrokenBarrierError` |
//! | [`Process::join_timeout`] | `Ok(false)` | `None` (check `exitcode`) |
//! | [`ParentProcess::join`]`(Some(t))` | `false` | — |
//! | [`wait`]`(&[…], Some(t))` (which have exited) | `Ok(vec![])` | `[]` |
//! | [`JoinableQueue::join_timeout`] | `Ok(false)` | (no timeout) |
//! | [`AsyncResult`]`::get_timeout`, [`IMap`]`::next_timeout` (a result) | `Err(`[`PoolError::Timeout`]`)` | raises `TimeoutError` |
//! | [`AsyncResult`]`::wait_timeout` | `false` | `None` (check `ready()`) |
//! | [`QueueProxy`]: `get_timeout`, `get_nowait` / `put_timeout`, `put_nowait` | `Err(`[`ManagerError::Empty`]`)` / `Err(`[`ManagerError::Full`]`)` | raises `queue.Empty` / `queue.Full` |
//! | [`LockProxy`]: `acquire_timeout`, `try_acquire` | `Ok(false)` | `False` |
//! | [`EventProxy::wait_timeout`] | `Ok(false)` | `False` |
//! | [`Listener::accept_timeout`](manager::Listener::accept_timeout) (a connection) | `Err(`[`ConnectError::Timeout`](manager::ConnectError::Timeout)`)` | (no such method) |
//!
//! A proxy's [`LockProxy`] hands out no guard (the lock lives in another process), so its
//! acquire answers `bool` where a [`Lock`]'s gives a guard or an error. Errors keep their
//! causes: [`std::error::Error::source`] walks from a [`ManagerError`] down to the
//! [`ProcessError`], the [`RecvError`] or the decoder's error underneath.
//!
//! Where Python has a known trap, forkway does better and says so: daemon children die with
//! their parent even when it is SIGKILLed, joins never race a recycled pid (Linux pidfds), and
//! the fork-from-a-threaded-process hazard is handled for the locks forkway and std own.
//!
//! Linux only. The book (`cargo xtask book`) explains every piece, chapter by chapter.

#[doc(inline)]
pub use forkway_process::{
    active_children, authkey, cpu_count, current_process, exit, parent_process, set_authkey, wait,
    ActiveChild, CurrentProcess, IntoExitCode, ParentProcess, Process, ProcessError, Run, Signal,
};

#[doc(inline)]
pub use forkway_ipc::{
    pipe, simplex, Connection, DecodeError, EncodeError, GetError, PutError, Queue, RecvError, SendError,
    SimpleQueue,
};

/// Lesson 2's crate, whole: the wire codec, connections and queues.
pub use forkway_ipc as ipc;

#[doc(inline)]
pub use forkway_sync::{AcquireError, Array, Event, Lock, RLock, ReleaseError, Semaphore, Value};

#[doc(inline)]
pub use forkway_joinable::{JoinError, JoinableQueue, TaskDoneError};

#[doc(inline)]
pub use forkway_pool::{AsyncResult, IMap, MapResult, Pool, PoolError, TaskError};

#[doc(inline)]
// The manager's own `StartError` (why its server did not start) stays `manager::StartError`:
// at the root, `StartError` is a start method's.
pub use forkway_manager::{
    DictProxy, EventProxy, ListProxy, LockProxy, Manager, ManagerError, QueueProxy, ValueProxy,
};

#[doc(inline)]
pub use forkway_start::{
    bootstrap, get_context, get_start_method, set_start_method, Context, StartError, StartMethod,
};

/// Lesson 7's crate, whole: start methods (fork, forkserver, spawn).
pub use forkway_start as start;

/// Lesson 6's crate, whole: managers, proxies, authenticated connections.
pub use forkway_manager as manager;

/// Lesson 5's crate, whole: the process pool.
pub use forkway_pool as pool;

/// Lesson 4's crate, whole: joinable queues.
pub use forkway_joinable as joinable;

/// Lesson 3's crate, whole: locks and shared state.
pub use forkway_sync as sync;

/// Lesson 1's crate, whole: processes.
pub use forkway_process as process;

/// The OS floor under the lessons, whole: shared mappings, the robust mutex, futexes and
/// [`Deadline`](sys::Deadline).
pub use forkway_sys as sys;
/// Timelines of what every process did: `FORKWAY_TRACE=trace.json` (or [`trace::start`] and
/// [`trace::finish`]) writes a Chrome trace that Perfetto opens; `cargo xtask trace <example>`
/// also draws it as an SVG swimlane.
pub use forkway_trace as trace;

/// Everything a program that starts processes usually needs, in one `use`: processes, pipes
/// and queues, locks and shared values, joinable queues, pools, managers, and their errors.
///
/// ```
/// use forkway::prelude::*;
///
/// let tickets = Value::new(3u32)?;
/// let print_lock = Lock::new()?;
/// let done = Event::new()?;
/// let jobs: JoinableQueue<u32> = JoinableQueue::new()?;
/// jobs.put(1).expect("put");
/// let (seller_tickets, seller_done, seller_jobs) = (tickets.clone(), done.clone(), jobs.clone());
/// let mut seller = Process::new(move || {
///     let sold = seller_jobs.get().expect("get");
///     *seller_tickets.lock().expect("lock") -= sold; // one lock for the read-modify-write
///     {
///         let _one_at_a_time = print_lock.acquire().expect("lock");
///         println!("sold {sold}");
///     }
///     seller_jobs.task_done().expect("task_done");
///     seller_done.set();
/// });
/// seller.start()?;
/// jobs.join().expect("join");
/// assert!(done.wait_timeout(std::time::Duration::from_secs(20)));
/// seller.join()?;
/// assert_eq!(tickets.get(), 2);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub mod prelude {
    pub use forkway_ipc::{pipe, Connection, GetError, PutError, Queue, RecvError, SendError, SimpleQueue};
    pub use forkway_joinable::{JoinError, JoinableQueue};
    pub use forkway_manager::{Manager, ManagerError};
    pub use forkway_pool::{Pool, PoolError};
    pub use forkway_process::{active_children, current_process, parent_process, Process, ProcessError, Run};
    pub use forkway_sync::{AcquireError, Array, Event, Lock, RLock, Semaphore, Value};
}
