//! A [`Lock`] that can be handed to a forkserver or spawn child (lesson 7).
//!
//! An ordinary lock lives in an anonymous mapping that only `fork` can share. A lock made by
//! [`Lock::new_sendable`] lives in a memfd instead; as a target's argument it serializes as
//! that memfd (see [`forkway_sys::fds`]), and the child maps the same robust mutex — so a child
//! killed while it holds the lock is reported as [`OwnerDied`](crate::AcquireError::OwnerDied)
//! to the next holder, exactly as with fork.

use std::io;
use std::os::fd::AsFd;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::lock::Region;
use crate::Lock;

const NOT_SENDABLE: &str = "Lock objects should only be shared between processes through \
inheritance (or made with Lock::new_sendable and passed as a forkserver or spawn argument)";

impl Lock {
    /// A new, unlocked lock that can also be passed to a forkserver or spawn child as a
    /// target's argument (lesson 7). It costs one descriptor per process that holds it.
    ///
    /// # Errors
    /// The OS error when the memfd cannot be made or mapped.
    pub fn new_sendable() -> io::Result<Lock> {
        Ok(Lock::from_region(Region::new_sendable(0)?))
    }
}

impl Serialize for Lock {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self
            .region()
            .memfd
            .as_ref()
            .and_then(|fd| forkway_sys::fds::send_fd(fd.as_fd()))
        {
            Some(index) => serializer.serialize_u32(index),
            None => Err(serde::ser::Error::custom(NOT_SENDABLE)),
        }
    }
}

impl<'de> Deserialize<'de> for Lock {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let index = u32::deserialize(deserializer)?;
        let fd = forkway_sys::fds::receive_fd(index).ok_or_else(|| serde::de::Error::custom(NOT_SENDABLE))?;
        Region::from_memfd(fd)
            .map(Lock::from_region)
            .map_err(serde::de::Error::custom)
    }
}
