//! The parent's side of a job: where its chunks' results land, and the handles you wait on.

use std::any::Any;
use std::collections::BTreeMap;
use std::marker::PhantomData;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::time::Duration;

use forkway_sys::Deadline;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::arena::{ResultArea, ARENA_REPLY};
use crate::wire::{unpack, unpack_onto, Unpacked};
use crate::{Pool, PoolError, TaskError};

/// Where a job's results go; typed by the job's result type behind this erased face.
pub(crate) trait Sink: Any + Send {
    /// The outcome of the chunk holding items `start .. start + len`: its encoded
    /// [`ChunkOutcome`](crate::wire::ChunkOutcome), or an error for all of them.
    fn deliver(&mut self, start: usize, len: usize, outcome: Result<&[u8], TaskError>);
    /// Every chunk is in: compute the value and run the callbacks.
    fn settle(&mut self);
    fn as_any(&mut self) -> &mut dyn Any;
    fn as_any_ref(&self) -> &dyn Any;
}

type OnOk<R> = Box<dyn FnOnce(&[R]) + Send>;
type OnErr = Box<dyn FnOnce(&TaskError) + Send>;

/// The sink of `apply` (one item) and `map` (many).
pub(crate) struct MapSink<R> {
    len: usize,
    /// The values in order, up to the first chunk not yet in. Chunks mostly arrive in order,
    /// and such a chunk is decoded straight onto the end (no copy, no per-item bookkeeping).
    values: Vec<R>,
    /// The values of chunks that fully succeeded ahead of their turn, by first item's index:
    /// moved onto `values` once the chunks before them are in.
    early: BTreeMap<usize, Vec<R>>,
    /// The earliest failed item.
    first_error: Option<(usize, TaskError)>,
    value: Option<Result<Vec<R>, TaskError>>,
    settled: bool,
    on_ok: Option<OnOk<R>>,
    on_err: Option<OnErr>,
    /// A map through the arena: where its results are, and its hold on the arena (given back
    /// when the map settles, every chunk answered).
    arena: Option<ResultArea>,
}

impl<R> MapSink<R> {
    /// The sink of a map whose results come through the arena.
    pub(crate) fn with_arena(len: usize, area: ResultArea) -> MapSink<R> {
        MapSink {
            arena: Some(area),
            ..MapSink::new(len)
        }
    }

    pub(crate) fn new(len: usize) -> MapSink<R> {
        MapSink {
            arena: None,
            len,
            values: Vec::new(),
            early: BTreeMap::new(),
            first_error: None,
            value: None,
            settled: false,
            on_ok: None,
            on_err: None,
        }
    }

    /// Runs whichever callback applies, once.
    fn call_back(&mut self) {
        match &self.value {
            Some(Ok(values)) => {
                self.on_err = None;
                if let Some(f) = self.on_ok.take() {
                    f(values);
                }
            }
            Some(Err(error)) => {
                self.on_ok = None;
                if let Some(f) = self.on_err.take() {
                    f(error);
                }
            }
            None => {}
        }
    }
}

impl<R> MapSink<R> {
    /// The settled value, taken (for the wire's tests).
    #[cfg(test)]
    pub(crate) fn take_value(&mut self) -> Option<Result<Vec<R>, TaskError>> {
        self.value.take()
    }

    /// Moves the chunks that came early onto `values` while they are next in line.
    fn catch_up(&mut self) {
        while let Some(entry) = self.early.first_entry() {
            if *entry.key() != self.values.len() {
                return;
            }
            self.values.extend(entry.remove());
        }
    }
}

