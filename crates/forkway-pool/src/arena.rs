//! The shared arena: where a `map` of plain data puts its arguments and the workers put its
//! results, so that neither crosses a queue.
//!
//! A `map` of 100 000 `u64`s through the queues copies every argument and every result five
//! times (into a frame, into the ring, out of it, into a vector) and decodes each one
//! in the pool's format. Through the arena, the parent writes each argument once, as a plain
//! record (`plain.rs`); a worker reads its chunk's records in place, runs the task, and stores
//! each result at its item's index in the result area; its reply on the result queue is one
//! byte, "the chunk's results are in the arena", and the parent copies them into the `Vec<R>`.
//!
//! The queues still carry every chunk, so supervision is unchanged: a worker killed mid-chunk
//! is found as before, and its chunk answered with `WorkerDied`. A chunk's results are read
//! only after its worker's reply, so a result area half written by a dead worker is never read.
//!
//! The arena is one sparse memfd mapping per pool, made before the workers start (a forked
//! worker inherits it, a forkserver or spawn worker maps its memfd, sent like the shared
//! page's). One job holds it at a time (a [`Lease`]), from submission until every chunk is
//! answered — a worker's reply or death, or `terminate` — so no worker can still write into the
//! areas a next job is given. A job that finds it taken, or too small, goes by the queues.
//! When a job gives it back, pages beyond [`KEEP`] go back to the kernel.

use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicUsize, Ordering};
use std::sync::Arc;

use forkway_sys::Shm;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::plain::{kind_of, width_of, Kind, NotPlain, OneField, OneFieldRecords, RawOut, RecordWriter};
use crate::supervise::Shared;
use crate::task::{Args, Batch, ReadArgs};
use crate::wire::{encode_outcome, ChunkOutcome};
use crate::TaskError;

/// The arena's size: address space only, pages cost memory once touched.
pub(crate) const SIZE: usize = 1 << 30;

/// What a released arena keeps of the pages it touched (reused by the next map at no cost).
const KEEP: usize = 16 << 20;

/// The reply of a worker whose chunk's results are all in the arena: one byte, a value no
/// `ChunkOutcome` (variant 0, 1 or 2) and no plain reply starts with.
pub(crate) const ARENA_REPLY: u8 = 249;

/// The pool's arena and whether a job holds it.
pub(crate) struct Arena {
    pub(crate) shm: Shm,
    taken: AtomicBool,
    /// The highest offset a job has written to since pages were last released.
    high: AtomicUsize,
}

impl Arena {
    /// A new arena, memfd-backed so that workers started by forkserver or spawn can map it.
    /// `None` when the memory cannot be mapped: maps then go by the queues.
    pub(crate) fn new() -> Option<Arena> {
        let shm = Shm::new_sendable(SIZE).ok()?;
        Some(Arena::from_shm(shm))
    }

    pub(crate) fn from_shm(shm: Shm) -> Arena {
        Arena {
            shm,
            taken: AtomicBool::new(false),
            high: AtomicUsize::new(0),
        }
    }
}

/// A job's hold on its pool's arena; given back when dropped.
pub(crate) struct Lease {
    shared: Arc<Shared>,
}

impl Lease {
    /// The arena of `shared`, if it has one and no job holds it.
    pub(crate) fn take(shared: &Arc<Shared>) -> Option<Lease> {
        let arena = shared.arena.as_ref()?;
        arena
            .taken
            .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
            .ok()?;
        Some(Lease {
            shared: Arc::clone(shared),
        })
    }

    pub(crate) fn arena(&self) -> &Arena {
        self.shared.arena.as_ref().expect("a lease is taken on an arena")
    }

    /// Records that the job writes up to `end`.
    pub(crate) fn used(&self, end: usize) {
        self.arena().high.fetch_max(end, Ordering::Relaxed);
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        let arena = self.arena();
        let high = arena.high.load(Ordering::Relaxed);
        if high > KEEP {
            // Every chunk of the job is answered: no worker touches these pages any more.
            arena.shm.release(KEEP, high);
            arena.high.store(KEEP, Ordering::Relaxed);
        }
        arena.taken.store(false, Ordering::Release);
    }
}

/// This worker's view of its pool's arena, set once before it takes its first task (the
/// trampolines have no other way to reach it).
static WORKER_ARENA: AtomicPtr<u8> = AtomicPtr::new(std::ptr::null_mut());
static WORKER_ARENA_LEN: AtomicUsize = AtomicUsize::new(0);

