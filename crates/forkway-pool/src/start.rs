//! Workers started by forkserver or spawn (lesson 7), beside the forked ones of lesson 5.
//!
//! A forked worker inherits everything it needs: the two queues, the shared page, the
//! initializer, and every task's trampoline at the parent's address. A worker started any
//! other way inherits nothing, so it is a forkway-start target, [`worker_main`], whose single
//! argument ([`Boot`]) carries the same things by other means:
//! - the queues and the page live in memfds (`Queue::new_sendable`, `Shm::new_memfd`) and
//!   travel as descriptors;
//! - code travels as addresses, as for a forked worker, plus the parent's address of one
//!   anchor function. A spawned worker runs the same executable at another base address
//!   (ASLR), so it shifts every address it is given by the difference of the two anchors
//!   ([`relocate`]); a forkserver worker, a copy of a copy of the parent, finds a difference
//!   of 0. forkway-start has already checked that the worker runs the parent's very file;
//! - the initializer goes only if it captures nothing (it can then travel as an address, like a
//!   task); a capturing one is refused when the pool is built.
//!
//! Supervision does not change: the pool asks each worker for its exit code, and a worker
//! killed mid-task reports `-9` whatever started it (forkway-start relays a forkserver child's
//! code). The worker loop is lesson 5's, unchanged.

use std::os::fd::{AsFd, OwnedFd};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use forkway_ipc::Queue;
use forkway_start::{Context, StartError, StartMethod};
use forkway_sys::Shm;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::supervise::{Initializer, Shared};
use crate::wire::{FromWorker, ResultQueue, TaskQueue, ToWorker};
use crate::{worker, PoolError};

/// A running worker, however it was started.
pub(crate) enum WorkerProcess {
    /// Forked by forkway-process: the lesson-5 worker.
    Fork(forkway_process::Process),
    /// Started by forkway-start under forkserver or spawn.
    Started(forkway_start::Process),
}

/// The exit code reported for a forkserver worker whose code was lost with its server. Such a
/// worker is a daemon child of the server and dies with it, by `SIGKILL`.
const LOST_EXIT_CODE: i32 = -(forkway_process::Signal::SIGKILL as i32);

impl WorkerProcess {
    pub(crate) fn pid(&self) -> Option<u32> {
        match self {
            WorkerProcess::Fork(p) => p.pid(),
            WorkerProcess::Started(p) => p.pid(),
        }
    }

    /// The exit code once the worker has ended, else `None`.
    pub(crate) fn exitcode(&self) -> Option<i32> {
        match self {
            WorkerProcess::Fork(p) => p.exitcode(),
            // A worker that ended without a code (its forkserver died first) has still ended:
            // supervision must see it, or its task would wait for ever.
            WorkerProcess::Started(p) => p.exitcode().or_else(|| (!p.is_alive()).then_some(LOST_EXIT_CODE)),
        }
    }

    pub(crate) fn kill(&self) -> Result<(), PoolError> {
        match self {
            WorkerProcess::Fork(p) => Ok(p.kill()?),
            WorkerProcess::Started(p) => Ok(p.kill()?),
        }
    }

    pub(crate) fn join(&self) -> Result<(), PoolError> {
        match self {
            WorkerProcess::Fork(p) => Ok(p.join()?),
            WorkerProcess::Started(p) => match p.join() {
                Err(StartError::ExitStatusLost { .. }) => Ok(()),
                other => Ok(other?),
            },
        }
    }

    /// Waits at most `timeout` for the worker to end; true when it has.
    pub(crate) fn join_timeout(&self, timeout: Duration) -> Result<bool, PoolError> {
        match self {
            WorkerProcess::Fork(p) => Ok(p.join_timeout(timeout)?),
            WorkerProcess::Started(p) => match p.join_timeout(timeout) {
                Err(StartError::ExitStatusLost { .. }) => Ok(true),
                other => Ok(other?),
            },
        }
    }
}

