//! # forkway-pool: lesson 5, the process pool
//!
//! Python's `multiprocessing.Pool` on forked worker processes: start a few workers once, then
//! send them thousands of tasks. Functions travel by reference and data by value, as in Python:
//! a task is a fn item or a closure that captures nothing, and its argument and result are
//! serialized with serde.
//!
//! ```
//! use forkway_pool::Pool;
//!
//! fn square(x: u64) -> u64 {
//!     x * x
//! }
//!
//! let pool = Pool::new(3)?;
//! assert_eq!(pool.map(square, 0..10)?, [0, 1, 4, 9, 16, 25, 36, 49, 64, 81]);
//! assert_eq!(pool.apply_async(square, 7)?.get()?, 49);
//! assert_eq!(pool.apply(|(a, b): (u32, u32)| a + b, (2, 3))?, 5);
//! pool.close();
//! pool.join()?;
//! # Ok::<(), forkway_pool::PoolError>(())
//! ```
//!
//! A closure that captures a variable is refused at compile time, with the reason:
//!
//! ```compile_fail
//! let pool = forkway_pool::Pool::new(2)?;
//! let offset = 10u64;
//! // error: a pool task must be a fn item or a closure that captures nothing: the workers were
//! // forked before this closure existed, so its captured variables cannot reach them. …
//! pool.map(move |x: u64| x + offset, 0..10)?;
//! # Ok::<(), forkway_pool::PoolError>(())
//! ```
//!
//! | Python | forkway |
//! |---|---|
//! | `Pool(processes=3)`, `Pool()` | [`Pool::new(3)`](Pool::new), [`Pool::builder()`](Pool::builder)`.build()` |
//! | `Pool(initializer=f, maxtasksperchild=n)` | [`Pool::builder()`](Pool::builder)`.initializer(f).maxtasksperchild(n)` |
//! | `apply(f, (x,))` | [`pool.apply(f, x)`](Pool::apply) |
//! | `apply_async(f, (x,), callback=cb, error_callback=eb)` | [`pool.apply_async(f, x)?`](Pool::apply_async)`.callback(cb).error_callback(eb)` |
//! | `map(f, xs)`, `map(f, xs, chunksize=20)` | [`pool.map(f, xs)`](Pool::map), [`pool.chunksize(20)?`](Pool::chunksize)`.map(f, xs)` |
//! | `map_async`, `starmap`, `starmap_async` | [`map_async`](Pool::map_async), [`starmap`](Pool::starmap), [`starmap_async`](Pool::starmap_async) |
//! | `imap(f, xs)`, `imap_unordered(f, xs)` | [`imap`](Pool::imap), [`imap_unordered`](Pool::imap_unordered) (bounded memory) |
//! | `res.get()`, `res.get(timeout=t)`, `wait`, `ready`, `successful` | [`AsyncResult`] |
//! | `close()`, `terminate()`, `join()`, `with Pool() as p:` | [`close`](Pool::close), [`terminate`](Pool::terminate), [`join`](Pool::join), drop |
//! | a worker killed mid-task: `get()` hangs forever | [`TaskError::WorkerDied`] for that task; a replacement starts |
//!
//! ## No helper threads
//! Python's pool runs three threads in the parent: one feeds tasks, one collects results and
//! runs callbacks, one replaces dead workers. forkway's has none, because a parent with threads
//! forks replacement workers that may inherit a lock held by another thread (stdout's, say) and
//! hang on their first `println!`. Workers take tasks from a shared-memory queue on their own, so
//! work proceeds while the parent does something else; what needs the parent — collecting
//! results, running callbacks, replacing a dead worker, feeding `imap` — happens inside the
//! pool's calls (`get`, `wait`, `ready`, `join`, iterating, submitting). Callbacks therefore run
//! in the thread that owns the pool, never concurrently with it.

mod chunk;
mod error;
mod result;
mod task;
mod worker;

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use forkway_ipc::codec;
use forkway_ipc::shm::{Deadline, Shm};
use forkway_ipc::{GetError, Queue};
use forkway_process::Process;
use serde::de::DeserializeOwned;
use serde::Serialize;

pub use chunk::default_chunksize;
pub use error::{PoolError, TaskError};
pub use result::{AsyncResult, IMap, MapResult};
pub use task::StarFn;

use result::{ImapSink, MapSink, Sink};
use task::{star_trampoline, trampoline, FromWorker, ToWorker};

/// The most workers one pool can have (their slots share one page of memory).
pub const MAX_PROCESSES: usize = 1023;

/// How often a waiting parent looks for dead workers, and how stale that check may get while
/// results keep arriving. A death changes no word it could sleep on, so it must look.
const CHECK_EVERY: Duration = Duration::from_millis(10);

/// `imap` keeps at most this many chunks per worker submitted and not yet read: enough to keep
/// every worker busy, few enough that an endless iterator runs in bounded memory.
const IMAP_CHUNKS_PER_WORKER: usize = 4;

/// A worker's initializer.
pub(crate) type Initializer = dyn Fn() + Send + Sync;

/// What the parent and every worker share: inherited by fork, never sent anywhere.
pub(crate) struct Shared {
    pub(crate) tasks: Queue<ToWorker>,
    pub(crate) results: Queue<FromWorker>,
    page: Shm,
}

