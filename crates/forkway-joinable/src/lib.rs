//! # forkway-joinable — lesson 4: joinable queues
//!
//! A [`Queue`] tells the producer that an item was *taken*. A [`JoinableQueue`] also tells it that
//! the item was *processed*: every `put` adds an unfinished task, every consumer's
//! [`task_done`](JoinableQueue::task_done) removes one, and [`join`](JoinableQueue::join) returns
//! when none is left. Python's `multiprocessing.JoinableQueue`.
//!
//! | Python | forkway |
//! |---|---|
//! | `q = JoinableQueue()` | `let q = JoinableQueue::<T>::new()?` |
//! | `q.put(x)`, `q.get()` | [`JoinableQueue::put`], [`JoinableQueue::get`] (and every other `Queue` form) |
//! | `q.task_done()` | [`JoinableQueue::task_done`] |
//! | `q.join()` | [`JoinableQueue::join`], [`JoinableQueue::join_timeout`] |
//! | `ctx.JoinableQueue()` passed to a forkserver or spawn child | [`JoinableQueue::new_sendable`] |
//!
//! Where Python hangs: a consumer killed after `get` and before `task_done` leaves a task that
//! nobody will ever finish, and Python's `join()` waits forever. forkway remembers which process
//! took how many unacknowledged items; `join` reports [`JoinError::ConsumerDied`] with that
//! process's pid and count, and [`JoinableQueue::abandon_dead`] lets the producer write those
//! tasks off (and put the work again if it wants).
//!
//! Linux only, like the rest of forkway.

use std::io;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

pub use forkway_ipc::{GetError, PutError, Queue};
use forkway_sys::{futex_wait, futex_wake_all, Deadline, Shm};
use serde::de::DeserializeOwned;
use serde::Serialize;
use thiserror::Error;

mod sendable;

/// Processes whose unacknowledged gets are tracked at once. A consumer beyond that many still
/// works; only its death goes unnoticed (then `join_timeout` is the safety net).
pub const TRACKED_CONSUMERS: usize = 128;

/// How often a waiting `join` looks for dead consumers while tasks are outstanding.
const CHECK_EVERY: Duration = Duration::from_millis(50);

/// `task_done` was called more times than items were put. Python: `ValueError('task_done()
/// called too many times')`.
#[derive(Debug, Error, PartialEq, Eq)]
#[error("task_done() called too many times")]
pub struct TaskDoneError;

/// Why `join` cannot succeed. (Running out of time is no error: `join_timeout` answers
/// `Ok(false)`.)
#[derive(Debug, Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum JoinError {
    /// A process that took items died before acknowledging them: they will never be done.
    /// [`JoinableQueue::abandon_dead`] writes them off.
    #[error("consumer process {pid} died with {unacknowledged} task(s) taken but not done")]
    ConsumerDied {
        /// The dead consumer.
        pid: u32,
        /// Items it took without calling `task_done`.
        unacknowledged: u32,
    },
}

/// A consumer that died holding unacknowledged tasks, as written off by `abandon_dead`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeadConsumer {
    /// Its pid.
    pub pid: u32,
    /// How many tasks it took and never acknowledged.
    pub unacknowledged: u32,
}

#[repr(C)]
struct Tasks {
    /// Items put and not yet acknowledged; the futex word joiners sleep on.
    unfinished: AtomicU32,
    /// One word per consumer process: `pid << 32 | taken-but-not-done`, updated with CAS so
    /// the pid and its count always change together.
    slots: [AtomicU64; TRACKED_CONSUMERS],
}

fn pack(pid: u32, taken: u32) -> u64 {
    (u64::from(pid) << 32) | u64::from(taken)
}

fn unpack(word: u64) -> (u32, u32) {
    ((word >> 32) as u32, word as u32)
}

/// Whether `pid` has ended (gone, or a zombie nobody has reaped yet).
fn is_dead(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit(')')
            .next()
            .and_then(|rest| rest.split_whitespace().next())
            .is_some_and(|state| state == "Z" || state == "X"),
    }
}

