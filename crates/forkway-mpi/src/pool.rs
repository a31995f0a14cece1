//! Rank 0's side of the pool: chunks out to idle workers, outcomes back to their jobs.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap, VecDeque};

use forkway_ipc::codec;
use forkway_pool::StarFn;
use mpi::point_to_point::Destination;
use mpi::topology::{Communicator, SimpleCommunicator};
use mpi::traits::CommunicatorCollectives;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::result::{AsyncResult, IMap};
use crate::task::{self, tag, FromWorker, ToWorker};
use crate::wait::{receive_bytes, try_receive_bytes};
use crate::{PoolError, TaskError};

/// Python's `multiprocessing.Pool` on the ranks of an MPI communicator: rank 0 is the parent
/// that submits work, every other rank is a worker.
///
/// Every rank calls [`MpiPool::new`]. On rank 0 it returns `Some(pool)`; on a worker rank it
/// serves tasks until rank 0 closes (or drops) the pool, then returns `None` — the shape of
/// mpi4py's `MPICommExecutor`:
///
/// ```no_run
/// use forkway_mpi::MpiPool;
///
/// fn square(x: u64) -> u64 {
///     x * x
/// }
///
/// let universe = mpi::initialize().expect("MPI is initialized once");
/// let world = universe.world();
/// if let Some(pool) = MpiPool::new(&world)? {
///     // Rank 0 only: the other ranks are inside `new`, running the tasks.
///     assert_eq!(pool.map(square, 0..10)?, [0, 1, 4, 9, 16, 25, 36, 49, 64, 81]);
///     assert_eq!(pool.apply_async(square, 7)?.get()?, 49);
///     pool.close();
///     pool.join()?;
/// }
/// # Ok::<(), forkway_mpi::PoolError>(())
/// ```
///
/// Run it with `mpirun -n 3 target/debug/examples/…`: one parent and two workers.
///
/// Like forkway's `Pool`, it has no helper threads: the work moves on inside the pool's calls
/// (submitting, `get`, `ready`, iterating an `imap`, `join`).
pub struct MpiPool {
    /// The pool's own copy of the communicator: its messages cannot meet the program's own
    /// messages on the communicator it was made from, whatever their tags.
    comm: SimpleCommunicator,
    inner: RefCell<Inner>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Running,
    Closed,
    Stopped,
}

/// A chunk handed to a worker, remembered until its reply comes back.
struct Chunk {
    job: u64,
    start: usize,
    len: usize,
}

/// A job (one `apply_async`, `map` or `imap`) collects the outcomes of its chunks by position.
#[derive(Default)]
pub(crate) struct Job {
    /// Chunk outcomes (number of items, encoded outcome) by the position of their first item.
    pub(crate) outcomes: BTreeMap<usize, (usize, Vec<u8>)>,
    /// Chunks submitted and not yet answered.
    pub(crate) chunks_left: usize,
}

struct Inner {
    state: State,
    next_seq: u64,
    next_job: u64,
    /// Chunks waiting for an idle worker, in submission order.
    pending: VecDeque<(ToWorker, Chunk)>,
    /// Worker ranks holding no chunk.
    idle: Vec<i32>,
    /// Chunks a worker holds, by `seq`.
    inflight: HashMap<u64, Chunk>,
    jobs: HashMap<u64, Job>,
    tasks_sent: u64,
}

impl MpiPool {
    /// Makes a pool of `comm`'s ranks. Collective: every rank of `comm` must call it.
    ///
    /// Rank 0 gets `Some(pool)`. Every other rank runs tasks until rank 0 closes the pool (or
    /// drops it), then gets `None` and goes on with its program.
    ///
    /// # Errors
    /// [`PoolError::NoWorkers`] with a single rank; [`PoolError::NotSameProgram`] when the ranks
    /// run different executables (on every rank).
    pub fn new<C: Communicator>(comm: &C) -> Result<Option<MpiPool>, PoolError> {
        let comm = comm.duplicate();
        let size = comm.size();
        if size < 2 {
            return Err(PoolError::NoWorkers);
        }
        let mine = task::fingerprint();
        let mut all = vec![0u64; 2 * size as usize];
        comm.all_gather_into(&mine[..], &mut all[..]);
        let first = &all[..2];
        if let Some(rank) = all.chunks(2).position(|f| f != first) {
            return Err(PoolError::NotSameProgram { rank: rank as i32 });
        }
        if comm.rank() != 0 {
            crate::worker::serve(&comm);
            return Ok(None);
        }
        let inner = Inner {
            state: State::Running,
            next_seq: 0,
            next_job: 0,
            pending: VecDeque::new(),
            idle: (1..size).rev().collect(),
            inflight: HashMap::new(),
            jobs: HashMap::new(),
            tasks_sent: 0,
        };
        Ok(Some(MpiPool {
            comm,
            inner: RefCell::new(inner),
        }))
    }

