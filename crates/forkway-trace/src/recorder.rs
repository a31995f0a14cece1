//! The per-process recorder: a global on/off byte, a buffer behind a spin lock, batches
//! appended to `<trace>.parts/<pid>.jsonl`, and the fork handler that gives a child its own.

use std::cell::{Cell, RefCell, UnsafeCell};
use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::Once;
use std::time::Duration;

use crate::json::{push_line, Arg, Line};

/// A process writes its buffer once it holds this many events.
pub const BATCH: usize = 64;

/// …or once its oldest buffered event is this old (checked whenever an event is recorded).
pub const MAX_AGE: Duration = Duration::from_millis(50);

const UNINIT: u8 = 0;
const OFF: u8 = 1;
const ON: u8 = 2;

/// The only thing a disabled instrumentation point reads.
static STATE: AtomicU8 = AtomicU8::new(UNINIT);

/// When an operation began: a `CLOCK_MONOTONIC` reading, in nanoseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Stamp(u64);

impl Stamp {
    fn now() -> Stamp {
        Stamp(monotonic_ns())
    }

    /// Microseconds since this stamp.
    pub fn elapsed_us(self) -> i64 {
        (monotonic_ns().saturating_sub(self.0) / 1000) as i64
    }
}

fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid, writable timespec; CLOCK_MONOTONIC always exists on Linux.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    (ts.tv_sec as u64) * 1_000_000_000 + ts.tv_nsec as u64
}

/// `CLOCK_MONOTONIC` now, in microseconds: the trace's time base, shared by every process.
pub fn now_us() -> f64 {
    monotonic_ns() as f64 / 1000.0
}

/// Whether this process records events. Disabled, this is one relaxed load.
#[inline]
pub fn enabled() -> bool {
    match STATE.load(Ordering::Relaxed) {
        OFF => false,
        ON => true,
        _ => init_from_env(),
    }
}

/// The start of a timed operation: `Some` only while tracing (one relaxed load otherwise).
/// Hand it to [`complete`] when the operation ends.
#[inline]
pub fn begin() -> Option<Stamp> {
    match STATE.load(Ordering::Relaxed) {
        OFF => None,
        ON => Some(Stamp::now()),
        _ => init_from_env().then(Stamp::now),
    }
}

#[cold]
fn init_from_env() -> bool {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        match std::env::var_os("FORKWAY_TRACE").filter(|v| !v.is_empty()) {
            Some(path) => {
                if let Err(e) = start(Path::new(&path)) {
                    eprintln!("forkway: FORKWAY_TRACE={}: {e}; not tracing", Path::new(&path).display());
                    let _ = STATE.compare_exchange(UNINIT, OFF, Ordering::Relaxed, Ordering::Relaxed);
                }
            }
            None => {
                // A `start` racing with us wins.
                let _ = STATE.compare_exchange(UNINIT, OFF, Ordering::Relaxed, Ordering::Relaxed);
            }
        }
    });
    STATE.load(Ordering::Relaxed) == ON
}

/// A lock that a forked child can reset: the thread that held it at the fork does not exist
/// there. (A `std::sync::Mutex` held at that moment would stay locked for ever in the child.)
struct Spin<T> {
    locked: AtomicBool,
    value: UnsafeCell<T>,
}

// SAFETY: `value` is reached only through `SpinGuard`, which `locked` makes exclusive.
unsafe impl<T: Send> Sync for Spin<T> {}

struct SpinGuard<'a, T>(&'a Spin<T>);

impl<T> Spin<T> {
    const fn new(value: T) -> Spin<T> {
        Spin {
            locked: AtomicBool::new(false),
            value: UnsafeCell::new(value),
        }
    }

    fn lock(&self) -> SpinGuard<'_, T> {
        while self
            .locked
            .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            std::thread::yield_now();
        }
        SpinGuard(self)
    }

    fn try_lock(&self, tries: u32) -> Option<SpinGuard<'_, T>> {
        for _ in 0..tries {
            if self
                .locked
                .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
                .is_ok()
            {
                return Some(SpinGuard(self));
            }
            std::thread::yield_now();
        }
        None
    }

    /// # Safety
    /// Only where no other thread can hold the lock: in a child right after `fork`.
    unsafe fn force_unlock(&self) {
        self.locked.store(false, Ordering::Release);
    }
}

impl<T> std::ops::Deref for SpinGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: we hold the lock.
        unsafe { &*self.0.value.get() }
    }
}

impl<T> std::ops::DerefMut for SpinGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: we hold the lock.
        unsafe { &mut *self.0.value.get() }
    }
}