/// The shared page: what each worker holds right now.
#[repr(C)]
pub(crate) struct Page {
    /// The pid of a worker whose initializer panicked, or 0.
    pub(crate) init_failed: AtomicU64,
    /// Per worker: `seq + 1` of the task it holds, 0 when it holds none.
    pub(crate) slots: [AtomicU64; MAX_PROCESSES],
}

impl Shared {
    pub(crate) fn page(&self) -> &Page {
        // SAFETY: the mapping is at least `size_of::<Page>()` bytes (checked when created),
        // page-aligned, zero-initialized (a valid `Page`: atomics only), and lives as long as
        // `self`.
        unsafe { &*self.page.ptr().cast::<Page>() }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Run,
    Close,
    Terminate,
}

enum Worker {
    Running(Process),
    /// Exited and should be replaced (died, or did its `maxtasksperchild`).
    Vacant,
    /// Took a stop message, or was terminated: stays empty.
    Retired,
}

/// One chunk on its way: which job it belongs to and which items it carries.
#[derive(Clone, Copy)]
struct Chunk {
    job: u64,
    start: usize,
    len: usize,
}

struct Job {
    sink: Box<dyn Sink>,
    /// Chunks submitted and not yet answered.
    chunks_left: usize,
    /// No more chunks will be added (every job but an unfinished `imap`).
    sealed: bool,
    /// Complete, and its callbacks have run.
    ready: bool,
    /// Its handle was dropped: forget it once complete.
    detached: bool,
}

impl Job {
    fn sink_ref<T: 'static>(&self) -> Option<&T> {
        self.sink.as_any_ref().downcast_ref()
    }
}

struct Inner {
    state: State,
    workers: Vec<Worker>,
    /// The next task message's number. Every number below it is in the task queue, or was.
    next_seq: u64,
    /// The seq of the first stop message, once `close` sent them.
    close_seq: Option<u64>,
    inflight: HashMap<u64, Chunk>,
    jobs: HashMap<u64, Job>,
    next_job: u64,
    /// Jobs that completed and wait for their callbacks.
    settling: Vec<u64>,
    /// `imap` iterators not yet at their end: `close` holds the stop messages back for them.
    open_streams: usize,
    last_check: Instant,
    broken: Option<TaskError>,
    started: u64,
    /// Workers that died holding no task since the last result: a worker loop that crashes
    /// at once would otherwise be restarted forever.
    idle_deaths: u32,
}

/// A pool of worker processes. See the [crate documentation](crate).
///
/// Dropping the pool terminates it, like leaving Python's `with Pool() as p:` block: call
/// [`close`](Pool::close) and [`join`](Pool::join) first to let the work finish.
///
/// A pool is `Send` but not `Sync`: one thread at a time uses it, and its callbacks run in that
/// thread. Only the process that created it can use it; a forked copy of the handle answers
/// [`PoolError::NotOwner`].
pub struct Pool {
    shared: Arc<Shared>,
    inner: RefCell<Inner>,
    processes: usize,
    maxtasks: Option<u64>,
    init: Option<Arc<Initializer>>,
    creator: u32,
}

/// Configures a [`Pool`]: `Pool(processes, initializer, maxtasksperchild)` in Python.
#[derive(Default)]
#[must_use]
pub struct PoolBuilder {
    processes: Option<usize>,
    init: Option<Arc<Initializer>>,
    maxtasks: Option<usize>,
}

impl PoolBuilder {
    /// The number of workers. Default: [`cpu_count`](forkway_process::cpu_count).
    pub fn processes(mut self, n: usize) -> PoolBuilder {
        self.processes = Some(n);
        self
    }

    /// Runs `f` once in every worker when it starts, replacements included. Unlike a task, it
    /// may capture: it exists before the workers are forked, so they inherit it. If it panics,
    /// the pool is broken and says so (Python starts failing workers forever).
    pub fn initializer(mut self, f: impl Fn() + Send + Sync + 'static) -> PoolBuilder {
        self.init = Some(Arc::new(f));
        self
    }

    /// Replaces each worker after it has done `n` tasks (chunks), to give back memory a task
    /// leaked. Python's `maxtasksperchild`.
    pub fn maxtasksperchild(mut self, n: usize) -> PoolBuilder {
        self.maxtasks = Some(n);
        self
    }

