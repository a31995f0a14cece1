//! What runs in the child after `fork`: the bootstrap, panic reporting and `exit`.
//!
//! A forked child starts life in the middle of `Process::start`, with a copy of the parent's
//! stack. It must never return from there: it would run the parent's code a second time (the
//! rest of a test, the rest of `main`), then the parent's destructors and `atexit` handlers.
//! So the child runs its target, reports how it ended, and leaves with `_exit(2)`, which skips
//! all of that. This is Python's `Process._bootstrap` followed by `os._exit(code)`.

use std::any::Any;
use std::cell::Cell;
use std::io::Write;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::Ordering;
use std::sync::Once;

use crate::exitcode::os_exit_byte;
use crate::state::{self, IN_CHILD};

/// The payload `exit` unwinds with, so that the bootstrap can tell it from a real panic.
pub(crate) struct ExitRequest(pub(crate) i32);

thread_local! {
    /// True on the one thread of a child that runs the bootstrap (the thread that forked).
    static ON_BOOTSTRAP_THREAD: Cell<bool> = const { Cell::new(false) };
}

thread_local! {
    /// Set while `start` drops the parent's copy of a target that now runs in the child.
    static DROPPING_MOVED_TARGET: Cell<bool> = const { Cell::new(false) };
}

/// Drops the parent's copy of a started target, telling its captures (through
/// [`target_moved_to_child`]) that the child owns them now.
pub(crate) fn drop_moved_target<T>(target: T) {
    struct Reset;
    impl Drop for Reset {
        // Also when a capture's drop panics: the flag must not outlive this call.
        fn drop(&mut self) {
            DROPPING_MOVED_TARGET.with(|f| f.set(false));
        }
    }
    DROPPING_MOVED_TARGET.with(|f| f.set(true));
    let _reset = Reset;
    drop(target);
}

/// Whether the value being dropped is the parent's leftover copy of a target that was just
/// forked: the closure was *moved* into the child, so anything it owns outside this process
/// (a reference counted by a manager, a lease) belongs to the child now and must not be
/// released here. Plain memory, file descriptors and locks need not care: the parent's copy is
/// simply freed or closed.
///
/// ```
/// struct Lease;
/// impl Drop for Lease {
///     fn drop(&mut self) {
///         if !forkway_process::target_moved_to_child() {
///             println!("released by pid {}", std::process::id());
///         }
///     }
/// }
/// let lease = Lease;
/// let mut p = forkway_process::Process::new(move || drop(lease)); // the child releases it
/// p.start()?;
/// p.join()?;
/// # Ok::<(), forkway_process::ProcessError>(())
/// ```
pub fn target_moved_to_child() -> bool {
    DROPPING_MOVED_TARGET.try_with(Cell::get).unwrap_or(false)
}

/// The target of a process, boxed: it runs once, in the child, and returns the exit code.
pub(crate) type Target = Box<dyn FnOnce() -> i32 + Send + 'static>;

/// Runs `target` in the freshly forked child and ends the process with its exit code.
///
/// Exit codes follow Python's `_bootstrap`: the target's own code (`0` when it returns `()`),
/// `1` after a panic (whose message the panic hook has already written to stderr), `n & 0xFF`
/// after [`exit(n)`](crate::exit).
///
/// Unlike Python, the child does not wait for threads its target started and left running:
/// `_exit` ends them. Join your threads inside the target.
// ANCHOR: run_child
pub(crate) fn run_child(target: Target) -> ! {
    ON_BOOTSTRAP_THREAD.with(|f| f.set(true));
    // ANCHOR: exercise_1_4
    let code = match panic::catch_unwind(AssertUnwindSafe(target)) {
        Ok(code) => code,
        Err(payload) => exit_code_of_unwind(payload),
    };
    crate::process::exit_cleanup();
    flush_std_streams();
    crate::sys::exit_now(os_exit_byte(code))
    // ANCHOR_END: exercise_1_4
}
// ANCHOR_END: run_child

/// The code an [`exit`] call is unwinding with, when `payload` (what `catch_unwind` caught) is
/// one; `None` for a panic.
///
/// On a child's main thread `exit` unwinds to the bootstrap instead of leaving at once, so code
/// that catches panics there (a pool worker running a task) catches exits too: it lets them
/// through with `std::panic::resume_unwind(payload)` when this is `Some`.
pub fn requested_exit_code(payload: &(dyn Any + Send)) -> Option<i32> {
    payload
        .downcast_ref::<ExitRequest>()
        .map(|ExitRequest(code)| *code)
}

/// The exit code for a target that unwound: the code it asked for with `exit(n)`, else 1.
fn exit_code_of_unwind(payload: Box<dyn Any + Send>) -> i32 {
    let code = match payload.downcast_ref::<ExitRequest>() {
        Some(ExitRequest(code)) => *code,
        None => 1,
    };
    // A payload's destructor is user code that could panic again; we are about to `_exit`
    // anyway, so we leak it instead of dropping it.
    std::mem::forget(payload);
    code
}

/// Flushes Rust's stdout/stderr buffers. `_exit` skips the flush that a normal exit does, so a
/// child that printed without a trailing newline would otherwise lose that line.
pub(crate) fn flush_std_streams() {
    let _ = std::io::stdout().flush();
    let _ = std::io::stderr().flush();
}

