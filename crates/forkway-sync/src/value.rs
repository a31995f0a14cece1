//! `Value<T>` and `Array<T>`: plain data in shared memory, each with its lock; and their raw,
//! lock-free twins.

use std::io;
use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicU8, Ordering};

use forkway_sys::Deadline;

use crate::error::AcquireError;
use crate::lock::{lock_region, Lock, LockGuard, Region};

/// Plain old data that may live in memory shared between processes.
///
/// # Safety
/// Implement it only for `Copy` types without pointers or references (a pointer means nothing
/// in another process's address space — after a fork it points to the *child's own copy*), for
/// which every bit pattern another process may write is one this process can read: integers,
/// floats, and `#[repr(C)]` structs and arrays of them. forkway implements it for those.
pub unsafe trait Shareable: Copy + Send + Sync + 'static {}

macro_rules! shareable {
    ($($t:ty),*) => { $(
        // SAFETY: a primitive number: no pointers, every bit pattern valid.
        unsafe impl Shareable for $t {}
    )* };
}
shareable!(u8, u16, u32, u64, u128, usize, i8, i16, i32, i64, i128, isize, f32, f64);

// SAFETY: an array of plain data is plain data.
unsafe impl<T: Shareable, const N: usize> Shareable for [T; N] {}

/// The locked data of a [`Value`] (`D = T`) or an [`Array`] (`D = [T]`): derefs to it, and
/// releases the lock when dropped.
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct ValueGuard<'a, D: ?Sized> {
    guard: LockGuard<'a>,
    ptr: *mut D,
}

/// The locked elements of an [`Array`].
pub type ArrayGuard<'a, T> = ValueGuard<'a, [T]>;

/// Locks `region` and lends out its data at `ptr`.
fn lock_data<D: ?Sized>(
    region: &Region,
    ptr: *mut D,
) -> Result<ValueGuard<'_, D>, AcquireError<ValueGuard<'_, D>>> {
    match lock_region(region, Deadline::never()) {
        Ok(guard) => Ok(ValueGuard { guard, ptr }),
        Err(e) => Err(match e {
            AcquireError::OwnerDied(guard) => AcquireError::OwnerDied(ValueGuard { guard, ptr }),
            AcquireError::NotRecoverable => AcquireError::NotRecoverable,
            AcquireError::Timeout => AcquireError::Timeout,
            AcquireError::WouldBlock => AcquireError::WouldBlock,
            AcquireError::Deadlock => AcquireError::Deadlock,
        }),
    }
}

/// For one-access `get`/`set`: a dead previous owner cannot have left a `Shareable` value
/// unreadable (every bit pattern is valid), so these carry on.
fn lock_data_anyway<D: ?Sized>(region: &Region, ptr: *mut D) -> ValueGuard<'_, D> {
    match lock_data(region, ptr) {
        Ok(g) => g,
        Err(AcquireError::OwnerDied(mut g)) => {
            g.mark_consistent();
            g
        }
        Err(e) => panic!("the value's lock: {e}"),
    }
}

impl<D: ?Sized> Deref for ValueGuard<'_, D> {
    type Target = D;
    fn deref(&self) -> &D {
        // SAFETY: the lock is held for the guard's life and the data lives in the region the
        // guard borrows.
        unsafe { &*self.ptr }
    }
}

impl<D: ?Sized> DerefMut for ValueGuard<'_, D> {
    fn deref_mut(&mut self) -> &mut D {
        // SAFETY: as in `deref`; the lock makes this the only access.
        unsafe { &mut *self.ptr }
    }
}

impl<D: ?Sized> ValueGuard<'_, D> {
    /// After [`AcquireError::OwnerDied`]: the data is fine (or repaired); the lock goes on.
    pub fn mark_consistent(&mut self) {
        self.guard.mark_consistent();
    }
}

/// A `T` in shared memory with a lock. Python's `multiprocessing.Value`.
///
/// [`get`](Value::get) and [`set`](Value::set) each take the lock for one access, like Python's
/// `.value`; so `v.set(v.get() + 1)` is **not** atomic — two processes doing it lose updates.
/// Hold the lock across the whole read-modify-write instead:
///
/// ```
/// use forkway_sync::Value;
///
/// let counter = Value::new(0u64)?;
/// *counter.lock().expect("lock") += 1; // one lock for the whole `+= 1`
/// assert_eq!(counter.get(), 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct Value<T: Shareable> {
    pub(crate) region: Region,
    pub(crate) _t: PhantomData<T>,
}

impl<T: Shareable> Value<T> {
    /// Maps shared memory holding `value`.
    ///
    /// # Errors
    /// The OS error when the shared memory cannot be mapped.
    pub fn new(value: T) -> io::Result<Value<T>> {
        Value::create(value, false)
    }

