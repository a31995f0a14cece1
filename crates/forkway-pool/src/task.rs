//! How a task travels: by reference for the code, by value for the data.
//!
//! Python pickles a function as its qualified name and the worker imports it. A forked worker
//! has no names to look up, but it has something better: the same executable mapped at the same
//! addresses. A non-capturing closure or fn item is a zero-sized type whose only information is
//! the type itself, so the parent sends the address of a *trampoline* monomorphized for that
//! type — `run_chunk::<F, A, R>` — and the worker calls it with the serialized arguments.
//!
//! A capturing closure cannot go this way: its captures live in the parent's memory, made after
//! the workers were forked, and no address can reach them. The size check below turns that
//! into a compile-time error instead of a worker reading garbage.

use std::cell::RefCell;
use std::mem::ManuallyDrop;
use std::panic::{catch_unwind, AssertUnwindSafe};

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::wire::{decode_args, encode_outcome, ChunkOutcome};
use crate::TaskError;

/// The worker side of one task kind: decodes a chunk of arguments, runs the task on each, and
/// encodes the chunk's results into the buffer.
pub(crate) type Trampoline = fn(&[u8], &mut Vec<u8>);

const MUST_NOT_CAPTURE: &str = "a pool task must be a fn item or a closure that captures nothing: \
the workers were forked before this closure existed, so its captured variables cannot reach \
them. Pass the data as the task's argument instead (it travels serialized, like Python's args).";

/// Brings a value of the zero-sized task type `F` into existence in the worker.
///
/// The parent held a real `F` when it submitted the task (it was passed to `apply`/`map`), and
/// a zero-sized `Copy` type carries nothing but its type, so this is the same value.
fn conjure<F: Copy>() -> F {
    const { assert!(std::mem::size_of::<F>() == 0, "{}", MUST_NOT_CAPTURE) };
    // SAFETY: `F` is zero-sized (checked at compile time above), so there are no bytes to
    // initialize; it is `Copy`, so it has no destructor and no invariant beyond having been
    // constructed once, which the submitting parent did.
    unsafe { std::mem::zeroed() }
}

/// The address of the trampoline for `F: Fn(A) -> R`. Fails to compile for a capturing `F`.
///
/// The task value itself is not needed: a zero-sized type's value is its type.
pub(crate) fn trampoline<F, A, R>(_task: F) -> usize
where
    F: Fn(A) -> R + Copy,
    A: DeserializeOwned,
    R: Serialize,
{
    const { assert!(std::mem::size_of::<F>() == 0, "{}", MUST_NOT_CAPTURE) };
    run_chunk::<A, R, Plain<F>> as Trampoline as usize
}

/// The address of the arena trampoline for `F: Fn(A) -> R` (see `arena.rs`).
pub(crate) fn arena_trampoline<F, A, R>(_task: F) -> usize
where
    F: Fn(A) -> R + Copy,
    A: DeserializeOwned,
    R: Serialize + DeserializeOwned + 'static,
{
    const { assert!(std::mem::size_of::<F>() == 0, "{}", MUST_NOT_CAPTURE) };
    run_arena_chunk::<A, R, Plain<F>> as Trampoline as usize
}

/// The arena trampoline for a `starmap` task of argument tuple `Args`.
pub(crate) fn arena_star_trampoline<F, Args, R>(_task: F) -> usize
where
    F: StarFn<Args, R>,
    Args: DeserializeOwned,
    R: Serialize + DeserializeOwned + 'static,
{
    const { assert!(std::mem::size_of::<F>() == 0, "{}", MUST_NOT_CAPTURE) };
    run_arena_chunk::<Args, R, Star<F>> as Trampoline as usize
}

/// The address of the trampoline for a `starmap` task of argument tuple `Args`.
pub(crate) fn star_trampoline<F, Args, R>(_task: F) -> usize
where
    F: StarFn<Args, R>,
    Args: DeserializeOwned,
    R: Serialize,
{
    const { assert!(std::mem::size_of::<F>() == 0, "{}", MUST_NOT_CAPTURE) };
    run_chunk::<Args, R, Star<F>> as Trampoline as usize
}