    /// Starts the workers.
    ///
    /// # Errors
    /// [`PoolError::NoProcesses`] for 0, [`PoolError::ZeroMaxTasks`],
    /// [`PoolError::TooManyProcesses`]; [`PoolError::Spawn`] when a worker cannot start (the
    /// ones already started are terminated), [`PoolError::Io`] when memory cannot be mapped.
    pub fn build(self) -> Result<Pool, PoolError> {
        let processes = self.processes.unwrap_or_else(forkway_process::cpu_count);
        if processes == 0 {
            return Err(PoolError::NoProcesses);
        }
        if processes > MAX_PROCESSES {
            return Err(PoolError::TooManyProcesses { max: MAX_PROCESSES });
        }
        if self.maxtasks == Some(0) {
            return Err(PoolError::ZeroMaxTasks);
        }
        task::install_panic_handler();
        let page = Shm::new(std::mem::size_of::<Page>())?;
        let shared = Arc::new(Shared {
            tasks: Queue::new()?,
            results: Queue::new()?,
            page,
        });
        let pool = Pool {
            shared,
            inner: RefCell::new(Inner {
                state: State::Run,
                workers: (0..processes).map(|_| Worker::Vacant).collect(),
                next_seq: 0,
                close_seq: None,
                inflight: HashMap::new(),
                jobs: HashMap::new(),
                next_job: 0,
                settling: Vec::new(),
                open_streams: 0,
                last_check: Instant::now(),
                broken: None,
                started: 0,
                idle_deaths: 0,
            }),
            processes,
            maxtasks: self.maxtasks.map(|n| n as u64),
            init: self.init,
            creator: std::process::id(),
        };
        for index in 0..processes {
            // On error the pool is dropped here, which terminates the workers already started.
            pool.start_worker(&mut pool.inner.borrow_mut(), index)?;
        }
        Ok(pool)
    }
}

impl Pool {
    /// A pool of `processes` workers. Python's `Pool(processes)`.
    ///
    /// # Errors
    /// As [`PoolBuilder::build`].
    pub fn new(processes: usize) -> Result<Pool, PoolError> {
        Pool::builder().processes(processes).build()
    }

    /// A builder for the other options (initializer, `maxtasksperchild`, the default size).
    pub fn builder() -> PoolBuilder {
        PoolBuilder::default()
    }

    /// The number of workers the pool keeps running.
    pub fn processes(&self) -> usize {
        self.processes
    }

    /// The pids of the workers running now (a snapshot: workers are replaced).
    pub fn worker_pids(&self) -> Vec<u32> {
        self.inner
            .borrow()
            .workers
            .iter()
            .filter_map(|w| match w {
                Worker::Running(p) => p.pid(),
                _ => None,
            })
            .collect()
    }

    // ----- submitting -----

    /// Runs `f(arg)` in a worker and waits for the result. Python's `apply(f, (arg,))`; for
    /// several arguments pass a tuple.
    ///
    /// # Errors
    /// The task's failure as [`PoolError::Task`]; [`PoolError::NotRunning`] after `close`;
    /// [`PoolError::ArgsNotSerializable`].
    pub fn apply<F, A, R>(&self, f: F, arg: A) -> Result<R, PoolError>
    where
        F: Fn(A) -> R + Copy,
        A: Serialize + DeserializeOwned,
        R: Serialize + DeserializeOwned + Send + 'static,
    {
        self.apply_async(f, arg)?.get()
    }

    /// Submits `f(arg)` and returns at once. Attach Python's `callback`/`error_callback` with
    /// [`AsyncResult::callback`] and [`AsyncResult::error_callback`].
    ///
    /// # Errors
    /// [`PoolError::NotRunning`] after `close`/`terminate`; [`PoolError::ArgsNotSerializable`]
    /// (nothing was submitted, the pool goes on).
    pub fn apply_async<F, A, R>(&self, f: F, arg: A) -> Result<AsyncResult<'_, R>, PoolError>
    where
        F: Fn(A) -> R + Copy,
        A: Serialize + DeserializeOwned,
        R: Serialize + DeserializeOwned + Send + 'static,
    {
        let run = trampoline(f);
        let args = encode_args(std::slice::from_ref(&arg))?;
        let job = self.submit(run, vec![(0, 1, args)], Box::new(MapSink::<R>::new(1)))?;
        Ok(AsyncResult::new(self, job))
    }

    /// `f` applied to every item, in order, waiting for all of them. Python's `map`: the input
    /// is collected first, and the chunk size follows [`default_chunksize`]. Choose another
    /// with [`Pool::chunksize`].
    ///
    /// Like Python, `map` waits for every chunk even when one failed (no fail-fast), then
    /// reports the failure of the earliest item.
    ///
    /// # Errors
    /// As [`Pool::apply`].
    pub fn map<F, A, R, I>(&self, f: F, items: I) -> Result<Vec<R>, PoolError>
    where
        F: Fn(A) -> R + Copy,
        A: Serialize + DeserializeOwned,
        R: Serialize + DeserializeOwned + Send + 'static,
        I: IntoIterator<Item = A>,
    {
        self.unchunked().map(f, items)
    }

    /// Submits a `map` and returns at once. Python's `map_async`.
    ///
    /// # Errors
    /// As [`Pool::apply_async`].
    pub fn map_async<F, A, R, I>(&self, f: F, items: I) -> Result<MapResult<'_, R>, PoolError>
    where
        F: Fn(A) -> R + Copy,
        A: Serialize + DeserializeOwned,
        R: Serialize + DeserializeOwned + Send + 'static,
        I: IntoIterator<Item = A>,
    {
        self.unchunked().map_async(f, items)
    }

