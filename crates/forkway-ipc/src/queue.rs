//! `Queue<T>`: Python's `multiprocessing.Queue`, on shared memory instead of a pipe.
//!
//! # How it is built
//!
//! ```text
//!  one anonymous MAP_SHARED mapping, inherited by every child forked after Queue::new()
//! ┌───────────────────────────────────────────┬───────────────────────────────────────────┐
//! │ header                                    │ ring of frames (grows by doubling)        │
//! │  producers: lock, {tail, puts} ×2, gen    │  ┌────┬─────────┬────┬─────┬────┬────────┐ │
//! │  consumers: lock, {head, gets} ×2, gen    │  │len │ payload │len │ pay…│free│…load   │ │
//! │  not_empty / not_full  (futex words)      │  └────┴─────────┴────┴─────┴────┴────────┘ │
//! │  cap, maxsize, …                          │   ▲ head                   ▲ tail           │
//! └───────────────────────────────────────────┴───────────────────────────────────────────┘
//! ```
//!
//! Producers and consumers have a lock each (Michael and Scott's two-lock queue, on a ring of
//! bytes). A `put` encodes the item in the caller, takes the producers' lock, copies the frame
//! into *free* space, and then commits the producers' side — `{tail, puts}` written into a spare
//! slot, made current by one atomic store. A `get` takes the consumers' lock, copies a frame out
//! and commits the consumers' side `{head, gets}` the same way. With one producer and one
//! consumer neither lock is ever contended, and each side reads the other's cache line only when
//! its last reading says it must wait (see `ring.rs`).
//!
//! Until its store, nothing another process can see has changed; after it, the whole message
//! is there (or gone). So a process SIGKILLed at any instruction leaves either the old queue or
//! the new one, never a torn message: a producer's unpublished frame is free space the next
//! producer writes over, a consumer's unpublished get leaves the message for the next consumer.
//! The robust mutex hands the lock to the next process with "owner died", and it simply goes
//! on. Growing or shrinking the ring takes both locks, producers' first. Waiting happens on
//! futex words with the locks released, so a consumer killed while it waits holds nothing.
//!
//! Python's Queue is a pipe plus a feeder thread per process. Its `put` never blocks because
//! the feeder buffers in process memory; that buffer is why a child that put a lot cannot exit
//! until someone reads ("joining processes that use queues" in Python's docs), and why a value
//! that fails to pickle is lost silently. Here the buffer is the ring itself: an unbounded
//! `put` has stored the message before it returns, so a child can always exit, and encoding
//! errors come back from `put`.

mod ring;
mod typed;

