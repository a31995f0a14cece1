//! Fault injection, for the tests of supervisors built on [`Queue::get_claimed`] and of the
//! queue's own crash safety: a process can arrange to die at a moment no outside kill can be
//! aimed at — after its claim has run, before the item leaves the queue; or after its put wrote
//! the frame, before the put is published. Not for programs.
//!
//! [`Queue::get_claimed`]: crate::Queue::get_claimed

use std::sync::atomic::{AtomicBool, Ordering};

/// Per process (a static is not shared across fork): set only in the process meant to die.
static DIE_AFTER_CLAIM: AtomicBool = AtomicBool::new(false);
static DIE_BEFORE_PUBLISH: AtomicBool = AtomicBool::new(false);

/// The next [`get_claimed`](crate::Queue::get_claimed) of this process SIGKILLs the process
/// right after its claim returns, with the queue still locked and the item still in it.
#[doc(hidden)]
pub fn die_after_next_claim() {
    DIE_AFTER_CLAIM.store(true, Ordering::SeqCst);
}

/// The next put of this process SIGKILLs the process once its frame is written into the ring,
/// before the put is published: the producers' lock still held, the frame in free space.
#[doc(hidden)]
pub fn die_before_next_publish() {
    DIE_BEFORE_PUBLISH.store(true, Ordering::SeqCst);
}

/// Called by `get_claimed` between the claim and the commit: one relaxed load when unused.
#[inline]
pub(crate) fn after_claim() {
    if DIE_AFTER_CLAIM.load(Ordering::Relaxed) {
        die();
    }
}

/// Called by a put between writing its frame and publishing it: one relaxed load when unused.
#[inline]
pub(crate) fn before_publish() {
    if DIE_BEFORE_PUBLISH.load(Ordering::Relaxed) {
        die();
    }
}

#[cold]
#[inline(never)]
fn die() {
    // SIGKILL, as an outside kill would be: no handler, no unwinding, locks left held.
    // SAFETY: kill(2) on our own pid touches no memory of ours.
    unsafe {
        libc::kill(libc::getpid(), libc::SIGKILL);
    }
}
