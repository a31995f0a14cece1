//! How a task travels between ranks: the code by reference, the data by value.
//!
//! forkway-pool sends a task's code as the address of a *trampoline* (a generic function
//! instantiated for the task's type), which is valid in every worker because fork copies the
//! address space. MPI ranks are not forked from one another: `mpirun` starts the same executable
//! N times, and address-space layout randomization loads it at a different base address in each
//! process. What is the same in every rank is the *layout* of the executable, so a trampoline
//! travels as its offset from a fixed function of the same program ([`anchor`]), and each worker
//! adds its own base back. [`fingerprint`] lets the pool check, when it starts, that every rank
//! really runs the same build.

use std::cell::{Cell, RefCell};
use std::panic::{catch_unwind, AssertUnwindSafe};

use forkway_ipc::codec;
use forkway_pool::StarFn;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::TaskError;

/// The worker side of one task kind: decodes a chunk of arguments, runs the task on each, and
/// encodes the chunk's outcome into the buffer. The `i32` is the worker's rank (for errors).
pub(crate) type Trampoline = fn(&[u8], &mut Vec<u8>, i32);

/// Message tags: a communicator delivers messages between two ranks in order per tag, and a
/// receive can choose the tag it waits for.
pub(crate) mod tag {
    /// Rank 0 → worker: a chunk to run ([`ToWorker`](super::ToWorker)).
    pub const TASK: i32 = 1;
    /// Rank 0 → worker: no more work, leave the loop (empty message).
    pub const STOP: i32 = 2;
    /// Worker → rank 0: a chunk's outcome ([`FromWorker`](super::FromWorker)).
    pub const RESULT: i32 = 3;
}

/// A chunk of work for one worker.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct ToWorker {
    /// The chunk's number, unique in the pool; the reply carries it back.
    pub(crate) seq: u64,
    /// The trampoline's offset from [`anchor`] (see [`trampoline_at`]).
    pub(crate) run: i64,
    /// The chunk's arguments, encoded as a sequence.
    #[serde(with = "serde_bytes")]
    pub(crate) args: Vec<u8>,
}

/// A worker's reply: the chunk's number and its outcome (a `ChunkOutcome` of the task's result
/// type, encoded).
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct FromWorker {
    /// The `seq` of the [`ToWorker`] this answers.
    pub(crate) seq: u64,
    /// The encoded outcome.
    #[serde(with = "serde_bytes")]
    pub(crate) outcome: Vec<u8>,
}

/// What a chunk came to: the process pool's shape and encoder (one wire format, one piece of
/// code), over this crate's [`TaskError`].
pub(crate) type ChunkOutcome<R> = forkway_pool::wire::ChunkOutcome<R, TaskError>;

impl forkway_pool::wire::OutcomeError for TaskError {
    fn not_serializable(why: String) -> TaskError {
        TaskError::ResultNotSerializable(why)
    }
}

/// The fixed point every trampoline is measured from. Never called: only its address matters.
#[inline(never)]
fn anchor() {}

fn anchor_address() -> usize {
    anchor as fn() as usize
}

const MUST_NOT_CAPTURE: &str = "an MpiPool task must be a fn item or a closure that captures nothing: \
the worker ranks are other processes, started by mpirun, and a captured variable lives only in rank 0's \
memory. Pass the data as the task's argument instead (it travels serialized).";

/// The offset of `f` from [`anchor`] in this executable.
fn offset_of(f: Trampoline) -> i64 {
    // Addresses of one executable image differ by less than its size, far below 2^63.
    (f as usize).wrapping_sub(anchor_address()) as i64
}

/// The offset of the trampoline for `F: Fn(A) -> R`. Fails to compile for a capturing `F`.
pub(crate) fn trampoline<F, A, R>(_task: F) -> i64
where
    F: Fn(A) -> R + Copy,
    A: DeserializeOwned,
    R: Serialize,
{
    const { assert!(std::mem::size_of::<F>() == 0, "{}", MUST_NOT_CAPTURE) };
    offset_of(run_chunk::<A, R, Plain<F>>)
}

/// The offset of the trampoline for a `starmap` task of argument tuple `Args`.
pub(crate) fn star_trampoline<F, Args, R>(_task: F) -> i64
where
    F: StarFn<Args, R>,
    Args: DeserializeOwned,
    R: Serialize,
{
    const { assert!(std::mem::size_of::<F>() == 0, "{}", MUST_NOT_CAPTURE) };
    offset_of(run_chunk::<Args, R, Star<F>>)
}

/// Turns the offset from a task message back into a function of this process.
///
/// # Safety
/// `run` must be a value returned by [`trampoline`] or [`star_trampoline`] in a process running
/// this same executable (the pool checks that with [`fingerprint`] when it starts).
pub(crate) unsafe fn trampoline_at(run: i64) -> Trampoline {
    let address = anchor_address().wrapping_add(run as usize);
    // SAFETY: the caller promises that `run` is a trampoline's offset from `anchor` in this
    // executable, so `anchor`'s address plus `run` is that trampoline in this process.
    unsafe { std::mem::transmute::<usize, Trampoline>(address) }
}

