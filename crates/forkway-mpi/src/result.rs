//! What a submission returns: [`AsyncResult`] for one task, [`IMap`] for a lazy map.

use std::collections::VecDeque;
use std::marker::PhantomData;

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::pool::{encode_chunk, MpiPool};
use crate::{PoolError, TaskError};

/// The result of [`MpiPool::apply_async`]: Python's `AsyncResult`.
#[must_use = "a submitted task's result is lost unless you `get` it"]
pub struct AsyncResult<'p, R> {
    pool: &'p MpiPool,
    job: u64,
    _result: PhantomData<fn() -> R>,
}

impl<'p, R: DeserializeOwned> AsyncResult<'p, R> {
    pub(crate) fn new(pool: &'p MpiPool, job: u64) -> Self {
        AsyncResult {
            pool,
            job,
            _result: PhantomData,
        }
    }

    /// True when the result has arrived (files every reply already waiting, without blocking).
    pub fn ready(&self) -> bool {
        self.pool.collect_ready();
        self.pool.chunks_left(self.job) == 0
    }

    /// Waits until the result has arrived.
    pub fn wait(&self) {
        self.pool.wait_job(self.job);
    }

    /// Waits for the result and returns it.
    ///
    /// # Errors
    /// [`PoolError::Task`] with the task's error (a panic in the worker, a result that did not
    /// serialize or decode).
    pub fn get(self) -> Result<R, PoolError> {
        let mut all = self.get_all()?;
        all.pop().ok_or(PoolError::Task(TaskError::Terminated))
    }

    /// Every task's result of the job, in input order; the first error fails the whole job.
    pub(crate) fn get_all(self) -> Result<Vec<R>, PoolError> {
        self.pool.wait_job(self.job);
        let job = self.pool.take_job(self.job);
        let mut values = Vec::new();
        for (_, (len, bytes)) in job.outcomes {
            for item in decode_outcome::<R>(&bytes, len) {
                values.push(item?);
            }
        }
        Ok(values)
    }
}

impl<R> Drop for AsyncResult<'_, R> {
    fn drop(&mut self) {
        // An unread result is not needed any more: its reply is filed nowhere when it comes.
        self.pool.forget(self.job);
    }
}

/// One `Result` per task of a chunk of `len` tasks.
pub(crate) fn decode_outcome<R: DeserializeOwned>(bytes: &[u8], len: usize) -> Vec<Result<R, TaskError>> {
    forkway_pool::wire::decode_outcome(bytes, len, TaskError::ResultNotDecodable)
}

/// The iterator of [`MpiPool::imap`]: results in input order, input read lazily.
pub struct IMap<'p, A, R> {
    pool: &'p MpiPool,
    job: u64,
    run: i64,
    items: Box<dyn Iterator<Item = A> + 'p>,
    size: usize,
    /// Position of the next item to submit.
    next_start: usize,
    /// Chunks submitted and not yet handed out, as (start position, length), in input order.
    submitted: VecDeque<(usize, usize)>,
    exhausted: bool,
    /// An input item that could not be serialized: handed out after every earlier result,
    /// and the iteration ends with it.
    failed: Option<PoolError>,
    /// Results of the chunk being handed out.
    ready: VecDeque<Result<R, PoolError>>,
}

impl<'p, A: Serialize, R: DeserializeOwned> IMap<'p, A, R> {
    pub(crate) fn new(
        pool: &'p MpiPool,
        job: u64,
        run: i64,
        items: Box<dyn Iterator<Item = A> + 'p>,
        size: usize,
    ) -> Self {
        IMap {
            pool,
            job,
            run,
            items,
            size,
            next_start: 0,
            submitted: VecDeque::new(),
            exhausted: false,
            failed: None,
            ready: VecDeque::new(),
        }
    }

    /// Keeps up to four chunks per worker submitted ahead of what has been handed out.
    fn top_up(&mut self) {
        let ahead = 4 * self.pool.workers();
        while !self.exhausted && self.submitted.len() < ahead {
            let chunk: Vec<A> = self.items.by_ref().take(self.size).collect();
            if chunk.is_empty() {
                self.exhausted = true;
                break;
            }
            let (start, len) = (self.next_start, chunk.len());
            self.next_start += len;
            match encode_chunk(&chunk) {
                Ok(args) => {
                    self.pool.submit(self.job, self.run, start, len, args);
                    self.submitted.push_back((start, len));
                }
                Err(e) => {
                    self.exhausted = true;
                    self.failed = Some(e);
                }
            }
        }
    }
}

impl<A: Serialize, R: DeserializeOwned> Iterator for IMap<'_, A, R> {
    type Item = Result<R, PoolError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(item) = self.ready.pop_front() {
                return Some(item);
            }
            self.top_up();
            let Some(&(start, len)) = self.submitted.front() else {
                return self.failed.take().map(Err);
            };
            match self.pool.take_outcome(self.job, start) {
                Some((_, bytes)) => {
                    self.submitted.pop_front();
                    self.ready.extend(
                        decode_outcome::<R>(&bytes, len)
                            .into_iter()
                            .map(|r| r.map_err(PoolError::Task)),
                    );
                }
                None => self.pool.collect_one(),
            }
        }
    }
}

impl<A, R> Drop for IMap<'_, A, R> {
    fn drop(&mut self) {
        // Chunks still running come back to a job that is gone, and are dropped then.
        self.pool.forget(self.job);
    }
}