    /// How many worker ranks the pool has (the communicator's size minus rank 0).
    pub fn workers(&self) -> usize {
        self.comm.size() as usize - 1
    }

    /// How many tasks (items, not chunks) rank 0 has handed to workers so far.
    pub fn tasks_sent(&self) -> u64 {
        self.inner.borrow().tasks_sent
    }

    /// Runs `f(arg)` on a worker and waits for its result. Python's `apply`.
    ///
    /// # Errors
    /// The task's error ([`PoolError::Task`]), or why it could not be submitted.
    pub fn apply<F, A, R>(&self, f: F, arg: A) -> Result<R, PoolError>
    where
        F: Fn(A) -> R + Copy,
        A: Serialize + DeserializeOwned,
        R: Serialize + DeserializeOwned,
    {
        self.apply_async(f, arg)?.get()
    }

    /// Submits `f(arg)` and returns at once. Python's `apply_async`.
    ///
    /// # Errors
    /// [`PoolError::NotRunning`] after `close`; [`PoolError::ArgsNotSerializable`].
    pub fn apply_async<F, A, R>(&self, f: F, arg: A) -> Result<AsyncResult<'_, R>, PoolError>
    where
        F: Fn(A) -> R + Copy,
        A: Serialize + DeserializeOwned,
        R: Serialize + DeserializeOwned,
    {
        let run = task::trampoline(f);
        let job = self.new_job()?;
        let args = encode_chunk(std::slice::from_ref(&arg))?;
        self.submit(job, run, 0, 1, args);
        Ok(AsyncResult::new(self, job))
    }

    /// `f` on every item, in chunks of Python's default size (about four per worker); the
    /// results in input order. The first failed task's error fails the call, as in Python.
    ///
    /// # Errors
    /// As [`apply_async`](Self::apply_async), and the first task's error.
    pub fn map<F, A, R, I>(&self, f: F, items: I) -> Result<Vec<R>, PoolError>
    where
        F: Fn(A) -> R + Copy,
        A: Serialize + DeserializeOwned,
        R: Serialize + DeserializeOwned,
        I: IntoIterator<Item = A>,
    {
        let items: Vec<A> = items.into_iter().collect();
        let size = forkway_pool::default_chunksize(items.len(), self.workers());
        self.map_chunked(task::trampoline(f), &items, size.max(1))
    }

    /// `f(a, b, …)` for every tuple `(a, b, …)`: Python's `starmap`.
    ///
    /// # Errors
    /// As [`map`](Self::map).
    pub fn starmap<F, Args, R, I>(&self, f: F, items: I) -> Result<Vec<R>, PoolError>
    where
        F: StarFn<Args, R>,
        Args: Serialize + DeserializeOwned,
        R: Serialize + DeserializeOwned,
        I: IntoIterator<Item = Args>,
    {
        let items: Vec<Args> = items.into_iter().collect();
        let size = forkway_pool::default_chunksize(items.len(), self.workers());
        self.map_chunked(task::star_trampoline(f), &items, size.max(1))
    }

