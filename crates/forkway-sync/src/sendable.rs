//! Primitives that can be handed to a forkserver or spawn child (lesson 7).
//!
//! An ordinary primitive lives in an anonymous mapping that only `fork` can share. One made by
//! a `new_sendable` constructor lives in a memfd instead; as a target's argument it serializes
//! as that memfd (see [`forkway_sys::fds`]), and the child maps the same memory — so a child
//! killed while it holds a [`Lock`] (or a [`Value`]'s lock) is reported as
//! [`OwnerDied`](crate::AcquireError::OwnerDied) to the next holder, exactly as with fork.
//!
//! Every primitive serializes the same way ([`forkway_sys::fds::serialize_memfd`]): the index
//! of its memfd among the descriptors that travel with the arguments, or — for one made for
//! `fork` — Python's "should only be shared between processes through inheritance" error.

use std::io;
use std::marker::PhantomData;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::Arc;

use forkway_sys::fds::{deserialize_memfd, deserialize_shm, serialize_memfd, take_memfd, MemfdRef};
use serde::{de, Deserialize, Deserializer, Serialize, Serializer};

use crate::lock::Region;
use crate::{
    Array, Barrier, Condition, Event, Lock, RLock, RawArray, RawLock, RawValue, Semaphore, Shareable, Value,
};

/// The page of a primitive made of one page: anonymous (for `fork`), or in a memfd that can
/// travel.
pub(crate) fn page(sendable: bool) -> io::Result<forkway_sys::Shm> {
    if sendable {
        forkway_sys::Shm::new_sendable(4096)
    } else {
        forkway_sys::Shm::new(4096)
    }
}

/// A region's memfd, if it has one.
fn region_fd(region: &Region) -> Option<BorrowedFd<'_>> {
    region.memfd.as_deref().map(AsFd::as_fd)
}

/// Maps a region received from another process, checking that it holds `extra` data bytes.
fn region_from<E: de::Error>(fd: OwnedFd, extra: usize) -> Result<Region, E> {
    let len = std::fs::File::from(fd.try_clone().map_err(E::custom)?)
        .metadata()
        .map_err(E::custom)?
        .len();
    let want = Region::DATA
        .checked_add(extra)
        .ok_or_else(|| E::custom("the region is too large"))?;
    if usize::try_from(len).is_ok_and(|len| len < want) {
        return Err(E::custom("the shared object's memfd is too small"));
    }
    Region::from_memfd(fd).map_err(E::custom)
}

/// The bytes `len` elements of `T` take.
fn array_bytes<T, E: de::Error>(len: usize) -> Result<usize, E> {
    std::mem::size_of::<T>()
        .checked_mul(len)
        .ok_or_else(|| E::custom("array too large"))
}

/// `Serialize` and `Deserialize` for a primitive made of one `Arc<Shm>` (`shm`) that the
/// receiver maps as it is: its memfd's index. `$python` and `$rust` name it in the error.
macro_rules! shm_sendable {
    ($t:ident, $python:literal, $rust:literal) => {
        impl Serialize for $t {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serialize_memfd(self.shm.memfd(), $python, $rust, serializer)
            }
        }

        impl<'de> Deserialize<'de> for $t {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                // The creator initialized the page; the size check keeps a wrong memfd from
                // being read past its end.
                let shm = deserialize_shm($python, $rust, 4096, deserializer)?;
                Ok($t { shm: Arc::new(shm) })
            }
        }
    };
}

shm_sendable!(RawLock, "Lock", "RawLock");
shm_sendable!(Event, "Event", "Event");
shm_sendable!(Semaphore, "Semaphore", "Semaphore");
shm_sendable!(Barrier, "Barrier", "Barrier");

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
        serialize_memfd(region_fd(self.region()), "Lock", "Lock", serializer)
    }
}

impl<'de> Deserialize<'de> for Lock {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let fd = deserialize_memfd("Lock", "Lock", deserializer)?;
        Ok(Lock::from_region(region_from(fd, 0)?))
    }
}

