//! Supervision: the workers, the shared page through which they say what they hold, and what
//! the parent does when one of them dies — write off its task, start a replacement.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use forkway_ipc::Queue;
use forkway_process::Process;
use forkway_start::StartMethod;
use forkway_sys::Shm;

use crate::jobs::{deliver, Inner};
use crate::pool::State;
use crate::start::{self, worker_name, WorkerProcess};
use crate::wire::{ResultQueue, TaskQueue};
use crate::{worker, Pool, PoolError, TaskError, MAX_PROCESSES};

/// How often a waiting parent looks for dead workers, and how stale that check may get while
/// results keep arriving. A death changes no word it could sleep on, so it must look.
pub(crate) const CHECK_EVERY: Duration = Duration::from_millis(10);

/// A worker's initializer.
pub(crate) type Initializer = dyn Fn() + Send + Sync;

/// What the parent and every worker share: inherited by fork, or, for forkserver and spawn
/// workers, made in memfds and sent (see `start.rs`).
pub(crate) struct Shared {
    pub(crate) tasks: TaskQueue,
    pub(crate) results: ResultQueue,
    pub(crate) page: Shm,
    /// The page's memfd, when workers that are not forked must map it too.
    pub(crate) page_fd: Option<std::os::fd::OwnedFd>,
    /// Where maps of plain data put their arguments and results (`arena.rs`); `None` when it
    /// could not be mapped.
    pub(crate) arena: Option<crate::arena::Arena>,
}

/// The shared page: what each worker holds right now.
#[repr(C)]
pub(crate) struct Page {
    /// The pid of a worker whose initializer panicked, or 0.
    pub(crate) init_failed: AtomicU64,
    /// 1: the next worker to start dies inside its first claim
    /// ([`PoolBuilder::fault_first_claim`](crate::PoolBuilder::fault_first_claim)).
    pub(crate) fault_first_claim: AtomicU64,
    /// Per worker: `seq + 1` of the task it holds, 0 when it holds none.
    pub(crate) slots: [AtomicU64; MAX_PROCESSES],
}

impl Shared {
    /// The two queues and the zeroed page, before any worker is forked.
    pub(crate) fn new() -> std::io::Result<Shared> {
        let page = Shm::new(std::mem::size_of::<Page>())?;
        Ok(Shared {
            tasks: TaskQueue(Queue::new()?),
            results: ResultQueue(Queue::new()?),
            page,
            page_fd: None,
            // Inherited by the forked workers: no memfd needed.
            arena: Shm::new(crate::arena::SIZE)
                .ok()
                .map(crate::arena::Arena::from_shm),
        })
    }

    pub(crate) fn page(&self) -> &Page {
        // SAFETY: the mapping is at least `size_of::<Page>()` bytes (checked when created),
        // page-aligned, zero-initialized (a valid `Page`: atomics only), and lives as long as
        // `self`.
        unsafe { &*self.page.ptr().cast::<Page>() }
    }
}

/// One place in the pool, by index (the worker's slot in the shared page).
pub(crate) enum Worker {
    Running(WorkerProcess),
    /// Exited and should be replaced (died, or did its `maxtasksperchild`).
    Vacant,
    /// Took a stop message, or was terminated: stays empty.
    Retired,
}

impl Pool {
    pub(crate) fn start_worker(&self, inner: &mut Inner, index: usize) -> Result<(), PoolError> {
        self.shared.page().slots[index].store(0, Ordering::SeqCst);
        inner.started += 1;
        let name = worker_name(self.ctx.start_method(), inner.started);
        if self.ctx.start_method() != StartMethod::Fork {
            let process = start::start_worker(
                self.ctx,
                &self.shared,
                index,
                self.maxtasks,
                self.init_entry,
                name,
            )?;
            inner.workers[index] = Worker::Running(process);
            return Ok(());
        }
        let shared = Arc::clone(&self.shared);
        let init = self.init.clone();
        let maxtasks = self.maxtasks;
        let mut process = Process::new(move || worker::run(&shared, index, maxtasks, init))
            .with_name(name)
            .with_daemon(true);
        process.start()?;
        inner.workers[index] = Worker::Running(WorkerProcess::Fork(process));
        Ok(())
    }

    // ANCHOR: supervise
    /// Finds workers that exited, writes off the task a dead one held, and starts replacements.
    pub(crate) fn supervise(&self, inner: &mut Inner) {
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
                // On the dead worker's own lane: it cannot say so itself once killed.
                forkway_trace::instant_on(
                    pid,
                    "pool",
                    "worker died",
                    0,
                    &[
                        ("exitcode", forkway_trace::Arg::Int(exitcode.into())),
                        ("task", forkway_trace::Arg::Int(claim.map_or(-1, |s| s as i64))),
                    ],
                );
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
    pub(crate) fn stop_all(&self, inner: &mut Inner, error: TaskError) {
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

    pub(crate) fn break_pool(&self, inner: &mut Inner, error: TaskError) {
        if inner.broken.is_none() {
            inner.broken = Some(error.clone());
            self.stop_all(inner, error);
        }
    }
}