    /// `f` on every item, lazily: results come in input order as you iterate, and the input is
    /// read only as far as needed (a few chunks per worker ahead), so it may be endless.
    /// Chunks of one item, as Python's default.
    ///
    /// # Errors
    /// [`PoolError::NotRunning`] after `close`.
    pub fn imap<'p, F, A, R, I>(&'p self, f: F, items: I) -> Result<IMap<'p, A, R>, PoolError>
    where
        F: Fn(A) -> R + Copy,
        A: Serialize + DeserializeOwned,
        R: Serialize + DeserializeOwned,
        I: IntoIterator<Item = A>,
        I::IntoIter: 'p,
    {
        self.imap_chunked(task::trampoline(f), Box::new(items.into_iter()), 1)
    }

    /// The same calls with chunks of `size` items: `pool.chunksize(20)?.map(f, xs)` is
    /// Python's `pool.map(f, xs, chunksize=20)`.
    ///
    /// # Errors
    /// [`PoolError::ZeroChunksize`] for 0.
    pub fn chunksize(&self, size: usize) -> Result<Chunked<'_>, PoolError> {
        if size == 0 {
            return Err(PoolError::ZeroChunksize);
        }
        Ok(Chunked { pool: self, size })
    }

    /// No more work will be submitted; `join` may then wait for it. Python's `close`.
    pub fn close(&self) {
        let mut inner = self.inner.borrow_mut();
        if inner.state == State::Running {
            inner.state = State::Closed;
        }
    }

    /// Drops the chunks no worker has started (their tasks fail with
    /// [`TaskError::Terminated`]) and stops the workers once the running chunks are back.
    ///
    /// A rank cannot be interrupted in the middle of a task without ending the whole MPI job,
    /// so unlike forkway's `Pool::terminate` this waits for the chunks already running.
    pub fn terminate(&self) {
        let dropped: Vec<(ToWorker, Chunk)> = {
            let mut inner = self.inner.borrow_mut();
            if inner.state == State::Stopped {
                return;
            }
            inner.state = State::Closed;
            inner.pending.drain(..).collect()
        };
        let terminated = task::chunk_error(TaskError::Terminated);
        for (_, chunk) in dropped {
            self.deliver(chunk, terminated.clone());
        }
        self.stop_workers();
    }

    /// Waits for every submitted task, then stops the workers (they return from
    /// [`MpiPool::new`]). Python's `join`.
    ///
    /// # Errors
    /// [`PoolError::StillRunning`] before `close` or `terminate`.
    pub fn join(&self) -> Result<(), PoolError> {
        if self.inner.borrow().state == State::Running {
            return Err(PoolError::StillRunning);
        }
        self.stop_workers();
        Ok(())
    }

    fn stop_workers(&self) {
        while self.busy() {
            self.collect_one();
        }
        let mut inner = self.inner.borrow_mut();
        if inner.state == State::Stopped {
            return;
        }
        inner.state = State::Stopped;
        for rank in 1..self.comm.size() {
            self.comm
                .process_at_rank(rank)
                .send_with_tag(&[] as &[u8], tag::STOP);
        }
    }

    fn busy(&self) -> bool {
        let inner = self.inner.borrow();
        !inner.inflight.is_empty() || !inner.pending.is_empty()
    }

    fn new_job(&self) -> Result<u64, PoolError> {
        let mut inner = self.inner.borrow_mut();
        if inner.state != State::Running {
            return Err(PoolError::NotRunning);
        }
        let id = inner.next_job;
        inner.next_job += 1;
        inner.jobs.insert(id, Job::default());
        Ok(id)
    }

    pub(crate) fn map_chunked<A, R>(&self, run: i64, items: &[A], size: usize) -> Result<Vec<R>, PoolError>
    where
        A: Serialize,
        R: DeserializeOwned,
    {
        let job = self.new_job()?;
        let mut encoded = Vec::new();
        for (i, chunk) in items.chunks(size).enumerate() {
            match encode_chunk(chunk) {
                Ok(args) => encoded.push((i * size, chunk.len(), args)),
                Err(e) => {
                    self.forget(job);
                    return Err(e);
                }
            }
        }
        for (start, len, args) in encoded {
            self.submit(job, run, start, len, args);
        }
        AsyncResult::<R>::new(self, job).get_all()
    }

    pub(crate) fn imap_chunked<'p, A, R>(
        &'p self,
        run: i64,
        items: Box<dyn Iterator<Item = A> + 'p>,
        size: usize,
    ) -> Result<IMap<'p, A, R>, PoolError>
    where
        A: Serialize,
        R: DeserializeOwned,
    {
        let job = self.new_job()?;
        Ok(IMap::new(self, job, run, items, size))
    }

    /// Queues a chunk of job `job` (items `start..start + len`) and hands out what it can.
    pub(crate) fn submit(&self, job: u64, run: i64, start: usize, len: usize, args: Vec<u8>) {
        {
            let mut inner = self.inner.borrow_mut();
            let seq = inner.next_seq;
            inner.next_seq += 1;
            if let Some(j) = inner.jobs.get_mut(&job) {
                j.chunks_left += 1;
            }
            inner
                .pending
                .push_back((ToWorker { seq, run, args }, Chunk { job, start, len }));
        }
        self.dispatch();
    }

    /// Gives each idle worker the next pending chunk.
    fn dispatch(&self) {
        let mut inner = self.inner.borrow_mut();
        while !inner.idle.is_empty() && !inner.pending.is_empty() {
            let (Some(rank), Some((message, chunk))) = (inner.idle.pop(), inner.pending.pop_front()) else {
                break;
            };
            // A sequence number, an offset and a byte vector always encode.
            let bytes = codec::encode(&message).unwrap_or_default();
            self.comm
                .process_at_rank(rank)
                .send_with_tag(&bytes[..], tag::TASK);
            inner.tasks_sent += chunk.len as u64;
            inner.inflight.insert(message.seq, chunk);
        }
    }

    /// Waits for one reply from any worker, files it with its job, and gives that worker the
    /// next pending chunk.
    pub(crate) fn collect_one(&self) {
        let (bytes, status) = receive_bytes(&self.comm.any_process(), Some(tag::RESULT));
        self.file_reply(&bytes, status.source_rank());
    }

    /// Files every reply that has already arrived, without waiting.
    pub(crate) fn collect_ready(&self) {
        while let Some((bytes, status)) = try_receive_bytes(&self.comm.any_process(), tag::RESULT) {
            self.file_reply(&bytes, status.source_rank());
        }
    }

    fn file_reply(&self, bytes: &[u8], from: i32) {
        let chunk = match codec::decode::<FromWorker>(bytes) {
            Ok(reply) => {
                let mut inner = self.inner.borrow_mut();
                inner.idle.push(from);
                match inner.inflight.remove(&reply.seq) {
                    Some(chunk) => Some((chunk, reply.outcome)),
                    None => None,
                }
            }
            Err(_) => None,
        };
        let Some((chunk, outcome)) = chunk else {
            // Rank 0 keeps every chunk it handed out until its reply: a reply it cannot decode
            // or match means the ranks disagree on the protocol, and waiting would never end.
            eprintln!("forkway-mpi: rank {from} sent a reply that matches no chunk in flight");
            self.comm.abort(70);
        };
        self.deliver(chunk, outcome);
        self.dispatch();
    }

    fn deliver(&self, chunk: Chunk, outcome: Vec<u8>) {
        let mut inner = self.inner.borrow_mut();
        // A job dropped before its end (an imap left unread) is gone: nothing to file.
        if let Some(job) = inner.jobs.get_mut(&chunk.job) {
            job.outcomes.insert(chunk.start, (chunk.len, outcome));
            job.chunks_left -= 1;
        }
    }

    /// Waits until job `job` has no chunk left in flight.
    pub(crate) fn wait_job(&self, job: u64) {
        while self.chunks_left(job) > 0 {
            self.collect_one();
        }
    }

    pub(crate) fn chunks_left(&self, job: u64) -> usize {
        self.inner.borrow().jobs.get(&job).map_or(0, |j| j.chunks_left)
    }

    /// Takes the outcome of job `job`'s chunk starting at `start`, if it has arrived.
    pub(crate) fn take_outcome(&self, job: u64, start: usize) -> Option<(usize, Vec<u8>)> {
        self.inner
            .borrow_mut()
            .jobs
            .get_mut(&job)
            .and_then(|j| j.outcomes.remove(&start))
    }

    /// Removes job `job` and returns what it collected.
    pub(crate) fn take_job(&self, job: u64) -> Job {
        self.inner.borrow_mut().jobs.remove(&job).unwrap_or_default()
    }

    pub(crate) fn forget(&self, job: u64) {
        self.inner.borrow_mut().jobs.remove(&job);
    }
}

