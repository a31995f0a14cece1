//! The typed side of a queue: `put` encodes an item and `get` decodes one, in the calling
//! process, around the byte-level ring operations of the parent module; and what a queue does
//! when asked to travel inside a message.

use std::marker::PhantomData;
use std::sync::atomic::{AtomicBool, AtomicU32};
use std::sync::Arc;
use std::time::Duration;

use forkway_sys::{Deadline, Shm};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::{Inner, Queue, INHERITANCE_ONLY, RING_OFFSET};
use crate::codec;
use crate::error::{GetError, PutError};

/// The largest buffer a thread keeps between puts and gets. A buffer it does not keep is
/// memory given back to the kernel and faulted in again for the next message: for a stream of
/// 16 MiB messages that was most of the time a put took (a buffer of 16 MiB and a few bytes
/// grows to 32 MiB). Keeping up to 64 MiB costs that much memory in a thread that once sent
/// such a message.
const SCRATCH_KEEP: usize = 64 << 20;

thread_local! {
    static SCRATCH: std::cell::Cell<Vec<u8>> = const { std::cell::Cell::new(Vec::new()) };
}

/// This thread's buffer for encoding a message too big for the stack (and for copying out a
/// frame that wraps around the ring's end), taken out of the thread-local: a `Serialize` impl
/// that itself puts on a queue finds it gone and gets a fresh one (as does a put while the
/// thread's locals are being destroyed).
pub(super) fn take_scratch() -> Vec<u8> {
    SCRATCH.try_with(std::cell::Cell::take).unwrap_or_default()
}

/// Gives the buffer back for the next big message, unless it grew past [`SCRATCH_KEEP`].
pub(super) fn keep_scratch(buf: Vec<u8>) {
    if buf.capacity() <= SCRATCH_KEEP {
        let _ = SCRATCH.try_with(|scratch| scratch.set(buf));
    }
}

impl<T: Serialize + DeserializeOwned> Queue<T> {
    fn put_until(&self, item: T, deadline: Deadline) -> Result<(), PutError<T>> {
        if self.is_closed() {
            return Err(PutError::Closed(item));
        }
        // A small message is encoded on the stack; a bigger one in this thread's reusable
        // buffer, so that a large message costs no fresh allocation (and no page faults) per put.
        let start = forkway_trace::begin();
        let mut inline = [0u8; codec::INLINE];
        let (result, len) = match codec::encode_inline(&item, &mut inline, take_scratch) {
            Ok(codec::Encoded::Inline(len)) => (self.put_bytes(&inline[..len], deadline), len),
            Ok(codec::Encoded::Heap(buf)) => {
                let result = self.put_bytes(&buf, deadline);
                let len = buf.len();
                keep_scratch(buf);
                (result, len)
            }
            Err(error) => {
                self.trace(start, "put (failed)", 0, None);
                return Err(PutError::Encode { item, error });
            }
        };
        let name = if result.is_ok() { "put" } else { "put (failed)" };
        self.trace(start, name, len as u64, None);
        result.map_err(|failure| failure.with(item))
    }

    /// Puts `item`, waiting while a bounded queue is full. On an unbounded queue it never
    /// waits: the message is in shared memory when `put` returns.
    ///
    /// # Errors
    /// Every error hands the item back: [`PutError::Closed`], [`PutError::Encode`] (checked
    /// here, in the caller), [`PutError::TooLarge`], [`PutError::NoSpace`].
    pub fn put(&self, item: T) -> Result<(), PutError<T>> {
        self.put_until(item, Deadline::never())
    }

    /// Puts `item`, waiting at most `timeout` for room. Python's `put(item, timeout=t)`.
    ///
    /// # Errors
    /// [`PutError::Full`] when the queue stayed full for `timeout`; otherwise as [`Queue::put`].
    pub fn put_timeout(&self, item: T, timeout: Duration) -> Result<(), PutError<T>> {
        self.put_until(item, Deadline::after(timeout))
    }

    /// Puts `item` only if there is room now. Python's `put_nowait(item)`. (It waits for the
    /// producers' internal lock, which other producers hold only to copy one message, at most
    /// [`LOCK_GRACE`](forkway_sys::LOCK_GRACE).)
    ///
    /// # Errors
    /// [`PutError::Full`] at once when full; otherwise as [`Queue::put`].
    pub fn put_nowait(&self, item: T) -> Result<(), PutError<T>> {
        self.put_until(item, Deadline::now())
    }

    fn get_until(&self, deadline: Deadline) -> Result<T, GetError> {
        if self.is_closed() {
            return Err(GetError::Closed);
        }
        self.take(deadline, codec::decode::<T>)?.map_err(GetError::from)
    }

    /// Takes the oldest message, waiting as long as it takes.
    ///
    /// # Errors
    /// [`GetError::Closed`] after `close`; [`GetError::Decode`] when the message is not a
    /// valid `T` (it is consumed; the next `get` returns the next one).
    pub fn get(&self) -> Result<T, GetError> {
        self.get_until(Deadline::never())
    }

    /// Takes the oldest message like [`Queue::get`], and calls `claim(&item)` while the
    /// consumers' lock is still held, before the item leaves the queue.
    ///
    /// A process killed before `claim` returns leaves the item in the queue; once the item is
    /// gone from the queue, its `claim` has run. A consumer that records what it holds in shared
    /// memory (a pool worker publishing its task's number) thereby never holds an item nobody
    /// knows about. Keep `claim` short: every other consumer waits for it (producers do not).
    ///
    /// # Errors
    /// As [`Queue::get`]; `claim` is not called for a message that does not decode.
    pub fn get_claimed(&self, claim: impl FnOnce(&T)) -> Result<T, GetError> {
        if self.is_closed() {
            return Err(GetError::Closed);
        }
        self.take(Deadline::never(), |bytes| {
            let item = codec::decode::<T>(bytes)?;
            claim(&item);
            crate::fault::after_claim();
            Ok::<T, crate::RecvError>(item)
        })?
        .map_err(GetError::from)
    }

