//! The wire between the parent and its workers: the two messages, the arguments of a chunk, and
//! what a chunk came to ([`ChunkOutcome`]) — encoded by the worker and decoded by the parent,
//! both here, so that the two ends cannot drift apart. Arguments and outcomes are in the pool's
//! own compact format (`format.rs`); the two messages around them go through the queue's
//! codec.

use std::time::Duration;

use forkway_ipc::{GetError, PutError, Queue};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::format::{self, Decoder, FormatError};
use crate::{PoolError, TaskError};

/// What the parent puts on the task queue.
pub(crate) struct ToWorker {
    /// Unique, in the order of the queue: the worker publishes it while it holds the task.
    pub seq: u64,
    /// The trampoline's address; 0 asks the worker to exit (`close`).
    pub run: usize,
    /// The chunk's arguments, encoded as a sequence.
    pub args: Vec<u8>,
}

/// What a worker puts on the result queue: the task's `seq` and its chunk's results
/// (a [`ChunkOutcome`] of the task's result type, encoded).
pub(crate) struct FromWorker {
    pub seq: u64,
    pub outcome: Vec<u8>,
}

/// The bytes after the payload of a task message: its `seq` and `run`.
const TASK_TRAILER: usize = 16;
/// The bytes after the payload of a result message: its `seq`.
const RESULT_TRAILER: usize = 8;

/// Splits a message into its payload and its trailer of `N` bytes (the numbers go last, so
/// that a sender appends them to the payload it already has instead of copying it).
fn split_trailer<const N: usize>(frame: &[u8]) -> Option<(&[u8], [u8; N])> {
    let (payload, trailer) = frame.split_last_chunk::<N>()?;
    Some((payload, *trailer))
}

/// A task as its queue message: the arguments as they were encoded, then `seq` and `run`.
fn task_frame(task: ToWorker) -> Vec<u8> {
    let mut frame = task.args;
    frame.extend_from_slice(&task.seq.to_le_bytes());
    frame.extend_from_slice(&(task.run as u64).to_le_bytes());
    frame
}

/// The task in a queue message; `None` for a message too short to be one.
fn parse_task(frame: &[u8]) -> Option<ToWorker> {
    let (args, trailer) = split_trailer::<TASK_TRAILER>(frame)?;
    let (seq, run) = trailer.split_at(8);
    Some(ToWorker {
        seq: u64::from_le_bytes(seq.try_into().ok()?),
        run: usize::try_from(u64::from_le_bytes(run.try_into().ok()?)).ok()?,
        args: args.to_vec(),
    })
}

/// A reply as its queue message: the outcome as the worker encoded it, then `seq`.
fn reply_frame(reply: FromWorker) -> Vec<u8> {
    let mut frame = reply.outcome;
    frame.extend_from_slice(&reply.seq.to_le_bytes());
    frame
}

/// Copies a reply message's outcome into `outcome` and returns its `seq`; `None` for a
/// message too short to be a reply.
fn parse_reply(frame: &[u8], outcome: &mut Vec<u8>) -> Option<u64> {
    let (payload, seq) = split_trailer::<RESULT_TRAILER>(frame)?;
    outcome.clear();
    outcome.extend_from_slice(payload);
    Some(u64::from_le_bytes(seq))
}

/// The task queue: a chunk's arguments travel as they were encoded (no second encoding), the
/// numbers after them.
pub(crate) struct TaskQueue(pub(crate) Queue<ToWorker>);

impl TaskQueue {
    /// Puts a task on the queue.
    pub(crate) fn put(&self, task: ToWorker) -> Result<(), PutError<()>> {
        self.0.put_encoded(&task_frame(task))
    }

    /// Takes the next task, calling `claim` with it before it leaves the queue
    /// ([`Queue::get_claimed`]). A message too short to be a task is an error.
    pub(crate) fn get_claimed(&self, claim: impl FnOnce(&ToWorker)) -> Result<ToWorker, GetError> {
        watch_while_empty(&self.0, WATCH);
        self.0
            .get_encoded_claimed(|frame| {
                let task = parse_task(frame)?;
                claim(&task);
                Some(task)
            })?
            .ok_or_else(|| GetError::Poisoned("a task message too short to be one".into()))
    }

    /// Messages in the queue.
    pub(crate) fn qsize(&self) -> usize {
        self.0.qsize()
    }
}

/// The result queue: a chunk's outcome travels as the worker encoded it, its `seq` after it.
pub(crate) struct ResultQueue(pub(crate) Queue<FromWorker>);

impl ResultQueue {
    /// Puts a reply on the queue.
    pub(crate) fn put(&self, reply: FromWorker) -> Result<(), PutError<()>> {
        self.0.put_encoded(&reply_frame(reply))
    }

