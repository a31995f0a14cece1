//! The wire between the parent and its workers: the two messages, the arguments of a chunk, and
//! what a chunk came to ([`ChunkOutcome`]) — encoded by the worker and decoded by the parent,
//! both here, so that the two ends cannot drift apart. Arguments and outcomes are in the pool's
//! own compact format ([`crate::format`]); the two messages around them go through the queue's
//! codec.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::format::{self, Decoder, FormatError};
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
    // Room for small values at once: growing by doubling would copy the buffer several times.
    let guess = args.len().saturating_mul(std::mem::size_of::<A>().clamp(1, 8) + 1);
    let mut out = Vec::with_capacity(guess.min(1 << 24));
    format::encode_into(args, &mut out)
        .map_err(|e| PoolError::ArgsNotSerializable(forkway_ipc::EncodeError::from_encoder(e)))?;
    Ok(out)
}

/// Decodes a chunk's arguments, in the worker.
pub(crate) fn decode_args<A: DeserializeOwned>(args: &[u8]) -> Result<Vec<A>, TaskError> {
    format::decode::<Vec<A>>(args).map_err(|e| TaskError::ArgsNotDecodable(e.to_string()))
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
    /// The error for a result that the encoder refused, with the encoder's reason.
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
    encode_failed(error)
}

/// The encoded outcome "the whole chunk failed with `error`", for any task error type: empty
/// (which the decoder reports as a corrupt reply) only if the error cannot serialize itself.
#[doc(hidden)]
pub fn encode_failed<E: OutcomeError>(error: E) -> Vec<u8> {
    let mut out = Vec::new();
    if format::encode_into(&ChunkOutcome::<(), E>::Failed(error), &mut out).is_err() {
        out.clear();
    }
    out
}

/// Encodes a chunk's outcome into `out`, in the worker. A result that does not serialize
/// becomes an error in its own place, so the other results of the chunk still arrive.
#[doc(hidden)]
pub fn encode_outcome<R: Serialize, E: OutcomeError>(outcome: ChunkOutcome<R, E>, out: &mut Vec<u8>) {
    out.clear();
    if format::encode_into(&outcome, out).is_ok() {
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
            Ok(value) => match format::encode_into(&value, &mut Vec::new()) {
                Ok(()) => Ok(value),
                Err(e) => Err(E::not_serializable(e.to_string())),
            },
            Err(e) => Err(e),
        })
        .collect();
    out.clear();
    if let Err(e) = format::encode_into(&ChunkOutcome::Mixed(items), out) {
        // Only an error that cannot serialize its own text gets here; be loud but not lost.
        out.clear();
        let failed = ChunkOutcome::<(), E>::Failed(E::not_serializable(e.to_string()));
        if format::encode_into(&failed, out).is_err() {
            out.clear();
        }
    }
}

/// Decodes an outcome that [`encode_outcome`] made, into one result per task of a chunk of
/// `len` tasks; a reply that does not decode fails each task with `not_decodable`.
#[doc(hidden)]
pub fn decode_outcome<R, E>(bytes: &[u8], len: usize, not_decodable: impl Fn(String) -> E) -> Vec<Result<R, E>>
where
    R: DeserializeOwned,
    E: DeserializeOwned + Clone,
{
    let error = match format::decode::<ChunkOutcome<R, E>>(bytes) {
        Ok(ChunkOutcome::AllOk(values)) if values.len() == len => return values.into_iter().map(Ok).collect(),
        Ok(ChunkOutcome::Mixed(items)) if items.len() == len => return items,
        Ok(ChunkOutcome::Failed(error)) => error,
        Ok(_) => not_decodable(format!("a reply of the wrong length for a chunk of {len}")),
        Err(e) => not_decodable(e.to_string()),
    };
    (0..len).map(|_| Err(error.clone())).collect()
}

/// The variant index of `ChunkOutcome::AllOk` in the format (serde numbers variants in order).
const ALL_OK: u64 = 0;

/// Decodes a chunk's outcome straight onto the end of `values` when it is an `AllOk` of
/// exactly `len` values: the common case, with no vector of its own and no copy. Otherwise
/// (some task failed, or the reply is corrupt), leaves `values` as it was and hands back what
/// [`unpack`] makes of it.
pub(crate) fn unpack_onto<R: DeserializeOwned>(
    len: usize,
    outcome: Result<&[u8], TaskError>,
    values: &mut Vec<R>,
) -> Result<(), Unpacked<R>> {
    let Ok(bytes) = outcome else {
        return Err(unpack(len, outcome));
    };
    let before = values.len();
    let decoded = (|| -> Result<bool, FormatError> {
        let mut decoder = Decoder::new(bytes);
        if decoder.unsigned()? != ALL_OK || decoder.seq_len()? != len as u64 {
            return Ok(false);
        }
        values.reserve(len);
        for _ in 0..len {
            values.push(R::deserialize(&mut decoder)?);
        }
        decoder.finish()?;
        Ok(true)
    })();
    match decoded {
        Ok(true) => Ok(()),
        Ok(false) | Err(_) => {
            values.truncate(before);
            Err(unpack(len, outcome))
        }
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
        format::decode::<ChunkOutcome<R>>(bytes).map_err(|e| TaskError::ResultNotDecodable(e.to_string()))
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