/// A [`Queue`] whose `join` waits until every item put has been acknowledged with
/// [`task_done`](JoinableQueue::task_done). Python's `multiprocessing.JoinableQueue`.
///
/// ```
/// use forkway_joinable::JoinableQueue;
/// use forkway_process::Process;
///
/// let q: JoinableQueue<u32> = JoinableQueue::new()?;
/// let worker = q.clone();
/// let mut consumer = Process::new(move || {
///     for _ in 0..3 {
///         let n = worker.get().expect("get");
///         let _ = n * n; // the work
///         worker.task_done().expect("task_done");
///     }
/// });
/// consumer.start()?;
/// for n in 0..3 {
///     q.put(n)?;
/// }
/// q.join()?; // every item was processed, not just taken
/// consumer.join()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct JoinableQueue<T> {
    queue: Queue<T>,
    tasks: Arc<Shm>,
}

impl<T> Clone for JoinableQueue<T> {
    fn clone(&self) -> Self {
        JoinableQueue {
            queue: self.queue.clone(),
            tasks: Arc::clone(&self.tasks),
        }
    }
}

impl<T> JoinableQueue<T> {
    /// `sendable`: the task count in a memfd that can travel (`sendable.rs`), for a queue made
    /// by `Queue::new_sendable`.
    fn with_queue(queue: Queue<T>, sendable: bool) -> io::Result<JoinableQueue<T>> {
        const { assert!(std::mem::size_of::<Tasks>() <= 4096) };
        let tasks = if sendable {
            Shm::new_sendable(4096)?
        } else {
            Shm::new(4096)?
        };
        Ok(JoinableQueue {
            queue,
            tasks: Arc::new(tasks),
        })
    }

    /// An unbounded joinable queue.
    ///
    /// # Errors
    /// The OS error when the shared memory cannot be mapped.
    pub fn new() -> io::Result<JoinableQueue<T>> {
        JoinableQueue::with_queue(Queue::new()?, false)
    }

    /// A joinable queue holding at most `maxsize` items.
    ///
    /// # Errors
    /// As [`Queue::bounded`].
    pub fn bounded(maxsize: usize) -> io::Result<JoinableQueue<T>> {
        JoinableQueue::with_queue(Queue::bounded(maxsize)?, false)
    }

    fn tasks(&self) -> &Tasks {
        // SAFETY: a zeroed mapping holds a valid `Tasks` (all atomics), aligned, alive as long
        // as `self`.
        unsafe { &*self.tasks.ptr().cast::<Tasks>() }
    }

    /// Items put and not yet acknowledged (a snapshot).
    pub fn unfinished(&self) -> u32 {
        self.tasks().unfinished.load(Ordering::SeqCst)
    }

    /// The underlying queue's approximate size (see [`Queue::qsize`]).
    pub fn qsize(&self) -> usize {
        self.queue.qsize()
    }

    /// See [`Queue::is_empty`].
    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// See [`Queue::is_full`].
    pub fn is_full(&self) -> bool {
        self.queue.is_full()
    }

    /// See [`Queue::maxsize`].
    pub fn maxsize(&self) -> Option<usize> {
        self.queue.maxsize()
    }

    /// See [`Queue::close`].
    pub fn close(&self) {
        self.queue.close();
    }

    // ANCHOR: task_done
    /// Acknowledges one item taken with `get`: its work is done. Python's `task_done()`.
    ///
    /// # Errors
    /// [`TaskDoneError`] when no task is unfinished ("called too many times").
    pub fn task_done(&self) -> Result<(), TaskDoneError> {
        // ANCHOR: exercise_4_1
        let tasks = self.tasks();
        let mut now = tasks.unfinished.load(Ordering::SeqCst);
        loop {
            if now == 0 {
                return Err(TaskDoneError);
            }
            match tasks
                .unfinished
                .compare_exchange(now, now - 1, Ordering::SeqCst, Ordering::SeqCst)
            {
                Ok(_) => break,
                Err(seen) => now = seen,
            }
        }
        self.untrack_take();
        if now == 1 {
            // The last task: wake every joiner. (The word changed, so one that was about to
            // sleep on the old value will not.)
            futex_wake_all(&tasks.unfinished);
        }
        Ok(())
        // ANCHOR_END: exercise_4_1
    }
    // ANCHOR_END: task_done

