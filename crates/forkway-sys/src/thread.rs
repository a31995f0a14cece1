//! Who the calling thread is (process id, kernel thread id) and where its robust-futex list
//! head is: asked on every lock and unlock, so cached per thread, and right in forked children.

use std::cell::Cell;
use std::sync::atomic::{AtomicPtr, AtomicU32, Ordering};

/// The kernel's `struct robust_list_head` (linux/futex.h), as glibc registers one per thread
/// with `set_robust_list` when the thread starts (it lives in glibc's thread descriptor).
#[repr(C)]
pub(crate) struct RobustListHead {
    /// The first entry: a pointer to an entry's `next` field; the head itself when empty.
    pub(crate) list: AtomicPtr<u8>,
    /// Where an entry's futex word is, relative to the entry.
    pub(crate) futex_offset: libc::c_long,
    /// The entry being locked or unlocked right now, if any.
    pub(crate) list_op_pending: AtomicPtr<u8>,
}

/// The calling thread, as a lock needs it.
#[derive(Clone, Copy)]
pub(crate) struct Caller {
    pub(crate) pid: u32,
    pub(crate) tid: u32,
    /// The registered robust list head, or null when it is not glibc's (see `robust_head`).
    pub(crate) head: *const RobustListHead,
}

/// The cached caller, field by field (read in place, not copied out whole).
struct Cached {
    /// The process's epoch page (see [`EPOCH_PAGE`]), null until computed. Kept here, beside
    /// the fields it guards, so that checking the cache is two dependent loads (this pointer,
    /// then the page) instead of three (the static's GOT slot, the static, the page): the check
    /// sits on the path to every lock's compare-and-swap.
    page: Cell<*const AtomicU32>,
    /// The pid it was computed in (0: not computed).
    computed_in: Cell<u32>,
    pid: Cell<u32>,
    tid: Cell<u32>,
    head: Cell<*const RobustListHead>,
}

thread_local! {
    static CALLER: Cached = const {
        Cached {
            page: Cell::new(std::ptr::null()),
            computed_in: Cell::new(0),
            pid: Cell::new(0),
            tid: Cell::new(0),
            head: Cell::new(std::ptr::null()),
        }
    };
}

/// The page holding this process's pid (0 in a fresh child) that keys the per-thread cache.
///
/// A forked child inherits the parent thread's cache, wrongly: it has another pid and tid. The
/// kernel zeroes a `MADV_WIPEONFORK` page in every child, so a cache entry computed before the
/// fork no longer matches — no `pthread_atfork` hook and no `Once` (a `Once` caught
/// mid-initialization by a fork would block the child for ever).
static EPOCH_PAGE: AtomicPtr<AtomicU32> = AtomicPtr::new(std::ptr::null_mut());

/// The fallback when the page cannot be mapped: never written, so the cache is never used.
static NO_EPOCH: AtomicU32 = AtomicU32::new(0);

#[inline]
fn process_epoch() -> &'static AtomicU32 {
    let page = EPOCH_PAGE.load(Ordering::Acquire);
    if page.is_null() {
        return map_epoch();
    }
    // SAFETY: the page is never unmapped once published, and is aligned for an AtomicU32.
    unsafe { &*page }
}

#[cold]
fn map_epoch() -> &'static AtomicU32 {
    // SAFETY: a fresh private anonymous page; madvise only changes how fork treats it.
    let fresh = unsafe {
        let p = libc::mmap(
            std::ptr::null_mut(),
            4096,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        );
        if p == libc::MAP_FAILED || libc::madvise(p, 4096, libc::MADV_WIPEONFORK) != 0 {
            if p != libc::MAP_FAILED {
                libc::munmap(p, 4096);
            }
            return &NO_EPOCH;
        }
        p.cast::<AtomicU32>()
    };
    let page =
        match EPOCH_PAGE.compare_exchange(std::ptr::null_mut(), fresh, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => fresh,
            Err(winner) => {
                // SAFETY: our page lost the race and was never shared.
                unsafe { libc::munmap(fresh.cast(), 4096) };
                winner
            }
        };
    // SAFETY: as in `process_epoch`.
    unsafe { &*page }
}

/// The calling thread: thread-local reads and one load of the epoch page when cached.
#[inline]
pub(crate) fn caller() -> Caller {
    CALLER
        .with(|c| {
            let page = c.page.get();
            let computed_in = c.computed_in.get();
            // SAFETY: a non-null `page` is the published epoch page, never unmapped (and mapped
            // in a forked child too, wiped to 0: `computed_in`, a pid, is never 0).
            let current = !page.is_null() && unsafe { (*page).load(Ordering::Relaxed) } == computed_in;
            current.then(|| Caller {
                pid: c.pid.get(),
                tid: c.tid.get(),
                head: c.head.get(),
            })
        })
        .unwrap_or_else(compute_caller)
}