/// In a worker, before its loop: remembers where the arena is mapped.
pub(crate) fn set_worker_arena(shared: &Shared) {
    if let Some(arena) = &shared.arena {
        WORKER_ARENA_LEN.store(arena.shm.size(), Ordering::SeqCst);
        WORKER_ARENA.store(arena.shm.ptr(), Ordering::SeqCst);
    }
}

/// In a worker: the arena's start and size, if it has one.
pub(crate) fn worker_arena() -> Option<(*mut u8, usize)> {
    let ptr = WORKER_ARENA.load(Ordering::SeqCst);
    (!ptr.is_null()).then(|| (ptr, WORKER_ARENA_LEN.load(Ordering::SeqCst)))
}

/// A job's chunks as `Pool::submit` takes them: first item, length, task message.
pub(crate) type Chunks = Vec<(usize, usize, Vec<u8>)>;

/// A map's arguments written into a leased arena as plain records, and its chunks' task
/// messages: `None` when the items are not plain records of one shape or do not fit (nothing
/// is sent either way; the caller takes the queues).
pub(crate) fn encode_job<A: Serialize>(
    lease: &Lease,
    items: &[A],
    size: usize,
    result: Kind,
) -> Option<(usize, Chunks)> {
    let arena = &lease.arena().shm;
    let mut writer = RecordWriter::new();
    // The first item teaches the shape; it is written again below, in its place.
    writer.record(items.first()?, &mut Vec::new()).ok()?;
    let n = items.len();
    let args_len = n.checked_mul(writer.width())?;
    let results_at = args_len.next_multiple_of(8);
    let end = results_at.checked_add(n.checked_mul(result.width())?)?;
    if end > arena.size() {
        return None;
    }
    lease.used(end);
    // SAFETY: `[0, args_len)` is inside the mapping (checked above), which the lease keeps
    // alive; the lease also means no worker reads or writes the arena until the chunks below
    // are sent (a previous job's chunks are all answered).
    let mut out = unsafe { RawOut::new(arena.ptr(), args_len) };
    if let Some(kind) = writer.single() {
        // One field a record, as one store each (any refusal: the general writer below).
        let width = kind.width();
        let all = items.iter().enumerate().all(|(i, value)| {
            // SAFETY: item `i`'s record, inside `[0, args_len)` (as above).
            unsafe { OneField::new(kind, arena.ptr().add(i * width)) }
                .write(value)
                .is_ok()
        });
        if all {
            out.skip(args_len);
        }
    }
    let mut chunks = Vec::with_capacity(n.div_ceil(size));
    for (i, chunk) in items.chunks(size).enumerate() {
        let start = i * size;
        if out.written() < args_len {
            for value in chunk {
                writer.record(value, &mut out).ok()?;
            }
        }
        let mut task = Vec::with_capacity(64);
        writer.header(chunk.len(), &mut task);
        let args_at = start * writer.width();
        task.extend_from_slice(&(args_at as u64).to_le_bytes());
        task.extend_from_slice(&((results_at + start * result.width()) as u64).to_le_bytes());
        task.push(result as u8);
        chunks.push((start, chunk.len(), task));
    }
    debug_assert_eq!(out.written(), args_len);
    Some((results_at, chunks))
}

/// In a worker: runs an arena chunk (its task message made by [`encode_job`]), storing each
/// result in its place and answering [`ARENA_REPLY`] in `out`; when a task fails, the whole
/// chunk's outcome goes back by the queue, as on the ordinary path.
pub(crate) fn work<A, R, B>(task: &[u8], out: &mut Vec<u8>)
where
    A: DeserializeOwned,
    R: Serialize + DeserializeOwned + 'static,
    B: Batch<A, R>,
{
    let outcome = match work_in_arena::<A, R, B>(task) {
        Ok(None) => {
            out.clear();
            out.push(ARENA_REPLY);
            return;
        }
        Ok(Some(mixed)) => ChunkOutcome::Mixed(mixed),
        Err(error) => ChunkOutcome::Failed(error),
    };
    encode_outcome::<R, TaskError>(outcome, out);
}

/// One result per task of a chunk.
type Mixed<R> = Vec<Result<R, TaskError>>;