    /// `f(a, b, …)` for every tuple, in order. Python's `starmap`.
    ///
    /// ```
    /// # let pool = forkway_pool::Pool::new(2)?;
    /// let pairs = vec![(1u32, 2u32), (3, 4)];
    /// assert_eq!(pool.starmap(|a: u32, b: u32| a * b, pairs)?, [2, 12]);
    /// # Ok::<(), forkway_pool::PoolError>(())
    /// ```
    ///
    /// # Errors
    /// As [`Pool::map`].
    pub fn starmap<F, Args, R, I>(&self, f: F, items: I) -> Result<Vec<R>, PoolError>
    where
        F: StarFn<Args, R>,
        Args: Serialize + DeserializeOwned,
        R: Serialize + DeserializeOwned + Send + 'static,
        I: IntoIterator<Item = Args>,
    {
        self.unchunked().starmap(f, items)
    }

    /// Submits a `starmap` and returns at once. Python's `starmap_async`.
    ///
    /// # Errors
    /// As [`Pool::apply_async`].
    pub fn starmap_async<F, Args, R, I>(&self, f: F, items: I) -> Result<MapResult<'_, R>, PoolError>
    where
        F: StarFn<Args, R>,
        Args: Serialize + DeserializeOwned,
        R: Serialize + DeserializeOwned + Send + 'static,
        I: IntoIterator<Item = Args>,
    {
        self.unchunked().starmap_async(f, items)
    }