impl Drop for WorkerProcess {
    fn drop(&mut self) {
        // A forked worker's own drop stops it (it is a daemon). A forkserver worker is not our
        // child and has no such drop: a pool dropped while unwinding, which skips `terminate`,
        // must still not leave it running.
        if let WorkerProcess::Started(p) = self {
            if p.is_alive() {
                let _ = p.kill();
                let _ = p.join_timeout(Duration::from_secs(5));
            }
        }
    }
}

/// What a pool's worker processes are called: Python's `ForkPoolWorker-1`,
/// `SpawnPoolWorker-1`, `ForkServerPoolWorker-1`.
pub(crate) fn worker_name(method: StartMethod, n: u64) -> String {
    let class = match method {
        StartMethod::Fork => "ForkPoolWorker",
        StartMethod::Forkserver => "ForkServerPoolWorker",
        StartMethod::Spawn => "SpawnPoolWorker",
    };
    format!("{class}-{n}")
}

/// The shared state for workers that are not forked: the same queues and page, in memfds.
pub(crate) fn sendable_shared() -> std::io::Result<Shared> {
    let (page, page_fd) = Shm::new_memfd(std::mem::size_of::<crate::supervise::Page>())?;
    Ok(Shared {
        tasks: TaskQueue(Queue::new_sendable()?),
        results: ResultQueue(Queue::new_sendable()?),
        page,
        page_fd: Some(page_fd),
        arena: crate::arena::Arena::new(),
    })
}

/// The shared state as a target's argument: its three memfds.
struct SharedHandle(Arc<Shared>);

const NOT_SENDABLE: &str = "the pool's shared page was not made for forkserver or spawn workers";

impl Serialize for SharedHandle {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let page = self
            .0
            .page_fd
            .as_ref()
            .and_then(|fd| forkway_sys::fds::send_fd(fd.as_fd()))
            .ok_or_else(|| serde::ser::Error::custom(NOT_SENDABLE))?;
        // The arena travels when there is one; a worker without it would fail every map of
        // plain data, so one that cannot map it does not start.
        let arena = match &self.0.arena {
            None => None,
            Some(arena) => Some(
                arena
                    .shm
                    .memfd()
                    .and_then(forkway_sys::fds::send_fd)
                    .ok_or_else(|| serde::ser::Error::custom(NOT_SENDABLE))?,
            ),
        };
        (&self.0.tasks.0, &self.0.results.0, page, arena).serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for SharedHandle {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let (tasks, results, page, arena): (Queue<ToWorker>, Queue<FromWorker>, u32, Option<u32>) =
            Deserialize::deserialize(deserializer)?;
        let arena = match arena {
            None => None,
            Some(arena) => {
                let fd: OwnedFd = forkway_sys::fds::receive_fd(arena)
                    .ok_or_else(|| serde::de::Error::custom(NOT_SENDABLE))?;
                let mapped = Shm::map_fd(fd.as_fd()).map_err(serde::de::Error::custom)?;
                Some(crate::arena::Arena::from_shm(mapped))
            }
        };
        let fd: OwnedFd =
            forkway_sys::fds::receive_fd(page).ok_or_else(|| serde::de::Error::custom(NOT_SENDABLE))?;
        let mapped = Shm::map_fd(fd.as_fd()).map_err(serde::de::Error::custom)?;
        if mapped.size() < std::mem::size_of::<crate::supervise::Page>() {
            return Err(serde::de::Error::custom("the pool's shared page is too small"));
        }
        Ok(SharedHandle(Arc::new(Shared {
            tasks: TaskQueue(tasks),
            results: ResultQueue(results),
            page: mapped,
            // The worker only maps the page; it never passes it on.
            page_fd: None,
            arena,
        })))
    }
}