/// Turns the trampoline address from a task message back into a function.
///
/// # Safety
/// `run` must be a value returned by [`trampoline`] or [`star_trampoline`] in this executable,
/// in this process or in the parent it was forked from (fork keeps every address) — or, in a
/// spawned worker (lesson 7), in the parent, whose address `start::relocate` moves to this
/// process's copy of the executable (a no-op in a forked or forkserver worker).
pub(crate) unsafe fn trampoline_at(run: usize) -> Trampoline {
    // SAFETY: the caller promises `run` is the address of a `Trampoline` in this image, as the
    // parent has it; `relocate` turns it into this process's address of the same function.
    unsafe { std::mem::transmute::<usize, Trampoline>(crate::start::relocate(run)) }
}

/// Calls a task of kind `Self` on one argument.
pub(crate) trait Call<A, R> {
    fn call(args: A) -> R;
}

struct Plain<F>(F);

impl<F: Fn(A) -> R + Copy, A, R> Call<A, R> for Plain<F> {
    fn call(arg: A) -> R {
        conjure::<F>()(arg)
    }
}

struct Star<F>(F);

/// A function `starmap` can call with the fields of a tuple: `Fn(A, B) -> R` for `(A, B)`,
/// up to four fields. Implemented for every such closure and fn item; not implementable
/// elsewhere.
pub trait StarFn<Args, R>: Copy + sealed::Sealed<Args> {
    #[doc(hidden)]
    fn call_star(self, args: Args) -> R;
}

mod sealed {
    pub trait Sealed<Args> {}
}

macro_rules! star_fn {
    ($($t:ident),+) => {
        impl<F, $($t,)+ R> sealed::Sealed<($($t,)+)> for F where F: Fn($($t),+) -> R + Copy {}
        impl<F, $($t,)+ R> StarFn<($($t,)+), R> for F
        where
            F: Fn($($t),+) -> R + Copy,
        {
            #[allow(non_snake_case)]
            fn call_star(self, ($($t,)+): ($($t,)+)) -> R {
                self($($t),+)
            }
        }
    };
}
star_fn!(A, B);
star_fn!(A, B, C);
star_fn!(A, B, C, D);

impl<F: StarFn<Args, R>, Args, R> Call<Args, R> for Star<F> {
    fn call(args: Args) -> R {
        conjure::<F>().call_star(args)
    }
}

thread_local! {
    /// Filled by the worker's panic hook: the message and location of the last panic.
    static LAST_PANIC: RefCell<Option<(String, String)>> = const { RefCell::new(None) };
}