/// `Ok(None)`: every result is in the arena. `Ok(Some(_))`: some task failed, here is every
/// result. `Err`: the chunk could not run.
fn work_in_arena<A, R, B>(task: &[u8]) -> Result<Option<Mixed<R>>, TaskError>
where
    A: DeserializeOwned,
    R: Serialize + DeserializeOwned + 'static,
    B: Batch<A, R>,
{
    let bad = |why: &str| TaskError::ArgsNotDecodable(format!("an arena chunk {why}"));
    let (base, size) = worker_arena().ok_or_else(|| bad("reached a worker without the arena"))?;
    let (shape, count, rest) = crate::plain::parse_header(task).map_err(|e| bad(&e.to_string()))?;
    let [a0, a1, a2, a3, a4, a5, a6, a7, r0, r1, r2, r3, r4, r5, r6, r7, kind] = *rest else {
        return Err(bad("with a task message of the wrong length"));
    };
    let args_at = usize::try_from(u64::from_le_bytes([a0, a1, a2, a3, a4, a5, a6, a7]));
    let results_at = usize::try_from(u64::from_le_bytes([r0, r1, r2, r3, r4, r5, r6, r7]));
    let kind = Kind::from_byte(kind).filter(|k| Some(*k) == kind_of::<R>());
    let (Ok(args_at), Ok(results_at), Some(kind)) = (args_at, results_at, kind) else {
        return Err(bad("with a corrupt task message"));
    };
    let inside = |at: usize, width: usize| {
        count
            .checked_mul(width)
            .and_then(|len| Some((len, at.checked_add(len)?)))
            .filter(|(_, end)| *end <= size)
    };
    let (Some((args_len, _)), Some(_)) = (
        inside(args_at, width_of(&shape)),
        inside(results_at, kind.width()),
    ) else {
        return Err(bad("outside the arena"));
    };
    // SAFETY: the range is inside the arena's mapping (checked above), which lives as long as
    // this process; the parent wrote it before sending this chunk, and nobody writes it while
    // the chunk runs (the parent's lease; each chunk its own items).
    let records = unsafe { std::slice::from_raw_parts(base.add(args_at), args_len) };
    let results = base.wrapping_add(results_at);
    let (failed, unwritable) = match *shape {
        [field] => run_one_field::<A, R, B>(field, records, count, results, kind)?,
        _ => {
            // All the arguments first, as on the ordinary path: one that does not decode
            // fails the chunk before any task of it runs.
            let args: Vec<A> = crate::plain::decode_records(&shape, count, records)
                .map_err(|e| TaskError::ArgsNotDecodable(e.to_string()))?;
            run_decoded::<A, R, B>(args, results, kind)
        }
    };
    if unwritable {
        return Err(TaskError::ResultNotSerializable(
            "a result that is not the primitive its type is".to_owned(),
        ));
    }
    let width = kind.width();
    if failed.is_empty() {
        return Ok(None);
    }
    // Some task failed: every result goes back by the queue, one Result per task, as on the
    // ordinary path.
    let mut failed = failed.into_iter().peekable();
    let mut mixed = Vec::with_capacity(count);
    for item in 0..count {
        if failed.peek().is_some_and(|(at, _)| *at == item) {
            mixed.extend(failed.next().map(|(_, error)| Err(error)));
            continue;
        }
        // SAFETY: item `item`'s slot, which this worker wrote (its task returned).
        let bytes = unsafe { std::slice::from_raw_parts(results.add(item * width), width) };
        let mut value = Vec::with_capacity(1);
        crate::plain::read_results::<R>(kind, bytes, &mut value)
            .map_err(|e| TaskError::ResultNotSerializable(e.to_string()))?;
        mixed.extend(value.pop().map(Ok));
    }
    Ok(Some(mixed))
}

/// The tasks of a chunk that failed (item, error), and whether a result could not be stored.
type Ran = (Vec<(usize, TaskError)>, bool);

/// Stores item `i`'s result in its slot of the chunk's result area at `results`.
///
/// # Safety
/// `results` must be the chunk's result area (inside the arena, written only by this worker),
/// with room for item `i`'s result of `kind`, `R`'s own kind.
#[inline]
unsafe fn store<R: Serialize + 'static>(results: *mut u8, kind: Kind, i: usize, value: &R) -> bool {
    // SAFETY: item `i`'s slot, inside the chunk's result area (the caller's promise).
    let slot = unsafe { results.add(i * kind.width()) };
    // `kind` is `R`'s own (`kind_of`): only a broken Serialize is refused.
    // SAFETY: as above.
    unsafe { OneField::store(kind, slot, value) }.is_ok()
}

