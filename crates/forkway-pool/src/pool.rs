//! The pool itself: starting it ([`PoolBuilder`]), the calls you submit work with, and its
//! lifecycle (`close`, `terminate`, `join`, drop). What happens to a task after submission is
//! in `jobs.rs`; what happens to a worker, in `supervise.rs`.

use std::cell::RefCell;
use std::sync::Arc;

use forkway_start::{Context, StartMethod};
use forkway_sys::Deadline;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::chunked::Chunked;
use crate::jobs::Inner;
use crate::result::{AsyncResult, IMap, MapResult, MapSink};
use crate::supervise::{Initializer, Shared, Worker};
use crate::task::{self, trampoline, StarFn};
use crate::wire::{encode_args, ToWorker};
use crate::{PoolError, TaskError, Wire, MAX_PROCESSES};

/// Where the pool is in its life: Python's `RUN`, `CLOSE`, `TERMINATE`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum State {
    Run,
    Close,
    Terminate,
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
    pub(crate) shared: Arc<Shared>,
    pub(crate) inner: RefCell<Inner>,
    pub(crate) processes: usize,
    pub(crate) maxtasks: Option<u64>,
    pub(crate) init: Option<Arc<Initializer>>,
    /// The initializer's trampoline, when it captures nothing (forkserver and spawn need it).
    pub(crate) init_entry: Option<usize>,
    /// How the workers start (lesson 7).
    pub(crate) ctx: Context,
    creator: u32,
    /// How many `map`/`starmap` jobs took each path: the arena, the pool's format
    /// ([`Pool::map_paths`]).
    pub(crate) paths: std::cell::Cell<[u64; 2]>,
}

