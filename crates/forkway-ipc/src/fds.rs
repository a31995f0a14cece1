//! Descriptors inside serialized values: how a queue or a lock reaches a process that was not
//! forked from its creator (a forkserver or spawn child, lesson 7).
//!
//! A value that lives in a memfd serializes as the *index* of that memfd in a side list, and
//! the list travels beside the bytes: with `SCM_RIGHTS` over a socket, or inherited across
//! `execve`. Python's `multiprocessing.reduction` does the same (`DupFd`). Outside
//! [`encode_with_fds`] and [`decode_with_fds`] there is no side list, and such values refuse
//! to serialize, as before.

use std::os::fd::OwnedFd;

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::codec;
use crate::{DecodeError, EncodeError};

// The side lists themselves live in forkway-sys (forkway-sync uses them too).
pub use forkway_sys::fds::{collect_fds, provide_fds, receive_fd, send_fd};

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
pub fn decode_with_fds<T: DeserializeOwned>(bytes: &[u8], fds: Vec<OwnedFd>) -> Result<T, DecodeError> {
    provide_fds(fds, || codec::decode(bytes))
}