use std::marker::PhantomData;
use std::sync::atomic::{fence, AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;

use crate::codec::DEFAULT_MAX_MESSAGE;
use crate::error::GetError;
use forkway_sys::{futex_wait, futex_wake_all, Deadline, RobustMutex, Shm, LOCK_GRACE};
use ring::{grow, lock_mutex, Guard, Header, PutFailure, Role, LEN_BYTES};

/// Python's message, word for word, for trying to send a queue to another process.
pub const INHERITANCE_ONLY: &str =
    "Queue objects should only be shared between processes through inheritance";

/// Where the ring starts in the mapping: one page for the header.
const RING_OFFSET: usize = 4096;
/// The ring's size when empty; it doubles as messages need room.
const INITIAL_CAP: u64 = 64 * 1024;
/// An empty ring bigger than this gives its memory back to the kernel.
const SHRINK_ABOVE: u64 = 64 << 20;
/// The address space reserved per queue (pages cost memory only once used), and the least
/// we accept when the kernel refuses that much.
const RESERVE: usize = 16 << 30;
const RESERVE_MIN: usize = 256 << 20;
/// How long a consumer that finds the queue empty watches for a `put` before it sleeps
/// (see `Queue::spin_while_empty`): about what a futex sleep and wake-up cost together.
const SPIN_FOR: std::time::Duration = std::time::Duration::from_micros(20);
/// The most pauses a consumer that keeps up with a stream waits before it looks for more
/// (a pause is 10–150 ns, depending on the processor): see `Queue::spin_while_empty`.
const BEHIND_MAX: u32 = 16;

/// What every handle of one queue in one process shares: the mapping and this process's
/// `closed` flag (closing is per process, as in Python).
struct Inner {
    shm: Shm,
    closed: AtomicBool,
    /// The memfd behind `shm` for a queue made by `new_sendable`: what lets it travel to a
    /// forkserver or spawn child (see [`crate::fds`]).
    memfd: Option<std::os::fd::OwnedFd>,
    /// How many pauses this process's consumers wait, once they have taken every message they
    /// knew of, before they look at the producers' side again (see `Queue::spin_while_empty`).
    behind: AtomicU32,
}

/// A multi-producer, multi-consumer FIFO queue between processes. Python's
/// `multiprocessing.Queue`.
///
/// Create it before starting the processes that use it; each child inherits it. Handles are
/// cheap to clone and `Send + Sync`, so threads may share them too.
///
/// ```
/// use forkway_ipc::Queue;
/// use forkway_process::Process;
///
/// let q: Queue<(u32, String)> = Queue::new()?;
/// let tx = q.clone();
/// let mut child = Process::new(move || {
///     tx.put((7, "from the child".to_owned())).expect("put");
/// });
/// child.start()?;
/// assert_eq!(q.get()?, (7, "from the child".to_owned()));
/// child.join()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// Every message is delivered exactly once and whole, in FIFO order per producer, whatever the
/// number of producer and consumer processes, and whatever happens to them: a process killed in
/// the middle of a `put` or `get` leaves no torn message and no stuck lock.
pub struct Queue<T> {
    inner: Arc<Inner>,
    _items: PhantomData<fn(T) -> T>,
}

impl<T> Clone for Queue<T> {
    fn clone(&self) -> Self {
        Queue {
            inner: Arc::clone(&self.inner),
            _items: PhantomData,
        }
    }
}

/// Why a wait for room ended without room.
enum NoRoom {
    Full,
}

/// One end of a queue: its producers or its consumers, each with a lock of their own.
struct End<'q> {
    inner: &'q Inner,
    role: Role,
}

impl<T> Queue<T> {
    /// An unbounded queue: `put` never waits. Python's `Queue()`.
    ///
    /// # Errors
    /// The OS error when the shared memory cannot be mapped.
    pub fn new() -> std::io::Result<Queue<T>> {
        Queue::create(0, false)
    }

    /// An unbounded queue that can also be handed to a forkserver or spawn child (lesson 7) as
    /// a target's argument: its memory is a memfd, which travels as a descriptor. It costs one
    /// descriptor per process that holds it.
    ///
    /// # Errors
    /// The OS error when the memfd cannot be made or mapped.
    pub fn new_sendable() -> std::io::Result<Queue<T>> {
        Queue::create(0, true)
    }

