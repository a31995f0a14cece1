//! What can go wrong: with one task ([`TaskError`]) and with a call on the pool ([`PoolError`]).

use serde::{Deserialize, Serialize};

/// Why one task has no result. It travels from the worker to the parent, so it is plain data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[non_exhaustive]
pub enum TaskError {
    /// The task panicked. The worker caught it and goes on with the next task. Python re-raises
    /// the worker's exception with the remote traceback as its cause; this is the Rust
    /// counterpart: the panic message and the source line it came from.
    #[error("the task panicked at {location} (worker {pid}): {message}")]
    Panicked {
        /// The panic message (`panic!("…")`, a failed `unwrap`, an index out of bounds).
        message: String,
        /// `file:line:column` of the panic.
        location: String,
        /// The worker that ran the task.
        pid: u32,
    },
    /// The worker died while it held this task (SIGKILL, the OOM killer, `abort`,
    /// `std::process::exit` inside the task). Python's `Pool` waits for this result forever;
    /// forkway reports it, starts a replacement worker, and the rest of the work goes on.
    ///
    /// `forkway::exit(n)` inside a task is such an exit, by choice: the worker exits with code
    /// `n` (as Python's `sys.exit` in a task ends its worker) and the task reports `WorkerDied`
    /// with `exitcode == n`, never [`TaskError::Panicked`].
    #[error("worker {pid} died while it ran this task ({})", describe_exit(*.exitcode))]
    WorkerDied {
        /// The dead worker.
        pid: u32,
        /// Its exit code in Python's convention: `-N` when killed by signal N.
        exitcode: i32,
    },
    /// The task ran, but its result could not be serialized to travel back. Python's
    /// `MaybeEncodingError` ("Error sending result: …"). The worker survives.
    #[error("Error sending result: {0}")]
    ResultNotSerializable(String),
    /// The arguments arrived but did not decode in the worker (a `Deserialize` that does not
    /// read what its `Serialize` wrote).
    #[error("cannot decode the task's arguments in the worker: {0}")]
    ArgsNotDecodable(String),
    /// The result arrived but did not decode in the parent.
    #[error("cannot decode the task's result: {0}")]
    ResultNotDecodable(String),
    /// The pool was terminated (or dropped) before the task finished.
    #[error("the pool was terminated before the task finished")]
    Terminated,
    /// The task never reached a worker: the queue refused it (larger than its message limit).
    #[error("the task could not be sent to a worker: {0}")]
    NotSent(String),
    /// No worker could be started to run the task.
    #[error("no worker could be started: {0}")]
    NoWorkers(String),
    /// A worker's initializer panicked: no worker can be trusted to run tasks, so the pool
    /// stops instead of starting doomed workers forever (which is what Python does).
    #[error("the pool's initializer panicked in worker {pid}; the pool is broken")]
    InitializerFailed {
        /// The worker whose initializer panicked.
        pid: u32,
    },
}

fn describe_exit(exitcode: i32) -> String {
    if exitcode < 0 {
        let name = forkway_process::Signal::try_from(-exitcode)
            .map(|s| s.as_str().to_owned())
            .unwrap_or_else(|_| format!("signal {}", -exitcode));
        format!("killed by {name}")
    } else {
        format!("exit code {exitcode}")
    }
}

/// Why a call on the pool failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PoolError {
    /// `Pool::new(0)`. Python: `ValueError("Number of processes must be at least 1")`.
    #[error("Number of processes must be at least 1")]
    NoProcesses,
    /// More processes than one pool supports ([`MAX_PROCESSES`](crate::MAX_PROCESSES)).
    #[error("a pool has at most {max} processes")]
    TooManyProcesses {
        /// The limit.
        max: usize,
    },
    /// `join` while an `imap` iterator is still being read: its remaining input is fed to the
    /// workers only as you read it, so join would wait for you forever. Finish or drop it first.
    #[error("join() while an imap iterator is open would wait forever: read it to the end or drop it first")]
    ImapOpen,
    /// `maxtasksperchild(0)`. Python: `ValueError("maxtasksperchild must be a positive int or None")`.
    #[error("maxtasksperchild must be a positive int or None")]
    ZeroMaxTasks,
    /// A chunk size of 0. Python raises this for `imap` but silently returns `[None] * n` from
    /// `map(…, chunksize=0)`; forkway refuses both.
    #[error("Chunksize must be 1+, not 0")]
    ZeroChunksize,
    /// Work submitted after `close` or `terminate`. Python: `ValueError("Pool not running")`.
    #[error("Pool not running")]
    NotRunning,
    /// `join` before `close` or `terminate`. Python: `ValueError("Pool is still running")`.
    #[error("Pool is still running")]
    StillRunning,
    /// `successful()` before the result is ready. Python: `ValueError("… not ready")`.
    #[error("the result is not ready")]
    NotReady,
    /// `get_timeout` ran out of time. The task keeps running; ask again later.
    /// Python: `multiprocessing.TimeoutError`.
    #[error("timed out waiting for the result")]
    Timeout,
    /// The value was already taken by an earlier `get_timeout`, or `get` was called from
    /// inside the result's own callback.
    #[error("the result was already taken")]
    Taken,
    /// An argument could not be serialized; nothing was submitted and the pool goes on.
    #[error("cannot serialize the task's arguments: {0}")]
    ArgsNotSerializable(#[source] forkway_ipc::EncodeError),
    /// The task failed: the error is the task's.
    #[error(transparent)]
    Task(#[from] TaskError),
    /// The pool cannot run tasks any more (its initializer panicked, or it could not start a
    /// worker and has none left).
    #[error("the pool is broken: {0}")]
    Broken(TaskError),
    /// The pool was created by another process (a forked copy of its handle).
    #[error("this pool belongs to process {creator}; a forked copy of its handle cannot use it")]
    NotOwner {
        /// The pid that created the pool.
        creator: u32,
    },
    /// A worker could not be started.
    #[error("cannot start a worker: {0}")]
    Spawn(#[from] forkway_process::ProcessError),
    /// A forkserver or spawn worker could not be started (lesson 7): the missing
    /// `forkway_start::bootstrap()` entry hook, an unreachable forkserver, …
    #[error("cannot start a worker: {0}")]
    Start(#[from] forkway_start::StartError),
    /// An initializer that captures variables, for workers that are not forked: they do not
    /// share the parent's memory, so the captures cannot reach them.
    #[error(
        "under the {method} start method the pool's initializer must be a fn item or a closure \
         that captures nothing: its workers do not share the parent's memory, so captured \
         variables cannot reach them"
    )]
    InitializerCaptures {
        /// The pool's start method.
        method: forkway_start::StartMethod,
    },
    /// The shared memory for the queues could not be mapped.
    #[error("cannot map the pool's shared memory: {0}")]
    Io(#[from] std::io::Error),
}