/// What every rank compares at start-up: a trampoline's offset (a different build almost surely
/// moves it) and the size of the executable file.
pub(crate) fn fingerprint() -> [u64; 2] {
    let probe = offset_of(probe) as u64;
    let size = std::env::current_exe()
        .and_then(std::fs::metadata)
        .map_or(0, |m| m.len());
    [probe, size]
}

/// A function placed by the linker like any other: its offset moves when the program changes.
#[inline(never)]
fn probe(_args: &[u8], _out: &mut Vec<u8>, _rank: i32) {}

/// Brings a value of the zero-sized task type `F` into existence in the worker.
fn conjure<F: Copy>() -> F {
    const { assert!(std::mem::size_of::<F>() == 0, "{}", MUST_NOT_CAPTURE) };
    // SAFETY: `F` is zero-sized (checked at compile time above), so there are no bytes to
    // initialize; it is `Copy`, so it has no destructor and no invariant beyond having been
    // constructed once, which rank 0 did when it submitted the task.
    unsafe { std::mem::zeroed() }
}

/// Calls a task of kind `Self` on one argument.
trait Call<A, R> {
    fn call(args: A) -> R;
}

struct Plain<F>(F);

impl<F: Fn(A) -> R + Copy, A, R> Call<A, R> for Plain<F> {
    fn call(arg: A) -> R {
        conjure::<F>()(arg)
    }
}

struct Star<F>(F);

impl<F: StarFn<Args, R>, Args, R> Call<Args, R> for Star<F> {
    fn call(args: Args) -> R {
        conjure::<F>().call_star(args)
    }
}

thread_local! {
    /// True while this thread runs a task: only a task's panic is recorded instead of printed.
    static IN_TASK: Cell<bool> = const { Cell::new(false) };
    /// The message and location of the last task panic, filled by the panic hook.
    static LAST_PANIC: RefCell<Option<(String, String)>> = const { RefCell::new(None) };
}

/// Makes a task's panic recorded for rank 0 instead of printed; a panic elsewhere still goes to
/// the hook that was there before. Installed once per process, by the first worker loop.
pub(crate) fn capture_task_panics() {
    static INSTALL: std::sync::Once = std::sync::Once::new();
    INSTALL.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if IN_TASK.with(Cell::get) {
                let message = payload_text(info.payload());
                let location = info
                    .location()
                    .map_or_else(|| "<unknown>".to_owned(), ToString::to_string);
                LAST_PANIC.with(|p| *p.borrow_mut() = Some((message, location)));
            } else {
                previous(info);
            }
        }));
    });
}

fn payload_text(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "<a panic payload that is not a string>".to_owned()
    }
}

fn run_chunk<A, R, C>(args: &[u8], out: &mut Vec<u8>, rank: i32)
where
    A: DeserializeOwned,
    R: Serialize,
    C: Call<A, R>,
{
    let outcome: ChunkOutcome<R> = match codec::decode::<Vec<A>>(args) {
        Err(e) => ChunkOutcome::Failed(TaskError::ArgsNotDecodable(e.to_string())),
        Ok(args) => {
            let mut ok = Vec::with_capacity(args.len());
            let mut args = args.into_iter();
            loop {
                let Some(arg) = args.next() else {
                    break ChunkOutcome::AllOk(ok);
                };
                match run_one::<A, R, C>(arg, rank) {
                    Ok(value) => ok.push(value),
                    Err(error) => {
                        let mut mixed: Vec<Result<R, TaskError>> = ok.into_iter().map(Ok).collect();
                        mixed.push(Err(error));
                        mixed.extend(args.map(|a| run_one::<A, R, C>(a, rank)));
                        break ChunkOutcome::Mixed(mixed);
                    }
                }
            }
        }
    };
    forkway_pool::wire::encode_outcome(outcome, out);
}

/// The encoded outcome "the whole chunk failed with `error`", whatever the result type.
pub(crate) fn chunk_error(error: TaskError) -> Vec<u8> {
    forkway_pool::wire::encode_failed(error)
}

fn run_one<A, R, C: Call<A, R>>(arg: A, rank: i32) -> Result<R, TaskError> {
    IN_TASK.with(|t| t.set(true));
    let outcome = catch_unwind(AssertUnwindSafe(|| C::call(arg)));
    IN_TASK.with(|t| t.set(false));
    outcome.map_err(|payload| {
        let (message, location) = LAST_PANIC
            .with(|p| p.borrow_mut().take())
            .unwrap_or_else(|| (payload_text(&*payload), "<unknown>".to_owned()));
        TaskError::Panicked {
            message,
            location,
            rank,
        }
    })
}