    /// Takes the oldest message, waiting at most `timeout`. Python's `get(timeout=t)`.
    ///
    /// # Errors
    /// [`GetError::Empty`] when nothing came in time; otherwise as [`Queue::get`].
    pub fn get_timeout(&self, timeout: Duration) -> Result<T, GetError> {
        self.get_until(Deadline::after(timeout))
    }

    /// Takes the oldest message if there is one now. Python's `get_nowait()`. (It waits for
    /// the consumers' internal lock at most [`LOCK_GRACE`](forkway_sys::LOCK_GRACE), as [`Queue::put_nowait`].)
    ///
    /// # Errors
    /// [`GetError::Empty`] at once when empty; otherwise as [`Queue::get`].
    pub fn get_nowait(&self) -> Result<T, GetError> {
        self.get_until(Deadline::now())
    }
}

/// Messages in a layout of the caller's own: for a protocol with its own format, whose
/// messages then cost no second encoding and no copy into this crate's buffer. Only the
/// `*_encoded` calls read what `put_encoded` wrote, and they hand over whatever bytes are there:
/// the reader must treat them as untrusted.
impl<T> Queue<T> {
    /// Puts `payload` as one message, as it is. Never waits (on an unbounded queue).
    ///
    /// # Errors
    /// As [`Queue::put`], without an encoding error.
    pub fn put_encoded(&self, payload: &[u8]) -> Result<(), PutError<()>> {
        if self.is_closed() {
            return Err(PutError::Closed(()));
        }
        let start = forkway_trace::begin();
        let result = self
            .put_bytes(payload, Deadline::never())
            .map_err(|failure| failure.with(()));
        let name = if result.is_ok() { "put" } else { "put (failed)" };
        self.trace(start, name, payload.len() as u64, None);
        result
    }

    /// Takes the oldest message, waiting at most `timeout`, and returns what `read` makes of
    /// its bytes. `read` runs while the consumers' lock is held: keep it short (a copy, a header).
    ///
    /// # Errors
    /// [`GetError::Empty`] when nothing came in time; [`GetError::Closed`] after `close`.
    pub fn get_encoded_timeout<R>(
        &self,
        timeout: Duration,
        read: impl FnOnce(&[u8]) -> R,
    ) -> Result<R, GetError> {
        if self.is_closed() {
            return Err(GetError::Closed);
        }
        self.take(Deadline::after(timeout), read)
    }

    /// As [`Queue::get_encoded_timeout`], without waiting.
    ///
    /// # Errors
    /// As [`Queue::get_encoded_timeout`].
    pub fn get_encoded_nowait<R>(&self, read: impl FnOnce(&[u8]) -> R) -> Result<R, GetError> {
        if self.is_closed() {
            return Err(GetError::Closed);
        }
        self.take(Deadline::now(), read)
    }

    /// Takes the oldest message, waiting as long as it takes, and returns what `read` makes of
    /// its bytes; as in [`Queue::get_claimed`], the message leaves the queue only after `read`
    /// returned, so `read` is where a consumer records what it holds.
    ///
    /// # Errors
    /// [`GetError::Closed`] after `close`.
    pub fn get_encoded_claimed<R>(&self, read: impl FnOnce(&[u8]) -> R) -> Result<R, GetError> {
        if self.is_closed() {
            return Err(GetError::Closed);
        }
        self.take(Deadline::never(), |bytes| {
            let out = read(bytes);
            crate::fault::after_claim();
            out
        })
    }
}

impl<T> std::fmt::Debug for Queue<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Queue")
            .field("maxsize", &self.maxsize())
            .field("qsize", &self.qsize())
            .field("closed", &self.is_closed())
            .finish()
    }
}

/// A queue cannot travel inside a message: its memory reaches a process only by `fork`.
/// Serializing one fails with Python's own explanation ([`INHERITANCE_ONLY`]) — except a
/// [`Queue::new_sendable`] queue inside [`fds::encode_with_fds`](crate::fds::encode_with_fds),
/// which is how a forkserver or spawn target gets its arguments: it travels as its memfd.
impl<T> Serialize for Queue<T> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use std::os::fd::AsFd;
        match self
            .inner
            .memfd
            .as_ref()
            .and_then(|fd| crate::fds::send_fd(fd.as_fd()))
        {
            Some(index) => serializer.serialize_u32(index),
            None => Err(serde::ser::Error::custom(INHERITANCE_ONLY)),
        }
    }
}

impl<'de, T> Deserialize<'de> for Queue<T> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use std::os::fd::AsFd;
        let index = u32::deserialize(deserializer)?;
        let fd = crate::fds::receive_fd(index).ok_or_else(|| serde::de::Error::custom(INHERITANCE_ONLY))?;
        let shm = Shm::map_fd(fd.as_fd()).map_err(serde::de::Error::custom)?;
        if shm.size() <= RING_OFFSET {
            return Err(serde::de::Error::custom("the queue's memfd is too small"));
        }
        Ok(Queue {
            inner: Arc::new(Inner {
                shm,
                closed: AtomicBool::new(false),
                memfd: Some(fd),
                behind: AtomicU32::new(0),
            }),
            _items: PhantomData,
        })
    }
}