/// Configures a [`Pool`]: `Pool(processes, initializer, maxtasksperchild)` in Python.
#[derive(Default)]
#[must_use]
pub struct PoolBuilder {
    processes: Option<usize>,
    init: Option<Arc<Initializer>>,
    init_entry: Option<usize>,
    maxtasks: Option<usize>,
    ctx: Option<Context>,
    fault_first_claim: bool,
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
    ///
    /// Under the forkserver and spawn start methods ([`context`](PoolBuilder::context)) the
    /// workers inherit nothing, so there the initializer must capture nothing (a fn item, or a
    /// closure that captures nothing), like a task.
    pub fn initializer<F: Fn() + Send + Sync + 'static>(mut self, f: F) -> PoolBuilder {
        self.init_entry = crate::start::init_trampoline(&f);
        self.init = Some(Arc::new(f));
        self
    }

    /// How the workers start: by fork, forkserver or spawn. Python's `ctx.Pool()` (a pool
    /// made from a context). Default: [`get_context(None)`](forkway_start::get_context), the
    /// process-wide start method, which is `fork` unless
    /// [`set_start_method`](forkway_start::set_start_method) chose another.
    ///
    /// Tasks are the same under every method (fn items or closures that capture nothing,
    /// serde arguments), so a program changes methods by changing this line. Spawn also needs
    /// [`forkway_start::bootstrap`] first thing in `main` (or at the top of the test).
    ///
    /// ```
    /// use forkway_pool::Pool;
    /// use forkway_start::{Context, StartMethod};
    ///
    /// let pool = Pool::builder()
    ///     .processes(2)
    ///     .context(Context::new(StartMethod::Forkserver))
    ///     .build()?;
    /// assert_eq!(pool.map(|x: u64| x * x, 0..5)?, [0, 1, 4, 9, 16]);
    /// # Ok::<(), forkway_pool::PoolError>(())
    /// ```
    pub fn context(mut self, ctx: Context) -> PoolBuilder {
        self.ctx = Some(ctx);
        self
    }

    /// Replaces each worker after it has done `n` tasks (chunks), to give back memory a task
    /// leaked. Python's `maxtasksperchild`.
    pub fn maxtasksperchild(mut self, n: usize) -> PoolBuilder {
        self.maxtasks = Some(n);
        self
    }

    /// Fault injection, for the tests of the pool's own supervision: the first worker to start
    /// is SIGKILLed inside its first claim, after its slot names the task and before the task
    /// leaves the queue. The one moment a kill cannot be aimed at from outside, and
    /// the one where writing the task off would be wrong (it is still queued, and a
    /// replacement runs it). Not for programs.
    #[doc(hidden)]
    pub fn fault_first_claim(mut self) -> PoolBuilder {
        self.fault_first_claim = true;
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
        let ctx = self.ctx.unwrap_or_else(|| forkway_start::get_context(None));
        let method = ctx.start_method();
        if method != StartMethod::Fork && self.init.is_some() && self.init_entry.is_none() {
            return Err(PoolError::InitializerCaptures { method });
        }
        task::install_panic_handler();
        let shared = if method == StartMethod::Fork {
            Shared::new()?
        } else {
            crate::start::sendable_shared()?
        };
        let pool = Pool {
            shared: Arc::new(shared),
            inner: RefCell::new(Inner::new(processes)),
            processes,
            maxtasks: self.maxtasks.map(|n| n as u64),
            init: self.init,
            init_entry: self.init_entry,
            ctx,
            creator: std::process::id(),
            paths: std::cell::Cell::new([0; 2]),
        };
        if self.fault_first_claim {
            pool.shared
                .page()
                .fault_first_claim
                .store(1, std::sync::atomic::Ordering::SeqCst);
        }
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

    /// How many `map`/`starmap` jobs (the `_async` and [`Chunked`] ones included) went by each
    /// path so far: `[arena, ordinary]` — plain data through the shared arena, or the pool's
    /// format through the queues. For the tests of the fast path.
    #[doc(hidden)]
    pub fn map_paths(&self) -> [u64; 2] {
        self.paths.get()
    }

    pub(crate) fn count_path(&self, path: usize) {
        let mut paths = self.paths.get();
        paths[path] += 1;
        self.paths.set(paths);
    }

    /// The number of workers the pool keeps running.
    pub fn processes(&self) -> usize {
        self.processes
    }

    /// How the workers start. Python's `pool._ctx.get_start_method()`.
    pub fn start_method(&self) -> StartMethod {
        self.ctx.start_method()
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
        R: Wire,
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
        R: Wire,
    {
        let run = trampoline(f);
        let args = encode_args(std::slice::from_ref(&arg))?;
        let job = self.submit(run, vec![(0, 1, args)], Box::new(MapSink::<R>::new(1)), false)?;
        Ok(AsyncResult::new(self, job))
    }

    /// `f` applied to every item, in order, waiting for all of them. Python's `map`: the input
    /// is collected first, and the chunk size follows [`default_chunksize`](crate::default_chunksize). Choose another
    /// with [`Pool::chunksize`].
    ///
    /// Like Python, `map` waits for every chunk even when one failed (no fail-fast), then
    /// reports the failure of the earliest item.
    ///
    /// Plain data takes a faster way: when the result type is a primitive number, `bool` or
    /// `char`, and every item serializes to the same fixed set of primitives (a number, a tuple
    /// or struct of numbers), the items are written once into memory the workers share and the
    /// workers store the results there, instead of both crossing the queues in serde's format.
    /// The results, errors and supervision are the same either way (the same holds for
    /// `map_async`, `starmap` and `starmap_async`; `imap` always uses the queues).
    ///
    /// # Errors
    /// As [`Pool::apply`].
    pub fn map<F, A, R, I>(&self, f: F, items: I) -> Result<Vec<R>, PoolError>
    where
        F: Fn(A) -> R + Copy,
        A: Serialize + DeserializeOwned,
        R: Wire,
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
        R: Wire,
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
        R: Wire,
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
        R: Wire,
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
        R: Wire,
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
        R: Wire,
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

    pub(crate) fn check_owner(&self) -> Result<(), PoolError> {
        if std::process::id() == self.creator {
            Ok(())
        } else {
            Err(PoolError::NotOwner {
                creator: self.creator,
            })
        }
    }

    pub(crate) fn check_running(&self) -> Result<(), PoolError> {
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
    pub(crate) fn stream_ended(&self) {
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