    /// `sendable`: in a memfd that can travel (`sendable.rs`).
    pub(crate) fn create(value: T, sendable: bool) -> io::Result<Value<T>> {
        const { assert!(std::mem::align_of::<T>() <= 64) };
        let size = std::mem::size_of::<T>();
        let region = if sendable {
            Region::new_sendable(size)?
        } else {
            Region::new(size)?
        };
        // SAFETY: the data area is inside the fresh mapping, 64-aligned, shared with nobody yet.
        unsafe { region.data().cast::<T>().write(value) };
        Ok(Value {
            region,
            _t: PhantomData,
        })
    }

    fn ptr(&self) -> *mut T {
        self.region.data().cast()
    }

    /// The lock that guards the value (Python's `get_lock()`).
    pub fn get_lock(&self) -> Lock {
        Lock::from_region(self.region.clone())
    }

    /// Locks the value for as long as the guard lives.
    ///
    /// # Errors
    /// As [`Lock::acquire`]: [`AcquireError::OwnerDied`] hands you the guard of a value that a
    /// dead process may have left half-updated.
    pub fn lock(&self) -> Result<ValueGuard<'_, T>, AcquireError<ValueGuard<'_, T>>> {
        lock_data(&self.region, self.ptr())
    }

    /// Reads the value under the lock (one access, like Python's `v.value`).
    pub fn get(&self) -> T {
        *lock_data_anyway(&self.region, self.ptr())
    }

    /// Writes the value under the lock (one access, like `v.value = x`).
    pub fn set(&self, value: T) {
        *lock_data_anyway(&self.region, self.ptr()) = value;
    }
}

impl<T: Shareable + std::fmt::Debug> std::fmt::Debug for Value<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Value").field(&self.get()).finish()
    }
}

/// A fixed-length array of `T` in shared memory with one lock. Python's `multiprocessing.Array`.
///
/// ```
/// use forkway_sync::Array;
///
/// let a = Array::from_slice(&[1i32, 2, 3])?;
/// {
///     let mut items = a.lock().expect("lock");
///     for i in 1..items.len() {
///         items[i] += items[i - 1]; // prefix sums, in place, under one lock
///     }
/// }
/// assert_eq!(a.to_vec(), [1, 3, 6]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct Array<T: Shareable> {
    pub(crate) region: Region,
    pub(crate) len: usize,
    pub(crate) _t: PhantomData<T>,
}

impl<T: Shareable> Array<T> {
    /// `len` elements, all zero bits (Python's `Array('i', 10)` is all zeros).
    ///
    /// # Errors
    /// The OS error when the shared memory cannot be mapped.
    pub fn zeroed(len: usize) -> io::Result<Array<T>> {
        Array::create(len, false)
    }

    /// `sendable`: in a memfd that can travel (`sendable.rs`).
    pub(crate) fn create(len: usize, sendable: bool) -> io::Result<Array<T>> {
        const { assert!(std::mem::align_of::<T>() <= 64) };
        let bytes = std::mem::size_of::<T>()
            .checked_mul(len)
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "array too large"))?;
        // A fresh mapping is zero-filled by the kernel; zero bits are a valid `Shareable`.
        Ok(Array {
            region: if sendable {
                Region::new_sendable(bytes)?
            } else {
                Region::new(bytes)?
            },
            len,
            _t: PhantomData,
        })
    }

    /// A copy of `items` in shared memory.
    ///
    /// # Errors
    /// As [`Array::zeroed`].
    pub fn from_slice(items: &[T]) -> io::Result<Array<T>> {
        Array::copied(items, false)
    }

    /// `sendable`: in a memfd that can travel (`sendable.rs`).
    pub(crate) fn copied(items: &[T], sendable: bool) -> io::Result<Array<T>> {
        let a = Array::create(items.len(), sendable)?;
        // SAFETY: the data area holds `len` elements, is aligned, and is shared with nobody.
        unsafe { std::ptr::copy_nonoverlapping(items.as_ptr(), a.ptr().cast::<T>(), items.len()) };
        Ok(a)
    }

    fn ptr(&self) -> *mut [T] {
        std::ptr::slice_from_raw_parts_mut(self.region.data().cast::<T>(), self.len)
    }

    /// The number of elements.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether there are no elements.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The lock that guards the elements (Python's `get_lock()`).
    pub fn get_lock(&self) -> Lock {
        Lock::from_region(self.region.clone())
    }

    /// Locks all elements for as long as the guard lives; the guard derefs to `[T]`.
    ///
    /// # Errors
    /// As [`Value::lock`].
    pub fn lock(&self) -> Result<ArrayGuard<'_, T>, AcquireError<ArrayGuard<'_, T>>> {
        lock_data(&self.region, self.ptr())
    }

    /// Element `i` (one locked access); `None` past the end (Python: `IndexError`).
    pub fn get(&self, i: usize) -> Option<T> {
        lock_data_anyway(&self.region, self.ptr()).get(i).copied()
    }

    /// Sets element `i` (one locked access); false past the end.
    pub fn set(&self, i: usize, value: T) -> bool {
        match lock_data_anyway(&self.region, self.ptr()).get_mut(i) {
            Some(slot) => {
                *slot = value;
                true
            }
            None => false,
        }
    }

    /// A copy of every element, taken under the lock.
    pub fn to_vec(&self) -> Vec<T> {
        lock_data_anyway(&self.region, self.ptr()).to_vec()
    }
}

