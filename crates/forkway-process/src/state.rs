//! Per-process global state: who am I, who is my parent, which children have I started.
//!
//! Python keeps this in module globals (`_current_process`, `_children`, `_process_counter`) and
//! resets them in the child after `fork`. forkway does the same, with one extra rule that Python's
//! single GIL gives for free: the state lives behind one mutex, and `Process::start` holds that
//! mutex *across* `fork()`. A mutex held by another thread at the moment of `fork()` would stay
//! locked forever in the child (only the forking thread is copied); holding it ourselves means the
//! child's copy is locked by the one thread that exists there, which then resets and releases it.
//! This is the `pthread_atfork` pattern, written out by hand.

use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::{Arc, LazyLock, Mutex, MutexGuard};

use crate::inner::Inner;

/// The identity and relatives of the running process.
pub(crate) struct ProcState {
    /// `MainProcess` in the program's original process, `Process-N[:M…]` in a child.
    pub name: String,
    /// Python's `_identity`: empty in the main process, `[2]` for `Process-2`, `[2, 1]` for its child.
    pub identity: Vec<u32>,
    /// Whether this process is a daemon (daemons may not start children).
    pub daemon: bool,
    /// Counter behind default names; counts every `Process` created, started or not.
    pub counter: u32,
    /// Name and pid of the parent, `None` in the main process.
    pub parent: Option<(String, u32)>,
    /// Started children that have not been reaped yet.
    pub children: Vec<Arc<Inner>>,
    /// Descriptors to close in every child right after `fork` (emulated `FD_CLOFORK`).
    pub close_on_fork: Vec<std::os::fd::RawFd>,
    /// The process's authentication key (Python's `current_process().authkey`): made before
    /// the first fork, so every descendant shares it.
    pub authkey: Option<Vec<u8>>,
}

/// The state and the two words a child reads without its lock, kept together on one page of
/// memory: after a fork, the first write to each page costs parent and child a copy-on-write
/// fault, and `start` writes all three on both sides.
#[repr(C, align(512))]
struct Globals {
    state: LazyLock<Mutex<ProcState>>,
    in_child: AtomicBool,
    parent_pidfd: AtomicI32,
}

// A 512-aligned value no bigger than 512 bytes never straddles a page boundary.
const _: () = assert!(std::mem::size_of::<Globals>() <= 512);

static GLOBALS: Globals = Globals {
    state: LazyLock::new(|| {
        Mutex::new(ProcState {
            name: "MainProcess".to_owned(),
            identity: Vec::new(),
            daemon: false,
            counter: 0,
            parent: None,
            children: Vec::new(),
            close_on_fork: Vec::new(),
            authkey: None,
        })
    }),
    in_child: AtomicBool::new(false),
    parent_pidfd: AtomicI32::new(-1),
};

static STATE: &LazyLock<Mutex<ProcState>> = &GLOBALS.state;

/// True in a process that forkway forked (set in the child right after `fork`).
pub(crate) static IN_CHILD: &AtomicBool = &GLOBALS.in_child;

/// A pidfd on our parent, opened in the child when first needed; -1 until then, and in the
/// main process.
pub(crate) static PARENT_PIDFD: &AtomicI32 = &GLOBALS.parent_pidfd;

/// Locks the state. A panic while the lock was held cannot leave it half-updated in a way that
/// matters (every update is a single push, retain or assignment), so poisoning is ignored.
pub(crate) fn lock() -> MutexGuard<'static, ProcState> {
    STATE.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Tries to lock the state without blocking; used by the panic hook, which must never deadlock.
pub(crate) fn try_lock() -> Option<MutexGuard<'static, ProcState>> {
    match STATE.try_lock() {
        Ok(g) => Some(g),
        Err(std::sync::TryLockError::Poisoned(p)) => Some(p.into_inner()),
        Err(std::sync::TryLockError::WouldBlock) => None,
    }
}

impl ProcState {
    /// This process's authkey, made (32 random bytes, as Python's `os.urandom(32)`) on first use.
    pub(crate) fn authkey(&mut self) -> &[u8] {
        self.authkey.get_or_insert_with(|| {
            let mut key = vec![0u8; 32];
            let mut filled = 0;
            while filled < key.len() {
                // SAFETY: the pointer and length describe the unfilled tail of `key`, which we own.
                let got =
                    unsafe { libc::getrandom(key[filled..].as_mut_ptr().cast(), key.len() - filled, 0) };
                if got > 0 {
                    filled += got as usize;
                } else if std::io::Error::last_os_error().kind() != std::io::ErrorKind::Interrupted {
                    panic!(
                        "the kernel gives no random bytes: {}",
                        std::io::Error::last_os_error()
                    );
                }
            }
            key
        })
    }

    /// Runs in the child, on the copy of the state that `start` locked before forking.
    ///
    /// The parent's children are not ours: forget them, and close the pidfds we inherited for
    /// them, so that no fd leaks into the child.
    pub(crate) fn become_child(&mut self, name: String, identity: Vec<u32>, daemon: bool, parent_pid: u32) {
        for child in self.children.drain(..) {
            child.forget_pidfd_in_child();
        }
        for fd in self.close_on_fork.drain(..) {
            crate::sys::close_raw(fd);
        }
        let parent_name = std::mem::replace(&mut self.name, name);
        // The parent's own parent and identity are leaked, not freed: freeing writes to the
        // allocator's pages, which the child still shares with the parent, so each free costs a
        // copy-on-write fault that `join` waits for. A few bytes, once per process.
        std::mem::forget(self.parent.replace((parent_name, parent_pid)));
        std::mem::forget(std::mem::replace(&mut self.identity, identity));
        self.daemon = daemon;
        self.counter = 0;
        IN_CHILD.store(true, Ordering::SeqCst);
    }

    /// Removes a reaped child from the list of active children.
    pub(crate) fn forget_child(&mut self, inner: &Arc<Inner>) {
        self.children.retain(|c| !Arc::ptr_eq(c, inner));
    }
}
