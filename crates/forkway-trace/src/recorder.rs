//! The per-process recorder: a global on/off byte, a shared file mapping
//! `<trace>.parts/<pid>.jsonl` behind a spin lock, and the fork handler that gives a child its
//! own part.

use std::cell::{Cell, RefCell, UnsafeCell};
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::Once;

use crate::json::{push_line, Arg, Line};

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
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
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
                    eprintln!(
                        "forkway: FORKWAY_TRACE={}: {e}; not tracing",
                        Path::new(&path).display()
                    );
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

/// A process's part: `<trace>.parts/<pid>.jsonl`, mapped `MAP_SHARED`. An event copied into
/// the mapping is in the kernel's page cache at once, so it survives the process being killed
/// by any signal: nothing waits in a user-space buffer.
struct Part {
    file: File,
    map: *mut u8,
    /// The mapping's (and the file's) size; the file is trimmed to `len` when the process ends.
    cap: usize,
    len: usize,
}

/// The first mapping of a part; it doubles as it fills.
const FIRST_PART: usize = 256 * 1024;

impl Part {
    fn open(dir: &Path, pid: u32) -> io::Result<Part> {
        // A pid can come back in a long trace: a recycled pid gets a part of its own.
        let mut n = 0;
        let file = loop {
            let name = if n == 0 {
                format!("{pid}.jsonl")
            } else {
                format!("{pid}-{n}.jsonl")
            };
            match std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .create_new(true)
                .open(dir.join(name))
            {
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists && n < 100 => n += 1,
                other => break other?,
            }
        };
        Ok(Part {
            file,
            map: std::ptr::null_mut(),
            cap: 0,
            len: 0,
        })
    }

    /// Makes room for `need` bytes in all.
    fn grow(&mut self, need: usize) -> io::Result<()> {
        let cap = need.max(self.cap * 2).max(FIRST_PART).next_multiple_of(4096);
        self.file.set_len(cap as u64)?;
        let map = if self.map.is_null() {
            // SAFETY: a fresh shared mapping of our own file, `cap` bytes long (just set).
            unsafe {
                libc::mmap(
                    std::ptr::null_mut(),
                    cap,
                    libc::PROT_READ | libc::PROT_WRITE,
                    libc::MAP_SHARED,
                    std::os::fd::AsRawFd::as_raw_fd(&self.file),
                    0,
                )
            }
        } else {
            // SAFETY: `map` is our mapping of `self.cap` bytes; the file now has `cap` bytes.
            unsafe { libc::mremap(self.map.cast(), self.cap, cap, libc::MREMAP_MAYMOVE) }
        };
        if map == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        self.map = map.cast();
        self.cap = cap;
        Ok(())
    }

    fn append(&mut self, line: &[u8]) {
        let need = self.len + line.len();
        // A trace is an observer: when its file cannot grow, the program goes on and the
        // event is dropped.
        if need > self.cap && self.grow(need).is_err() {
            return;
        }
        // SAFETY: `len + line.len() <= cap`, the mapping's size; nobody else writes it.
        unsafe { std::ptr::copy_nonoverlapping(line.as_ptr(), self.map.add(self.len), line.len()) };
        self.len = need;
    }

    /// Trims the zeroes after the last event (a killed process's part keeps them; the merge
    /// skips them). The mapping stays, as large as before: only `cap` shrinks.
    fn trim(&mut self) {
        if self.file.set_len(self.len as u64).is_ok() && !self.map.is_null() {
            // SAFETY: unmapping our own mapping of `cap` bytes; `map` is forgotten with it.
            unsafe { libc::munmap(self.map.cast(), self.cap) };
            self.map = std::ptr::null_mut();
            self.cap = self.len;
        }
    }
}

struct Recorder {
    /// The merged trace the root writes.
    out: PathBuf,
    /// `<out>.parts`: one `<pid>.jsonl` per process.
    dir: PathBuf,
    root: u32,
    pid: u32,
    part: Option<Part>,
    /// The line being formatted (reused: no allocation per event).
    line: Vec<u8>,
}

// SAFETY: the part's raw mapping pointer is only used under the `REC` lock.
unsafe impl Send for Recorder {}

impl Recorder {
    fn append_line(&mut self) {
        if self.part.is_none() {
            self.part = Part::open(&self.dir, self.pid).ok();
        }
        if let Some(part) = &mut self.part {
            part.append(&self.line);
        }
    }

    fn flush(&mut self) {
        if let Some(part) = &mut self.part {
            part.trim();
        }
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
        part: None,
        line: Vec::with_capacity(512),
    });
    drop(rec);
    install_handlers();
    STATE.store(ON, Ordering::Relaxed);
    name_process(pid, "MainProcess");
    instant("process", "trace start", 0, &[]);
    Ok(())
}