impl RLock {
    /// A new, free re-entrant lock that can also be passed to a forkserver or spawn child as a
    /// target's argument (lesson 7), like [`Lock::new_sendable`]. Its depth lives beside the
    /// mutex in the same memfd, so the child sees the same lock, not a copy.
    ///
    /// # Errors
    /// The OS error when the memfd cannot be made or mapped.
    pub fn new_sendable() -> io::Result<RLock> {
        Ok(RLock::from_region(Region::new_sendable(0)?))
    }
}

impl Serialize for RLock {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serialize_memfd(region_fd(self.region()), "RLock", "RLock", serializer)
    }
}

impl<'de> Deserialize<'de> for RLock {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let fd = deserialize_memfd("RLock", "RLock", deserializer)?;
        Ok(RLock::from_region(region_from(fd, 0)?))
    }
}

impl RawLock {
    /// A new, free [`RawLock`] that can also be passed to a forkserver or spawn child as a
    /// target's argument (lesson 7), like [`Lock::new_sendable`].
    ///
    /// # Errors
    /// The OS error when the memfd cannot be made or mapped.
    pub fn new_sendable() -> io::Result<RawLock> {
        RawLock::create(true)
    }
}

impl Event {
    /// A new, unset [`Event`] that can also be passed to a forkserver or spawn child as a
    /// target's argument (lesson 7).
    ///
    /// # Errors
    /// The OS error when the memfd cannot be made or mapped.
    pub fn new_sendable() -> io::Result<Event> {
        Event::create(true)
    }
}

impl Semaphore {
    /// [`Semaphore::new`] in a memfd: it can also be passed to a forkserver or spawn child as
    /// a target's argument (lesson 7).
    ///
    /// # Errors
    /// The OS error when the memfd cannot be made or mapped.
    pub fn new_sendable(value: u32) -> io::Result<Semaphore> {
        Semaphore::create(value, 0, true)
    }

    /// [`Semaphore::bounded`] in a memfd, sendable like [`Semaphore::new_sendable`].
    ///
    /// # Errors
    /// As [`Semaphore::bounded`].
    pub fn bounded_sendable(value: u32) -> io::Result<Semaphore> {
        Semaphore::create_bounded(value, true)
    }
}

impl Barrier {
    /// [`Barrier::new`] in a memfd: it can also be passed to a forkserver or spawn child as a
    /// target's argument (lesson 7).
    ///
    /// # Errors
    /// As [`Barrier::new`].
    pub fn new_sendable(parties: u32) -> io::Result<Barrier> {
        Barrier::create(parties, true)
    }
}

impl Condition {
    /// [`Condition::new`] in a memfd: it can also be passed to a forkserver or spawn child as
    /// a target's argument (lesson 7). Its lock ([`Condition::get_lock`]) travels with it.
    ///
    /// # Errors
    /// The OS error when the memfd cannot be made or mapped.
    pub fn new_sendable() -> io::Result<Condition> {
        Ok(Condition {
            region: Region::new_sendable(Condition::EXTRA)?,
        })
    }
}

impl Serialize for Condition {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serialize_memfd(region_fd(&self.region), "Condition", "Condition", serializer)
    }
}

impl<'de> Deserialize<'de> for Condition {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let fd = deserialize_memfd("Condition", "Condition", deserializer)?;
        Ok(Condition {
            region: region_from(fd, Condition::EXTRA)?,
        })
    }
}

impl<T: Shareable> Value<T> {
    /// [`Value::new`] in a memfd: it can also be passed to a forkserver or spawn child as a
    /// target's argument (lesson 7), its lock with it — a child killed holding it is reported
    /// as [`OwnerDied`](crate::AcquireError::OwnerDied) by [`Value::lock`].
    ///
    /// # Errors
    /// The OS error when the memfd cannot be made or mapped.
    pub fn new_sendable(value: T) -> io::Result<Value<T>> {
        Value::create(value, true)
    }
}

