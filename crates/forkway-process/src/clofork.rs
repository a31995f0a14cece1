//! Close-on-fork: descriptors that a forked child must not inherit.
//!
//! `fork` copies every open descriptor into the child. The end of a pipe that the parent keeps
//! is then open in the child too, so when the parent closes it the other side sees no EOF: the
//! child still holds a copy. POSIX.1-2024 added `FD_CLOFORK` for exactly this; Linux does not
//! have it yet, so forkway emulates it for the descriptors registered here: `Process::start`
//! closes them in the child right after `fork`, under the same lock that registration takes, so
//! a descriptor is either registered and open at the fork (closed in the child) or not.

use std::os::fd::RawFd;

use crate::state;

/// Marks `fd` to be closed in every child forked from now on. The caller must call
/// [`keep_on_fork`] before it closes `fd`, or a later descriptor that reuses the number would
/// be closed in children.
pub fn close_on_fork(fd: RawFd) {
    let mut st = state::lock();
    if !st.close_on_fork.contains(&fd) {
        st.close_on_fork.push(fd);
    }
}

/// Removes `fd` from the close-on-fork set (call it before closing `fd`).
pub fn keep_on_fork(fd: RawFd) {
    state::lock().close_on_fork.retain(|&f| f != fd);
}
