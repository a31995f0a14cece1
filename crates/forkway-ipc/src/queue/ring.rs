//! The ring's memory: the shared header with its two sides, each side's crash-atomic commit, the
//! locked view of the ring ([`Guard`]) with its wrapping copies, and how the ring grows.
//!
//! # Positions, not offsets
//! Each side counts what it has moved since the queue was made: the producers the bytes they
//! wrote (`tail`) and the messages they put (`puts`), the consumers the bytes they took (`head`)
//! and the messages they got (`gets`). These only grow; a frame's place in the ring is its
//! position modulo the ring's size. So the messages in the queue are the bytes `[head, tail)`
//! and `puts - gets` of them, each side writes only its own pair, and growing the ring changes
//! nothing but its size (see [`grow`]).
//!
//! # One side's commit
//! A side keeps two slots of `[pos, count, seen_pos, seen_count]` and a generation word `gen`;
//! `slots[gen & 1]` is the committed one. A commit writes the spare slot and then bumps `gen` with
//! one store, so a process SIGKILLed at any instruction leaves that side as it was or as it
//! became, never half of each. `seen_*` is the other side's `[pos, count]` as this side last read
//! it: both only grow, so an old reading is a safe underestimate (of the free space, for a
//! producer; of the messages, for a consumer), and it spares the other side's cache line.
//!
//! The other side reads a slot without the lock, as a seqlock: `gen`, the slot, `gen` again. A
//! slot is rewritten only after `gen` has moved past it, so an unchanged `gen` proves the slot
//! was read whole.

use std::cell::Cell;
use std::sync::atomic::{fence, AtomicU32, AtomicU64, Ordering};

use forkway_sys::{Deadline, Locked, RobustMutex, LOCK_GRACE};

use super::{INITIAL_CAP, RING_OFFSET};
use crate::error::PutError;

/// Each frame in the ring: an 8-byte little-endian length, then the payload.
pub(super) const LEN_BYTES: u64 = 8;

/// The queue as one side sees it while holding its lock.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct State {
    /// Position of the oldest frame (the consumers' `head`, or the producers' reading of it).
    pub(super) head: u64,
    /// Bytes of frames in the ring: `tail - head`.
    pub(super) used: u64,
    /// Number of messages: `puts - gets`.
    pub(super) count: u64,
    /// Current ring size (a power of two times `INITIAL_CAP`).
    pub(super) cap: u64,
}

/// Which lock a guard holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Role {
    Producer,
    Consumer,
}

/// One side's lock and committed state, on cache lines of their own (128 bytes each:
/// adjacent-line prefetch pairs lines), so that a producer and a consumer working at once write
/// different lines and read each other's only when they must. The lock and the state are apart
/// too: a consumer watching the producers' state for a new message (a line it reads again and
/// again) does not take from the producer the line its lock and unlock write, only the one its
/// commit writes, once per message.
#[repr(C)]
pub(super) struct Side {
    pub(super) mutex: Padded<RobustMutex>,
    state: Published,
}

/// A side's committed state: what the other side reads.
#[repr(C, align(128))]
struct Published {
    /// `slots[gen & 1]` is committed; bumped once per commit.
    gen: AtomicU64,
    /// `[pos, count, seen_pos, seen_count]`, see the module docs.
    slots: [[AtomicU64; 4]; 2],
}

/// A value alone on its 128-byte pair of cache lines.
#[repr(C, align(128))]
pub(super) struct Padded<T>(pub(super) T);

impl<T> std::ops::Deref for Padded<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl Side {
    /// This side's committed slot, read by its lock holder: nobody else writes it meanwhile.
    #[inline(always)]
    fn own(&self) -> [u64; 4] {
        let slot = &self.state.slots[(self.state.gen.load(Ordering::Relaxed) & 1) as usize];
        slot.each_ref().map(|w| w.load(Ordering::Relaxed))
    }

    /// Whether this side's last reading of the other side showed messages it has not taken yet
    /// (for the consumers' side), read without its lock: a hint that costs no line of the other
    /// side's.
    #[inline]
    pub(super) fn saw_more(&self) -> bool {
        loop {
            let gen = self.state.gen.load(Ordering::Acquire);
            let slot = &self.state.slots[(gen & 1) as usize];
            let (count, seen) = (slot[1].load(Ordering::Relaxed), slot[3].load(Ordering::Relaxed));
            fence(Ordering::Acquire);
            if self.state.gen.load(Ordering::Relaxed) == gen {
                return seen != count;
            }
        }
    }