    /// Takes the next reply, waiting at most `timeout` (zero: not at all): its outcome is
    /// copied into `outcome` (a buffer the parent reuses; the queue stays locked only for the
    /// copy), its `seq` returned.
    pub(crate) fn get_into(&self, timeout: Option<Duration>, outcome: &mut Vec<u8>) -> Result<u64, GetError> {
        let read = |frame: &[u8]| parse_reply(frame, outcome);
        if let Some(timeout) = timeout {
            watch_while_empty(&self.0, timeout.min(WATCH));
        }
        let seq = match timeout {
            Some(timeout) => self.0.get_encoded_timeout(timeout, read)?,
            None => self.0.get_encoded_nowait(read)?,
        };
        seq.ok_or_else(|| GetError::Poisoned("a result message too short to be one".into()))
    }
}

/// Encodes a chunk's arguments, in the parent.
pub(crate) fn encode_args<A: Serialize>(args: &[A]) -> Result<Vec<u8>, PoolError> {
    // Room for small values at once: growing by doubling would copy the buffer several times.
    let guess = args
        .len()
        .saturating_mul(std::mem::size_of::<A>().clamp(1, 8) + 1);
    let mut out = Vec::with_capacity(guess.min(1 << 24));
    format::encode_into(args, &mut out)
        .map_err(|e| PoolError::ArgsNotSerializable(forkway_ipc::EncodeError::from_encoder(e)))?;
    Ok(out)
}

/// Decodes a chunk's arguments, in the worker.
pub(crate) fn decode_args<A: DeserializeOwned>(args: &[u8]) -> Result<Vec<A>, TaskError> {
    decode_seq::<A>(args).map_err(|e| TaskError::ArgsNotDecodable(e.to_string()))
}