impl<T: Shareable + std::fmt::Debug> std::fmt::Debug for Array<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Array").field(&self.to_vec()).finish()
    }
}

/// Reads the `T` at element `i` of a raw region, byte by byte through atomics.
fn raw_read<T: Shareable>(region: &Region, i: usize) -> T {
    let size = std::mem::size_of::<T>();
    let mut out = std::mem::MaybeUninit::<T>::uninit();
    let dst = out.as_mut_ptr().cast::<u8>();
    for k in 0..size {
        // SAFETY: the caller checked i against the length: byte i*size+k is inside the data
        // area; AtomicU8 has u8's size and alignment; k < size is inside `out`.
        unsafe {
            let b = &*region.data().add(i * size + k).cast::<AtomicU8>();
            dst.add(k).write(b.load(Ordering::Relaxed));
        }
    }
    // SAFETY: every byte was written, and a `Shareable` accepts any bit pattern.
    unsafe { out.assume_init() }
}

/// Writes `value` at element `i` of a raw region, byte by byte through atomics.
fn raw_write<T: Shareable>(region: &Region, i: usize, value: T) {
    let size = std::mem::size_of::<T>();
    let src = (&raw const value).cast::<u8>();
    for k in 0..size {
        // SAFETY: as in `raw_read`.
        unsafe {
            let b = &*region.data().add(i * size + k).cast::<AtomicU8>();
            b.store(src.add(k).read(), Ordering::Relaxed);
        }
    }
}

/// A `T` in shared memory with **no** lock. Python's `RawValue`.
///
/// Reads and writes go byte by byte through atomics: a concurrent write can tear a value (you
/// may read half old, half new bytes) — that is the point of the lesson — but it is never
/// undefined behaviour.
#[derive(Clone)]
pub struct RawValue<T: Shareable> {
    pub(crate) items: RawArray<T>,
}

impl<T: Shareable> RawValue<T> {
    /// Maps shared memory holding `value`.
    ///
    /// # Errors
    /// The OS error when the shared memory cannot be mapped.
    pub fn new(value: T) -> io::Result<RawValue<T>> {
        RawValue::create(value, false)
    }

    /// `sendable`: in a memfd that can travel (`sendable.rs`).
    pub(crate) fn create(value: T, sendable: bool) -> io::Result<RawValue<T>> {
        let items = RawArray::create(1, sendable)?;
        items.set(0, value);
        Ok(RawValue { items })
    }

    /// Reads the value, unsynchronized.
    pub fn get(&self) -> T {
        raw_read(&self.items.region, 0)
    }

    /// Writes the value, unsynchronized.
    pub fn set(&self, value: T) {
        raw_write(&self.items.region, 0, value);
    }
}

/// A fixed-length array with **no** lock. Python's `RawArray`. Same rules as [`RawValue`].
#[derive(Clone)]
pub struct RawArray<T: Shareable> {
    pub(crate) region: Region,
    pub(crate) len: usize,
    pub(crate) _t: PhantomData<T>,
}

impl<T: Shareable> RawArray<T> {
    /// `len` elements, all zero bits.
    ///
    /// # Errors
    /// The OS error when the shared memory cannot be mapped.
    pub fn zeroed(len: usize) -> io::Result<RawArray<T>> {
        RawArray::create(len, false)
    }

    /// `sendable`: in a memfd that can travel (`sendable.rs`).
    pub(crate) fn create(len: usize, sendable: bool) -> io::Result<RawArray<T>> {
        let bytes = std::mem::size_of::<T>()
            .checked_mul(len)
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "array too large"))?;
        Ok(RawArray {
            region: if sendable {
                Region::new_sendable(bytes)?
            } else {
                Region::new(bytes)?
            },
            len,
            _t: PhantomData,
        })
    }

    /// The number of elements.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether there are no elements.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Element `i`, unsynchronized; `None` past the end.
    pub fn get(&self, i: usize) -> Option<T> {
        (i < self.len).then(|| raw_read(&self.region, i))
    }

    /// Sets element `i`, unsynchronized; false past the end.
    pub fn set(&self, i: usize, value: T) -> bool {
        if i < self.len {
            raw_write(&self.region, i, value);
        }
        i < self.len
    }
}