thread_local! {
    /// True while this thread runs a task: only a task's panic goes to the parent. A panic
    /// elsewhere in a worker (its loop, its initializer) is printed like any child's.
    static IN_TASK: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// In the parent, before forking workers: route the workers' task panics to [`record_panic`].
/// (Changing the panic hook in the child could deadlock on a lock another parent thread held
/// at fork time; this only stores a function address.)
pub(crate) fn install_panic_handler() {
    forkway_process::set_child_panic_handler(record_panic);
}

/// A task's panic is recorded for the parent instead of printed: Python's worker, too, sends
/// the traceback instead of printing it.
pub(crate) fn record_panic(info: &std::panic::PanicHookInfo<'_>) -> bool {
    if !IN_TASK.with(std::cell::Cell::get) {
        return false;
    }
    let message = forkway_process::panic_message(info);
    let location = info
        .location()
        .map_or_else(|| "<unknown>".to_owned(), ToString::to_string);
    LAST_PANIC.with(|p| *p.borrow_mut() = Some((message, location)));
    true
}

fn run_chunk<A, R, C>(args: &[u8], out: &mut Vec<u8>)
where
    A: DeserializeOwned,
    R: Serialize,
    C: Call<A, R>,
{
    let outcome: ChunkOutcome<R> = match decode_args::<A>(args) {
        Err(error) => ChunkOutcome::Failed(error),
        Ok(args) => {
            let mut ok = Vec::with_capacity(args.len());
            let mut args = args.into_iter();
            loop {
                let Some(arg) = args.next() else {
                    break ChunkOutcome::AllOk(ok);
                };
                match run_one::<A, R, C>(arg) {
                    Ok(value) => ok.push(value),
                    Err(error) => {
                        // The slow path from here on: one Result per task.
                        let mut mixed: Vec<Result<R, TaskError>> = ok.into_iter().map(Ok).collect();
                        mixed.push(Err(error));
                        mixed.extend(args.map(run_one::<A, R, C>));
                        break ChunkOutcome::Mixed(mixed);
                    }
                }
            }
        }
    };
    encode_outcome(outcome, out);
}

fn run_arena_chunk<A, R, C>(task: &[u8], out: &mut Vec<u8>)
where
    A: DeserializeOwned,
    R: Serialize + DeserializeOwned + 'static,
    C: Call<A, R>,
{
    crate::arena::work::<A, R, Tasks<C>>(task, out);
}

/// Runs tasks of kind `C` in a batch: what `arena.rs` calls, without naming `C`.
pub(crate) trait Batch<A, R> {
    /// [`run_until_panic`] for these tasks.
    fn run_until_panic(args: &mut Args<A>, store: impl FnMut(usize, R)) -> Result<(), TaskError>;
    /// [`run_read_until_panic`] for these tasks.
    fn run_read_until_panic(
        next: &mut usize,
        count: usize,
        args: &impl ReadArgs<A>,
        store: impl FnMut(usize, R),
    ) -> Result<(), TaskError>;
}

/// Where [`run_read_until_panic`] reads its tasks' arguments from, one by one.
pub(crate) trait ReadArgs<A> {
    /// Argument `i`.
    fn arg(&self, i: usize) -> Result<A, TaskError>;
}

pub(crate) struct Tasks<C>(std::marker::PhantomData<C>);

impl<A, R, C: Call<A, R>> Batch<A, R> for Tasks<C> {
    #[inline]
    fn run_until_panic(args: &mut Args<A>, store: impl FnMut(usize, R)) -> Result<(), TaskError> {
        run_until_panic::<A, R, C>(args, store)
    }

    #[inline]
    fn run_read_until_panic(
        next: &mut usize,
        count: usize,
        args: &impl ReadArgs<A>,
        store: impl FnMut(usize, R),
    ) -> Result<(), TaskError> {
        run_read_until_panic::<A, R, C>(next, count, args, store)
    }
}

/// A chunk's arguments, taken one by one by index: what is left of them when a task panics
/// is known without a counter the loop would have to keep in memory.
pub(crate) struct Args<A> {
    values: Vec<ManuallyDrop<A>>,
    /// The index of the first argument not yet taken.
    next: usize,
}

impl<A> Args<A> {
    pub(crate) fn new(values: Vec<A>) -> Args<A> {
        let mut values = ManuallyDrop::new(values);
        let (ptr, len, cap) = (values.as_mut_ptr(), values.len(), values.capacity());
        // SAFETY: `ManuallyDrop<A>` has `A`'s layout (`repr(transparent)`), so this is the
        // same allocation with the same elements; the original vector is forgotten.
        let values = unsafe { Vec::from_raw_parts(ptr.cast::<ManuallyDrop<A>>(), len, cap) };
        Args { values, next: 0 }
    }

    /// How many arguments were taken (the last of them by the task that panicked, after a
    /// panic).
    pub(crate) fn taken(&self) -> usize {
        self.next
    }

    /// Whether every argument was taken.
    pub(crate) fn is_done(&self) -> bool {
        self.next >= self.values.len()
    }
}

impl<A> Drop for Args<A> {
    fn drop(&mut self) {
        let next = self.next.min(self.values.len());
        for value in &mut self.values[next..] {
            // SAFETY: arguments from `next` on were never taken, so each is dropped once.
            unsafe { ManuallyDrop::drop(value) };
        }
    }
}

/// Runs the task on the arguments not yet taken, in order, handing each result and its index
/// to `store`, until one panics: that task's error (the arguments after it are still there, for
/// another call). One unwinding guard for the whole run instead of one per task, which costs a
/// call each (here the task is inlined into the loop): a panic is still its task's own error,
/// and the tasks after it still run.
fn run_until_panic<A, R, C: Call<A, R>>(
    args: &mut Args<A>,
    mut store: impl FnMut(usize, R),
) -> Result<(), TaskError> {
    if forkway_trace::begin().is_some() {
        // Tracing: one event per task, as on the ordinary path.
        while let Some(value) = args.values.get_mut(args.next) {
            let i = args.next;
            args.next += 1;
            // SAFETY: argument `i` was not taken (`next` was `i`), and `next` moved past it.
            let arg = unsafe { ManuallyDrop::take(value) };
            store(i, run_one::<A, R, C>(arg)?);
        }
        return Ok(());
    }
    IN_TASK.with(|t| t.set(true));
    // `store` only writes a value where it belongs; it cannot panic.
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        let values: &mut [ManuallyDrop<A>] = &mut args.values;
        let len = values.len();
        let mut i = args.next;
        let next: &mut usize = &mut args.next;
        while i < len {
            // Published before the call, so that a panic leaves it past this argument.
            *next = i + 1;
            // SAFETY: argument `i` was not taken (`next` was `i`), and `next` moved past it.
            let arg = unsafe { ManuallyDrop::take(&mut values[i]) };
            store(i, C::call(arg));
            i += 1;
        }
    }));
    IN_TASK.with(|t| t.set(false));
    outcome.map_err(panic_error)
}