    /// This side's committed `[pos, count]`, read by anyone, without its lock.
    ///
    /// The first load of `gen` is SeqCst: a consumer about to sleep counts itself as a waiter
    /// and then reads the producers' side through here, and the producers' side of that
    /// handshake (a SeqCst fence between their commit and their look at the waiter count) needs
    /// this load in the single total order (see `Queue::put_bytes`).
    #[inline]
    pub(super) fn published(&self) -> [u64; 2] {
        loop {
            let gen = self.state.gen.load(Ordering::SeqCst);
            let slot = &self.state.slots[(gen & 1) as usize];
            let read = [slot[0].load(Ordering::Relaxed), slot[1].load(Ordering::Relaxed)];
            // The slot loads stay before the second look at `gen` (a writer's Release stores of
            // the slot, seen here, make its earlier bump of `gen` visible too).
            fence(Ordering::Acquire);
            if self.state.gen.load(Ordering::Relaxed) == gen {
                return read;
            }
        }
    }

    /// Commits `next` with the lock held: the spare slot, then one store of `gen`.
    #[inline]
    fn commit(&self, next: [u64; 4]) {
        let gen = self.state.gen.load(Ordering::Relaxed);
        let spare = &self.state.slots[((gen + 1) & 1) as usize];
        for (word, value) in spare.iter().zip(next) {
            // Release: a reader that sees one of these values also sees the bump of `gen` that
            // made this slot the spare one, so its second look at `gen` catches the rewrite.
            word.store(value, Ordering::Release);
        }
        self.state.gen.store(gen + 1, Ordering::Release);
    }

    /// The generation word, for a consumer watching for a put without taking any lock.
    #[inline]
    pub(super) fn generation(&self) -> u64 {
        self.state.gen.load(Ordering::Acquire)
    }
}

#[repr(C)]
pub(super) struct Header {
    /// Serialises producers; they alone write this side (`tail`, `puts`).
    pub(super) producers: Side,
    /// Serialises consumers; they alone write this side (`head`, `gets`).
    pub(super) consumers: Side,
    // What follows is written rarely (and never per message once nobody sleeps): one line that
    // every process may keep in its cache.
    /// Bumped by a put that cleared `consumers_asleep`: consumers sleep on it.
    pub(super) not_empty: AtomicU32,
    /// Bumped by a get that cleared `producers_asleep`.
    pub(super) not_full: AtomicU32,
    /// 1 when a consumer may be asleep on `not_empty`'s current value. The first put to see it
    /// clears it and wakes them all; the puts after it see 0 and make no system call, even while
    /// the woken consumers are still on their way back to a core. (A count of sleepers, which
    /// each decrements when it wakes, stays above zero that long, and forever for one SIGKILLed
    /// asleep: a wake-up system call for every put.)
    pub(super) consumers_asleep: AtomicU32,
    /// The same for producers waiting for room on `not_full`.
    pub(super) producers_asleep: AtomicU32,
    /// 0 for unbounded. Fixed at creation.
    pub(super) maxsize: u64,
    pub(super) max_message: AtomicU64,
    /// Ring bytes the mapping can hold.
    pub(super) ring_max: u64,
    /// The ring's size. Changed (one store) only by a process holding both locks.
    pub(super) cap: AtomicU64,
}

const _: () = assert!(std::mem::size_of::<Header>() <= RING_OFFSET);

impl Header {
    #[inline]
    fn side(&self, role: Role) -> &Side {
        match role {
            Role::Producer => &self.producers,
            Role::Consumer => &self.consumers,
        }
    }

    /// The number of messages, read without a lock: approximate, as Python's `qsize`.
    ///
    /// `puts` is read before `gets`, and both only grow, so the answer is at most the number of
    /// messages at the moment `puts` was read: never more than a bounded queue can hold.
    pub(super) fn count(&self) -> u64 {
        let puts = self.producers.published()[1];
        let gets = self.consumers.published()[1];
        puts.saturating_sub(gets)
    }
}

