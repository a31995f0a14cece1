//! Descriptors beside serialized values: the side lists through which a shared object that
//! lives in a memfd (a sendable Queue or Lock, lesson 7) travels to a process that was not
//! forked from its creator. A value serializes as the *index* of its memfd in the list, and the
//! list travels beside the bytes (`SCM_RIGHTS`, or inherited across `execve`); Python's
//! `multiprocessing.reduction` does the same (`DupFd`). The lists live here, below the crates
//! with shared objects, so that forkway-sync and forkway-ipc reach them without depending on
//! each other; `forkway_ipc::fds` adds the encoding around them.

use std::cell::RefCell;
use std::os::fd::{BorrowedFd, OwnedFd};

thread_local! {
    /// While encoding: the descriptors collected so far.
    static SINK: RefCell<Option<Vec<OwnedFd>>> = const { RefCell::new(None) };
    /// While decoding: the descriptors that came with the bytes, taken one by one.
    static SOURCE: RefCell<Option<Vec<Option<OwnedFd>>>> = const { RefCell::new(None) };
}

/// Runs `f` (an encoding) and returns what it returned with the descriptors that values
/// handed to [`send_fd`] meanwhile.
pub fn collect_fds<R>(f: impl FnOnce() -> R) -> (R, Vec<OwnedFd>) {
    let previous = SINK.with(|s| s.borrow_mut().replace(Vec::new()));
    let result = f();
    let fds = SINK
        .with(|s| std::mem::replace(&mut *s.borrow_mut(), previous))
        .unwrap_or_default();
    (result, fds)
}

/// Runs `f` (a decoding) with `fds` available to [`receive_fd`].
pub fn provide_fds<R>(fds: Vec<OwnedFd>, f: impl FnOnce() -> R) -> R {
    let previous = SOURCE.with(|s| s.borrow_mut().replace(fds.into_iter().map(Some).collect()));
    let result = f();
    SOURCE.with(|s| *s.borrow_mut() = previous);
    result
}

/// Called by a `Serialize` impl: adds a copy of `fd` to the descriptors that travel with the
/// value being encoded and returns its index; `None` when no `forkway_ipc::fds::encode_with_fds` is running
/// (or the copy failed), i.e. the value cannot travel.
pub fn send_fd(fd: BorrowedFd<'_>) -> Option<u32> {
    let copy = fd.try_clone_to_owned().ok()?;
    SINK.with(|s| {
        let mut sink = s.borrow_mut();
        let list = sink.as_mut()?;
        list.push(copy);
        u32::try_from(list.len() - 1).ok()
    })
}

/// Called by a `Deserialize` impl: takes the descriptor at `index` of those that came with the
/// bytes; `None` outside `forkway_ipc::fds::decode_with_fds`, for a bad index, or when already taken.
pub fn receive_fd(index: u32) -> Option<OwnedFd> {
    SOURCE.with(|s| {
        s.borrow_mut()
            .as_mut()?
            .get_mut(usize::try_from(index).ok()?)?
            .take()
    })
}