    // ANCHOR: join_until
    /// Whether every task was done by `deadline`.
    fn join_until(&self, deadline: Deadline) -> Result<bool, JoinError> {
        // ANCHOR: exercise_4_2
        let tasks = self.tasks();
        loop {
            let unfinished = tasks.unfinished.load(Ordering::SeqCst);
            if unfinished == 0 {
                return Ok(true);
            }
            if let Some((pid, unacknowledged)) = self.dead_consumer() {
                return Err(JoinError::ConsumerDied { pid, unacknowledged });
            }
            if deadline.passed() {
                return Ok(false);
            }
            // Sleep while the count is unchanged, waking now and then to look for dead
            // consumers (a death changes no word we could sleep on).
            let nap = deadline.left().map_or(CHECK_EVERY, |left| left.min(CHECK_EVERY));
            futex_wait(&tasks.unfinished, unfinished, Some(nap));
        }
        // ANCHOR_END: exercise_4_2
    }
    // ANCHOR_END: join_until

    /// Waits until every item put has been acknowledged. Python's `join()` — except that a
    /// consumer that died holding unacknowledged items is reported instead of waited for.
    ///
    /// # Errors
    /// [`JoinError::ConsumerDied`].
    pub fn join(&self) -> Result<(), JoinError> {
        self.traced_join_until(Deadline::never()).map(drop)
    }

    /// `join_until`, recorded as a `queue join` span on the trace.
    fn traced_join_until(&self, deadline: Deadline) -> Result<bool, JoinError> {
        let start = forkway_trace::begin();
        let result = self.join_until(deadline);
        if let Some(start) = start {
            let outcome = forkway_trace::Arg::Str(match result {
                Ok(true) => "all done",
                Ok(false) => "timeout",
                Err(_) => "consumer died",
            });
            forkway_trace::complete(
                start,
                "joinable",
                "queue join",
                self.trace_id(),
                &[("outcome", outcome)],
            );
        }
        result
    }

    /// Names this queue's task count across the lanes of a trace (the shared word's address).
    fn trace_id(&self) -> u64 {
        self.tasks() as *const Tasks as u64
    }

    /// As [`join`](JoinableQueue::join), at most `timeout`: whether every task was done.
    /// Running out of time is `Ok(false)`, not an error ([`unfinished`](JoinableQueue::unfinished)
    /// says how many are left).
    ///
    /// # Errors
    /// [`JoinError::ConsumerDied`].
    pub fn join_timeout(&self, timeout: Duration) -> Result<bool, JoinError> {
        self.traced_join_until(Deadline::after(timeout))
    }

    /// Writes off the tasks of consumers that died before acknowledging them, so that `join`
    /// can succeed; returns who they were. Put their work again if it must be done.
    pub fn abandon_dead(&self) -> Vec<DeadConsumer> {
        let tasks = self.tasks();
        let mut dead = Vec::new();
        for slot in &tasks.slots {
            let word = slot.load(Ordering::SeqCst);
            let (pid, taken) = unpack(word);
            if pid == 0 || taken == 0 || !is_dead(pid) {
                continue;
            }
            if slot
                .compare_exchange(word, 0, Ordering::SeqCst, Ordering::SeqCst)
                .is_ok()
            {
                let left = tasks.unfinished.fetch_sub(taken, Ordering::SeqCst) - taken;
                if left == 0 {
                    futex_wake_all(&tasks.unfinished);
                }
                dead.push(DeadConsumer {
                    pid,
                    unacknowledged: taken,
                });
            }
        }
        dead
    }

    /// The first tracked consumer that died with unacknowledged items.
    fn dead_consumer(&self) -> Option<(u32, u32)> {
        self.tasks()
            .slots
            .iter()
            .map(|s| unpack(s.load(Ordering::SeqCst)))
            .find(|&(pid, taken)| pid != 0 && taken > 0 && is_dead(pid))
    }