impl Drop for MpiPool {
    /// Like leaving Python's `with Pool() as p:` block: terminate. The workers must get their
    /// stop message, or they would wait in [`MpiPool::new`] for ever.
    fn drop(&mut self) {
        self.terminate();
    }
}

/// The pool with a chosen chunk size, from [`MpiPool::chunksize`].
pub struct Chunked<'p> {
    pool: &'p MpiPool,
    size: usize,
}

impl<'p> Chunked<'p> {
    /// [`MpiPool::map`] with this chunk size.
    ///
    /// # Errors
    /// As [`MpiPool::map`].
    pub fn map<F, A, R, I>(&self, f: F, items: I) -> Result<Vec<R>, PoolError>
    where
        F: Fn(A) -> R + Copy,
        A: Serialize + DeserializeOwned,
        R: Serialize + DeserializeOwned,
        I: IntoIterator<Item = A>,
    {
        let items: Vec<A> = items.into_iter().collect();
        self.pool.map_chunked(task::trampoline(f), &items, self.size)
    }

    /// [`MpiPool::starmap`] with this chunk size.
    ///
    /// # Errors
    /// As [`MpiPool::map`].
    pub fn starmap<F, Args, R, I>(&self, f: F, items: I) -> Result<Vec<R>, PoolError>
    where
        F: StarFn<Args, R>,
        Args: Serialize + DeserializeOwned,
        R: Serialize + DeserializeOwned,
        I: IntoIterator<Item = Args>,
    {
        let items: Vec<Args> = items.into_iter().collect();
        self.pool.map_chunked(task::star_trampoline(f), &items, self.size)
    }

    /// [`MpiPool::imap`] with this chunk size.
    ///
    /// # Errors
    /// As [`MpiPool::imap`].
    pub fn imap<F, A, R, I>(&self, f: F, items: I) -> Result<IMap<'p, A, R>, PoolError>
    where
        F: Fn(A) -> R + Copy,
        A: Serialize + DeserializeOwned,
        R: Serialize + DeserializeOwned,
        I: IntoIterator<Item = A>,
        I::IntoIter: 'p,
    {
        self.pool
            .imap_chunked(task::trampoline(f), Box::new(items.into_iter()), self.size)
    }
}

pub(crate) fn encode_chunk<A: Serialize>(items: &[A]) -> Result<Vec<u8>, PoolError> {
    codec::encode(items).map_err(|e| PoolError::ArgsNotSerializable(e.to_string()))
}