/// Locks `mutex` until `deadline`: `None` when it stayed held (by a stopped process).
#[inline]
pub(super) fn lock_mutex(mutex: &RobustMutex, deadline: Deadline) -> Option<()> {
    match mutex.lock_spinning_until(deadline) {
        Ok(Locked::Clean) => Some(()),
        Ok(Locked::OwnerDied) => {
            // The dead process's uncommitted work is invisible by construction, so the
            // committed state is valid as it is: nothing to repair.
            mutex.make_consistent();
            Some(())
        }
        // Not recoverable cannot happen (every owner death is made consistent at once).
        Err(_) => None,
    }
}

/// One side's lock, held; unlocked on drop.
pub(super) struct Guard<'a> {
    pub(super) header: &'a Header,
    pub(super) ring: *mut u8,
    /// The ring's size in this process's mapping: known locally, so a corrupt header cannot
    /// make us read or write beyond it.
    pub(super) ring_len: u64,
    pub(super) role: Role,
    /// The other side's `[pos, count]` as last read (committed with our next commit).
    seen: Cell<[u64; 2]>,
}

impl<'a> Guard<'a> {
    /// The guard of `role`'s lock, which the caller has just taken.
    #[inline]
    pub(super) fn locked(header: &'a Header, ring: *mut u8, ring_len: u64, role: Role) -> Guard<'a> {
        let [_, _, seen_pos, seen_count] = header.side(role).own();
        Guard {
            header,
            ring,
            ring_len,
            role,
            seen: Cell::new([seen_pos, seen_count]),
        }
    }

    #[inline]
    fn side(&self) -> &'a Side {
        self.header.side(self.role)
    }