    /// `f` over `items`, lazily and in order, one item per chunk. Python's `imap`. Unlike
    /// Python, the input is read only as far as needed to keep the workers busy, so an endless
    /// iterator works in bounded memory.
    ///
    /// # Errors
    /// [`PoolError::NotRunning`] after `close`/`terminate`.
    pub fn imap<'p, F, A, R, I>(&'p self, f: F, items: I) -> Result<IMap<'p, A, R>, PoolError>
    where
        F: Fn(A) -> R + Copy,
        A: Serialize + DeserializeOwned,
        R: Serialize + DeserializeOwned + Send + 'static,
        I: IntoIterator<Item = A>,
        I::IntoIter: 'p,
    {
        self.unchunked().imap(f, items)
    }

    /// As [`Pool::imap`], but results come in the order they finish. Python's `imap_unordered`.
    ///
    /// # Errors
    /// As [`Pool::imap`].
    pub fn imap_unordered<'p, F, A, R, I>(&'p self, f: F, items: I) -> Result<IMap<'p, A, R>, PoolError>
    where
        F: Fn(A) -> R + Copy,
        A: Serialize + DeserializeOwned,
        R: Serialize + DeserializeOwned + Send + 'static,
        I: IntoIterator<Item = A>,
        I::IntoIter: 'p,
    {
        self.unchunked().imap_unordered(f, items)
    }

    /// The map family with a chosen chunk size: Python's `chunksize=` argument.
    ///
    /// ```
    /// # let pool = forkway_pool::Pool::new(2)?;
    /// let squares = pool.chunksize(20)?.map(|x: u64| x * x, 0..100)?;
    /// assert_eq!(squares[99], 9801);
    /// assert!(pool.chunksize(0).is_err()); // Python's map returns [None] * n here
    /// # Ok::<(), forkway_pool::PoolError>(())
    /// ```
    ///
    /// # Errors
    /// [`PoolError::ZeroChunksize`] for 0.
    pub fn chunksize(&self, size: usize) -> Result<Chunked<'_>, PoolError> {
        if size == 0 {
            return Err(PoolError::ZeroChunksize);
        }
        Ok(Chunked {
            pool: self,
            size: Some(size),
        })
    }

    /// The map family with the default chunk sizes: Python's formula for `map`, 1 for `imap`.
    fn unchunked(&self) -> Chunked<'_> {
        Chunked {
            pool: self,
            size: None,
        }
    }

    fn map_job<A: Serialize, R>(
        &self,
        run: usize,
        items: Vec<A>,
        chunksize: Option<usize>,
    ) -> Result<MapResult<'_, R>, PoolError>
    where
        R: DeserializeOwned + Send + 'static,
    {
        let n = items.len();
        let size = chunksize.unwrap_or_else(|| default_chunksize(n, self.processes));
        // Encode every chunk before sending any: an argument that does not serialize fails the
        // call and leaves nothing half-submitted.
        let size = size.max(1);
        let chunks = items
            .chunks(size)
            .enumerate()
            .map(|(i, chunk)| Ok((i * size, chunk.len(), encode_args(chunk)?)))
            .collect::<Result<Vec<_>, PoolError>>()?;
        let job = self.submit(run, chunks, Box::new(MapSink::<R>::new(n)))?;
        Ok(MapResult::new(self, job))
    }

    fn imap_job<'p, A: Serialize, R>(
        &'p self,
        run: usize,
        source: Box<dyn Iterator<Item = A> + 'p>,
        chunksize: usize,
        ordered: bool,
    ) -> Result<IMap<'p, A, R>, PoolError>
    where
        R: DeserializeOwned + Send + 'static,
    {
        let job = self.submit(run, Vec::new(), Box::new(ImapSink::<R>::new(ordered)))?;
        let mut inner = self.inner.borrow_mut();
        let entry = inner.jobs.get_mut(&job).expect("just submitted");
        entry.sealed = false;
        entry.ready = false;
        inner.open_streams += 1;
        drop(inner);
        let window = IMAP_CHUNKS_PER_WORKER * self.processes * chunksize;
        let mut it = IMap::new(self, job, run, source, chunksize, window);
        it.refill();
        Ok(it)
    }

    /// Adds a job of `chunks` (start, length, encoded arguments) and sends them to the workers.
    fn submit(
        &self,
        run: usize,
        chunks: Vec<(usize, usize, Vec<u8>)>,
        sink: Box<dyn Sink>,
    ) -> Result<u64, PoolError> {
        self.check_running()?;
        let mut inner = self.inner.borrow_mut();
        let id = inner.next_job;
        inner.next_job += 1;
        inner.jobs.insert(
            id,
            Job {
                sink,
                chunks_left: 0,
                sealed: true,
                ready: false,
                detached: false,
            },
        );
        for (start, len, args) in chunks {
            self.send_chunk(&mut inner, id, run, start, len, args);
        }
        if inner.jobs[&id].chunks_left == 0 {
            // Nothing to run (empty input): complete at once, as Python's map([]) is.
            inner.settling.push(id);
        }
        drop(inner);
        self.run_callbacks();
        Ok(id)
    }

    /// Puts one chunk on the task queue and records it as in flight.
    fn send_chunk(&self, inner: &mut Inner, job: u64, run: usize, start: usize, len: usize, args: Vec<u8>) {
        inner.jobs.get_mut(&job).expect("job exists").chunks_left += 1;
        let seq = inner.next_seq;
        match self.shared.tasks.put(ToWorker { seq, run, args }) {
            Ok(()) => {
                // Only a message really in the queue takes a number: "every seq below next_seq
                // went through the queue" is what the dead-worker accounting counts on.
                inner.next_seq += 1;
                inner.inflight.insert(seq, Chunk { job, start, len });
                forkway_trace::instant(
                    "pool",
                    "submit",
                    0,
                    &[("seq", forkway_trace::Arg::Int(seq as i64))],
                );
            }
            Err(refused) => {
                let error = TaskError::NotSent(refused.to_string());
                deliver(inner, Chunk { job, start, len }, Err(error));
            }
        }
    }

    fn check_owner(&self) -> Result<(), PoolError> {
        if std::process::id() == self.creator {
            Ok(())
        } else {
            Err(PoolError::NotOwner {
                creator: self.creator,
            })
        }
    }

    fn check_running(&self) -> Result<(), PoolError> {
        self.check_owner()?;
        let inner = self.inner.borrow();
        if let Some(broken) = &inner.broken {
            return Err(PoolError::Broken(broken.clone()));
        }
        if inner.state != State::Run {
            return Err(PoolError::NotRunning);
        }
        Ok(())
    }

    // ----- collecting results -----

    /// Delivers every result waiting in the result queue, looks for dead workers if it is
    /// time, and runs the callbacks of the jobs that completed.
    fn progress(&self) {
        if self.check_owner().is_err() {
            return;
        }
        {
            let mut inner = self.inner.borrow_mut();
            self.drain(&mut inner);
            if inner.last_check.elapsed() >= CHECK_EVERY {
                self.supervise(&mut inner);
            }
        }
        self.run_callbacks();
    }

    fn drain(&self, inner: &mut Inner) {
        loop {
            match self.shared.results.get_nowait() {
                Ok(msg) => self.route(inner, msg),
                Err(GetError::Empty) => return,
                Err(e) => {
                    self.break_pool(inner, TaskError::ResultNotDecodable(e.to_string()));
                    return;
                }
            }
        }
    }

    /// Waits until `done` holds, at most until `deadline`. Returns whether it holds.
    fn wait_for(&self, deadline: Deadline, done: impl Fn(&Inner) -> bool) -> bool {
        loop {
            self.progress();
            if done(&self.inner.borrow()) {
                return true;
            }
            if deadline.passed() || self.check_owner().is_err() {
                return false;
            }
            let nap = deadline.left().map_or(CHECK_EVERY, |left| left.min(CHECK_EVERY));
            let mut inner = self.inner.borrow_mut();
            if inner.inflight.is_empty() {
                // No result can come: what we wait for is a worker's exit (join). Its pidfd
                // wakes us the moment it happens.
                let running = inner.workers.iter().find_map(|w| match w {
                    Worker::Running(p) => Some(p),
                    _ => None,
                });
                match running {
                    Some(p) => {
                        let _ = p.join_timeout(nap);
                    }
                    None => std::thread::sleep(nap),
                }
                self.supervise(&mut inner);
                continue;
            }
            match self.shared.results.get_timeout(nap) {
                Ok(msg) => self.route(&mut inner, msg),
                Err(GetError::Empty) => self.supervise(&mut inner),
                Err(e) => self.break_pool(&mut inner, TaskError::ResultNotDecodable(e.to_string())),
            }
        }
    }

    /// Hands a worker's reply to the job its task belongs to.
    fn route(&self, inner: &mut Inner, msg: FromWorker) {
        // A seq that is not in flight was already answered (its pool was terminated): nobody
        // waits for this reply any more.
        inner.idle_deaths = 0;
        if let Some(chunk) = inner.inflight.remove(&msg.seq) {
            deliver(inner, chunk, Ok(&msg.outcome));
        }
    }

    /// Runs the callbacks of the jobs that completed, outside any borrow of the pool's state
    /// (a callback may submit more work), then marks them ready.
    fn run_callbacks(&self) {
        loop {
            let Some((id, mut job)) = ({
                let mut inner = self.inner.borrow_mut();
                inner
                    .settling
                    .pop()
                    .and_then(|id| inner.jobs.remove(&id).map(|job| (id, job)))
            }) else {
                return;
            };
            job.sink.settle();
            if !job.detached {
                job.ready = true;
                self.inner.borrow_mut().jobs.insert(id, job);
            }
        }
    }

    // ----- workers -----

    fn start_worker(&self, inner: &mut Inner, index: usize) -> Result<(), PoolError> {
        self.shared.page().slots[index].store(0, Ordering::SeqCst);
        inner.started += 1;
        let shared = Arc::clone(&self.shared);
        let init = self.init.clone();
        let maxtasks = self.maxtasks;
        let mut process = Process::new(move || worker::run(&shared, index, maxtasks, init))
            .with_name(format!("ForkPoolWorker-{}", inner.started))
            .with_daemon(true);
        process.start()?;
        inner.workers[index] = Worker::Running(process);
        Ok(())
    }

    // ANCHOR: supervise
    /// Finds workers that exited, writes off the task a dead one held, and starts replacements.
    fn supervise(&self, inner: &mut Inner) {
        inner.last_check = Instant::now();
        let mut dead = Vec::new();
        for (index, worker) in inner.workers.iter().enumerate() {
            if let Worker::Running(p) = worker {
                if let Some(code) = p.exitcode() {
                    dead.push((index, p.pid().unwrap_or(0), code));
                }
            }
        }
        if dead.is_empty() {
            self.fill_vacancies(inner);
            return;
        }
        // The order of these three reads is the proof (see the book): what left the queue,
        // then what the living hold, then every reply the dead sent before dying.
        let page = self.shared.page();
        let taken = inner.next_seq - self.shared.tasks.qsize() as u64;
        let held: HashSet<u64> = (0..inner.workers.len())
            .filter(|i| !dead.iter().any(|d| d.0 == *i))
            .filter_map(|i| page.slots[i].load(Ordering::SeqCst).checked_sub(1))
            .collect();
        self.drain(inner);
        for (index, pid, exitcode) in dead {
            let claim = page.slots[index].swap(0, Ordering::SeqCst).checked_sub(1);
            // A worker that returned from its loop (exit code 0) lost nothing — unless it gave
            // up on a reply it could not send, leaving its task in flight.
            let unanswered = claim.is_some_and(|seq| inner.inflight.contains_key(&seq));
            if exitcode != 0 || unanswered {
                let death = TaskError::WorkerDied { pid, exitcode };
                if !self.write_off(inner, claim, taken, &held, death) {
                    inner.idle_deaths += 1;
                }
            }
            let took_stop = claim.is_some_and(|seq| {
                seq < taken && !held.contains(&seq) && inner.close_seq.is_some_and(|first| seq >= first)
            });
            inner.workers[index] = if took_stop {
                Worker::Retired
            } else {
                Worker::Vacant
            };
        }
        if inner.idle_deaths > 2 * self.processes as u32 + 2 {
            // Workers die before doing anything (a panic in the worker loop itself): starting
            // more would only repeat it.
            let why = format!(
                "workers keep dying before taking a task ({} in a row)",
                inner.idle_deaths
            );
            self.break_pool(inner, TaskError::NoWorkers(why));
        }
        let init_failed = page.init_failed.load(Ordering::SeqCst);
        if init_failed != 0 {
            self.break_pool(
                inner,
                TaskError::InitializerFailed {
                    pid: init_failed as u32,
                },
            );
        }
        self.fill_vacancies(inner);
    }
    // ANCHOR_END: supervise

    // ANCHOR: write_off
    /// A worker died abnormally while its slot said `claim`. If it had taken that task off the
    /// queue and not answered it, answer it with `death` now. Returns whether it held a task.
    fn write_off(
        &self,
        inner: &mut Inner,
        claim: Option<u64>,
        taken: u64,
        held: &HashSet<u64>,
        death: TaskError,
    ) -> bool {
        // ANCHOR: exercise_5_4
        let Some(seq) = claim else {
            return false; // idle: it lost nothing
        };
        if seq >= taken || held.contains(&seq) {
            // Still in the queue (it died inside its claim, before the take committed), or a
            // living worker took it since: someone else will answer it.
            return false;
        }
        if let Some(chunk) = inner.inflight.remove(&seq) {
            deliver(inner, chunk, Err(death));
        }
        true
        // ANCHOR_END: exercise_5_4
    }
    // ANCHOR_END: write_off

    fn fill_vacancies(&self, inner: &mut Inner) {
        if inner.state == State::Terminate || inner.broken.is_some() {
            return;
        }
        for index in 0..inner.workers.len() {
            if matches!(inner.workers[index], Worker::Vacant) {
                if let Err(e) = self.start_worker(inner, index) {
                    let alive = inner.workers.iter().any(|w| matches!(w, Worker::Running(_)));
                    if !alive {
                        self.break_pool(inner, TaskError::NoWorkers(e.to_string()));
                    }
                    // Otherwise the others go on, and the next check tries again.
                    return;
                }
            }
        }
    }

    /// Stops every worker now and answers every unanswered task with `error`.
    fn stop_all(&self, inner: &mut Inner, error: TaskError) {
        if std::thread::panicking() {
            // Dropped while unwinding (a failed assertion): a second panic here would abort the
            // whole program, so call nothing that might panic. Dropping a running daemon
            // `Process` while panicking kills and reaps it.
            for worker in &mut inner.workers {
                *worker = Worker::Retired;
            }
            return;
        }
        for worker in &inner.workers {
            if let Worker::Running(p) = worker {
                let _ = p.kill();
            }
        }
        for worker in &mut inner.workers {
            if let Worker::Running(p) = worker {
                let _ = p.join();
            }
            *worker = Worker::Retired;
        }
        // Whatever was finished before the kill is delivered; the rest gets `error`.
        self.drain(inner);
        let lost: Vec<u64> = inner.inflight.keys().copied().collect();
        for seq in lost {
            if let Some(chunk) = inner.inflight.remove(&seq) {
                deliver(inner, chunk, Err(error.clone()));
            }
        }
    }

    fn break_pool(&self, inner: &mut Inner, error: TaskError) {
        if inner.broken.is_none() {
            inner.broken = Some(error.clone());
            self.stop_all(inner, error);
        }
    }

    // ----- lifecycle -----

    /// Stops accepting work; the workers exit once every task submitted so far is done.
    /// Python's `close()`. Calling it again, or after `terminate`, does nothing.
    pub fn close(&self) {
        if self.check_owner().is_err() {
            return;
        }
        let mut inner = self.inner.borrow_mut();
        if inner.state != State::Run {
            return;
        }
        inner.state = State::Close;
        if inner.open_streams == 0 {
            self.send_stops(&mut inner);
        }
    }

    /// One stop message per worker, behind every task: each worker takes one and exits.
    fn send_stops(&self, inner: &mut Inner) {
        if inner.close_seq.is_some() || inner.broken.is_some() {
            return;
        }
        inner.close_seq = Some(inner.next_seq);
        for _ in 0..self.processes {
            let seq = inner.next_seq;
            let stop = ToWorker {
                seq,
                run: 0,
                args: Vec::new(),
            };
            if self.shared.tasks.put(stop).is_ok() {
                inner.next_seq += 1;
            }
        }
    }

    /// Stops the workers now (SIGKILL), abandoning the tasks they run and the ones queued:
    /// their results become [`TaskError::Terminated`]. Python's `terminate()` (which sends
    /// SIGTERM; a worker has nothing to clean up, and SIGKILL cannot be ignored).
    pub fn terminate(&self) {
        if self.check_owner().is_err() {
            return;
        }
        {
            let mut inner = self.inner.borrow_mut();
            inner.state = State::Terminate;
            self.stop_all(&mut inner, TaskError::Terminated);
        }
        if !std::thread::panicking() {
            self.run_callbacks();
        }
    }

    /// Waits for the workers to exit, collecting results and running callbacks on the way.
    /// Python's `join()`.
    ///
    /// # Errors
    /// [`PoolError::StillRunning`] before `close` or `terminate` (as in Python);
    /// [`PoolError::ImapOpen`] while an `imap` iterator is unfinished.
    pub fn join(&self) -> Result<(), PoolError> {
        self.check_owner()?;
        {
            let inner = self.inner.borrow();
            if inner.state == State::Run {
                return Err(PoolError::StillRunning);
            }
            if inner.open_streams > 0 {
                return Err(PoolError::ImapOpen);
            }
        }
        self.wait_for(Deadline::never(), |inner| {
            inner.inflight.is_empty()
                && inner.workers.iter().all(|w| match w {
                    Worker::Running(_) => false,
                    Worker::Vacant => inner.state == State::Terminate || inner.broken.is_some(),
                    Worker::Retired => true,
                })
        });
        Ok(())
    }

    /// An `imap` iterator reached its end or was dropped.
    fn stream_ended(&self) {
        let mut inner = self.inner.borrow_mut();
        inner.open_streams -= 1;
        if inner.open_streams == 0 && inner.state == State::Close {
            self.send_stops(&mut inner);
        }
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        // A forked copy of the handle (in a child) owns no workers.
        if self.check_owner().is_ok() {
            self.terminate();
        }
    }
}

