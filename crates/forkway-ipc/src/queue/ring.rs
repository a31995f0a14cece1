//! The ring's memory: the shared header, the committed state and its crash-atomic commit, the
//! locked view of the ring ([`Guard`]) with its wrapping copies, and how the ring grows.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use forkway_sys::RobustMutex;

use super::{INITIAL_CAP, RING_OFFSET};
use crate::error::PutError;

/// Each frame in the ring: an 8-byte little-endian length, then the payload.
pub(super) const LEN_BYTES: u64 = 8;

/// The queue's committed state. Two copies live in the header; `live` says which is current.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct State {
    /// Offset in the ring of the oldest frame.
    pub(super) head: u64,
    /// Bytes of frames in the ring.
    pub(super) used: u64,
    /// Number of messages.
    pub(super) count: u64,
    /// Current ring size (a power of two times `INITIAL_CAP`).
    pub(super) cap: u64,
}

#[repr(C)]
pub(super) struct Header {
    pub(super) mutex: RobustMutex,
    /// Bumped on every put: consumers sleep on it.
    pub(super) not_empty: AtomicU32,
    /// Bumped on every get: producers of a full bounded queue sleep on it.
    pub(super) not_full: AtomicU32,
    /// How many processes sleep on each word; a put or get skips the wake-up syscall when 0.
    /// (A waiter SIGKILLed while asleep leaves its count behind: that only costs extra wakes.)
    pub(super) empty_waiters: AtomicU32,
    pub(super) full_waiters: AtomicU32,
    /// Index (0 or 1) of the current `State`.
    pub(super) live: AtomicU32,
    /// 0 for unbounded. Fixed at creation.
    pub(super) maxsize: u64,
    pub(super) max_message: AtomicU64,
    /// Ring bytes the mapping can hold.
    pub(super) ring_max: u64,
    pub(super) states: [std::cell::UnsafeCell<State>; 2],
}

const _: () = assert!(std::mem::size_of::<Header>() <= RING_OFFSET);

/// The queue's lock, held; unlocked on drop.
pub(super) struct Guard<'a> {
    pub(super) header: &'a Header,
    pub(super) ring: *mut u8,
    /// The ring's size in this process's mapping: known locally, so a corrupt header cannot
    /// make us read or write beyond it.
    pub(super) ring_len: u64,
}

impl Guard<'_> {
    pub(super) fn state(&self) -> State {
        let live = self.header.live.load(Ordering::Acquire) as usize & 1;
        // SAFETY: we hold the mutex, so no process writes the states; the slot is plain data.
        unsafe { *self.header.states[live].get() }
    }

    /// The committed state after checking the invariants every access to the ring relies on.
    ///
    /// Only a process writing into the shared mapping behind the queue's back (a stray pointer,
    /// a bug) can break them; then the queue says it is poisoned instead of dividing by zero,
    /// reading outside the mapping or allocating what a corrupt count claims.
    pub(super) fn checked_state(&self) -> Result<State, String> {
        let state = self.state();
        let State {
            head,
            used,
            count,
            cap,
        } = state;
        let valid = (INITIAL_CAP..=self.ring_len).contains(&cap)
            && head < cap
            && used <= cap
            && count <= used / LEN_BYTES
            && (count == 0) == (used == 0);
        if valid {
            Ok(state)
        } else {
            Err(format!(
                "the queue's shared memory was overwritten: {state:?} breaks the ring's invariants \
                 (ring of {} bytes)",
                self.ring_len
            ))
        }
    }

    /// Makes `next` the queue's state with one atomic store (crash-atomic, see the module docs).
    pub(super) fn commit(&self, next: State) {
        let spare = (self.header.live.load(Ordering::Acquire) as usize & 1) ^ 1;
        // SAFETY: we hold the mutex, and the spare slot is read by nobody until `live` flips.
        unsafe { *self.header.states[spare].get() = next };
        self.header.live.store(spare as u32, Ordering::Release);
    }

    /// Copies `bytes` into the ring at logical offset `pos`, wrapping at `cap`.
    pub(super) fn write_at(&self, cap: u64, pos: u64, bytes: &[u8]) {
        let pos = pos % cap;
        let first = bytes.len().min((cap - pos) as usize);
        // SAFETY: both ranges are inside the ring (pos < cap ≤ ring_max) and we hold the lock;
        // the bytes written are free space in the committed state, which no process reads.
        unsafe {
            std::ptr::copy_nonoverlapping(bytes.as_ptr(), self.ring.add(pos as usize), first);
            std::ptr::copy_nonoverlapping(bytes[first..].as_ptr(), self.ring, bytes.len() - first);
        }
    }

    /// Copies from the ring at logical offset `pos` into `out`, wrapping at `cap`.
    pub(super) fn read_at(&self, cap: u64, pos: u64, out: &mut [u8]) {
        let pos = pos % cap;
        let first = out.len().min((cap - pos) as usize);
        // SAFETY: as in `write_at`; these bytes are a committed frame, written by nobody now.
        unsafe {
            std::ptr::copy_nonoverlapping(self.ring.add(pos as usize), out.as_mut_ptr(), first);
            std::ptr::copy_nonoverlapping(self.ring, out[first..].as_mut_ptr(), out.len() - first);
        }
    }
}

impl Drop for Guard<'_> {
    fn drop(&mut self) {
        self.header.mutex.unlock();
    }
}

/// Doubles the ring until `frame` more bytes fit, keeping the frames contiguous from `head`.
pub(super) fn grow(guard: &Guard<'_>, state: State, frame: u64) -> Result<State, PutFailure> {
    let needed = state.used + frame;
    let mut cap = state.cap;
    // `ring_max` lives in the shared header: never trust it beyond our own mapping.
    let ring_max = guard.header.ring_max.min(guard.ring_len);
    if needed > ring_max {
        return Err(PutFailure::NoSpace {
            needed: needed as usize,
            reserved: ring_max as usize,
        });
    }
    while cap < needed {
        cap *= 2;
    }
    let cap = cap.min(ring_max);
    let end = state.head + state.used;
    if end > state.cap {
        // The frames wrap: move the part at the start of the ring to just after the old end,
        // where the bigger ring expects it. That space is free in both the old and the new
        // state, so a crash during the copy changes nothing visible.
        let wrapped = end - state.cap;
        // SAFETY: [0, wrapped) and [old cap, old cap + wrapped) are inside the new ring
        // (wrapped ≤ old cap, new cap ≥ 2 × old cap) and do not overlap; we hold the lock.
        unsafe {
            std::ptr::copy_nonoverlapping(guard.ring, guard.ring.add(state.cap as usize), wrapped as usize);
        }
    }
    let grown = State { cap, ..state };
    guard.commit(grown);
    Ok(grown)
}

pub(super) enum PutFailure {
    Full,
    Poisoned(String),
    TooLarge { len: usize, max: usize },
    NoSpace { needed: usize, reserved: usize },
}

impl PutFailure {
    pub(super) fn with<T>(self, item: T) -> PutError<T> {
        match self {
            PutFailure::Full => PutError::Full(item),
            PutFailure::Poisoned(reason) => PutError::Poisoned { item, reason },
            PutFailure::TooLarge { len, max } => PutError::TooLarge { item, len, max },
            PutFailure::NoSpace { needed, reserved } => PutError::NoSpace {
                item,
                needed,
                reserved,
            },
        }
    }
}