impl<R: DeserializeOwned + Send + 'static> Sink for MapSink<R> {
    fn deliver(&mut self, start: usize, len: usize, outcome: Result<&[u8], TaskError>) {
        let mut outcome = outcome;
        if let (Ok([ARENA_REPLY]), Some(area)) = (&outcome, &self.arena) {
            // The chunk's results are in the arena, at their items' places.
            let read = if start == self.values.len() {
                if self.values.capacity() == 0 {
                    self.values.reserve_exact(self.len);
                }
                let before = self.values.len();
                area.read(start, len, &mut self.values)
                    .inspect_err(|_| self.values.truncate(before))
            } else {
                let mut values = Vec::with_capacity(len);
                area.read(start, len, &mut values).map(|()| {
                    self.early.insert(start, values);
                })
            };
            match read {
                Ok(()) => {
                    self.catch_up();
                    return;
                }
                Err(error) => outcome = Err(error),
            }
        }
        let unpacked = if start == self.values.len() {
            if self.values.capacity() == 0 {
                self.values.reserve_exact(self.len);
            }
            match unpack_onto(len, outcome, &mut self.values) {
                Ok(()) => {
                    self.catch_up();
                    return;
                }
                Err(unpacked) => unpacked,
            }
        } else {
            unpack::<R>(len, outcome)
        };
        match unpacked {
            Unpacked::AllOk(values) => {
                self.early.insert(start, values);
            }
            Unpacked::Each(items) => {
                let mut values = Vec::with_capacity(len);
                for (i, item) in items.into_iter().enumerate() {
                    match item {
                        Ok(value) => values.push(value),
                        Err(error) => {
                            // Like Python, one failure fails the map; unlike Python (first
                            // failure *received*), the one reported is the earliest item's.
                            if self.first_error.as_ref().is_none_or(|(at, _)| start + i < *at) {
                                self.first_error = Some((start + i, error));
                            }
                        }
                    }
                }
                if values.len() == len {
                    self.early.insert(start, values);
                }
            }
        }
        self.catch_up();
    }

    fn settle(&mut self) {
        // Every chunk is answered: the arena is free for the next map.
        self.arena = None;
        self.catch_up();
        let values = std::mem::take(&mut self.values);
        self.early.clear();
        self.value = Some(match self.first_error.take() {
            Some((_, error)) => Err(error),
            None => Ok(values),
        });
        self.settled = true;
        self.call_back();
    }

    fn as_any(&mut self) -> &mut dyn Any {
        self
    }

    fn as_any_ref(&self) -> &dyn Any {
        self
    }
}

/// A job's handle, shared by [`AsyncResult`] and [`MapResult`].
struct Pending<'p, R> {
    pool: &'p Pool,
    job: u64,
    _result: PhantomData<fn() -> R>,
}

impl<'p, R: DeserializeOwned + Send + 'static> Pending<'p, R> {
    fn ready(&self) -> bool {
        self.pool.progress();
        self.pool.job_ready(self.job)
    }

    fn wait_until(&self, deadline: Deadline) -> bool {
        let job = self.job;
        self.pool.wait_for(deadline, |inner| inner.job_ready(job))
    }

    /// Runs `f` on the job's sink (it is there unless it is being settled right now).
    fn with_sink<T>(&self, f: impl FnOnce(&mut MapSink<R>) -> T) -> Option<T> {
        self.pool.with_sink(self.job, f)
    }

    fn take(&self) -> Result<Vec<R>, PoolError> {
        match self.with_sink(|sink| sink.value.take()) {
            Some(Some(value)) => value.map_err(PoolError::Task),
            _ => Err(PoolError::Taken),
        }
    }

    fn get_until(&self, deadline: Deadline) -> Result<Vec<R>, PoolError> {
        if !self.wait_until(deadline) {
            return Err(PoolError::Timeout);
        }
        self.take()
    }

    fn successful(&self) -> Result<bool, PoolError> {
        if !self.ready() {
            return Err(PoolError::NotReady);
        }
        self.with_sink(|sink| sink.value.as_ref().map(Result::is_ok))
            .flatten()
            .ok_or(PoolError::Taken)
    }

    fn set_callbacks(&self, on_ok: Option<OnOk<R>>, on_err: Option<OnErr>) {
        // The job is out of the pool's state while its callback may run: the callback may
        // use the pool.
        self.pool.with_sink_taken_out(self.job, |sink: &mut MapSink<R>| {
            if on_ok.is_some() {
                sink.on_ok = on_ok;
            }
            if on_err.is_some() {
                sink.on_err = on_err;
            }
            if sink.settled {
                // Attached after completion: call it now, still exactly once.
                sink.call_back();
            }
        });
    }
}

impl<R> Drop for Pending<'_, R> {
    fn drop(&mut self) {
        self.pool.release_job(self.job);
    }
}

