//! The forkserver's way to make a child that is the caller's own: a raw `clone` with
//! `CLONE_PARENT`, and the two things glibc's `fork` does in a child that a raw `clone` does
//! not (see the `forkserver` module for why, and for the fallback when any of it is missing).
//!
//! 1. glibc caches the thread's kernel id in its thread descriptor (`struct pthread`'s `tid`)
//!    and uses it for its own mutexes, `pthread_kill` and `raise`. `fork` passes the address
//!    of that field as `CLONE_CHILD_SETTID`'s pointer, so the kernel writes the child's id
//!    there. The field is private to glibc, but glibc publishes where it is for the thread
//!    debugger: `_thread_db_pthread_tid` (size in bits, count, offset). We read it and check
//!    the offset at run time: the word found there must be our own `gettid()`.
//! 2. The kernel forgets the robust mutex list in a new process (a robust mutex is one whose
//!    waiters learn that its holder died; forkway's locks are on that list). glibc registers
//!    its list head again in a forked child; so does our child, with the head the server's
//!    thread has (`get_robust_list`), first thing after the clone.

use nix::errno::Errno;

use forkway_process::Cloned;

/// What a server needs to clone children as its parent's: found and checked once, at start.
pub(crate) struct Cloner {
    /// Address of the calling thread's `tid` field in its glibc thread descriptor.
    tid: usize,
    /// The thread's robust list head, and its length for `set_robust_list`.
    head: usize,
    head_len: usize,
}

/// The layout glibc describes in `_thread_db_pthread_tid`: a 32-bit field, one of it.
const TID_BITS: u32 = 32;

impl Cloner {
    /// `None` when anything is not as expected (not glibc, a descriptor without the symbol,
    /// an offset that does not point at our thread id, no robust list): then the server
    /// relays exit codes instead.
    pub(crate) fn probe() -> Option<Cloner> {
        if !cfg!(all(
            target_env = "gnu",
            any(target_arch = "x86_64", target_arch = "aarch64")
        )) {
            return None;
        }
        // SAFETY: dlsym with RTLD_DEFAULT and a NUL-terminated name only looks the name up.
        let symbol = unsafe { libc::dlsym(libc::RTLD_DEFAULT, c"_thread_db_pthread_tid".as_ptr()) };
        if symbol.is_null() {
            return None;
        }
        // SAFETY: glibc defines `_thread_db_pthread_tid` as `const uint32_t[3]` in read-only
        // data that lives as long as the process.
        let [bits, count, offset] = unsafe { symbol.cast::<[u32; 3]>().read() };
        if bits != TID_BITS || count != 1 {
            return None;
        }
        // SAFETY: pthread_self has no preconditions.
        let descriptor = unsafe { libc::pthread_self() } as usize;
        let tid = descriptor.checked_add(offset as usize)?;
        if tid % std::mem::align_of::<i32>() != 0 {
            return None;
        }
        // SAFETY: `tid` is `offset` bytes into our own thread descriptor, which glibc says
        // holds a 32-bit field there, aligned (checked above); the descriptor lives as long as
        // this thread. Read, never written by us.
        let cached = unsafe { std::ptr::read_volatile(tid as *const i32) };
        if cached != nix::unistd::gettid().as_raw() {
            return None;
        }
        let (head, head_len) = robust_list()?;
        Some(Cloner { tid, head, head_len })
    }

    /// True when the thread holds no robust mutex: its list holds only the head. glibc starts
    /// a forked child with an empty list (the parent's held mutexes are not the child's); we
    /// cannot empty it without writing glibc's private fields, so a server holding a robust
    /// mutex (it never does while it serves) relays instead.
    pub(crate) fn robust_list_is_empty(&self) -> bool {
        // SAFETY: `head` is the thread's registered `struct robust_list_head`, whose first word
        // is the list's `next` pointer; the head lives as long as the thread.
        let next = unsafe { std::ptr::read_volatile(self.head as *const usize) };
        next == self.head
    }

    /// A copy of this process whose parent is this process's parent: `Cloned::Child` in the
    /// copy (its thread id cached and its robust list registered, as after glibc's `fork`),
    /// `Cloned::Parent(pid)` here.
    #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
    pub(crate) fn clone_child(&self) -> Result<Cloned, Errno> {
        // CLONE_PARENT: the child's parent is ours. Its exit signal is then our own (SIGCHLD,
        // for we were forked), whatever the low byte says; SIGCHLD is written anyway, as glibc
        // writes it. CLONE_CHILD_SETTID/CLEARTID with glibc's `tid` field: what `fork` passes.
        // No CLONE_PIDFD: the caller opens its pidfd itself, as it does for a fork child (a
        // child nobody has reaped keeps its pid, so that cannot race).
        let flags = (libc::CLONE_PARENT | libc::CLONE_CHILD_SETTID | libc::CLONE_CHILD_CLEARTID)
            as libc::c_ulong
            | libc::SIGCHLD as libc::c_ulong;
        let no_stack = 0 as libc::c_ulong;
        let no_parent_tid = std::ptr::null_mut::<libc::c_int>();
        let no_tls = 0 as libc::c_ulong;
        let child_tid = self.tid as *mut libc::c_int;
        #[cfg(target_arch = "x86_64")]
        let rc = {
            // A fork-like clone: no CLONE_VM and no new stack, so the child runs on its own copy
            // of ours and returns from this call, as from fork.
            // SAFETY: the only pointer the kernel keeps is `child_tid`, glibc's `tid` field in
            // the child's copy of our thread descriptor (set at its start, cleared at its end).
            unsafe { libc::syscall(libc::SYS_clone, flags, no_stack, no_parent_tid, child_tid, no_tls) }
        };
        // aarch64 has CONFIG_CLONE_BACKWARDS: the thread pointer comes before the child's tid.
        #[cfg(target_arch = "aarch64")]
        let rc = {
            // SAFETY: as for x86_64 above, with the arguments in aarch64's order.
            unsafe { libc::syscall(libc::SYS_clone, flags, no_stack, no_parent_tid, no_tls, child_tid) }
        };
        match rc {
            r if r < 0 => Err(Errno::last()),
            0 => {
                // SAFETY: registers our copy of the thread's robust list head (same address,
                // same layout, this process's memory) for the one thread the child has.
                unsafe {
                    libc::syscall(
                        libc::SYS_set_robust_list,
                        self.head as *mut libc::c_void,
                        self.head_len,
                    );
                }
                Ok(Cloned::Child)
            }
            pid => Ok(Cloned::Parent(pid as u32)),
        }
    }

    /// Elsewhere the argument order of `clone` is not known here: `probe` says no, and this is
    /// never called.
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    pub(crate) fn clone_child(&self) -> Result<Cloned, Errno> {
        let _ = (self.tid, self.head_len);
        Err(Errno::ENOSYS)
    }
}

/// The calling thread's robust list head and its length, as the kernel holds them.
fn robust_list() -> Option<(usize, usize)> {
    let mut head: *mut libc::c_void = std::ptr::null_mut();
    let mut len: libc::size_t = 0;
    // SAFETY: get_robust_list(0, …) writes the calling thread's head pointer and its length
    // into the two locals.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_get_robust_list,
            0,
            &mut head as *mut *mut libc::c_void,
            &mut len as *mut libc::size_t,
        )
    };
    (rc == 0 && !head.is_null() && len > 0).then_some((head as usize, len))
}