/// Decodes a whole frame holding one sequence, as `Vec<A>` would through serde but in a plain
/// loop: serde's own `Vec` visitor passes each element through an `Option<Result>` that the
/// compiler keeps in memory, which made decoding arguments twice as slow per item as this.
fn decode_seq<A: DeserializeOwned>(bytes: &[u8]) -> Result<Vec<A>, FormatError> {
    let mut decoder = Decoder::new(bytes);
    let len = decoder.seq_len()?;
    // Room up front for at most one element per byte of the frame and 1 MiB, as serde gives
    // any sequence: a corrupt length costs no large allocation (the vector grows as elements
    // really decode).
    let cap = (1usize << 20) / std::mem::size_of::<A>().max(1);
    let mut values = Vec::with_capacity((len.min(bytes.len() as u64) as usize).min(cap));
    for _ in 0..len {
        values.push(A::deserialize(&mut decoder)?);
    }
    decoder.finish()?;
    Ok(values)
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
pub fn decode_outcome<R, E>(
    bytes: &[u8],
    len: usize,
    not_decodable: impl Fn(String) -> E,
) -> Vec<Result<R, E>>
where
    R: DeserializeOwned,
    E: DeserializeOwned + Clone,
{
    let error = match format::decode::<ChunkOutcome<R, E>>(bytes) {
        Ok(ChunkOutcome::AllOk(values)) if values.len() == len => {
            return values.into_iter().map(Ok).collect()
        }
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

/// How long a worker that finds no task, or the parent that finds no reply, watches its queue
/// before it goes to sleep on the queue's futex (the queue itself watches only 20 µs).
///
/// A map hands work over twice: the parent puts the chunks, the workers put the replies.
/// Across a sleep each handover cost a wake-up — a system call for the side that puts, and
/// tens of microseconds on a virtual machine before the sleeper runs again, often on the
/// core where the waker is still busy. Between two maps a worker waits for the parent to
/// read the previous results and write the next arguments (about 100 µs for 100 000
/// items), so 200 µs keeps a pool that is in use awake. Measured on `map` of 100 000 `u64`s
/// on 2 cores, builds without and with it alternated: a median of 216 µs without, 171–205
/// µs with; an `apply` round trip is no slower. An idle pool pays up to this much of a core
/// per worker after its last task, yielding the core now and then to whoever needs it.
const WATCH: Duration = Duration::from_micros(200);

/// Watches `queue` while it is empty, for at most `watch`, yielding the core now and then:
/// what lets the blocking get that follows find a message instead of sleeping.
fn watch_while_empty<T>(queue: &forkway_ipc::Queue<T>, watch: Duration) {
    if watch.is_zero() || !queue.is_empty() {
        return;
    }
    let until = forkway_sys::Deadline::after(watch);
    let mut backoff = 0;
    while !until.passed() {
        for _ in 0..16 {
            // Each look reads the queue's counts, which a put must then take back: look less
            // often the longer the wait (1, 2, 4 … 16 pauses between looks), so that a put
            // under way is left alone, and a message is still seen within a fraction of a
            // microsecond.
            for _ in 0..1u32 << backoff {
                std::hint::spin_loop();
            }
            if !queue.is_empty() {
                return;
            }
            backoff = (backoff + 1).min(4);
        }
        // On a machine with more runnable processes than cores, the process we wait for
        // may need this very core: offer it every few microseconds. (Not after every look: a
        // yield is a system call, and a message that comes during one waits for it — an
        // `apply` round trip took 7 µs instead of 2 that way.)
        std::thread::yield_now();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::result::{MapSink, Sink};

    fn outcome<R: Serialize>(outcome: ChunkOutcome<R>) -> Vec<u8> {
        let mut out = Vec::new();
        encode_outcome(outcome, &mut out);
        out
    }

    #[test]
    fn messages_too_short_to_be_frames_are_errors() {
        // The queues themselves are lesson 2's exercises (blank in a starter): the frames are
        // tested on their own, and through the queues by the pool's integration tests.
        assert!(parse_task(&[0; TASK_TRAILER - 1]).is_none());
        assert!(parse_reply(&[1, 2, 3], &mut Vec::new()).is_none());
    }

    #[test]
    fn a_corrupt_argument_count_claims_no_large_allocation() {
        // 1 MiB of frame announcing 1 Mi elements of 32 KiB each: 32 GiB if believed up front,
        // which the kernel refuses, and the worker would abort.
        let mut frame = Vec::new();
        format::encode_into(&(1u64 << 20), &mut frame).expect("encodes");
        frame.resize(1 << 20, 0);
        let error = decode_args::<[[[u64; 32]; 32]; 4]>(&frame).expect_err("not enough bytes");
        assert!(matches!(error, TaskError::ArgsNotDecodable(_)));
    }

    #[test]
    fn frames_round_trip() {
        let args = encode_args(&[1u64, 300, 70_000]).expect("encodes");
        let frame = task_frame(ToWorker {
            seq: 41,
            run: 7,
            args: args.clone(),
        });
        let task = parse_task(&frame).expect("a task");
        assert_eq!((task.seq, task.run, &task.args), (41, 7, &args));
        assert_eq!(decode_args::<u64>(&task.args).expect("decodes"), [1, 300, 70_000]);
        let bytes = outcome(ChunkOutcome::AllOk(vec![2u64, 301]));
        let frame = reply_frame(FromWorker {
            seq: 41,
            outcome: bytes.clone(),
        });
        let mut reply = vec![9; 3];
        assert_eq!(parse_reply(&frame, &mut reply), Some(41));
        assert_eq!(reply, bytes, "the buffer holds exactly the outcome");
    }

    #[test]
    fn a_corrupt_or_wrong_length_reply_fails_each_task_of_its_chunk() {
        let short = outcome(ChunkOutcome::AllOk(vec![1u64, 2]));
        for bytes in [&short[..], &short[..short.len() - 1], &[9, 9, 9][..], &[][..]] {
            let results = unpack::<u64>(3, Ok(bytes)).into_results();
            assert_eq!(results.len(), 3);
            assert!(results
                .iter()
                .all(|r| matches!(r, Err(TaskError::ResultNotDecodable(_)))));
            let mut values = vec![5u64];
            assert!(unpack_onto::<u64>(3, Ok(bytes), &mut values).is_err());
            assert_eq!(values, [5], "a failed decode leaves the values as they were");
        }
        let decoded = decode_outcome::<u64, TaskError>(&[9, 9], 2, TaskError::ResultNotDecodable);
        assert!(decoded
            .iter()
            .all(|r| matches!(r, Err(TaskError::ResultNotDecodable(_)))));
    }

    #[test]
    fn a_map_assembles_chunks_in_order_whatever_order_they_arrive_in() {
        let chunk = |start: u64| outcome(ChunkOutcome::AllOk((start..start + 3).collect::<Vec<u64>>()));
        let mut sink = MapSink::<u64>::new(9);
        sink.deliver(6, 3, Ok(&chunk(6)));
        sink.deliver(0, 3, Ok(&chunk(0)));
        sink.deliver(3, 3, Ok(&chunk(3)));
        sink.settle();
        let values = sink.take_value();
        assert_eq!(values, Some(Ok((0..9).collect())));
    }

    #[test]
    fn a_failed_task_fails_the_map_with_the_earliest_error() {
        let mixed = outcome(ChunkOutcome::<u64>::Mixed(vec![
            Ok(3),
            Err(TaskError::ResultNotSerializable("late".into())),
        ]));
        let early = outcome(ChunkOutcome::<u64>::Mixed(vec![
            Err(TaskError::ResultNotSerializable("early".into())),
            Ok(1),
        ]));
        let mut sink = MapSink::<u64>::new(4);
        sink.deliver(2, 2, Ok(&mixed));
        sink.deliver(0, 2, Ok(&early));
        sink.settle();
        assert_eq!(
            sink.take_value(),
            Some(Err(TaskError::ResultNotSerializable("early".into())))
        );
    }
}