/// Runs a chunk whose arguments are already decoded, each result stored in its slot; a task
/// that panicked leaves its slot unwritten and its error in the list.
fn run_decoded<A, R, B>(args: Vec<A>, results: *mut u8, kind: Kind) -> Ran
where
    R: Serialize + 'static,
    B: Batch<A, R>,
{
    let mut args = Args::new(args);
    let mut failed: Vec<(usize, TaskError)> = Vec::new();
    let mut unwritable = false;
    loop {
        // SAFETY: `i < count`, the chunk's result area's length in results (the caller's
        // check in `work_in_arena`), which only this worker writes.
        let put = |i: usize, value: R| unwritable |= !unsafe { store(results, kind, i, &value) };
        match B::run_until_panic(&mut args, put) {
            Ok(()) => break,
            Err(error) => {
                // The panicking task's argument was taken: the next one is after it.
                failed.push((args.taken() - 1, error));
                if args.is_done() {
                    break;
                }
            }
        }
    }
    (failed, unwritable)
}

/// Runs a chunk of one-field records, each task reading its argument where it lies in the
/// arena (one pass over the arguments, not a copy into a vector and a second pass over it).
/// Every argument is checked first, as on the ordinary path: a chunk with one that does not
/// decode runs none of its tasks.
fn run_one_field<A, R, B>(
    field: Kind,
    records: &[u8],
    count: usize,
    results: *mut u8,
    kind: Kind,
) -> Result<Ran, TaskError>
where
    A: DeserializeOwned,
    R: Serialize + 'static,
    B: Batch<A, R>,
{
    macro_rules! by_field {
        ($($k:ident),*) => {
            match field {
                $(Kind::$k => run_records::<A, R, B, { Kind::$k as u8 }>(records, count, results, kind),)*
            }
        };
    }
    by_field!(Bool, U8, U16, U32, U64, I8, I16, I32, I64, F32, F64, Char)
}

fn run_records<A, R, B, const K: u8>(
    records: &[u8],
    count: usize,
    results: *mut u8,
    kind: Kind,
) -> Result<Ran, TaskError>
where
    A: DeserializeOwned,
    R: Serialize + 'static,
    B: Batch<A, R>,
{
    let not_decodable = |e: NotPlain| TaskError::ArgsNotDecodable(e.to_string());
    let args = OneFieldRecords::<K>::new(records).map_err(not_decodable)?;
    if args.len() != count {
        return Err(TaskError::ArgsNotDecodable(
            "an arena chunk with a corrupt task message".to_owned(),
        ));
    }
    args.check::<A>().map_err(not_decodable)?;
    let mut failed: Vec<(usize, TaskError)> = Vec::new();
    let mut unwritable = false;
    let mut next = 0;
    while next < count {
        let flag = &mut unwritable;
        let put = move |i: usize, value: R| {
            // SAFETY: `i < count`, the chunk's result area's length in results (the caller's
            // check in `work_in_arena`), which only this worker writes.
            if !unsafe { store(results, kind, i, &value) } {
                *flag = true;
            }
        };
        if let Err(error) = B::run_read_until_panic(&mut next, count, &args, put) {
            // The failed task's index was taken: the next one is after it.
            failed.push((next - 1, error));
        }
    }
    Ok((failed, unwritable))
}

impl<A: DeserializeOwned, const K: u8> ReadArgs<A> for OneFieldRecords<'_, K> {
    #[inline(always)]
    fn arg(&self, i: usize) -> Result<A, TaskError> {
        self.get::<A>(i)
            .map_err(|e| TaskError::ArgsNotDecodable(e.to_string()))
    }
}

/// Where a map's results are, for its sink in the parent.
pub(crate) struct ResultArea {
    pub(crate) lease: Lease,
    /// The offset of item 0's result.
    pub(crate) at: usize,
    pub(crate) kind: Kind,
}

impl ResultArea {
    /// Appends the results of items `start .. start + len` to `values`.
    pub(crate) fn read<R: DeserializeOwned + 'static>(
        &self,
        start: usize,
        len: usize,
        values: &mut Vec<R>,
    ) -> Result<(), TaskError> {
        let arena = &self.lease.arena().shm;
        let width = self.kind.width();
        let range = start
            .checked_mul(width)
            .and_then(|from| from.checked_add(self.at))
            .and_then(|from| Some((from, from.checked_add(len.checked_mul(width)?)?)))
            .filter(|(_, to)| *to <= arena.size());
        let Some((from, to)) = range else {
            return Err(TaskError::ResultNotDecodable(
                "a result outside the arena".to_owned(),
            ));
        };
        // SAFETY: inside the mapping (checked above), kept alive by the lease; this chunk's
        // worker has replied, so nobody writes these bytes any more.
        let bytes = unsafe { std::slice::from_raw_parts(arena.ptr().add(from), to - from) };
        crate::plain::read_results(self.kind, bytes, values)
            .map_err(|e| TaskError::ResultNotDecodable(e.to_string()))
    }
}