    /// A queue holding at most `maxsize` messages: `put` waits while it is full. Python's
    /// `Queue(maxsize)`.
    ///
    /// # Errors
    /// `InvalidInput` for a `maxsize` of 0 (Python reads `maxsize <= 0` as "unbounded"; say
    /// [`Queue::new`] for that); the OS error when the shared memory cannot be mapped.
    pub fn bounded(maxsize: usize) -> std::io::Result<Queue<T>> {
        if maxsize == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "maxsize must be at least 1 (Queue::new() makes an unbounded queue)",
            ));
        }
        Queue::create(maxsize as u64, false)
    }

    fn create(maxsize: u64, sendable: bool) -> std::io::Result<Queue<T>> {
        let (shm, memfd) = if sendable {
            // A sparse file: the size is a reservation, as for the anonymous mapping.
            let (shm, fd) = Shm::new_memfd(RESERVE)?;
            (shm, Some(fd))
        } else {
            (Shm::reserve(RESERVE, RESERVE_MIN)?, None)
        };
        let header = shm.ptr().cast::<Header>();
        // SAFETY: the mapping is fresh, zeroed (both sides at position and count 0, which is an
        // empty queue), page-aligned and large enough for the header; no other process has it
        // yet (children inherit it only after this returns).
        unsafe {
            RobustMutex::init(std::ptr::addr_of_mut!((*header).producers.mutex.0))?;
            RobustMutex::init(std::ptr::addr_of_mut!((*header).consumers.mutex.0))?;
            std::ptr::addr_of_mut!((*header).maxsize).write(maxsize);
            std::ptr::addr_of_mut!((*header).max_message).write(AtomicU64::new(DEFAULT_MAX_MESSAGE as u64));
            let ring_max = (shm.size() - RING_OFFSET) as u64;
            std::ptr::addr_of_mut!((*header).ring_max).write(ring_max);
            std::ptr::addr_of_mut!((*header).cap).write(AtomicU64::new(INITIAL_CAP));
        }
        Ok(Queue {
            inner: Arc::new(Inner {
                shm,
                closed: AtomicBool::new(false),
                memfd,
                behind: AtomicU32::new(0),
            }),
            _items: PhantomData,
        })
    }

    /// Records a put or get that began at `start` on the trace (when tracing).
    fn trace(&self, start: Option<forkway_trace::Stamp>, name: &str, bytes: u64, waited_us: Option<i64>) {
        if let Some(start) = start {
            use forkway_trace::Arg;
            let obj = self.header() as *const Header as u64;
            let size = ("bytes", Arg::Int(bytes as i64));
            match waited_us {
                Some(w) => {
                    forkway_trace::complete(start, "queue", name, obj, &[size, ("wait_us", Arg::Int(w))])
                }
                None => forkway_trace::complete(start, "queue", name, obj, &[size]),
            }
        }
    }

    fn header(&self) -> &Header {
        self.inner.header()
    }

    /// The producers' end: puts go through it.
    fn producers(&self) -> End<'_> {
        End {
            inner: &self.inner,
            role: Role::Producer,
        }
    }

    /// The consumers' end: gets go through it.
    fn consumers(&self) -> End<'_> {
        End {
            inner: &self.inner,
            role: Role::Consumer,
        }
    }

    /// Overwrites the committed state `[head, used, count, cap]` as a stray write into the
    /// shared mapping would: lets tests check that a corrupt header is reported, not followed.
    #[doc(hidden)]
    pub fn corrupt_state_for_tests(&self, corrupt: impl FnOnce(&mut [u64; 4])) {
        let never = Deadline::never();
        let producers = self.producers().lock_until(never);
        let consumers = self.consumers().lock_until(never);
        let (Some(_producers), Some(consumers)) = (producers, consumers) else {
            return;
        };
        let s = consumers.state();
        let mut words = [s.head, s.used, s.count, s.cap];
        corrupt(&mut words);
        ring::overwrite(consumers.header, words);
    }

    /// The largest encoded message `put` accepts, for every process sharing the queue
    /// (64 MiB by default).
    pub fn set_max_message(&self, bytes: usize) {
        self.header().max_message.store(bytes as u64, Ordering::Relaxed);
    }

    /// The bound given to [`Queue::bounded`]; `None` for an unbounded queue.
    pub fn maxsize(&self) -> Option<usize> {
        match self.header().maxsize {
            0 => None,
            n => Some(n as usize),
        }
    }

    /// The number of messages in the queue *at the moment it was read*. Approximate by
    /// nature, as in Python: other processes may put or get before you act on it. (It takes no
    /// lock; a bounded queue's answer never exceeds its `maxsize`.)
    pub fn qsize(&self) -> usize {
        self.header().count() as usize
    }

    /// Whether the queue held no message when checked (approximate, see [`Queue::qsize`]).
    pub fn is_empty(&self) -> bool {
        self.qsize() == 0
    }

    /// Whether a bounded queue was full when checked (approximate, see [`Queue::qsize`]).
    pub fn is_full(&self) -> bool {
        self.maxsize().is_some_and(|m| self.qsize() >= m)
    }

    /// No more puts or gets through this process's handles. Other processes are not affected
    /// (as in Python, where `close` concerns "the current process"). Messages already put stay
    /// in the queue for the others.
    pub fn close(&self) {
        self.inner.closed.store(true, Ordering::Release);
    }

    /// Whether [`close`](Queue::close) was called in this process.
    pub fn is_closed(&self) -> bool {
        self.inner.closed.load(Ordering::Acquire)
    }

    // ANCHOR: put_bytes
    /// Stores one encoded message; `deadline` bounds the wait for room in a bounded queue.
    fn put_bytes(&self, payload: &[u8], deadline: Deadline) -> Result<(), PutFailure> {
        let max = self.header().max_message.load(Ordering::Relaxed) as usize;
        if payload.len() > max {
            return Err(PutFailure::TooLarge {
                len: payload.len(),
                max,
            });
        }
        let guard = self
            .producers()
            .wait_for_room(deadline)
            .map_err(|NoRoom::Full| PutFailure::Full)?;
        let header = guard.header;
        let frame = LEN_BYTES + payload.len() as u64;
        let mut state = guard.checked_state().map_err(PutFailure::Poisoned)?;
        if state.cap - state.used < frame {
            // Our reading of the consumers' side may be old: they may have made room since.
            guard.refresh();
            state = guard.checked_state().map_err(PutFailure::Poisoned)?;
            if state.cap - state.used < frame {
                state = grow(&guard, frame, deadline)?;
            }
        }
        let tail = state.head + state.used;
        guard.write_frame(state.cap, tail, payload);
        crate::fault::before_publish();
        guard.commit_one(frame);
        drop(guard);
        // The other half of a sleeping consumer's handshake (`End::wait_for_item`): it raises
        // `consumers_asleep` and then looks at our side once more. This fence puts our commit
        // and our look at the flag in one order with its two steps, so either its look sees our
        // message or this load sees its flag (and then its reading of `not_empty` happened
        // before our bump, so its futex_wait cannot sleep through it). Only the put that lowers
        // the flag wakes: the sleepers it wakes raise it again if they sleep again.
        fence(Ordering::SeqCst);
        if header.consumers_asleep.load(Ordering::Relaxed) != 0
            && header.consumers_asleep.swap(0, Ordering::SeqCst) != 0
        {
            header.not_empty.fetch_add(1, Ordering::SeqCst);
            futex_wake_all(&header.not_empty);
        }
        Ok(())
    }
    // ANCHOR_END: put_bytes

    /// Takes one message, waiting at most until `deadline`, and hands its payload to `read`
    /// while the consumers' lock is held: straight from the ring when the frame is contiguous
    /// (no copy before decoding), from a copy when it wraps around the ring's end.
    fn take<R>(&self, deadline: Deadline, read: impl FnOnce(&[u8]) -> R) -> Result<R, GetError> {
        let began = forkway_trace::begin();
        let consumers = self.consumers();
        consumers.spin_while_empty(deadline);
        let Some(guard) = consumers.wait_for_item(deadline) else {
            self.trace(began, "get (empty)", 0, None);
            return Err(GetError::Empty);
        };
        let waited = began.map(forkway_trace::Stamp::elapsed_us);
        let header = guard.header;
        let state = guard.checked_state().map_err(GetError::Poisoned)?;
        let len = guard.read_len(state.cap, state.head);
        if len > state.used - LEN_BYTES {
            // Only a process writing into the mapping behind our back can cause this.
            return Err(GetError::Poisoned(format!(
                "frame of {len} bytes in a ring holding {} bytes",
                state.used
            )));
        }
        // `cap` is a power of two (checked): the mask is the remainder, without a division.
        let start = (state.head + LEN_BYTES) & (state.cap - 1);
        let result = if start + len <= state.cap {
            // SAFETY: [start, start + len) is inside the ring and holds a published frame that
            // no process may write until our commit; the slice does not outlive the call.
            read(unsafe { std::slice::from_raw_parts(guard.ring.add(start as usize), len as usize) })
        } else {
            let mut copy = typed::take_scratch();
            copy.clear();
            guard.extend_from(state.cap, start, len as usize, &mut copy);
            let result = read(&copy);
            typed::keep_scratch(copy);
            result
        };
        let frame = LEN_BYTES + len;
        guard.commit_one(frame);
        if frame == state.used && state.cap > SHRINK_ABOVE {
            // We took the last message we knew of: hand a big ring back if it is really empty.
            self.shrink(&guard, state.head + frame, state.cap);
        }
        drop(guard);
        if header.maxsize != 0 {
            // The mirror of `put_bytes`'s handshake, for a producer waiting for room.
            fence(Ordering::SeqCst);
            if header.producers_asleep.load(Ordering::Relaxed) != 0
                && header.producers_asleep.swap(0, Ordering::SeqCst) != 0
            {
                header.not_full.fetch_add(1, Ordering::SeqCst);
                futex_wake_all(&header.not_full);
            }
        }
        self.trace(began, "get", len, waited);
        Ok(result)
    }

    /// Gives a big ring's memory back to the kernel once the queue is empty, holding the
    /// consumers' lock (`guard`) with the head at `head`.
    ///
    /// Changing the ring's size needs the producers' lock too, and the order everywhere is
    /// producers first: so only *try* it here, and leave shrinking to a later get when a put is
    /// under way.
    fn shrink(&self, guard: &Guard<'_>, head: u64, old_cap: u64) {
        let producers = &guard.header.producers.mutex;
        if lock_mutex(producers, Deadline::now()).is_none() {
            return;
        }
        // Both locks held: this reading of the producers' side is exact, and nothing moves.
        if guard.header.producers.published()[0] == head {
            // Empty: every position has the same (no) content in a ring of any size.
            guard.header.cap.store(INITIAL_CAP, Ordering::Release);
            self.inner
                .shm
                .release(RING_OFFSET + INITIAL_CAP as usize, RING_OFFSET + old_cap as usize);
        }
        producers.unlock();
    }
}