impl std::fmt::Display for Pool {
    /// Python's repr: `<multiprocessing.pool.Pool state=RUN pool_size=2>`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = match self.inner.borrow().state {
            State::Run => "RUN",
            State::Close => "CLOSE",
            State::Terminate => "TERMINATE",
        };
        write!(
            f,
            "<forkway_pool::Pool state={state} pool_size={}>",
            self.processes
        )
    }
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(self, f)
    }
}

// ANCHOR: deliver
/// Gives one chunk's outcome to its job; a job whose last chunk this was waits for its
/// callbacks in `settling`.
fn deliver(inner: &mut Inner, chunk: Chunk, outcome: Result<&[u8], TaskError>) {
    // ANCHOR: exercise_5_2
    let Some(job) = inner.jobs.get_mut(&chunk.job) else {
        // The job's handle was dropped and the job forgotten (an imap read no further).
        return;
    };
    job.sink.deliver(chunk.start, chunk.len, outcome);
    job.chunks_left -= 1;
    if job.chunks_left == 0 && job.sealed {
        inner.settling.push(chunk.job);
    }
    // ANCHOR_END: exercise_5_2
}
// ANCHOR_END: deliver

fn encode_args<A: Serialize>(args: &[A]) -> Result<Vec<u8>, PoolError> {
    codec::encode(args).map_err(|e| PoolError::ArgsNotSerializable(e.to_string()))
}

