//! Start methods, contexts and the process-wide default.

use std::fmt;
use std::str::FromStr;
use std::sync::atomic::{AtomicU8, Ordering};

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::process::Process;
use crate::target::Target;
use crate::StartError;

/// How a [`Process`] comes into being. Python's `'fork'`, `'forkserver'`, `'spawn'`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StartMethod {
    /// Copy the caller with `fork(2)`. Fastest, and the child inherits everything, but a
    /// caller with threads may hand its child a lock that nobody will ever release.
    Fork,
    /// Ask a small single-threaded server, forked early, to fork the child. The child is a
    /// copy of the server, which has no threads and holds no locks.
    Forkserver,
    /// Run this program again (`/proc/self/exe`) and have it call the target. Slowest, and
    /// nothing is inherited, but nothing of the caller's state can hurt the child either.
    Spawn,
}

impl StartMethod {
    /// Python's name: `"fork"`, `"forkserver"` or `"spawn"`.
    pub fn name(self) -> &'static str {
        match self {
            StartMethod::Fork => "fork",
            StartMethod::Forkserver => "forkserver",
            StartMethod::Spawn => "spawn",
        }
    }

    fn to_u8(self) -> u8 {
        match self {
            StartMethod::Fork => 1,
            StartMethod::Forkserver => 2,
            StartMethod::Spawn => 3,
        }
    }

    fn from_u8(v: u8) -> Option<StartMethod> {
        match v {
            1 => Some(StartMethod::Fork),
            2 => Some(StartMethod::Forkserver),
            3 => Some(StartMethod::Spawn),
            _ => None,
        }
    }
}

impl fmt::Display for StartMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for StartMethod {
    type Err = StartError;

    /// Parses Python's names; anything else is Python's `cannot find context for '…'`.
    fn from_str(s: &str) -> Result<StartMethod, StartError> {
        match s {
            "fork" => Ok(StartMethod::Fork),
            "forkserver" => Ok(StartMethod::Forkserver),
            "spawn" => Ok(StartMethod::Spawn),
            other => Err(StartError::UnknownMethod(other.to_owned())),
        }
    }
}

/// The method [`get_context(None)`](get_context) uses when [`set_start_method`] was not called.
///
/// forkway keeps `fork`, unlike Python 3.14 (whose default on Linux became `forkserver`):
/// lessons 1 to 6 share queues and locks by inheritance, which only `fork` gives. A program with
/// threads should say `set_start_method(StartMethod::Forkserver)` early in `main`.
pub const DEFAULT_START_METHOD: StartMethod = StartMethod::Fork;

/// 0 while unset; otherwise `StartMethod::to_u8`.
static METHOD: AtomicU8 = AtomicU8::new(0);

/// Sets the process-wide start method, once. Python's `set_start_method(method)`.
///
/// # Errors
/// [`ContextAlreadySet`](StartError::ContextAlreadySet) when it was set before, or already
/// fixed by a call to [`get_start_method`] or [`get_context(None)`](get_context), as in Python.
pub fn set_start_method(method: StartMethod) -> Result<(), StartError> {
    METHOD
        .compare_exchange(0, method.to_u8(), Ordering::SeqCst, Ordering::SeqCst)
        .map(|_| ())
        .map_err(|_| StartError::ContextAlreadySet)
}

/// The process-wide start method. Python's `get_start_method()`: the first call fixes the
/// default, so a later [`set_start_method`] fails.
pub fn get_start_method() -> StartMethod {
    let _ = METHOD.compare_exchange(
        0,
        DEFAULT_START_METHOD.to_u8(),
        Ordering::SeqCst,
        Ordering::SeqCst,
    );
    StartMethod::from_u8(METHOD.load(Ordering::SeqCst)).unwrap_or(DEFAULT_START_METHOD)
}

/// Every start method this platform has, the default first. Python's
/// `get_all_start_methods()`.
pub fn get_all_start_methods() -> [StartMethod; 3] {
    [StartMethod::Fork, StartMethod::Forkserver, StartMethod::Spawn]
}

/// A context for `method`, or for the process-wide method when `None`. Python's
/// `get_context(method=None)`.
pub fn get_context(method: Option<StartMethod>) -> Context {
    Context {
        method: method.unwrap_or_else(get_start_method),
    }
}

/// A start method to make processes with. Python's context object: `ctx =
/// get_context('spawn'); p = ctx.Process(target=f, args=(x,))`.
///
/// Contexts are plain values: several may be used side by side in one program.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Context {
    method: StartMethod,
}

impl Context {
    /// The context for `method`.
    pub const fn new(method: StartMethod) -> Context {
        Context { method }
    }

    /// This context's start method. Python's `ctx.get_start_method()`.
    pub fn start_method(&self) -> StartMethod {
        self.method
    }

    /// A process that will run `target(args…)`, not yet started. Python's
    /// `ctx.Process(target=f, args=(x, y))`.
    ///
    /// `args` is a tuple: `()`, `(x,)`, `(x, y)`, up to four values. Under `forkserver` and
    /// `spawn` it travels serialized, as Python pickles args; under `fork` it is moved into
    /// the child as it is.
    ///
    /// `target` must be a fn item or a closure that captures nothing, whatever the method, so
    /// that one program runs under every method; a capturing closure is a compile-time error
    /// whose message says why. (For `fork` only, [`forkway_process::Process::new`] takes any
    /// closure.)
    pub fn process<F, Args>(&self, target: F, args: Args) -> Process
    where
        F: Target<Args>,
        Args: Serialize + DeserializeOwned + Send + 'static,
    {
        Process::new(self.method, target, args)
    }
}