impl Inner {
    fn header(&self) -> &Header {
        // SAFETY: the header was initialized in `create` and the mapping lives as long as
        // `self`; every mutable field is an atomic or behind one of the mutexes.
        unsafe { &*self.shm.ptr().cast::<Header>() }
    }
}

impl<'q> End<'q> {
    /// Locks this end, waiting at most until `deadline` — but at least [`LOCK_GRACE`], since
    /// other processes hold it only to copy one message — and `None` when it stayed held: its
    /// holder is stopped (SIGSTOP, a debugger) or stuck, and a timed call must not wait for it.
    #[inline]
    fn lock_until(&self, deadline: Deadline) -> Option<Guard<'q>> {
        let header = self.inner.header();
        let mutex = match self.role {
            Role::Producer => &header.producers.mutex,
            Role::Consumer => &header.consumers.mutex,
        };
        lock_mutex(mutex, deadline.at_least(LOCK_GRACE))?;
        // SAFETY: RING_OFFSET is inside the mapping.
        let ring = unsafe { self.inner.shm.ptr().add(RING_OFFSET) };
        let ring_len = (self.inner.shm.size() - RING_OFFSET) as u64;
        Some(Guard::locked(header, ring, ring_len, self.role))
    }

    // ANCHOR: wait_for_item
    /// Locks the consumers' end once the queue holds a message, waiting at most until
    /// `deadline`. Returns the lock, held, or `None` when the deadline passed with the queue
    /// still empty (or with the consumers' lock still held by a stopped process).
    #[inline]
    fn wait_for_item(&self, deadline: Deadline) -> Option<Guard<'q>> {
        // ANCHOR: exercise_2_3
        loop {
            let guard = self.lock_until(deadline)?;
            if guard.state().count > 0 {
                return Some(guard);
            }
            if deadline.passed() {
                return None;
            }
            // Read the word, say we may sleep, and only then look once more: a put this second
            // look misses committed after our flag was up, so it sees the flag and changes the
            // word, and the futex_wait below returns at once instead of sleeping through that
            // put.
            let header = guard.header;
            let seen = header.not_empty.load(Ordering::SeqCst);
            header.consumers_asleep.store(1, Ordering::SeqCst);
            if guard.state().count > 0 {
                return Some(guard);
            }
            drop(guard);
            futex_wait(&header.not_empty, seen, deadline.left());
        }
        // ANCHOR_END: exercise_2_3
    }
    // ANCHOR_END: wait_for_item

    // ANCHOR: wait_for_room
    /// Locks the producers' end once the queue has room for one more message (always, when
    /// unbounded). Waits while it is full (or the producers' lock is held by a stopped
    /// process), at most until `deadline`.
    #[inline]
    fn wait_for_room(&self, deadline: Deadline) -> Result<Guard<'q>, NoRoom> {
        // ANCHOR: exercise_2_4
        loop {
            let guard = self.lock_until(deadline).ok_or(NoRoom::Full)?;
            let maxsize = guard.header.maxsize;
            if maxsize == 0 || guard.state().count < maxsize {
                return Ok(guard);
            }
            if deadline.passed() {
                return Err(NoRoom::Full);
            }
            let header = guard.header;
            let seen = header.not_full.load(Ordering::SeqCst);
            header.producers_asleep.store(1, Ordering::SeqCst);
            if guard.state().count < maxsize {
                return Ok(guard);
            }
            drop(guard);
            futex_wait(&header.not_full, seen, deadline.left());
        }
        // ANCHOR_END: exercise_2_4
    }
    // ANCHOR_END: wait_for_room

    /// Spins briefly while the queue looks empty, so that [`End::wait_for_item`] then finds
    /// a message instead of sleeping.
    ///
    /// A consumer that finds the queue empty while a producer is busy putting would otherwise
    /// sleep on the futex at once, and every following `put` would pay a wake-up system call and
    /// the consumer a trip through the scheduler: microseconds per message, where a `put` takes
    /// a fraction of one. Watching the producers' generation word for up to [`SPIN_FOR`] first
    /// keeps a steady stream in user space. Between rounds of watching it yields the core, so
    /// that on a busy machine the spin does not keep the producer it waits for from running.
    ///
    /// It takes no lock: "empty" is read from the consumers' last reading of the producers'
    /// side, then from the two sides' published counts. That is only a hint — it may be stale by the time it is used — and a wrong hint costs at most one spin
    /// or one skipped spin: `wait_for_item`, under the lock, decides.
    #[inline]
    fn spin_while_empty(&self, deadline: Deadline) {
        if deadline.passed() {
            // `get_nowait`: answer at once.
            return;
        }
        let header = self.inner.header();
        if header.consumers.saw_more() {
            // Messages we already know of: the producers' line is not even read.
            return;
        }
        // We have taken every message we knew of. If a producer is streaming and we are right
        // on its heels, each look at its line takes that line from it, and its next commit
        // waits to get it back (measured: a put then costs twice what it costs alone). So a
        // consumer that keeps finding messages as soon as it looks waits a little before it
        // looks, and takes several per look. The wait doubles while the first look finds
        // messages, halves when they come one pause after it, and drops to nothing when they
        // come later: a consumer waiting for replies (each after a round trip) never waits
        // before looking.
        let behind = self.inner.behind.load(Ordering::Relaxed);
        for _ in 0..behind {
            std::hint::spin_loop();
        }
        let gen = header.producers.generation();
        if header.count() > 0 {
            self.inner
                .behind
                .store((behind * 2).clamp(1, BEHIND_MAX), Ordering::Relaxed);
            return;
        }
        let until = Deadline::after(SPIN_FOR);
        let mut backoff = 0;
        while !until.passed() && !deadline.passed() {
            for _ in 0..64 {
                // Each look takes the producers' line from the producer, which must then fetch
                // it back to commit: look less often the longer the wait (1, 2, 4 … 16 pauses
                // between looks), so that a producer in the middle of a put is left alone.
                for _ in 0..1u32 << backoff {
                    std::hint::spin_loop();
                }
                if header.producers.generation() != gen {
                    let next = if backoff == 0 { (behind / 2).max(1) } else { 0 };
                    self.inner.behind.store(next, Ordering::Relaxed);
                    return;
                }
                backoff = (backoff + 1).min(4);
            }
            // On a machine with more runnable processes than cores, the producer we wait for
            // may need this very core: offer it (a no-op when nobody else is runnable here).
            std::thread::yield_now();
        }
        self.inner.behind.store(0, Ordering::Relaxed);
    }
}