/// Registered once, with the `pthread_atfork` child handler.
static HANDLERS: Once = Once::new();

fn install_handlers() {
    HANDLERS.call_once(|| {
        // SAFETY: both are `extern "C" fn()`s that never unwind; registering cannot break
        // anything already running.
        unsafe {
            libc::pthread_atfork(None, None, Some(after_fork_in_child));
            libc::atexit(at_exit);
        }
    });
}

/// Runs, in a child made by a raw `clone` system call (which runs no `pthread_atfork`
/// handler, unlike `fork`), what this crate's fork handler runs in a forked child: the child
/// lets go of its parent's part of the trace and starts its own. Call it first thing in the
/// child, while it has one thread. Does nothing when tracing never started.
pub fn after_clone_in_child() {
    if HANDLERS.is_completed() {
        after_fork_in_child();
    }
}

/// In a new child (one thread: the one that forked): the inherited mapping and file are the
/// parent's part, shared with it. Let go of them unwritten and start a part of our own.
extern "C" fn after_fork_in_child() {
    // SAFETY: the child has one thread, this one, so nobody else can hold the lock; one that
    // was held by another parent thread at the fork must be opened here.
    unsafe { REC.force_unlock() };
    let mut rec = REC.lock();
    if let Some(rec) = rec.as_mut() {
        // The line may be half-written by a parent thread that was formatting into it: leak
        // it rather than trust it.
        std::mem::forget(std::mem::replace(&mut rec.line, Vec::with_capacity(512)));
        if let Some(part) = rec.part.take() {
            // The parent's part, shared with it: ours to let go of, never to write.
            if !part.map.is_null() {
                // SAFETY: unmapping this process's copy of the parent's mapping; the parent's
                // own mapping is untouched.
                unsafe { libc::munmap(part.map.cast(), part.cap) };
            }
            drop(part.file);
        }
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

// Private, and each argument is one field of the event line: a struct would only rename them.
#[allow(clippy::too_many_arguments)]
fn record(
    pid: Option<u32>,
    ph: char,
    cat: &str,
    name: &str,
    ts_ns: u64,
    dur_ns: Option<u64>,
    obj: u64,
    args: &[(&str, Arg<'_>)],
) {
    let tid = tid();
    let mut guard = REC.lock();
    let Some(rec) = guard.as_mut() else { return };
    let pid = pid.unwrap_or(rec.pid);
    let tid = if pid == rec.pid { tid } else { pid };
    rec.line.clear();
    push_line(
        &mut rec.line,
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
    rec.append_line();
}

/// Records a complete event (`ph: "X"`) from `start` to now on this thread: a wait, a put, a
/// task. `obj` names the object (its address; 0 for none).
pub fn complete(start: Stamp, cat: &str, name: &str, obj: u64, args: &[(&str, Arg<'_>)]) {
    let end = monotonic_ns();
    record(
        None,
        'X',
        cat,
        name,
        start.0,
        Some(end.saturating_sub(start.0)),
        obj,
        args,
    );
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
        record(
            Some(pid),
            'M',
            "__metadata",
            "process_name",
            0,
            None,
            0,
            &[("name", Arg::Str(name))],
        );
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
///
/// Inlined so that a lock's release, when tracing is off, pays one relaxed load and no call.
#[inline]
pub fn hold_end(cat: &str, name: &str, obj: u64, args: &[(&str, Arg<'_>)]) {
    if enabled() {
        hold_end_traced(cat, name, obj, args);
    }
}

#[cold]
fn hold_end_traced(cat: &str, name: &str, obj: u64, args: &[(&str, Arg<'_>)]) {
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
        record(
            None,
            'X',
            cat,
            name,
            since,
            Some(now.saturating_sub(since)),
            obj,
            args,
        );
    }
}

/// For a process about to `_exit`: trims its part to its events. (They are on their way to
/// the disk already; a process that skips this leaves zeroes after them, which the merge
/// skips.) Gives up rather than wait long for a lock another thread of this dying process
/// might hold for ever.
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
/// removes the parts and returns the file's path; elsewhere trims this process's part and
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn disabled_hands_out_no_stamp_and_records_nothing() {
        if std::env::var_os("FORKWAY_TRACE").is_some() {
            return; // this test is about the variable being unset
        }
        assert!(begin().is_none());
        assert!(!enabled());
        assert_eq!(STATE.load(Ordering::Relaxed), OFF);
        instant("test", "nothing", 0, &[]);
        hold_begin(1);
        hold_end("test", "nothing", 1, &[]);
        assert!(REC.lock().is_none());
        assert!(HOLDS.with(|h| h.borrow().is_empty()));
    }
}