/// Everything a worker needs that a forked one would have inherited.
#[derive(Serialize, Deserialize)]
struct Boot {
    shared: SharedHandle,
    index: usize,
    maxtasks: Option<u64>,
    /// The parent's address of the initializer's trampoline.
    init: Option<usize>,
    /// The parent's address of [`anchor`].
    anchor: usize,
}

/// The fixed point addresses are measured from. Never called; only its address matters.
#[inline(never)]
fn anchor() {}

fn anchor_address() -> usize {
    anchor as fn() as usize
}

/// How far this process's code lies from the parent's: 0 in a forked or forkserver worker,
/// the ASLR difference in a spawned one. Set once, before the worker takes its first task.
static RELOCATION: AtomicUsize = AtomicUsize::new(0);

/// `address`, a function's address in the parent, as an address in this process.
pub(crate) fn relocate(address: usize) -> usize {
    address.wrapping_add(RELOCATION.load(Ordering::Relaxed))
}

/// The body of a forkserver or spawn worker: a forkway-start target.
fn worker_main(boot: Boot) -> i32 {
    RELOCATION.store(anchor_address().wrapping_sub(boot.anchor), Ordering::SeqCst);
    // A task's panic goes to the parent, as in a forked worker. A forked worker gets this hook
    // from the parent before the fork; this process is a fresh program (spawn) or a copy of the
    // single-threaded server (forkserver), where setting the hook cannot deadlock.
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if !crate::task::record_panic(info) {
            previous(info);
        }
    }));
    let init: Option<Arc<Initializer>> = boot.init.map(|address| {
        // SAFETY: the parent put the address of an `InitTrampoline` of this very executable
        // here (`init_trampoline`), and `relocate` moves it to where this process has it.
        let run = unsafe { std::mem::transmute::<usize, InitTrampoline>(relocate(address)) };
        Arc::new(run) as Arc<Initializer>
    });
    worker::run(&boot.shared.0, boot.index, boot.maxtasks, init);
    0
}

/// Calls an initializer that captures nothing.
type InitTrampoline = fn();

/// The address of the trampoline that calls initializer `F` in a worker, when `F` captures
/// nothing; `None` when it captures (it then reaches only forked workers).
pub(crate) fn init_trampoline<F: Fn() + Send + Sync + 'static>(_init: &F) -> Option<usize> {
    (std::mem::size_of::<F>() == 0).then_some(call_init::<F> as InitTrampoline as usize)
}

fn call_init<F: Fn()>() {
    // Only ever reached through `init_trampoline`, which hands out this address for a
    // zero-sized `F` alone.
    assert_eq!(
        std::mem::size_of::<F>(),
        0,
        "a capturing initializer cannot travel"
    );
    // SAFETY: `F` is zero-sized (checked above), so there are no bytes to initialize: a closure
    // that captures nothing, or a fn item, carries nothing but its type. The pool's builder
    // held a real `F` when it took this address.
    let f: F = unsafe { std::mem::zeroed() };
    f();
    // Its destructor belongs to the parent's value, not to this conjured copy.
    std::mem::forget(f);
}

/// Starts worker `index` under `ctx` (forkserver or spawn).
pub(crate) fn start_worker(
    ctx: Context,
    shared: &Arc<Shared>,
    index: usize,
    maxtasks: Option<u64>,
    init: Option<usize>,
    name: String,
) -> Result<WorkerProcess, PoolError> {
    let boot = Boot {
        shared: SharedHandle(Arc::clone(shared)),
        index,
        maxtasks,
        init,
        anchor: anchor_address(),
    };
    let mut process = ctx
        .process(worker_main, (boot,))
        .with_name(name)
        .with_daemon(true);
    match process.start() {
        // A forkserver that died (killed, say) is replaced on the next start: try once more
        // before the pool counts this worker as impossible to start.
        Err(StartError::Forkserver { .. }) => process.start()?,
        other => other?,
    }
    Ok(WorkerProcess::Started(process))
}
