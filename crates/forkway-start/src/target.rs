//! How a target reaches a process that did not inherit the caller's memory.
//!
//! Under `fork` the child is a copy of the caller, so any closure works. A forkserver child is
//! a copy of the *server*, forked before the caller made its closures; a spawned child is a
//! fresh run of the executable. Neither can see values the caller captured. What both do have
//! is the same executable: the server has it at the caller's addresses (fork keeps them), a
//! spawned child at other addresses (ASLR) but with the same layout. So a target travels as the
//! *offset* of its entry function from an anchor function in this crate, and its arguments
//! travel serialized — Python's model, where a function pickles as its qualified name.
//!
//! Only a target with nothing to carry can travel as an offset: a fn item or a closure that
//! captures nothing, a zero-sized type. The size check below makes a capturing closure a
//! compile-time error (the same rule as the process pool's tasks).

use std::cell::RefCell;
use std::os::fd::OwnedFd;

use forkway_process::IntoExitCode;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// The text of the compile-time error for a capturing target.
pub(crate) const MUST_NOT_CAPTURE: &str = "a forkserver or spawn target must be a fn item or a \
closure that captures nothing: the child does not share the caller's memory (it is a copy of \
the forkserver, or a fresh run of the program), so captured variables cannot reach it. Pass the \
data in the args tuple instead (it travels serialized, like Python's args). Under fork, \
forkway_process::Process::new accepts any closure.";

/// The child side of one target type: decodes the argument tuple and runs the target.
pub(crate) type Entry = fn(&[u8]) -> i32;

/// Something a start method can run with the argument tuple `Args`: `Fn() -> R` with `()`,
/// `Fn(A) -> R` with `(A,)`, up to four arguments, where `R` is an exit code (`()`, `i32`, a
/// `Result`). Implemented for every such fn item and closure; the capture check happens when a
/// process is made from it.
pub trait Target<Args>: Copy + Send + 'static + sealed::Sealed<Args> {
    #[doc(hidden)]
    fn call_with(self, args: Args) -> i32;
}

mod sealed {
    pub trait Sealed<Args> {}
}

macro_rules! target_fn {
    ($($t:ident),*) => {
        impl<F, $($t,)* R> sealed::Sealed<($($t,)*)> for F
        where
            F: Fn($($t),*) -> R + Copy + Send + 'static,
            R: IntoExitCode,
        {
        }
        impl<F, $($t,)* R> Target<($($t,)*)> for F
        where
            F: Fn($($t),*) -> R + Copy + Send + 'static,
            R: IntoExitCode,
        {
            #[allow(non_snake_case, clippy::unused_unit)]
            fn call_with(self, ($($t,)*): ($($t,)*)) -> i32 {
                self($($t),*).into_exit_code()
            }
        }
    };
}
target_fn!();
target_fn!(A);
target_fn!(A, B);
target_fn!(A, B, C);
target_fn!(A, B, C, D);

/// The fixed point offsets are measured from. Never called; only its address matters.
#[inline(never)]
fn anchor(_: &[u8]) -> i32 {
    0
}

// ANCHOR: entry_offset
/// The offset of `F`'s entry function from [`anchor`]. Fails to compile for a capturing `F`.
pub(crate) fn entry_offset<F, Args>(_target: F) -> i64
where
    F: Target<Args>,
    Args: DeserializeOwned,
{
    const { assert!(std::mem::size_of::<F>() == 0, "{}", MUST_NOT_CAPTURE) };
    // ANCHOR: exercise_7_1
    let entry = run_entry::<F, Args> as Entry as usize;
    (entry as i64).wrapping_sub(anchor as Entry as usize as i64)
    // ANCHOR_END: exercise_7_1
}
// ANCHOR_END: entry_offset