#[cold]
fn compute_caller() -> Caller {
    let pid = std::process::id();
    // SAFETY: gettid takes no arguments and cannot fail.
    let tid = unsafe { libc::syscall(libc::SYS_gettid) } as u32;
    let me = Caller {
        pid,
        tid,
        head: robust_head(),
    };
    let epoch = process_epoch();
    if !std::ptr::eq(epoch, &NO_EPOCH) {
        epoch.store(pid, Ordering::Relaxed);
        CALLER.with(|c| {
            c.pid.set(me.pid);
            c.tid.set(me.tid);
            c.head.set(me.head);
            c.computed_in.set(pid);
            c.page.set(epoch);
        });
    }
    me
}

/// The robust list head the kernel walks when this thread dies, if it is laid out as glibc's
/// (`futex_offset` puts the futex word 32 bytes before the entry, as in `pthread_mutex_t`);
/// null otherwise.
fn robust_head() -> *const RobustListHead {
    let mut head: *mut RobustListHead = std::ptr::null_mut();
    let mut len: libc::size_t = 0;
    // SAFETY: get_robust_list(0, …) writes the calling thread's head pointer and its length
    // into the two locals.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_get_robust_list,
            0,
            &mut head as *mut *mut RobustListHead,
            &mut len as *mut libc::size_t,
        )
    };
    if rc != 0 || head.is_null() || len != std::mem::size_of::<RobustListHead>() {
        return std::ptr::null();
    }
    // SAFETY: the kernel handed back the head glibc registered for this thread: it lives in the
    // thread's descriptor for as long as the thread does.
    let offset = unsafe { (*head).futex_offset };
    if offset != crate::robust_mutex::FUTEX_OFFSET {
        return std::ptr::null();
    }
    head
}

/// The calling thread's process id and kernel thread id (its `gettid`, equal to the pid for a
/// process's main thread).
///
/// Both are system calls that glibc no longer caches, and locks ask on every acquire and
/// release, so the answer is cached per thread; a forked child gets its own answer (the cache
/// is keyed on a page the kernel wipes in every child).
#[inline]
pub fn pid_tid() -> (u32, u32) {
    let me = caller();
    (me.pid, me.tid)
}

/// This process's pid, as `std::process::id()`, without a system call once cached — right in a
/// forked child too (see [`pid_tid`]). For code that must notice "I am a forked child now" on
/// every operation, such as a connection closed at fork.
#[inline]
pub fn current_pid() -> u32 {
    caller().pid
}

/// The calling thread, looked up once and handed to several lock operations (see
/// [`RobustMutex::lock_until_as`](crate::RobustMutex::lock_until_as)). It stays with its
/// thread (it is not `Send`); do not keep it across a `fork`.
#[derive(Clone, Copy)]
pub struct ThisThread {
    me: Caller,
    _not_send: std::marker::PhantomData<*const ()>,
}

impl ThisThread {
    /// The calling thread (a thread-local read when cached, as [`pid_tid`]).
    #[inline]
    pub fn get() -> ThisThread {
        ThisThread {
            me: caller(),
            _not_send: std::marker::PhantomData,
        }
    }

    /// Its process id.
    #[inline]
    pub fn pid(self) -> u32 {
        self.me.pid
    }

    /// Its kernel thread id.
    #[inline]
    pub fn tid(self) -> u32 {
        self.me.tid
    }

    #[inline]
    pub(crate) fn caller(self) -> Caller {
        self.me
    }
}

impl std::fmt::Debug for ThisThread {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ThisThread")
            .field("pid", &self.me.pid)
            .field("tid", &self.me.tid)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::{current_pid, pid_tid};

    #[test]
    fn the_cache_is_right_here_and_in_a_forked_child() {
        assert_eq!(current_pid(), std::process::id());
        assert_eq!(current_pid(), std::process::id(), "cached");
        assert_eq!(pid_tid().0, current_pid());
        // SAFETY: the child only calls async-signal-safe functions (getpid, the cache's atomic
        // load and store on a page that exists) and leaves with _exit.
        match unsafe { libc::fork() } {
            -1 => panic!("fork: {}", std::io::Error::last_os_error()),
            0 => {
                // SAFETY: getpid and _exit are async-signal-safe.
                let ok = current_pid() == unsafe { libc::getpid() } as u32;
                // SAFETY: _exit is async-signal-safe and never returns into the test harness.
                unsafe { libc::_exit(if ok { 0 } else { 1 }) }
            }
            child => {
                let mut status = 0;
                // SAFETY: waiting for our own child, status is a valid out-pointer.
                let reaped = unsafe { libc::waitpid(child, &mut status, 0) };
                assert_eq!(reaped, child);
                assert!(libc::WIFEXITED(status), "child status {status:#x}");
                assert_eq!(libc::WEXITSTATUS(status), 0, "the child saw its parent's pid");
            }
        }
    }
}