    /// Counts one more unacknowledged item for this process.
    fn track_take(&self) {
        let me = std::process::id();
        let slots = &self.tasks().slots;
        // Our own slot first; else a free one (no pid, or a pid with nothing outstanding).
        for claim_free in [false, true] {
            for slot in slots {
                let mut word = slot.load(Ordering::SeqCst);
                loop {
                    let (pid, taken) = unpack(word);
                    let usable = pid == me || (claim_free && (pid == 0 || taken == 0));
                    if !usable {
                        break;
                    }
                    let next = if pid == me {
                        pack(me, taken + 1)
                    } else {
                        pack(me, 1)
                    };
                    match slot.compare_exchange(word, next, Ordering::SeqCst, Ordering::SeqCst) {
                        Ok(_) => return,
                        Err(seen) => word = seen,
                    }
                }
            }
        }
        // Every slot busy: this take goes untracked (see TRACKED_CONSUMERS).
    }

    /// Counts one item of this process as acknowledged, if it has any outstanding. (Python
    /// lets any process call `task_done`; one that took nothing changes only the total.)
    fn untrack_take(&self) {
        // Every successful `task_done` comes through here, once: the trace's mark.
        forkway_trace::instant("joinable", "task done", self.trace_id(), &[]);
        let me = std::process::id();
        for slot in &self.tasks().slots {
            let mut word = slot.load(Ordering::SeqCst);
            loop {
                let (pid, taken) = unpack(word);
                if pid != me || taken == 0 {
                    break;
                }
                match slot.compare_exchange(word, pack(me, taken - 1), Ordering::SeqCst, Ordering::SeqCst) {
                    Ok(_) => return,
                    Err(seen) => word = seen,
                }
            }
        }
    }
}

impl<T: Serialize + DeserializeOwned> JoinableQueue<T> {
    /// Counts the task first, so that `join` can never return between the put and the count.
    fn counted_put(&self, put: impl FnOnce() -> Result<(), PutError<T>>) -> Result<(), PutError<T>> {
        let tasks = self.tasks();
        tasks.unfinished.fetch_add(1, Ordering::SeqCst);
        let result = put();
        if result.is_err() && tasks.unfinished.fetch_sub(1, Ordering::SeqCst) == 1 {
            futex_wake_all(&tasks.unfinished);
        }
        result
    }

    /// Puts `item` and counts one unfinished task. See [`Queue::put`].
    ///
    /// # Errors
    /// As [`Queue::put`]; a failed put adds no task.
    pub fn put(&self, item: T) -> Result<(), PutError<T>> {
        self.counted_put(|| self.queue.put(item))
    }

    /// See [`Queue::put_timeout`].
    ///
    /// # Errors
    /// As [`Queue::put_timeout`]; a failed put adds no task.
    pub fn put_timeout(&self, item: T, timeout: Duration) -> Result<(), PutError<T>> {
        self.counted_put(|| self.queue.put_timeout(item, timeout))
    }

    /// See [`Queue::put_nowait`].
    ///
    /// # Errors
    /// As [`Queue::put_nowait`]; a failed put adds no task.
    pub fn put_nowait(&self, item: T) -> Result<(), PutError<T>> {
        self.counted_put(|| self.queue.put_nowait(item))
    }

    fn tracked(&self, got: Result<T, GetError>) -> Result<T, GetError> {
        // A message taken off the queue is a task to acknowledge — even one that failed to
        // decode (call task_done for it too, or join waits for it).
        if matches!(got, Ok(_) | Err(GetError::Decode { .. })) {
            self.track_take();
        }
        got
    }

    /// Takes an item; acknowledge it with [`task_done`](JoinableQueue::task_done) when its
    /// work is done. See [`Queue::get`].
    ///
    /// # Errors
    /// As [`Queue::get`].
    pub fn get(&self) -> Result<T, GetError> {
        self.tracked(self.queue.get())
    }

    /// See [`Queue::get_timeout`].
    ///
    /// # Errors
    /// As [`Queue::get_timeout`].
    pub fn get_timeout(&self, timeout: Duration) -> Result<T, GetError> {
        self.tracked(self.queue.get_timeout(timeout))
    }

    /// See [`Queue::get_nowait`].
    ///
    /// # Errors
    /// As [`Queue::get_nowait`].
    pub fn get_nowait(&self) -> Result<T, GetError> {
        self.tracked(self.queue.get_nowait())
    }
}

impl<T> std::fmt::Debug for JoinableQueue<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JoinableQueue")
            .field("qsize", &self.qsize())
            .field("unfinished", &self.unfinished())
            .finish()
    }
}