/// Python calls a `Value` "Synchronized": its message is [`INHERITANCE_ONLY`](crate::INHERITANCE_ONLY).
impl<T: Shareable> Serialize for Value<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serialize_memfd(region_fd(&self.region), "Synchronized", "Value", serializer)
    }
}

impl<'de, T: Shareable> Deserialize<'de> for Value<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let fd = deserialize_memfd("Synchronized", "Value", deserializer)?;
        Ok(Value {
            region: region_from(fd, std::mem::size_of::<T>())?,
            _t: PhantomData,
        })
    }
}

impl<T: Shareable> Array<T> {
    /// [`Array::from_slice`] in a memfd: it can also be passed to a forkserver or spawn child
    /// as a target's argument (lesson 7), its lock with it.
    ///
    /// # Errors
    /// As [`Array::from_slice`].
    pub fn new_sendable(items: &[T]) -> io::Result<Array<T>> {
        Array::copied(items, true)
    }

    /// [`Array::zeroed`] in a memfd, sendable like [`Array::new_sendable`].
    ///
    /// # Errors
    /// As [`Array::zeroed`].
    pub fn zeroed_sendable(len: usize) -> io::Result<Array<T>> {
        Array::create(len, true)
    }
}

/// An array travels as its length and its memfd.
impl<T: Shareable> Serialize for Array<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let memfd = MemfdRef {
            memfd: region_fd(&self.region),
            python: "SynchronizedArray",
            rust: "Array",
        };
        (memfd, self.len).serialize(serializer)
    }
}

impl<'de, T: Shareable> Deserialize<'de> for Array<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let (index, len) = <(u32, usize)>::deserialize(deserializer)?;
        let fd = take_memfd(index, "SynchronizedArray", "Array")?;
        Ok(Array {
            region: region_from(fd, array_bytes::<T, D::Error>(len)?)?,
            len,
            _t: PhantomData,
        })
    }
}

impl<T: Shareable> RawArray<T> {
    /// [`RawArray::zeroed`] in a memfd: it can also be passed to a forkserver or spawn child
    /// as a target's argument (lesson 7).
    ///
    /// # Errors
    /// As [`RawArray::zeroed`].
    pub fn zeroed_sendable(len: usize) -> io::Result<RawArray<T>> {
        RawArray::create(len, true)
    }
}

impl<T: Shareable> Serialize for RawArray<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let memfd = MemfdRef {
            memfd: region_fd(&self.region),
            python: "RawArray",
            rust: "RawArray",
        };
        (memfd, self.len).serialize(serializer)
    }
}

impl<'de, T: Shareable> Deserialize<'de> for RawArray<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let (index, len) = <(u32, usize)>::deserialize(deserializer)?;
        let fd = take_memfd(index, "RawArray", "RawArray")?;
        Ok(RawArray {
            region: region_from(fd, array_bytes::<T, D::Error>(len)?)?,
            len,
            _t: PhantomData,
        })
    }
}

impl<T: Shareable> RawValue<T> {
    /// [`RawValue::new`] in a memfd: it can also be passed to a forkserver or spawn child as
    /// a target's argument (lesson 7).
    ///
    /// # Errors
    /// The OS error when the memfd cannot be made or mapped.
    pub fn new_sendable(value: T) -> io::Result<RawValue<T>> {
        RawValue::create(value, true)
    }
}

impl<T: Shareable> Serialize for RawValue<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serialize_memfd(region_fd(&self.items.region), "RawValue", "RawValue", serializer)
    }
}

impl<'de, T: Shareable> Deserialize<'de> for RawValue<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let fd = deserialize_memfd("RawValue", "RawValue", deserializer)?;
        Ok(RawValue {
            items: RawArray {
                region: region_from(fd, std::mem::size_of::<T>())?,
                len: 1,
                _t: PhantomData,
            },
        })
    }
}
