//! What can go wrong: with one task ([`TaskError`]) and with a call on the pool ([`PoolError`]).
//!
//! There is no "worker died" here, unlike forkway-pool's: when a rank dies, MPI ends the whole
//! job (every rank, the parent too), so no process is left to receive such an error. The
//! chapter's failure model says what to do about it.

use serde::{Deserialize, Serialize};

/// Why one task has no result. It travels from the worker rank to rank 0, so it is plain data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[non_exhaustive]
pub enum TaskError {
    /// The task panicked. The worker caught it and goes on with the next task; the parent gets
    /// the panic message and the source line, as Python re-raises a worker's exception.
    #[error("the task panicked at {location} (rank {rank}): {message}")]
    Panicked {
        /// The panic message.
        message: String,
        /// `file:line:column` of the panic.
        location: String,
        /// The worker rank that ran the task.
        rank: i32,
    },
    /// The task ran, but its result could not be serialized. Python's `MaybeEncodingError`.
    #[error("Error sending result: {0}")]
    ResultNotSerializable(String),
    /// The arguments arrived but did not decode in the worker.
    #[error("cannot decode the task's arguments in the worker: {0}")]
    ArgsNotDecodable(String),
    /// The result arrived but did not decode on rank 0.
    #[error("cannot decode the task's result: {0}")]
    ResultNotDecodable(String),
    /// The pool was terminated (or dropped) before the task ran.
    #[error("the pool was terminated before the task finished")]
    Terminated,
}

/// Why a call on the pool failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PoolError {
    /// The communicator has a single rank: rank 0 is the parent, so nobody would run the tasks.
    #[error("an MpiPool needs at least 2 ranks (rank 0 is the parent): run the program under `mpirun -n 3`")]
    NoWorkers,
    /// The ranks do not run the same executable (an MPMD launch, `mpirun -n 1 a : -n 2 b`, or
    /// different builds on different machines): a task's code travels as an offset into the
    /// executable, which means the same function only in the same program.
    #[error("the ranks run different executables (rank {rank} differs from rank 0): an MpiPool sends code as an offset into the program, so every rank must run the same build")]
    NotSameProgram {
        /// The first rank whose executable differs.
        rank: i32,
    },
    /// A chunk size of 0.
    #[error("Chunksize must be 1+, not 0")]
    ZeroChunksize,
    /// Work submitted after `close` or `terminate`. Python: `ValueError("Pool not running")`.
    #[error("Pool not running")]
    NotRunning,
    /// `join` before `close` or `terminate`. Python: `ValueError("Pool is still running")`.
    #[error("Pool is still running")]
    StillRunning,
    /// An argument could not be serialized; nothing was submitted.
    #[error("cannot serialize the task's arguments: {0}")]
    ArgsNotSerializable(String),
    /// The task failed: the error is the task's.
    #[error(transparent)]
    Task(#[from] TaskError),
}
