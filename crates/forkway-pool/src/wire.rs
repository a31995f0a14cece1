//! The wire between the parent and its workers: the two messages, the arguments of a chunk, and
//! what a chunk came to ([`ChunkOutcome`]) — encoded by the worker and decoded by the parent,
//! both here, so that the two ends cannot drift apart.

use forkway_ipc::codec;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::{PoolError, TaskError};

/// What the parent puts on the task queue.
#[derive(Serialize, Deserialize)]
pub(crate) struct ToWorker {
    /// Unique, in the order of the queue: the worker publishes it while it holds the task.
    pub seq: u64,
    /// The trampoline's address; 0 asks the worker to exit (`close`).
    pub run: usize,
    /// The chunk's arguments, encoded as a sequence.
    #[serde(with = "serde_bytes")]
    pub args: Vec<u8>,
}

/// What a worker puts on the result queue: the task's `seq` and its chunk's results
/// (a [`ChunkOutcome`] of the task's result type, encoded).
#[derive(Serialize, Deserialize)]
pub(crate) struct FromWorker {
    pub seq: u64,
    #[serde(with = "serde_bytes")]
    pub outcome: Vec<u8>,
}

/// Encodes a chunk's arguments, in the parent.
pub(crate) fn encode_args<A: Serialize>(args: &[A]) -> Result<Vec<u8>, PoolError> {
    codec::encode(args).map_err(PoolError::ArgsNotSerializable)
}

/// Decodes a chunk's arguments, in the worker.
pub(crate) fn decode_args<A: DeserializeOwned>(args: &[u8]) -> Result<Vec<A>, TaskError> {
    codec::decode::<Vec<A>>(args).map_err(|e| TaskError::ArgsNotDecodable(e.to_string()))
}

/// What a chunk came to. Almost always `AllOk`: a plain sequence of results, as cheap to
/// encode and decode as the values themselves.
///
/// Generic in its error so that forkway-mpi's pool, whose tasks fail in other ways (no worker
/// dies alone there; a panic names its rank), sends the same shape with the same code.
#[doc(hidden)]
#[derive(Serialize, Deserialize)]
pub enum ChunkOutcome<R, E = TaskError> {
    /// Every task of the chunk returned.
    AllOk(Vec<R>),
    /// Some failed: one result per task.
    Mixed(Vec<Result<R, E>>),
    /// The whole chunk failed (its arguments did not decode, its reply could not be sent).
    Failed(E),
}

/// A task error that can say "this result did not serialize", which is what
/// [`encode_outcome`] puts in the place of such a result.
#[doc(hidden)]
pub trait OutcomeError: Serialize + Sized {
    /// The error for a result that `codec::encode` refused, with the encoder's reason.
    fn not_serializable(why: String) -> Self;
}

impl OutcomeError for TaskError {
    fn not_serializable(why: String) -> TaskError {
        TaskError::ResultNotSerializable(why)
    }
}

/// The encoded outcome "the whole chunk failed with `error`", whatever the result type
/// (a `Failed` encodes the same for every `R`).
pub(crate) fn chunk_error(error: TaskError) -> Vec<u8> {
    codec::encode(&ChunkOutcome::<()>::Failed(error)).expect("a TaskError always serializes")
}

/// Encodes a chunk's outcome into `out`, in the worker. A result that does not serialize
/// becomes an error in its own place, so the other results of the chunk still arrive.
#[doc(hidden)]
pub fn encode_outcome<R: Serialize, E: OutcomeError>(outcome: ChunkOutcome<R, E>, out: &mut Vec<u8>) {
    out.clear();
    if codec::encode_into(&outcome, out).is_ok() {
        return;
    }
    // Some result does not serialize: find which, and send an error in its place, so that
    // the other results of the chunk still arrive (Python's MaybeEncodingError, per task).
    let items: Vec<Result<R, E>> = match outcome {
        ChunkOutcome::AllOk(values) => values.into_iter().map(Ok).collect(),
        ChunkOutcome::Mixed(items) => items,
        ChunkOutcome::Failed(error) => vec![Err(error)],
    };
    let items = items
        .into_iter()
        .map(|item| match item {
            Ok(value) => match codec::encode(&value) {
                Ok(_) => Ok(value),
                Err(e) => Err(E::not_serializable(e.to_string())),
            },
            Err(e) => Err(e),
        })
        .collect();
    out.clear();
    if let Err(e) = codec::encode_into(&ChunkOutcome::Mixed(items), out) {
        // Only an error that cannot serialize its own text gets here; be loud but not lost.
        *out = codec::encode(&ChunkOutcome::<(), E>::Failed(E::not_serializable(e.to_string())))
            .unwrap_or_default();
    }
}

/// A chunk's outcome, decoded: every value, or one result per item.
pub(crate) enum Unpacked<R> {
    AllOk(Vec<R>),
    Each(Vec<Result<R, TaskError>>),
}

/// Decodes a chunk's outcome in the parent, whatever went wrong, into exactly `len` results.
pub(crate) fn unpack<R: DeserializeOwned>(len: usize, outcome: Result<&[u8], TaskError>) -> Unpacked<R> {
    let decoded = outcome.and_then(|bytes| {
        codec::decode::<ChunkOutcome<R>>(bytes).map_err(|e| TaskError::ResultNotDecodable(e.to_string()))
    });
    let error = match decoded {
        Ok(ChunkOutcome::AllOk(values)) if values.len() == len => return Unpacked::AllOk(values),
        Ok(ChunkOutcome::Mixed(items)) if items.len() == len => return Unpacked::Each(items),
        Ok(ChunkOutcome::Failed(error)) | Err(error) => error,
        Ok(_) => TaskError::ResultNotDecodable(format!("a reply of the wrong length for a chunk of {len}")),
    };
    Unpacked::Each((0..len).map(|_| Err(error.clone())).collect())
}

impl<R> Unpacked<R> {
    pub(crate) fn into_results(self) -> Vec<Result<R, TaskError>> {
        match self {
            Unpacked::AllOk(values) => values.into_iter().map(Ok).collect(),
            Unpacked::Each(items) => items,
        }
    }
}