/// The map family with a chosen chunk size; made by [`Pool::chunksize`].
#[derive(Clone, Copy)]
pub struct Chunked<'p> {
    pool: &'p Pool,
    /// `None`: the defaults.
    size: Option<usize>,
}

impl<'p> Chunked<'p> {
    /// [`Pool::map`] with this chunk size.
    ///
    /// # Errors
    /// As [`Pool::map`].
    pub fn map<F, A, R, I>(&self, f: F, items: I) -> Result<Vec<R>, PoolError>
    where
        F: Fn(A) -> R + Copy,
        A: Serialize + DeserializeOwned,
        R: Serialize + DeserializeOwned + Send + 'static,
        I: IntoIterator<Item = A>,
    {
        self.map_async(f, items)?.get()
    }

    /// [`Pool::map_async`] with this chunk size.
    ///
    /// # Errors
    /// As [`Pool::map_async`].
    pub fn map_async<F, A, R, I>(&self, f: F, items: I) -> Result<MapResult<'p, R>, PoolError>
    where
        F: Fn(A) -> R + Copy,
        A: Serialize + DeserializeOwned,
        R: Serialize + DeserializeOwned + Send + 'static,
        I: IntoIterator<Item = A>,
    {
        let run = trampoline(f);
        self.pool.map_job(run, items.into_iter().collect(), self.size)
    }

