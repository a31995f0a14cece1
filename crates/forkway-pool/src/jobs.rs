//! The parent's side of a task, from submission to callback: a job is cut into chunks, each
//! chunk goes on the task queue ([`Pool::submit`], [`Pool::send_chunk`]), its reply comes back on
//! the result queue ([`Pool::wait_for`], [`Pool::drain`], [`Pool::route`]), lands in its job's
//! sink ([`deliver`]), and a job whose last chunk is in runs its callbacks
//! ([`Pool::run_callbacks`]). The handles (`AsyncResult`, `MapResult`, `IMap`) reach their job
//! only through the methods at the end.

use std::collections::HashMap;
use std::time::Instant;

use forkway_ipc::GetError;
use forkway_sys::Deadline;
use serde::Serialize;

use crate::pool::State;
use crate::result::Sink;
use crate::supervise::{Worker, CHECK_EVERY};
use crate::wire::{encode_args, ToWorker};
use crate::{Pool, PoolError, TaskError};

/// One chunk on its way: which job it belongs to and which items it carries.
#[derive(Clone, Copy)]
pub(crate) struct Chunk {
    pub(crate) job: u64,
    pub(crate) start: usize,
    pub(crate) len: usize,
}

/// One call's work (an `apply`, a `map`, an `imap`) and where its results go.
pub(crate) struct Job {
    pub(crate) sink: Box<dyn Sink>,
    /// Chunks submitted and not yet answered.
    pub(crate) chunks_left: usize,
    /// No more chunks will be added (every job but an unfinished `imap`).
    pub(crate) sealed: bool,
    /// Complete, and its callbacks have run.
    pub(crate) ready: bool,
    /// Its handle was dropped: forget it once complete.
    pub(crate) detached: bool,
}

/// The parent's bookkeeping: its workers, its jobs, and every chunk in flight.
pub(crate) struct Inner {
    pub(crate) state: State,
    pub(crate) workers: Vec<Worker>,
    /// The next task message's number. Every number below it is in the task queue, or was.
    pub(crate) next_seq: u64,
    /// The seq of the first stop message, once `close` sent them.
    pub(crate) close_seq: Option<u64>,
    pub(crate) inflight: HashMap<u64, Chunk>,
    pub(crate) jobs: HashMap<u64, Job>,
    pub(crate) next_job: u64,
    /// Jobs that completed and wait for their callbacks.
    pub(crate) settling: Vec<u64>,
    /// `imap` iterators not yet at their end: `close` holds the stop messages back for them.
    pub(crate) open_streams: usize,
    pub(crate) last_check: Instant,
    pub(crate) broken: Option<TaskError>,
    pub(crate) started: u64,
    /// Workers that died holding no task since the last result: a worker loop that crashes
    /// at once would otherwise be restarted forever.
    pub(crate) idle_deaths: u32,
    /// The buffer replies are copied into, out of the result queue (kept: no allocation per
    /// reply).
    pub(crate) reply: Vec<u8>,
}

impl Inner {
    /// The state of a new pool of `processes` workers, none started yet.
    pub(crate) fn new(processes: usize) -> Inner {
        Inner {
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
            reply: Vec::new(),
        }
    }

    /// Whether job `id` is complete and its callbacks have run (a forgotten job is).
    pub(crate) fn job_ready(&self, id: u64) -> bool {
        self.jobs.get(&id).is_none_or(|j| j.ready)
    }

    /// Job `id`'s sink, if the job is there and its sink is an `S`.
    pub(crate) fn sink<S: 'static>(&self, id: u64) -> Option<&S> {
        self.jobs.get(&id)?.sink.as_any_ref().downcast_ref()
    }

    /// Answers a chunk that will never reach a worker with `error`.
    fn fail_chunk(&mut self, chunk: Chunk, error: TaskError) {
        self.jobs.get_mut(&chunk.job).expect("job exists").chunks_left += 1;
        deliver(self, chunk, Err(error));
    }
}

impl Pool {
    // ----- submitting -----