/// The entry function at `offset` from [`anchor`].
///
/// # Safety
/// `offset` must come from [`entry_offset`] in a process running the same executable file
/// (checked by the caller with [`Payload::exe`]).
pub(crate) unsafe fn entry_at(offset: i64) -> Entry {
    let address = (anchor as Entry as usize as i64).wrapping_add(offset) as usize;
    // SAFETY: the caller promises `offset` was measured from `anchor` to an `Entry` in this very
    // executable, whose layout is the same in every process that runs it.
    unsafe { std::mem::transmute::<usize, Entry>(address) }
}

fn run_entry<F, Args>(args: &[u8]) -> i32
where
    F: Target<Args>,
    Args: DeserializeOwned,
{
    let fds = PENDING_FDS.with(|p| std::mem::take(&mut *p.borrow_mut()));
    match forkway_ipc::fds::decode_with_fds::<Args>(args, fds) {
        Ok(args) => conjure::<F>().call_with(args),
        Err(e) => {
            eprintln!("forkway: the target's arguments did not decode: {e}");
            1
        }
    }
}

/// Brings a value of the zero-sized target type `F` into existence in the child.
fn conjure<F: Copy>() -> F {
    const { assert!(std::mem::size_of::<F>() == 0, "{}", MUST_NOT_CAPTURE) };
    // SAFETY: `F` is zero-sized (checked at compile time), so there are no bytes to initialize;
    // it is `Copy`, so it has no destructor; the caller held a real `F` when it made the process.
    unsafe { std::mem::zeroed() }
}

thread_local! {
    /// The descriptors that came with the arguments (a sendable Queue's or Lock's memfd, a
    /// Connection's socket), for
    /// the entry function to decode them with.
    static PENDING_FDS: RefCell<Vec<OwnedFd>> = const { RefCell::new(Vec::new()) };
}

/// Does, once in the forkserver, the first-use work every child would otherwise repeat after
/// its fork: the executable's identity (a `stat`), and the registration of the destructors of
/// the thread-locals that carry a target's descriptors (the first one also has the dynamic
/// linker resolve glibc's registration function). Repeated in each child, that work writes to
/// memory the child shares with the server: a copy-on-write page fault per page, on every start.
pub(crate) fn warm_up_server() {
    let _ = crate::sys::exe_identity();
    PENDING_FDS.with(|p| p.borrow_mut().clear());
    // Decoding a `()` with no descriptors touches forkway-ipc's descriptor thread-locals.
    let _ = forkway_ipc::fds::decode_with_fds::<()>(&[], Vec::new());
}

/// The most descriptors one target's arguments may carry (`SCM_RIGHTS` takes at most 253).
pub(crate) const MAX_ARG_FDS: usize = 64;

/// What the caller hands a forkserver or spawned child: which function, and its arguments.
#[derive(Clone, Serialize, Deserialize)]
pub(crate) struct Payload {
    /// `(st_dev, st_ino)` of the caller's executable.
    pub exe: (u64, u64),
    /// The entry's offset from [`anchor`].
    pub entry: i64,
    /// The argument tuple, encoded.
    #[serde(with = "serde_bytes")]
    pub args: Vec<u8>,
    /// Spawn only: the numbers of the inherited descriptors that go with the arguments.
    pub fds: Vec<i32>,
}

impl Payload {
    /// Runs the payload in this process, with the descriptors that came with its arguments,
    /// and returns the exit code.
    pub(crate) fn run(&self, fds: Vec<OwnedFd>) -> i32 {
        match crate::sys::exe_identity() {
            Ok(exe) if exe == self.exe => {}
            _ => {
                eprintln!(
                    "forkway: this child does not run the same executable as its parent; refusing its target"
                );
                return 1;
            }
        }
        // SAFETY: the offset was made by `entry_offset` in our parent, and we just checked that
        // we run the same executable file.
        let entry = unsafe { entry_at(self.entry) };
        PENDING_FDS.with(|p| *p.borrow_mut() = fds);
        entry(&self.args)
    }
}