impl<T> Drop for SpinGuard<'_, T> {
    fn drop(&mut self) {
        self.0.locked.store(false, Ordering::Release);
    }
}

struct Recorder {
    /// The merged trace the root writes.
    out: PathBuf,
    /// `<out>.parts`: one `<pid>.jsonl` per process.
    dir: PathBuf,
    root: u32,
    pid: u32,
    file: Option<File>,
    buf: Vec<u8>,
    events: usize,
    oldest_ns: u64,
}

impl Recorder {
    fn flush(&mut self) {
        if self.buf.is_empty() {
            return;
        }
        if self.file.is_none() {
            self.file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(self.dir.join(format!("{}.jsonl", self.pid)))
                .ok();
        }
        // A trace is an observer: when its file cannot be written the program goes on, and
        // the events are dropped.
        if let Some(file) = &mut self.file {
            // One write of whole lines on an O_APPEND file: lines of different processes never
            // interleave, and a process killed around it leaves whole lines or none.
            let _ = file.write_all(&self.buf);
        }
        self.buf.clear();
        self.events = 0;
    }
}

static REC: Spin<Option<Recorder>> = Spin::new(None);

thread_local! {
    /// This thread's kernel id, 0 until asked (and again in a fresh child).
    static TID: Cell<u32> = const { Cell::new(0) };
    /// Locks this thread holds, and since when: the "held" spans.
    static HOLDS: RefCell<Vec<(u64, u64)>> = const { RefCell::new(Vec::new()) };
}

fn tid() -> u32 {
    TID.with(|t| {
        if t.get() == 0 {
            // SAFETY: gettid takes no arguments and cannot fail.
            t.set(unsafe { libc::syscall(libc::SYS_gettid) } as u32);
        }
        t.get()
    })
}

/// Starts recording into `path` (the merged Chrome trace; parts go to `<path>.parts/`). The
/// process that calls it is the root: it merges at exit or at [`finish`]. Children started
/// after this record too. `FORKWAY_TRACE=<path>` calls it on the first instrumented operation
/// (and forkway calls that before its first fork).
///
/// # Errors
/// When the parts directory cannot be created.
pub fn start(path: impl AsRef<Path>) -> io::Result<()> {
    let out = std::path::absolute(path.as_ref())?;
    if let Some(parent) = out.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let mut dir = out.clone().into_os_string();
    dir.push(".parts");
    let dir = PathBuf::from(dir);
    // Parts of an earlier run (a root that was killed) must not end up in this trace.
    match std::fs::remove_dir_all(&dir) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
        _ => {}
    }
    std::fs::create_dir_all(&dir)?;
    let pid = std::process::id();
    let mut rec = REC.lock();
    *rec = Some(Recorder {
        out,
        dir,
        root: pid,
        pid,
        file: None,
        buf: Vec::with_capacity(BATCH * 256),
        events: 0,
        oldest_ns: 0,
    });
    drop(rec);
    install_handlers();
    STATE.store(ON, Ordering::Relaxed);
    name_process(pid, "MainProcess");
    instant("process", "trace start", 0, &[]);
    Ok(())
}

fn install_handlers() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // SAFETY: both are `extern "C" fn()`s that never unwind; registering cannot break
        // anything already running.
        unsafe {
            libc::pthread_atfork(None, None, Some(after_fork_in_child));
            libc::atexit(at_exit);
        }
    });
}

/// In a new child (one thread: the one that forked): the inherited buffer holds the parent's
/// events, which the parent will write; the inherited file is the parent's part. Start afresh.
extern "C" fn after_fork_in_child() {
    // SAFETY: the child has one thread, this one, so nobody else can hold the lock; one that
    // was held by another parent thread at the fork must be opened here.
    unsafe { REC.force_unlock() };
    let mut rec = REC.lock();
    if let Some(rec) = rec.as_mut() {
        // The copy may be half-updated by a parent thread that was pushing into it: leak it
        // rather than trust it.
        std::mem::forget(std::mem::take(&mut rec.buf));
        rec.buf = Vec::with_capacity(BATCH * 256);
        rec.events = 0;
        rec.file = None;
        rec.pid = std::process::id();
    }
    TID.with(|t| t.set(0));
    let _ = HOLDS.try_with(|h| {
        if let Ok(mut h) = h.try_borrow_mut() {
            // The parent's locks are not ours.
            std::mem::forget(std::mem::take(&mut *h));
        }
    });
}

extern "C" fn at_exit() {
    let _ = std::panic::catch_unwind(|| {
        if let Err(e) = finish() {
            eprintln!("forkway: writing the trace failed: {e}");
        }
    });
}