    /// [`Pool::starmap`] with this chunk size.
    ///
    /// # Errors
    /// As [`Pool::starmap`].
    pub fn starmap<F, Args, R, I>(&self, f: F, items: I) -> Result<Vec<R>, PoolError>
    where
        F: StarFn<Args, R>,
        Args: Serialize + DeserializeOwned,
        R: Serialize + DeserializeOwned + Send + 'static,
        I: IntoIterator<Item = Args>,
    {
        self.starmap_async(f, items)?.get()
    }

    /// [`Pool::starmap_async`] with this chunk size.
    ///
    /// # Errors
    /// As [`Pool::starmap_async`].
    pub fn starmap_async<F, Args, R, I>(&self, f: F, items: I) -> Result<MapResult<'p, R>, PoolError>
    where
        F: StarFn<Args, R>,
        Args: Serialize + DeserializeOwned,
        R: Serialize + DeserializeOwned + Send + 'static,
        I: IntoIterator<Item = Args>,
    {
        let run = star_trampoline(f);
        self.pool.map_job(run, items.into_iter().collect(), self.size)
    }

    /// [`Pool::imap`] with this chunk size.
    ///
    /// # Errors
    /// As [`Pool::imap`].
    pub fn imap<F, A, R, I>(&self, f: F, items: I) -> Result<IMap<'p, A, R>, PoolError>
    where
        F: Fn(A) -> R + Copy,
        A: Serialize + DeserializeOwned,
        R: Serialize + DeserializeOwned + Send + 'static,
        I: IntoIterator<Item = A>,
        I::IntoIter: 'p,
    {
        let run = trampoline(f);
        self.pool
            .imap_job(run, Box::new(items.into_iter()), self.size.unwrap_or(1), true)
    }

    /// [`Pool::imap_unordered`] with this chunk size.
    ///
    /// # Errors
    /// As [`Pool::imap`].
    pub fn imap_unordered<F, A, R, I>(&self, f: F, items: I) -> Result<IMap<'p, A, R>, PoolError>
    where
        F: Fn(A) -> R + Copy,
        A: Serialize + DeserializeOwned,
        R: Serialize + DeserializeOwned + Send + 'static,
        I: IntoIterator<Item = A>,
        I::IntoIter: 'p,
    {
        let run = trampoline(f);
        self.pool
            .imap_job(run, Box::new(items.into_iter()), self.size.unwrap_or(1), false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pool_can_move_to_another_thread() {
        fn assert_send<T: Send>() {}
        assert_send::<Pool>();
    }

    #[test]
    fn the_shared_page_fits_its_mapping_size() {
        assert!(std::mem::size_of::<Page>() <= 8192);
    }

    #[test]
    fn invalid_sizes_are_refused_before_any_fork() {
        assert!(matches!(Pool::new(0), Err(PoolError::NoProcesses)));
        assert!(matches!(
            Pool::new(MAX_PROCESSES + 1),
            Err(PoolError::TooManyProcesses { .. })
        ));
        assert!(matches!(
            Pool::builder().processes(1).maxtasksperchild(0).build(),
            Err(PoolError::ZeroMaxTasks)
        ));
    }
}