    #[inline]
    fn other(&self) -> &'a Side {
        self.header.side(match self.role {
            Role::Producer => Role::Consumer,
            Role::Consumer => Role::Producer,
        })
    }

    /// Reads the other side's committed `[pos, count]` again (it may have moved on).
    #[inline]
    pub(super) fn refresh(&self) {
        self.seen.set(self.other().published());
    }

    /// The queue as of our last reading of the other side.
    #[inline(always)]
    fn view(&self) -> State {
        let [pos, count, ..] = self.side().own();
        let [seen_pos, seen_count] = self.seen.get();
        let cap = self.header.cap.load(Ordering::Acquire);
        match self.role {
            Role::Producer => State {
                head: seen_pos,
                used: pos.wrapping_sub(seen_pos),
                count: count.wrapping_sub(seen_count),
                cap,
            },
            Role::Consumer => State {
                head: pos,
                used: seen_pos.wrapping_sub(pos),
                count: seen_count.wrapping_sub(count),
                cap,
            },
        }
    }

    /// The queue as this side sees it. The other side is read afresh only when the last reading
    /// would make this side wait: a consumer that saw no message, a producer that saw a full
    /// bounded queue. Otherwise its cache line is left alone. (Also when a producer's reading
    /// predates a shrink of the ring: it may then claim more bytes than the ring holds.)
    #[inline(always)]
    pub(super) fn state(&self) -> State {
        let state = self.view();
        let stale = match self.role {
            Role::Consumer => state.count == 0,
            Role::Producer => {
                state.used > state.cap || (self.header.maxsize != 0 && state.count >= self.header.maxsize)
            }
        };
        if stale {
            self.refresh();
            self.view()
        } else {
            state
        }
    }

    /// The state after checking the invariants every access to the ring relies on.
    ///
    /// Only a process writing into the shared mapping behind the queue's back (a stray pointer,
    /// a bug) can break them; then the queue says it is poisoned instead of dividing by zero,
    /// reading outside the mapping or allocating what a corrupt count claims.
    #[inline(always)]
    pub(super) fn checked_state(&self) -> Result<State, String> {
        let state = self.state();
        let State { used, count, cap, .. } = state;
        let valid = (INITIAL_CAP..=self.ring_len).contains(&cap)
            && cap.is_power_of_two()
            && used <= cap
            && count <= used / LEN_BYTES
            && (count == 0) == (used == 0);
        if valid {
            Ok(state)
        } else {
            Err(self.poisoned(state))
        }
    }

    /// Why `state` is refused (kept out of line: only a corrupt mapping gets here).
    #[cold]
    #[inline(never)]
    fn poisoned(&self, state: State) -> String {
        format!(
            "the queue's shared memory was overwritten: {state:?} breaks the ring's invariants \
             (ring of {} bytes)",
            self.ring_len
        )
    }

    /// Commits this side's move of one message of `frame` bytes with one atomic store
    /// (crash-atomic, see the module docs).
    #[inline]
    pub(super) fn commit_one(&self, frame: u64) {
        let [pos, count, ..] = self.side().own();
        let [seen_pos, seen_count] = self.seen.get();
        self.side().commit([pos + frame, count + 1, seen_pos, seen_count]);
    }

    /// Writes one frame (length, then payload) at position `pos`: in one piece when it fits
    /// before the ring's end (the usual case, and for a small message one store and one short
    /// copy), else wrapping around it.
    #[inline]
    pub(super) fn write_frame(&self, cap: u64, pos: u64, payload: &[u8]) {
        let at = pos & (cap - 1);
        let len = (payload.len() as u64).to_le_bytes();
        if at + LEN_BYTES + payload.len() as u64 <= cap {
            // SAFETY: [at, at + frame) is inside the ring (at + frame ≤ cap ≤ ring_len) and is
            // free space, which only we (holding the producers' lock) write and nobody reads.
            unsafe {
                let to = self.ring.add(at as usize);
                std::ptr::copy_nonoverlapping(len.as_ptr(), to, LEN_BYTES as usize);
                std::ptr::copy_nonoverlapping(payload.as_ptr(), to.add(LEN_BYTES as usize), payload.len());
            }
        } else {
            self.write_at(cap, pos, &len);
            self.write_at(cap, pos + LEN_BYTES, payload);
        }
    }

    /// Copies `bytes` into the ring at position `pos`, wrapping at `cap` (a power of two, as
    /// `checked_state` makes sure: the place is a mask, not a division).
    #[inline]
    pub(super) fn write_at(&self, cap: u64, pos: u64, bytes: &[u8]) {
        let pos = pos & (cap - 1);
        let first = bytes.len().min((cap - pos) as usize);
        // SAFETY: both ranges are inside the ring (pos < cap ≤ ring_len, checked) and we hold the
        // producers' lock; the bytes written are free space, which no consumer reads.
        unsafe {
            std::ptr::copy_nonoverlapping(bytes.as_ptr(), self.ring.add(pos as usize), first);
            std::ptr::copy_nonoverlapping(bytes[first..].as_ptr(), self.ring, bytes.len() - first);
        }
    }

    /// Reads the length word of the frame at position `pos`: one load when it does not wrap
    /// around the ring's end (a copy of unknown length is a call to `memcpy`).
    #[inline]
    pub(super) fn read_len(&self, cap: u64, pos: u64) -> u64 {
        let at = pos & (cap - 1);
        if at + LEN_BYTES <= cap {
            // SAFETY: [at, at + 8) is inside the ring (cap ≤ ring_len, checked) and holds the
            // length of a published frame, which no producer writes until our commit.
            u64::from_le(unsafe { self.ring.add(at as usize).cast::<u64>().read_unaligned() })
        } else {
            let mut len = [0u8; LEN_BYTES as usize];
            self.read_at(cap, pos, &mut len);
            u64::from_le_bytes(len)
        }
    }

    /// Appends `len` bytes from the ring at position `pos` to `out`, wrapping at `cap` (a power
    /// of two): for a frame that wraps around the ring's end, copied into a buffer the caller
    /// reuses (no zeroing first, and no fresh allocation once it is big enough).
    #[inline]
    pub(super) fn extend_from(&self, cap: u64, pos: u64, len: usize, out: &mut Vec<u8>) {
        let pos = pos & (cap - 1);
        let first = len.min((cap - pos) as usize);
        // SAFETY: as in `read_at`: both ranges are inside the ring and hold a published frame,
        // which no producer writes until the consumers' side has moved past it; the slices do
        // not outlive this call.
        unsafe {
            out.extend_from_slice(std::slice::from_raw_parts(self.ring.add(pos as usize), first));
            out.extend_from_slice(std::slice::from_raw_parts(self.ring, len - first));
        }
    }

    /// Copies from the ring at position `pos` into `out`, wrapping at `cap` (a power of two).
    #[inline]
    pub(super) fn read_at(&self, cap: u64, pos: u64, out: &mut [u8]) {
        let pos = pos & (cap - 1);
        let first = out.len().min((cap - pos) as usize);
        // SAFETY: as in `write_at`; these bytes are a published frame, which no producer writes
        // until the consumers' side has moved past it.
        unsafe {
            std::ptr::copy_nonoverlapping(self.ring.add(pos as usize), out.as_mut_ptr(), first);
            std::ptr::copy_nonoverlapping(self.ring, out[first..].as_mut_ptr(), out.len() - first);
        }
    }
}

