//! The calling process's pid, without a system call on every ask.
//!
//! glibc stopped caching `getpid` (2.25): each call is a trip into the kernel. Code that must
//! notice "I am a forked child now" — a connection closed at fork, a lock recording its owner —
//! asks on every operation, so the answer is cached. A plain cache would be inherited, wrongly,
//! by a forked child; this one lives in a `MADV_WIPEONFORK` page, which the kernel hands to every
//! child zeroed, so a child's first ask finds 0 and asks the kernel. No `pthread_atfork` hook and
//! no `Once` is involved (a `Once` caught mid-initialization by a fork would block the child).

use std::sync::atomic::{AtomicPtr, AtomicU32, Ordering};

/// The page holding this process's pid (0 in a fresh child).
static PAGE: AtomicPtr<AtomicU32> = AtomicPtr::new(std::ptr::null_mut());

/// The fallback when the page cannot be mapped: never written, so every ask goes to the kernel.
static NO_PAGE: AtomicU32 = AtomicU32::new(0);

/// The word that caches the pid: in a `MADV_WIPEONFORK` page, or [`NO_PAGE`] when the kernel
/// refused one (then the cache is simply never used).
pub(crate) fn pid_word() -> &'static AtomicU32 {
    let mut page = PAGE.load(Ordering::Acquire);
    if page.is_null() {
        // SAFETY: a fresh private anonymous page; madvise only changes what fork does with it.
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
                return &NO_PAGE;
            }
            p.cast::<AtomicU32>()
        };
        page = match PAGE.compare_exchange(std::ptr::null_mut(), fresh, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => fresh,
            Err(winner) => {
                // SAFETY: our page lost the race and was never shared.
                unsafe { libc::munmap(fresh.cast(), 4096) };
                winner
            }
        };
    }
    // SAFETY: the page is never unmapped once published, and is aligned for an AtomicU32.
    unsafe { &*page }
}

/// This process's pid, as `std::process::id()`, from a cache that a forked child does not
/// inherit (so it is right in the child too).
pub fn current_pid() -> u32 {
    let word = pid_word();
    match word.load(Ordering::Relaxed) {
        0 => {
            let pid = std::process::id();
            if !std::ptr::eq(word, &NO_PAGE) {
                word.store(pid, Ordering::Relaxed);
            }
            pid
        }
        pid => pid,
    }
}

#[cfg(test)]
mod tests {
    use super::current_pid;

    #[test]
    fn the_cache_is_right_here_and_in_a_forked_child() {
        assert_eq!(current_pid(), std::process::id());
        assert_eq!(current_pid(), std::process::id(), "cached");
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