macro_rules! handle_methods {
    ($value:ty, $from_vec:expr) => {
        /// Whether the result is in (and its callbacks have run). Python's `ready()`.
        pub fn ready(&self) -> bool {
            self.pending.ready()
        }

        /// Waits until the result is in. Python's `wait()`.
        pub fn wait(&self) {
            self.pending.wait_until(Deadline::never());
        }

        /// Waits at most `timeout`; returns whether the result is in. Python's `wait(timeout)`
        /// (which returns None and leaves you to call `ready()`).
        pub fn wait_timeout(&self, timeout: Duration) -> bool {
            self.pending.wait_until(Deadline::after(timeout))
        }

        /// Whether the task succeeded. Python's `successful()`.
        ///
        /// # Errors
        /// [`PoolError::NotReady`] before the result is in (as in Python);
        /// [`PoolError::Taken`] after `get_timeout` took the value.
        pub fn successful(&self) -> Result<bool, PoolError> {
            self.pending.successful()
        }

        /// Waits for the result and returns it. Python's `get()`.
        ///
        /// # Errors
        /// The task's failure ([`PoolError::Task`]), e.g. a panic or a dead worker;
        /// [`PoolError::Taken`] if `get_timeout` already returned it.
        pub fn get(self) -> Result<$value, PoolError> {
            self.pending.get_until(Deadline::never()).map($from_vec)
        }

        /// Waits at most `timeout` for the result. Python's `get(timeout)`. The task goes on
        /// after a timeout; ask again later.
        ///
        /// # Errors
        /// [`PoolError::Timeout`]; otherwise as `get`. Once it returned the value, later calls
        /// fail with [`PoolError::Taken`].
        pub fn get_timeout(&self, timeout: Duration) -> Result<$value, PoolError> {
            self.pending
                .get_until(Deadline::after(timeout))
                .map($from_vec)
        }

        /// Calls `f` with the error if the task fails. Python's `error_callback=`.
        #[must_use = "keep the handle to get the result; dropping it still runs the callback"]
        pub fn error_callback(self, f: impl FnOnce(&TaskError) + Send + 'static) -> Self {
            self.pending.set_callbacks(None, Some(Box::new(f)));
            self
        }
    };
}

/// The handle of one `apply_async` task. Python's `AsyncResult`.
///
/// Dropping it does not cancel the task; its callbacks still run.
pub struct AsyncResult<'p, R> {
    pending: Pending<'p, R>,
}

impl<'p, R: DeserializeOwned + Send + 'static> AsyncResult<'p, R> {
    pub(crate) fn new(pool: &'p Pool, job: u64) -> AsyncResult<'p, R> {
        AsyncResult {
            pending: Pending {
                pool,
                job,
                _result: PhantomData,
            },
        }
    }

    handle_methods!(R, |mut v: Vec<R>| v.pop().expect("one result"));

    /// Calls `f` with the result when it arrives, in the parent, before `ready()` turns true:
    /// Python's `callback=`. It runs inside whichever pool call collects the result (`get`,
    /// `wait`, `join`, …), in the thread that owns the pool; if the result is already in, at once.
    #[must_use = "keep the handle to get the result; dropping it still runs the callback"]
    pub fn callback(self, f: impl FnOnce(&R) + Send + 'static) -> Self {
        self.pending
            .set_callbacks(Some(Box::new(move |values: &[R]| f(&values[0]))), None);
        self
    }
}

/// The handle of a `map_async` or `starmap_async` job: every result, in order. Python's
/// `MapResult`.
pub struct MapResult<'p, R> {
    pending: Pending<'p, R>,
}

impl<'p, R: DeserializeOwned + Send + 'static> MapResult<'p, R> {
    pub(crate) fn new(pool: &'p Pool, job: u64) -> MapResult<'p, R> {
        MapResult {
            pending: Pending {
                pool,
                job,
                _result: PhantomData,
            },
        }
    }

    handle_methods!(Vec<R>, |v: Vec<R>| v);

    /// Calls `f` with the result when it arrives, in the parent, before `ready()` turns true:
    /// Python's `callback=`. It runs inside whichever pool call collects the result (`get`,
    /// `wait`, `join`, …), in the thread that owns the pool; if the result is already in, at once.
    #[must_use = "keep the handle to get the result; dropping it still runs the callback"]
    pub fn callback(self, f: impl FnOnce(&[R]) + Send + 'static) -> Self {
        self.pending.set_callbacks(Some(Box::new(f)), None);
        self
    }
}

/// The sink of an `imap`: results by item index until they are read.
pub(crate) struct ImapSink<R> {
    ordered: bool,
    ready: BTreeMap<usize, Result<R, TaskError>>,
}

impl<R> ImapSink<R> {
    pub(crate) fn new(ordered: bool) -> ImapSink<R> {
        ImapSink {
            ordered,
            ready: BTreeMap::new(),
        }
    }

    fn next_ready(&mut self, next: usize) -> Option<Result<R, TaskError>> {
        if self.ordered {
            self.ready.remove(&next)
        } else {
            self.ready.pop_first().map(|(_, item)| item)
        }
    }

    fn has_ready(&self, next: usize) -> bool {
        if self.ordered {
            self.ready.contains_key(&next)
        } else {
            !self.ready.is_empty()
        }
    }
}

