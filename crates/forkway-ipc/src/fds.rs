//! Descriptors inside serialized values: how a queue or a lock reaches a process that was not
//! forked from its creator (a forkserver or spawn child, lesson 7).
//!
//! A value that lives in a memfd serializes as the *index* of that memfd in a side list, and
//! the list travels beside the bytes: with `SCM_RIGHTS` over a socket, or inherited across
//! `execve`. Python's `multiprocessing.reduction` does the same (`DupFd`). Outside
//! [`encode_with_fds`] and [`decode_with_fds`] there is no side list, and such values refuse
//! to serialize, as before.

use std::cell::RefCell;
use std::os::fd::{BorrowedFd, OwnedFd};

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::codec;
use crate::{EncodeError, RecvError};

thread_local! {
    /// While encoding: the descriptors collected so far.
    static SINK: RefCell<Option<Vec<OwnedFd>>> = const { RefCell::new(None) };
    /// While decoding: the descriptors that came with the bytes, taken one by one.
    static SOURCE: RefCell<Option<Vec<Option<OwnedFd>>>> = const { RefCell::new(None) };
}

/// Encodes `value`, collecting a copy of every descriptor its parts hand to [`send_fd`].
///
/// # Errors
/// As [`codec::encode`].
pub fn encode_with_fds<T: Serialize + ?Sized>(value: &T) -> Result<(Vec<u8>, Vec<OwnedFd>), EncodeError> {
    let (bytes, fds) = collect_fds(|| codec::encode(value));
    bytes.map(|b| (b, fds))
}

/// Decodes `bytes`, letting its parts take the descriptors `fds` with [`receive_fd`].
///
/// # Errors
/// As [`codec::decode`].
pub fn decode_with_fds<T: DeserializeOwned>(bytes: &[u8], fds: Vec<OwnedFd>) -> Result<T, RecvError> {
    provide_fds(fds, || codec::decode(bytes))
}

// The rest needs nothing but std: the thread-local lists that `Serialize`/`Deserialize` impls
// of shared objects (here, and in forkway-sync) reach without a codec.

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
/// value being encoded and returns its index; `None` when no [`encode_with_fds`] is running
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
/// bytes; `None` outside [`decode_with_fds`], for a bad index, or when already taken.
pub fn receive_fd(index: u32) -> Option<OwnedFd> {
    SOURCE.with(|s| {
        s.borrow_mut()
            .as_mut()?
            .get_mut(usize::try_from(index).ok()?)?
            .take()
    })
}