    /// Adds a job of `chunks` (start, length, encoded arguments) and sends them to the workers.
    /// A `stream` (`imap`) stays open: its chunks come later, as its iterator is read
    /// ([`Pool::send_items`]), and `close` holds the stop messages back until it ends.
    pub(crate) fn submit(
        &self,
        run: usize,
        chunks: Vec<(usize, usize, Vec<u8>)>,
        sink: Box<dyn Sink>,
        stream: bool,
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
                sealed: !stream,
                ready: false,
                detached: false,
            },
        );
        if stream {
            inner.open_streams += 1;
        }
        for (start, len, args) in chunks {
            self.send_chunk(&mut inner, id, run, start, len, args);
        }
        if !stream && inner.jobs[&id].chunks_left == 0 {
            // Nothing to run (empty input): complete at once, as Python's map([]) is.
            inner.settling.push(id);
        }
        drop(inner);
        self.run_callbacks();
        Ok(id)
    }

    /// Sends the next chunk of a stream's items (an `imap`'s, read from its iterator), or
    /// answers it at once when nothing can run it.
    pub(crate) fn send_items<A: Serialize>(&self, job: u64, run: usize, start: usize, items: &[A]) {
        let mut inner = self.inner.borrow_mut();
        let chunk = Chunk {
            job,
            start,
            len: items.len(),
        };
        if inner.state == State::Terminate || inner.broken.is_some() {
            // Nothing will run it: answer the chunk here.
            let error = inner.broken.clone().unwrap_or(TaskError::Terminated);
            inner.fail_chunk(chunk, error);
            return;
        }
        match encode_args(items) {
            Ok(args) => self.send_chunk(&mut inner, job, run, start, items.len(), args),
            Err(e) => inner.fail_chunk(chunk, TaskError::NotSent(e.to_string())),
        }
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

    // ----- collecting results -----

    /// Waits until `done` holds, at most until `deadline`. Returns whether it holds.
    pub(crate) fn wait_for(&self, deadline: Deadline, done: impl Fn(&Inner) -> bool) -> bool {
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
            let mut reply = std::mem::take(&mut inner.reply);
            match self.shared.results.get_into(Some(nap), &mut reply) {
                Ok(seq) => self.route(&mut inner, seq, &reply),
                Err(GetError::Empty) => self.supervise(&mut inner),
                Err(e) => self.break_pool(&mut inner, TaskError::ResultNotDecodable(e.to_string())),
            }
            inner.reply = reply;
        }
    }

    /// Delivers every result waiting in the result queue, looks for dead workers if it is
    /// time, and runs the callbacks of the jobs that completed.
    pub(crate) fn progress(&self) {
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

    /// Routes every reply already in the result queue.
    pub(crate) fn drain(&self, inner: &mut Inner) {
        let mut reply = std::mem::take(&mut inner.reply);
        loop {
            match self.shared.results.get_into(None, &mut reply) {
                Ok(seq) => self.route(inner, seq, &reply),
                Err(GetError::Empty) => break,
                Err(e) => {
                    self.break_pool(inner, TaskError::ResultNotDecodable(e.to_string()));
                    break;
                }
            }
        }
        inner.reply = reply;
    }

    /// Hands a worker's reply to the job its task belongs to.
    fn route(&self, inner: &mut Inner, seq: u64, outcome: &[u8]) {
        // A seq that is not in flight was already answered (its pool was terminated): nobody
        // waits for this reply any more.
        inner.idle_deaths = 0;
        if let Some(chunk) = inner.inflight.remove(&seq) {
            deliver(inner, chunk, Ok(outcome));
        }
    }
}

// ANCHOR: deliver
/// Gives one chunk's outcome to its job; a job whose last chunk this was waits for its
/// callbacks in `settling`.
pub(crate) fn deliver(inner: &mut Inner, chunk: Chunk, outcome: Result<&[u8], TaskError>) {
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

impl Pool {
    /// Runs the callbacks of the jobs that completed, outside any borrow of the pool's state
    /// (a callback may submit more work), then marks them ready.
    pub(crate) fn run_callbacks(&self) {
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

    // ----- what the handles ask of their job -----

    /// Whether job `id` is complete and its callbacks have run.
    pub(crate) fn job_ready(&self, id: u64) -> bool {
        self.inner.borrow().job_ready(id)
    }

    /// Runs `f` on job `id`'s sink, if the job is there (it is not while it is being settled)
    /// and its sink is an `S`.
    pub(crate) fn with_sink<S: 'static, T>(&self, id: u64, f: impl FnOnce(&mut S) -> T) -> Option<T> {
        let mut inner = self.inner.borrow_mut();
        let sink = inner.jobs.get_mut(&id)?.sink.as_any().downcast_mut::<S>()?;
        Some(f(sink))
    }

    /// As [`Pool::with_sink`], but with the job taken out of the pool's state while `f` runs:
    /// `f` may run a callback, and a callback may use the pool.
    pub(crate) fn with_sink_taken_out<S: 'static>(&self, id: u64, f: impl FnOnce(&mut S)) {
        let Some(mut job) = self.inner.borrow_mut().jobs.remove(&id) else {
            return;
        };
        if let Some(sink) = job.sink.as_any().downcast_mut::<S>() {
            f(sink);
        }
        self.inner.borrow_mut().jobs.insert(id, job);
    }

    /// The handle of job `id` was dropped: forget the job now if it is complete; otherwise
    /// its callbacks still run when it completes, and then it is forgotten.
    pub(crate) fn release_job(&self, id: u64) {
        let mut inner = self.inner.borrow_mut();
        if let Some(job) = inner.jobs.get_mut(&id) {
            if job.ready {
                inner.jobs.remove(&id);
            } else {
                // Nothing of its arguments or results is kept (Python's test_release_task_refs).
                job.detached = true;
            }
        }
    }

    /// The iterator of stream job `id` was dropped: no chunk will be added. The job is
    /// forgotten now, or once its chunks in flight are answered.
    pub(crate) fn release_stream(&self, id: u64) {
        let mut inner = self.inner.borrow_mut();
        if let Some(job) = inner.jobs.get_mut(&id) {
            if job.chunks_left == 0 {
                inner.jobs.remove(&id);
            } else {
                job.sealed = true;
                job.detached = true;
            }
        }
    }
}