/// As [`run_until_panic`], for tasks `*next .. count` whose arguments are read one by one as
/// they run (`arg(i)`, from the arena) instead of taken from a vector: one pass over the
/// arguments instead of two. An argument that `arg` cannot give is that task's error, like a
/// panic (the caller has already checked that every argument reads, so this is for a type
/// whose `Deserialize` changes its mind).
fn run_read_until_panic<A, R, C: Call<A, R>>(
    next: &mut usize,
    count: usize,
    args: &impl ReadArgs<A>,
    mut store: impl FnMut(usize, R),
) -> Result<(), TaskError> {
    if forkway_trace::begin().is_some() {
        // Tracing: one event per task, as on the ordinary path.
        while *next < count {
            let i = *next;
            *next += 1;
            store(i, run_one::<A, R, C>(args.arg(i)?)?);
        }
        return Ok(());
    }
    IN_TASK.with(|t| t.set(true));
    // `store` only writes a value where it belongs; it cannot panic. A `move` closure: what
    // it uses are its own locals, kept in registers, not reloaded after every store.
    let outcome = catch_unwind(AssertUnwindSafe(move || {
        let mut i = *next;
        while i < count {
            // Published before the call, so that a panic leaves it past this argument.
            *next = i + 1;
            store(i, C::call(args.arg(i)?));
            i += 1;
        }
        Ok(())
    }));
    IN_TASK.with(|t| t.set(false));
    outcome.map_err(panic_error)?
}

fn run_one<A, R, C: Call<A, R>>(arg: A) -> Result<R, TaskError> {
    let start = forkway_trace::begin();
    IN_TASK.with(|t| t.set(true));
    let outcome = catch_unwind(AssertUnwindSafe(|| C::call(arg)));
    IN_TASK.with(|t| t.set(false));
    if let Some(start) = start {
        let ok = forkway_trace::Arg::Int(outcome.is_ok().into());
        forkway_trace::complete(start, "pool", "task", 0, &[("ok", ok)]);
    }
    outcome.map_err(panic_error)
}

/// The error of a task that panicked with `payload`.
fn panic_error(payload: Box<dyn std::any::Any + Send>) -> TaskError {
    {
        if forkway_process::requested_exit_code(payload.as_ref()).is_some() {
            // `forkway::exit(n)` in a task ends the worker with that code, as it would end any
            // child (and as `std::process::exit` does): the parent reports `WorkerDied` for
            // this task and starts a replacement. Python's `sys.exit` in a task ends its worker
            // too. Not a panic, so not `Panicked`.
            std::panic::resume_unwind(payload);
        }
        let (message, location) = LAST_PANIC
            .with(|p| p.borrow_mut().take())
            .unwrap_or_else(|| ("<no message>".to_owned(), "<unknown>".to_owned()));
        TaskError::Panicked {
            message,
            location,
            pid: std::process::id(),
        }
    }
}