impl Drop for Guard<'_> {
    #[inline]
    fn drop(&mut self) {
        self.side().mutex.unlock();
    }
}

/// Overwrites both sides' committed state with `[head, used, count, cap]`, as a stray write into
/// the shared mapping would. The caller holds both locks.
pub(super) fn overwrite(header: &Header, [head, used, count, cap]: [u64; 4]) {
    let gets = header.consumers.own()[1];
    let puts = gets.wrapping_add(count);
    let tail = head.wrapping_add(used);
    header.consumers.commit([head, gets, tail, puts]);
    header.producers.commit([tail, puts, head, gets]);
    header.cap.store(cap, Ordering::Release);
}

/// Makes room for `frame` more bytes, holding the producers' lock (`guard`): takes the
/// consumers' lock too (producers first, then consumers, as everywhere: no deadlock), and
/// doubles the ring until the frames in it and `frame` fit.
///
/// Positions stay as they are; only the ring's size changes. A frame byte at position `p` lives
/// at `p % old` and must live at `p % new`: either the same place, or `old` times something
/// higher — in `[old, new)`, outside the old ring. So the bytes that move are copied there
/// first, into space nobody reads, and then one store of `cap` switches to the new ring: a
/// crash before it leaves the old ring intact, a crash after it the new one complete.
pub(super) fn grow(guard: &Guard<'_>, frame: u64, deadline: Deadline) -> Result<State, PutFailure> {
    let header = guard.header;
    let consumers = &header.consumers.mutex;
    // A consumer holds its lock only to copy one message out; one stopped inside a get (SIGSTOP,
    // a debugger) makes a timed put give up as a full queue would.
    lock_mutex(consumers, deadline.at_least(LOCK_GRACE)).ok_or(PutFailure::Full)?;
    struct Unlock<'m>(&'m RobustMutex);
    impl Drop for Unlock<'_> {
        fn drop(&mut self) {
            self.0.unlock();
        }
    }
    let _unlock = Unlock(consumers);
    // With both locks held, nothing moves: this reading of the consumers' side is exact.
    guard.refresh();
    let state = guard.checked_state().map_err(PutFailure::Poisoned)?;
    let needed = state.used + frame;
    if needed <= state.cap {
        return Ok(state);
    }
    // `ring_max` lives in the shared header: never trust it beyond our own mapping. The ring's
    // size stays a power of two times the first size, so that every position keeps one place.
    let ring_max = header.ring_max.min(guard.ring_len);
    let mut largest = INITIAL_CAP;
    while largest * 2 <= ring_max {
        largest *= 2;
    }
    if needed > largest {
        return Err(PutFailure::NoSpace {
            needed: needed as usize,
            reserved: largest as usize,
        });
    }
    let old = state.cap;
    let mut cap = old;
    while cap < needed {
        cap *= 2;
    }
    let (mut pos, end) = (state.head, state.head + state.used);
    while pos < end {
        let at = pos % old;
        // A run of bytes contiguous in the old ring is contiguous in the new one (old divides
        // new), and lands either where it is or wholly in [old, new).
        let run = (old - at).min(end - pos);
        let to = pos % cap;
        if to != at {
            // SAFETY: [at, at + run) lies in [0, old) and [to, to + run) in [old, cap), both in
            // the ring (cap ≤ largest ≤ ring_len); they do not overlap; we hold both locks.
            unsafe {
                std::ptr::copy_nonoverlapping(
                    guard.ring.add(at as usize),
                    guard.ring.add(to as usize),
                    run as usize,
                );
            }
        }
        pos += run;
    }
    header.cap.store(cap, Ordering::Release);
    Ok(State { cap, ..state })
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
