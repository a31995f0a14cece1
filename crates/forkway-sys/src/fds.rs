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

/// The error for a shared object that cannot travel: Python's words (`assert_spawning`),
/// `"<python> objects should only be shared between processes through inheritance"`, and
/// forkway's way out, the `<rust>::new_sendable` constructor.
pub fn not_sendable(python: &str, rust: &str) -> String {
    format!(
        "{python} objects should only be shared between processes through inheritance \
(or made with {rust}::new_sendable and passed as a forkserver or spawn argument)"
    )
}

/// Serializes a shared object's memfd as its index among the descriptors that travel with the
/// value ([`send_fd`]). Fails with [`not_sendable`]`(python, rust)` when the object has no
/// memfd (it was made for `fork`) or no `encode_with_fds` is running. The one `Serialize` body
/// of every sendable primitive.
pub fn serialize_memfd<S: serde::Serializer>(
    memfd: Option<BorrowedFd<'_>>,
    python: &str,
    rust: &str,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match memfd.and_then(send_fd) {
        Some(index) => serializer.serialize_u32(index),
        None => Err(serde::ser::Error::custom(not_sendable(python, rust))),
    }
}

/// The other half of [`serialize_memfd`]: reads the index and takes its descriptor
/// ([`receive_fd`]), or fails with [`not_sendable`]`(python, rust)`.
pub fn deserialize_memfd<'de, D: serde::Deserializer<'de>>(
    python: &str,
    rust: &str,
    deserializer: D,
) -> Result<OwnedFd, D::Error> {
    let index = <u32 as serde::Deserialize>::deserialize(deserializer)?;
    take_memfd(index, python, rust)
}

/// [`receive_fd`] for an index read as part of a larger value (an array's memfd beside its
/// length), failing as [`deserialize_memfd`] does.
pub fn take_memfd<E: serde::de::Error>(index: u32, python: &str, rust: &str) -> Result<OwnedFd, E> {
    receive_fd(index).ok_or_else(|| E::custom(not_sendable(python, rust)))
}

/// [`serialize_memfd`] as a value, to serialize a memfd as part of a larger value (in a
/// tuple beside an array's length, or a joinable queue's queue). Read it back as a `u32` and
/// [`take_memfd`].
pub struct MemfdRef<'a> {
    /// The object's memfd; `None` for an object that cannot travel.
    pub memfd: Option<BorrowedFd<'a>>,
    /// The object's Python type name, for the error.
    pub python: &'a str,
    /// The forkway type with the `new_sendable` constructor, for the error.
    pub rust: &'a str,
}

impl serde::Serialize for MemfdRef<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serialize_memfd(self.memfd, self.python, self.rust, serializer)
    }
}

/// [`deserialize_memfd`], mapped: the shared memory of an object made on
/// [`Shm::new_sendable`](crate::Shm::new_sendable) in another process, at least `min_len`
/// bytes long.
pub fn deserialize_shm<'de, D: serde::Deserializer<'de>>(
    python: &str,
    rust: &str,
    min_len: usize,
    deserializer: D,
) -> Result<crate::Shm, D::Error> {
    let fd = deserialize_memfd(python, rust, deserializer)?;
    crate::Shm::from_memfd(fd, min_len).map_err(serde::de::Error::custom)
}