impl<R: DeserializeOwned + Send + 'static> Sink for ImapSink<R> {
    fn deliver(&mut self, start: usize, len: usize, outcome: Result<&[u8], TaskError>) {
        for (i, item) in unpack::<R>(len, outcome).into_results().into_iter().enumerate() {
            self.ready.insert(start + i, item);
        }
    }

    fn settle(&mut self) {}

    fn as_any(&mut self) -> &mut dyn Any {
        self
    }

    fn as_any_ref(&self) -> &dyn Any {
        self
    }
}

/// The lazy results of [`Pool::imap`] and [`Pool::imap_unordered`].
///
/// Reading it feeds the workers: at most a few chunks per worker are submitted ahead of what
/// you have read, so memory stays bounded whatever the input's length. Dropping it stops
/// feeding; chunks already submitted still run, and their results are discarded.
pub struct IMap<'p, A, R> {
    pool: &'p Pool,
    job: u64,
    run: usize,
    source: Option<Box<dyn Iterator<Item = A> + 'p>>,
    chunksize: usize,
    /// Items submitted and items handed out; their difference is bounded by `window`.
    submitted: usize,
    yielded: usize,
    window: usize,
    /// A panic of the input iterator, raised again once the results before it are read.
    input_panic: Option<Box<dyn Any + Send>>,
    _result: PhantomData<fn() -> R>,
}

impl<'p, A: Serialize, R: DeserializeOwned + Send + 'static> IMap<'p, A, R> {
    pub(crate) fn new(
        pool: &'p Pool,
        job: u64,
        run: usize,
        source: Box<dyn Iterator<Item = A> + 'p>,
        chunksize: usize,
        window: usize,
    ) -> IMap<'p, A, R> {
        IMap {
            pool,
            job,
            run,
            source: Some(source),
            chunksize,
            submitted: 0,
            yielded: 0,
            window,
            input_panic: None,
            _result: PhantomData,
        }
    }

    /// Submits chunks while fewer than `window` items are outstanding.
    pub(crate) fn refill(&mut self) {
        while self.submitted - self.yielded < self.window {
            let Some(source) = self.source.as_mut() else {
                return;
            };
            let mut chunk: Vec<A> = Vec::with_capacity(self.chunksize.min(1024));
            while chunk.len() < self.chunksize {
                // The input runs in the parent and may panic (Python: may raise). Like Python,
                // hand out every result before it first, then let the panic go on.
                match catch_unwind(AssertUnwindSafe(|| source.next())) {
                    Ok(Some(item)) => chunk.push(item),
                    Ok(None) => break,
                    Err(panic) => {
                        self.input_panic = Some(panic);
                        break;
                    }
                }
            }
            if chunk.is_empty() {
                self.end_of_input();
                return;
            }
            if self.input_panic.is_some() {
                self.end_of_input();
            }
            let start = self.submitted;
            self.submitted += chunk.len();
            self.pool.send_items(self.job, self.run, start, &chunk);
        }
    }

    fn end_of_input(&mut self) {
        if self.source.take().is_some() {
            self.pool.stream_ended();
        }
    }

    /// The next result, waiting at most `timeout`: Python's `next(timeout)`.
    ///
    /// `None` at the end; `Some(Err(PoolError::Timeout))` when nothing came in time (ask
    /// again: nothing is lost).
    pub fn next_timeout(&mut self, timeout: Duration) -> Option<Result<R, PoolError>> {
        self.next_until(Deadline::after(timeout))
    }

    fn next_until(&mut self, deadline: Deadline) -> Option<Result<R, PoolError>> {
        loop {
            self.refill();
            let next = self.yielded;
            let item = self
                .pool
                .with_sink(self.job, |sink: &mut ImapSink<R>| sink.next_ready(next))
                .flatten();
            if let Some(item) = item {
                self.yielded += 1;
                return Some(item.map_err(PoolError::Task));
            }
            if self.source.is_none() && self.yielded == self.submitted {
                if let Some(panic) = self.input_panic.take() {
                    resume_unwind(panic);
                }
                return None;
            }
            let job = self.job;
            let arrived = self.pool.wait_for(deadline, |inner| {
                inner
                    .sink::<ImapSink<R>>(job)
                    .is_none_or(|sink| sink.has_ready(next))
            });
            if !arrived {
                return Some(Err(PoolError::Timeout));
            }
        }
    }
}

impl<A: Serialize, R: DeserializeOwned + Send + 'static> Iterator for IMap<'_, A, R> {
    type Item = Result<R, PoolError>;

    fn next(&mut self) -> Option<Result<R, PoolError>> {
        self.next_until(Deadline::never())
    }
}

impl<A, R> Drop for IMap<'_, A, R> {
    fn drop(&mut self) {
        if self.source.take().is_some() {
            self.pool.stream_ended();
        }
        self.pool.release_stream(self.job);
    }
}