fn record(pid: Option<u32>, ph: char, cat: &str, name: &str, ts_ns: u64, dur_ns: Option<u64>, obj: u64, args: &[(&str, Arg<'_>)]) {
    let tid = tid();
    let mut guard = REC.lock();
    let Some(rec) = guard.as_mut() else { return };
    let pid = pid.unwrap_or(rec.pid);
    let tid = if pid == rec.pid { tid } else { pid };
    push_line(
        &mut rec.buf,
        &Line {
            ph,
            cat,
            name,
            pid,
            tid,
            ts_ns,
            dur_ns,
            obj,
            args,
        },
    );
    let now = monotonic_ns();
    if rec.events == 0 {
        rec.oldest_ns = now;
    }
    rec.events += 1;
    if rec.events >= BATCH || now.saturating_sub(rec.oldest_ns) >= MAX_AGE.as_nanos() as u64 {
        rec.flush();
    }
}

/// Records a complete event (`ph: "X"`) from `start` to now on this thread: a wait, a put, a
/// task. `obj` names the object (its address; 0 for none).
pub fn complete(start: Stamp, cat: &str, name: &str, obj: u64, args: &[(&str, Arg<'_>)]) {
    let end = monotonic_ns();
    record(None, 'X', cat, name, start.0, Some(end.saturating_sub(start.0)), obj, args);
}

/// Records an instant event (`ph: "i"`) on this thread, when tracing.
pub fn instant(cat: &str, name: &str, obj: u64, args: &[(&str, Arg<'_>)]) {
    if enabled() {
        record(None, 'i', cat, name, monotonic_ns(), None, obj, args);
    }
}

/// Records an instant event on another process's lane (its main thread): a parent says that
/// its child started or ended, which the child cannot say once it is killed.
pub fn instant_on(pid: u32, cat: &str, name: &str, obj: u64, args: &[(&str, Arg<'_>)]) {
    if enabled() {
        record(Some(pid), 'i', cat, name, monotonic_ns(), None, obj, args);
    }
}

/// Names a process's lane (`process_name` metadata). A parent names its child at the fork, so
/// even a child killed before it wrote anything has its name.
pub fn name_process(pid: u32, name: &str) {
    if enabled() {
        record(Some(pid), 'M', "__metadata", "process_name", 0, None, 0, &[("name", Arg::Str(name))]);
    }
}

/// Notes that this thread now holds lock `obj` (after `lock acquire`). [`hold_end`] closes
/// the span.
pub fn hold_begin(obj: u64) {
    if enabled() {
        let now = monotonic_ns();
        let _ = HOLDS.try_with(|h| h.borrow_mut().push((obj, now)));
    }
}

/// Records the span during which this thread held `obj`, if [`hold_begin`] opened one.
pub fn hold_end(cat: &str, name: &str, obj: u64, args: &[(&str, Arg<'_>)]) {
    if !enabled() {
        return;
    }
    let since = HOLDS
        .try_with(|h| {
            let mut h = h.borrow_mut();
            let at = h.iter().rposition(|&(o, _)| o == obj)?;
            Some(h.remove(at).1)
        })
        .ok()
        .flatten();
    if let Some(since) = since {
        let now = monotonic_ns();
        record(None, 'X', cat, name, since, Some(now.saturating_sub(since)), obj, args);
    }
}

/// Writes this process's buffered events to its part now.
pub fn flush() {
    if STATE.load(Ordering::Relaxed) == ON {
        if let Some(rec) = REC.lock().as_mut() {
            rec.flush();
        }
    }
}

/// [`flush`] for a process about to `_exit`: gives up (losing the buffer) rather than wait
/// long for a lock another thread of this dying process might hold for ever.
pub fn flush_before_exit() {
    if STATE.load(Ordering::Relaxed) == ON {
        if let Some(mut rec) = REC.try_lock(1000) {
            if let Some(rec) = rec.as_mut() {
                rec.flush();
            }
        }
    }
}

/// Stops recording. In the root process, merges every process's part into the trace file,
/// removes the parts and returns the file's path; elsewhere writes this process's part and
/// returns `None`. Events that children record after this are lost (join them first).
///
/// # Errors
/// When the merged file cannot be written.
pub fn finish() -> io::Result<Option<PathBuf>> {
    let rec = {
        let mut guard = REC.lock();
        STATE.store(OFF, Ordering::Relaxed);
        guard.take()
    };
    let Some(mut rec) = rec else { return Ok(None) };
    rec.flush();
    if rec.pid != rec.root {
        return Ok(None);
    }
    crate::merge::merge_dir(&rec.dir, &rec.out)?;
    std::fs::remove_dir_all(&rec.dir)?;
    Ok(Some(rec.out))
}