/// Ends the current process with exit code `code`, like Python's `sys.exit(code)`.
///
/// - In a forkway child, on the thread that runs the target, this unwinds to the bootstrap, so
///   destructors of the target's locals run (Python runs `finally` blocks too), and the process
///   exits with `code & 0xFF`. No panic message is printed.
/// - On another thread of a child, it flushes stdout/stderr and calls `_exit` at once.
/// - In the main process it is [`std::process::exit`].
///
/// ```no_run
/// let mut p = forkway_process::Process::new(|| forkway_process::exit(3));
/// p.start()?;
/// p.join()?;
/// assert_eq!(p.exitcode(), Some(3));
/// # Ok::<(), forkway_process::ProcessError>(())
/// ```
pub fn exit(code: i32) -> ! {
    if ON_BOOTSTRAP_THREAD.with(|f| f.get()) {
        panic::resume_unwind(Box::new(ExitRequest(code)));
    }
    if IN_CHILD.load(Ordering::SeqCst) {
        flush_std_streams();
        crate::sys::exit_now(os_exit_byte(code));
    }
    std::process::exit(code)
}

/// Installs, once per program, a panic hook that reports a child's panic the way Python prints
/// a child's traceback: `Process <name> (pid N) panicked at <file:line:col>:` and the message,
/// on the real stderr. In the main process the previous hook runs unchanged.
///
/// It is installed in the parent, before the first fork, because changing the hook takes a
/// global lock: doing it in the child could deadlock on a lock another parent thread held.
pub(crate) fn install_panic_hook() {
    static ONCE: Once = Once::new();
    if std::thread::panicking() {
        // `take_hook` panics on a panicking thread; a later start will install it.
        return;
    }
    ONCE.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if IN_CHILD.load(Ordering::SeqCst) {
                report_child_panic(info);
            } else {
                previous(info);
            }
        }));
    });
}

/// A library's own reporter for panics in its children (see [`set_child_panic_handler`]);
/// 0 when none. A plain word: a forked child reads it without taking any lock.
static CHILD_PANIC_HANDLER: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// Lets a library report panics in its own children: in a child, `handler` sees each panic
/// first and returns `true` when it took care of it (then nothing is printed). A process pool
/// uses it to send a task's panic to the parent instead of printing it.
///
/// Call it in the parent, before forking: it changes no lock-protected state, but the handler
/// must be in place when the child panics. One handler per program; a later call replaces it.
pub fn set_child_panic_handler(handler: fn(&panic::PanicHookInfo<'_>) -> bool) {
    install_panic_hook();
    CHILD_PANIC_HANDLER.store(handler as usize, Ordering::SeqCst);
}

/// The text of a panic: what `panic!("…")`, `expect("…")` or `assert!` said.
pub fn panic_message(info: &panic::PanicHookInfo<'_>) -> String {
    if let Some(s) = info.payload().downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = info.payload().downcast_ref::<String>() {
        s.clone()
    } else {
        "Box<dyn Any>".to_owned()
    }
}

fn report_child_panic(info: &panic::PanicHookInfo<'_>) {
    let handler = CHILD_PANIC_HANDLER.load(Ordering::SeqCst);
    if handler != 0 {
        // SAFETY: the only non-zero value ever stored is a `fn(&PanicHookInfo) -> bool`
        // (see `set_child_panic_handler`), and fork keeps every address valid.
        let handler: fn(&panic::PanicHookInfo<'_>) -> bool = unsafe { std::mem::transmute(handler) };
        if handler(info) {
            return;
        }
    }
    let name = state::try_lock()
        .map(|s| s.name.clone())
        .unwrap_or_else(|| "?".to_owned());
    let message = panic_message(info);
    let location = info
        .location()
        .map(|l| format!(" at {}:{}:{}", l.file(), l.line(), l.column()))
        .unwrap_or_default();
    let text = format!(
        "Process {name} (pid {}) panicked{location}:\n{message}\n",
        std::process::id()
    );
    crate::sys::write_stderr_raw(text.as_bytes());
}

/// What a target may return: the process's exit code, as `main` may return `()` or a `Result`.
pub trait IntoExitCode {
    /// The exit code the child ends with.
    fn into_exit_code(self) -> i32;
}

impl IntoExitCode for () {
    fn into_exit_code(self) -> i32 {
        0
    }
}

impl IntoExitCode for i32 {
    fn into_exit_code(self) -> i32 {
        self
    }
}

impl IntoExitCode for u8 {
    fn into_exit_code(self) -> i32 {
        i32::from(self)
    }
}

/// `Err(e)` prints `Error: {e:?}` to stderr and gives exit code 1, exactly like `main`.
impl<T: IntoExitCode, E: std::fmt::Debug> IntoExitCode for Result<T, E> {
    fn into_exit_code(self) -> i32 {
        match self {
            Ok(v) => v.into_exit_code(),
            Err(e) => {
                crate::sys::write_stderr_raw(format!("Error: {e:?}\n").as_bytes());
                1
            }
        }
    }
}
