//! A robust, process-shared futex mutex, placed in shared memory.
//!
//! ## How a dead holder is found
//! The kernel keeps, for every thread, the address of a *robust list* that the thread's C
//! library registered (`set_robust_list`): a linked list of the robust locks the thread holds,
//! plus one "operation pending" slot. When the thread dies — returns, exits, or is killed by
//! SIGKILL — the kernel walks that list, and for each lock whose futex word still holds the
//! dead thread's id it sets `FUTEX_OWNER_DIED` in the word and wakes one waiter.
//!
//! A thread can register only one list, and glibc has registered its own for every thread
//! before our code runs. So this mutex joins *glibc's* list, laid out exactly as glibc's
//! robust `pthread_mutex_t` is on 64-bit Linux: the futex word at offset 0, the list links
//! (`prev`, `next`) at 24 and 32, the list pointing at `next` fields, and the word 32 bytes
//! before the entry (the `futex_offset` glibc registered, checked when a thread first locks).
//! Our entries and glibc's then sit in one list in any order, and each side unlinks the other's
//! neighbours correctly. Compared to calling `pthread_mutex_lock`, what is saved is glibc's
//! general path (a call through the PLT, the mutex-kind dispatch, the robust slow path that
//! glibc takes for every robust mutex): the uncontended lock is one compare-and-swap plus a few
//! plain stores to memory this thread owns.
//!
//! The word is `tid | FUTEX_WAITERS | FUTEX_OWNER_DIED`, the format the kernel reads. Beside it,
//! `state` carries POSIX's consistency rule (owner died → inconsistent → consistent again, or
//! not recoverable for good), which glibc keeps in `__owner`.

// The layout above is glibc's on 64-bit Linux; elsewhere the kernel would read the wrong word.
// (musl and threads started without glibc are refused at run time, when a thread first locks.)
#[cfg(not(all(target_os = "linux", target_env = "gnu", target_pointer_width = "64")))]
compile_error!(
    "forkway-sys's RobustMutex joins glibc's robust futex list with glibc's 64-bit layout: \
     it builds for 64-bit Linux with glibc only"
);

use std::sync::atomic::{compiler_fence, AtomicPtr, AtomicU32, Ordering};
use std::time::Duration;

use crate::thread::{caller, RobustListHead, ThisThread};
use crate::{futex_wait, futex_wake, Deadline};

/// Set in the word by a waiter about to sleep: the unlock must wake someone.
const WAITERS: u32 = 0x8000_0000;
/// Set in the word by the kernel when the holder died.
const OWNER_DIED: u32 = 0x4000_0000;
/// The holder's thread id.
const TID_MASK: u32 = 0x3fff_ffff;

/// The protected state is as the last holder left it.
const CONSISTENT: u32 = 0;
/// The holder took over from a dead owner and has not called `make_consistent` yet.
const INCONSISTENT: u32 = 1;
/// A holder unlocked while inconsistent: nobody may lock again.
const NOT_RECOVERABLE: u32 = 2;

/// Where the futex word is relative to a list entry (the address of the `next` field): what
/// glibc registers as the list head's `futex_offset` on 64-bit Linux, since it is
/// `offsetof(__lock) - offsetof(__list.__next)` in its `pthread_mutex_t`.
pub(crate) const FUTEX_OFFSET: libc::c_long = -32;

/// The longest a waiter sleeps before it looks at the word again, whatever its deadline (see
/// `lock_slow`): a backstop for a wake-up lost with a waiter killed right after it.
const BACKSTOP: Duration = Duration::from_millis(100);

/// A process-shared, robust futex mutex, placed in shared memory.
///
/// Robust means: when its holder dies (even by SIGKILL), the kernel marks it and the next
/// `lock` succeeds with "owner died" instead of waiting forever (Python's `Lock` deadlocks
/// there). Our data structures commit every change with one atomic store, so the state a dead
/// holder leaves is always the last committed one and locking simply goes on.
///
/// It is a mutex of our own on the kernel's robust-futex protocol, linked into the robust list
/// glibc keeps for each thread (see the module's documentation), so glibc's robust mutexes and
/// this one can be held together, in any order.
#[repr(C, align(8))]
pub struct RobustMutex {
    /// `tid | WAITERS | OWNER_DIED`; 0 when free.
    word: AtomicU32,
    /// `CONSISTENT`, `INCONSISTENT` or `NOT_RECOVERABLE`; written only by the holder.
    state: AtomicU32,
    /// Unused, so that the links sit where glibc's sit (the kernel finds the word from them).
    _reserved: [u32; 4],
    /// The previous entry of the holder's robust list (a pointer to its `next` field).
    prev: AtomicPtr<u8>,
    /// The next entry of the holder's robust list; the kernel reads it.
    next: AtomicPtr<u8>,
}

const _: () = {
    assert!(
        std::mem::offset_of!(RobustMutex, word) as isize - std::mem::offset_of!(RobustMutex, next) as isize
            == FUTEX_OFFSET as isize
    );
    assert!(std::mem::offset_of!(RobustMutex, next) - std::mem::offset_of!(RobustMutex, prev) == 8);
    // The size of x86_64 glibc's `pthread_mutex_t`, which this replaced in every shared layout.
    assert!(std::mem::size_of::<RobustMutex>() == 40);
};

/// Why [`RobustMutex::lock_until`] did not lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum LockError {
    /// The deadline passed first.
    Timeout,
    /// A previous holder died and its successor unlocked without calling `make_consistent`.
    NotRecoverable,
}

/// Why [`RobustMutex::try_unlock_as`] did not unlock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum UnlockError {
    /// Nobody holds it.
    NotLocked,
    /// Another thread holds it, or a dead one did and nobody took over yet.
    NotOwner,
}

/// How a lock was obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Locked {
    /// The usual case.
    Clean,
    /// The previous holder died holding it; the mutex is usable again now.
    OwnerDied,
}

#[cold]
#[inline(never)]
fn no_robust_list() -> ! {
    panic!("RobustMutex needs glibc's robust list (64-bit Linux, glibc) on every thread that locks")
}

/// The list field one word before a list pointer: the `prev` of the entry it points to.
///
/// # Safety
/// `entry` points to the `next` field of a live entry (ours, a glibc mutex's, or the head).
unsafe fn prev_of(entry: *mut u8) -> &'static AtomicPtr<u8> {
    // SAFETY: per the contract, one word before is the entry's `prev` (glibc's `robust_prev`
    // for the head), aligned and alive while the entry is listed.
    unsafe { &*entry.sub(8).cast::<AtomicPtr<u8>>() }
}

/// The `next` field a list pointer points to.
///
/// # Safety
/// As [`prev_of`].
unsafe fn next_of(entry: *mut u8) -> &'static AtomicPtr<u8> {
    // SAFETY: per the contract.
    unsafe { &*entry.cast::<AtomicPtr<u8>>() }
}

/// A list pointer without its low bit (set by glibc on entries that are PI mutexes).
fn strip(p: *mut u8) -> *mut u8 {
    p.map_addr(|a| a & !1)
}

impl RobustMutex {
    /// Initializes a mutex in place.
    ///
    /// # Safety
    /// `this` must point to writable memory, aligned for `RobustMutex`, that no process uses
    /// as a mutex yet.
    ///
    /// # Errors
    /// None today; the `Result` stays for mutexes whose initialization can fail.
    pub unsafe fn init(this: *mut RobustMutex) -> std::io::Result<()> {
        // SAFETY: per the contract, `this` is valid for writes and unused.
        unsafe {
            this.write(RobustMutex {
                word: AtomicU32::new(0),
                state: AtomicU32::new(CONSISTENT),
                _reserved: [0; 4],
                prev: AtomicPtr::new(std::ptr::null_mut()),
                next: AtomicPtr::new(std::ptr::null_mut()),
            });
        }
        Ok(())
    }

    /// The calling thread, and its robust list head.
    ///
    /// # Panics
    /// When the thread's robust list is not glibc's (another C library, or a thread made with a
    /// bare `clone`): without it a dead holder could not be detected.
    #[inline]
    fn me(me: ThisThread) -> (u32, &'static RobustListHead) {
        let me = me.caller();
        if me.head.is_null() {
            no_robust_list();
        }
        // SAFETY: the head lives in this thread's glibc descriptor for the thread's life, and
        // the reference does not leave the thread (`RobustMutex` methods use it and return).
        (me.tid, unsafe { &*me.head })
    }

    /// The list entry: the address of `next`.
    #[inline]
    fn entry(&self) -> *mut u8 {
        self.next.as_ptr().cast()
    }

    /// Locks, waiting as long as it takes; a dead holder is reported (and the state declared
    /// consistent at once), not waited for.
    ///
    /// # Panics
    /// When the mutex is not recoverable: only [`lock_until`](RobustMutex::lock_until) can make
    /// it so, so a mutex locked only through `lock`, `try_lock` and the spinning form never is.
    pub fn lock(&self) -> Locked {
        match self.lock_until(Deadline::never()) {
            Ok(how) => {
                self.make_consistent();
                how
            }
            Err(e) => panic!("locking a robust mutex: {e:?}"),
        }
    }

    /// Locks, waiting at most until `deadline`, and *without* repairing a dead owner's state:
    /// on [`Locked::OwnerDied`] the caller holds the lock and must call
    /// [`make_consistent`](RobustMutex::make_consistent) before unlocking, or the mutex becomes
    /// unusable for good ([`LockError::NotRecoverable`] for every later caller) — POSIX's way of
    /// saying "nobody vouched for the data this lock protects".
    ///
    /// # Errors
    /// [`LockError::Timeout`] when the deadline passed; [`LockError::NotRecoverable`].
    #[inline]
    pub fn lock_until(&self, deadline: Deadline) -> Result<Locked, LockError> {
        self.lock_until_as(ThisThread::get(), deadline)
    }

    /// [`lock_until`](RobustMutex::lock_until) for a caller that looked itself up already.
    ///
    /// # Errors
    /// As [`lock_until`](RobustMutex::lock_until).
    #[inline(always)]
    pub fn lock_until_as(&self, me: ThisThread, deadline: Deadline) -> Result<Locked, LockError> {
        self.lock_with_spins(me, deadline, 0)
    }

    /// [`lock_until`](RobustMutex::lock_until), after trying the lock a few times in user space
    /// (a few microseconds at most): for a mutex held only briefly, such as a queue's, which
    /// holds it to copy one message. Without it a collision between a producer and a consumer
    /// puts the loser to sleep in the kernel (a futex wait) and makes the holder's unlock a
    /// system call to wake it — microseconds for a sub-microsecond wait.
    ///
    /// # Errors
    /// As [`lock_until`](RobustMutex::lock_until).
    #[inline]
    pub fn lock_spinning_until(&self, deadline: Deadline) -> Result<Locked, LockError> {
        self.lock_with_spins(ThisThread::get(), deadline, 16)
    }

    /// The fast path (one compare-and-swap), then `lock_slow` with `spins` tries before sleeping.
    #[inline(always)]
    fn lock_with_spins(&self, me: ThisThread, deadline: Deadline, spins: u32) -> Result<Locked, LockError> {
        let (tid, head) = Self::me(me);
        // Announce the entry before the word can name us: a death between the two is then
        // still found by the kernel, through the pending slot.
        head.list_op_pending.store(self.entry(), Ordering::Relaxed);
        compiler_fence(Ordering::SeqCst);
        if self
            .word
            .compare_exchange(0, tid, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
        {
            return self.acquired(head, Locked::Clean);
        }
        self.lock_slow(tid, head, deadline, spins)
    }

    /// The word was taken with a compare-and-swap: link the entry, close the pending slot.
    #[inline]
    fn acquired(&self, head: &RobustListHead, how: Locked) -> Result<Locked, LockError> {
        if self.state.load(Ordering::Relaxed) == NOT_RECOVERABLE {
            // POSIX: a not-recoverable mutex locks for nobody. Hand it on (waking the next
            // waiter, who will find the same) and say so.
            self.release_word();
            compiler_fence(Ordering::SeqCst);
            head.list_op_pending
                .store(std::ptr::null_mut(), Ordering::Relaxed);
            return Err(LockError::NotRecoverable);
        }
        let entry = self.entry();
        let head_entry = std::ptr::from_ref(head).cast_mut().cast::<u8>();
        let first = head.list.load(Ordering::Relaxed);
        // SAFETY: `first` is the list's first entry (or the head): alive while listed, and
        // this thread alone edits its list.
        unsafe { prev_of(strip(first)).store(entry, Ordering::Relaxed) };
        self.next.store(first, Ordering::Relaxed);
        self.prev.store(head_entry, Ordering::Relaxed);
        // The entry is complete before the head points to it: the kernel may walk the list at
        // any instruction (a SIGKILL).
        compiler_fence(Ordering::SeqCst);
        head.list.store(entry, Ordering::Relaxed);
        compiler_fence(Ordering::SeqCst);
        head.list_op_pending
            .store(std::ptr::null_mut(), Ordering::Relaxed);
        if how == Locked::OwnerDied {
            self.state.store(INCONSISTENT, Ordering::Relaxed);
        }
        Ok(how)
    }

    #[cold]
    fn lock_slow(
        &self,
        tid: u32,
        head: &RobustListHead,
        deadline: Deadline,
        mut spins: u32,
    ) -> Result<Locked, LockError> {
        // After a sleep we cannot know whether others sleep too: take the word with WAITERS
        // set, so our unlock wakes the next (glibc does the same).
        let mut waited = 0;
        loop {
            let cur = self.word.load(Ordering::Relaxed);
            if cur & OWNER_DIED != 0 {
                // The kernel cleared the dead holder's id and woke one of us: take over,
                // keeping WAITERS for those still asleep.
                if self
                    .word
                    .compare_exchange(cur, tid | (cur & WAITERS), Ordering::Acquire, Ordering::Relaxed)
                    .is_ok()
                {
                    return self.acquired(head, Locked::OwnerDied);
                }
                continue;
            }
            if cur == 0 {
                if self
                    .word
                    .compare_exchange(0, tid | waited, Ordering::Acquire, Ordering::Relaxed)
                    .is_ok()
                {
                    return self.acquired(head, Locked::Clean);
                }
                continue;
            }
            if spins > 0 {
                spins -= 1;
                for _ in 0..16 {
                    std::hint::spin_loop();
                }
                continue;
            }
            let left = deadline.left();
            if left == Some(Duration::ZERO) {
                compiler_fence(Ordering::SeqCst);
                head.list_op_pending
                    .store(std::ptr::null_mut(), Ordering::Relaxed);
                return Err(LockError::Timeout);
            }
            if cur & WAITERS == 0
                && self
                    .word
                    .compare_exchange(cur, cur | WAITERS, Ordering::Relaxed, Ordering::Relaxed)
                    .is_err()
            {
                continue;
            }
            // The pending slot still names this mutex while we sleep: if we are killed after
            // a wake-up meant for us, the kernel passes it on to another waiter — but only when
            // the word is 0. After a holder's death it is OWNER_DIED | WAITERS, so a sleeper
            // woken for that death and killed before it took over would leave the others
            // asleep for good. Sleeping at most BACKSTOP bounds that to one look per BACKSTOP.
            let nap = left.map_or(BACKSTOP, |l| l.min(BACKSTOP));
            futex_wait(&self.word, cur | WAITERS, Some(nap));
            waited = WAITERS;
        }
    }

    /// After [`Locked::OwnerDied`]: declares the protected state consistent again, so the
    /// mutex goes on working after the next unlock. Harmless at any other time.
    #[inline]
    pub fn make_consistent(&self) {
        if self.state.load(Ordering::Relaxed) == INCONSISTENT && self.held_by_me() {
            self.state.store(CONSISTENT, Ordering::Relaxed);
        }
    }

    /// Tries to lock without waiting: `None` when another live thread holds it. A dead
    /// holder's state is declared consistent at once, as in [`lock`](RobustMutex::lock).
    ///
    /// # Panics
    /// As [`lock`](RobustMutex::lock).
    pub fn try_lock(&self) -> Option<Locked> {
        match self.lock_until(Deadline::now()) {
            Ok(how) => {
                self.make_consistent();
                Some(how)
            }
            Err(LockError::Timeout) => None,
            Err(e) => panic!("locking a robust mutex: {e:?}"),
        }
    }

    #[cold]
    fn held_by_me(&self) -> bool {
        self.word.load(Ordering::Relaxed) & TID_MASK == caller().tid
    }

    /// Frees the word and wakes one sleeper if any announced itself.
    #[inline]
    fn release_word(&self) {
        if self.word.swap(0, Ordering::Release) & WAITERS != 0 {
            futex_wake(&self.word, 1);
        }
    }

    /// The kernel thread id of the live thread holding it: `None` when it is free, and when its
    /// holder died and nobody took over yet (the kernel cleared the id; see
    /// [`is_locked`](RobustMutex::is_locked)). A snapshot.
    #[inline]
    pub fn holder(&self) -> Option<u32> {
        let tid = self.word.load(Ordering::Acquire) & TID_MASK;
        (tid != 0).then_some(tid)
    }

    /// Whether it is held: by a live thread, or by a dead one that nobody took over from yet
    /// (the next lock reports [`Locked::OwnerDied`]). A snapshot.
    #[inline]
    pub fn is_locked(&self) -> bool {
        self.word.load(Ordering::Acquire) != 0
    }

    /// Whether the calling thread holds it.
    #[inline]
    pub fn is_held_by(&self, me: ThisThread) -> bool {
        self.word.load(Ordering::Relaxed) & TID_MASK == me.tid()
    }

    /// Unlocks. Only the thread that locked may: from any other thread it does nothing.
    #[inline]
    pub fn unlock(&self) {
        self.unlock_as(ThisThread::get());
    }

    /// [`unlock`](RobustMutex::unlock) for a caller that looked itself up already.
    #[inline(always)]
    pub fn unlock_as(&self, me: ThisThread) {
        let _ = self.try_unlock_as(me);
    }

    /// [`unlock_as`](RobustMutex::unlock_as), saying why nothing was unlocked.
    ///
    /// # Errors
    /// [`UnlockError::NotLocked`] when nobody holds it; [`UnlockError::NotOwner`] when another
    /// thread does, or a dead one did and nobody took over yet.
    #[inline(always)]
    pub fn try_unlock_as(&self, me: ThisThread) -> Result<(), UnlockError> {
        let (tid, head) = Self::me(me);
        let word = self.word.load(Ordering::Relaxed);
        if word & TID_MASK != tid {
            return Err(not_held(word));
        }
        if self.state.load(Ordering::Relaxed) == INCONSISTENT {
            self.state.store(NOT_RECOVERABLE, Ordering::Relaxed);
        }
        let entry = self.entry();
        // A death after the unlink but before the word is freed is still found, through the
        // pending slot (the next locker sees "owner died": spurious, but safe).
        head.list_op_pending.store(entry, Ordering::Relaxed);
        compiler_fence(Ordering::SeqCst);
        let next = self.next.load(Ordering::Relaxed);
        let prev = self.prev.load(Ordering::Relaxed);
        // SAFETY: we hold the mutex, so our links are our list's: `next` and `prev` are live
        // entries (or the head) of this thread's list, which only this thread edits.
        unsafe {
            prev_of(strip(next)).store(prev, Ordering::Relaxed);
            next_of(strip(prev)).store(next, Ordering::Relaxed);
        }
        // (Our own links are left as they are: nothing reads them until the next holder
        // overwrites them.)
        compiler_fence(Ordering::SeqCst);
        self.release_word();
        compiler_fence(Ordering::SeqCst);
        head.list_op_pending
            .store(std::ptr::null_mut(), Ordering::Relaxed);
        Ok(())
    }
}

/// Why an unlock from a thread that does not hold the mutex was refused, from the word it saw.
#[cold]
fn not_held(word: u32) -> UnlockError {
    if word == 0 {
        UnlockError::NotLocked
    } else {
        UnlockError::NotOwner
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Shm;

    /// A mapping with an initialized mutex at its start. The mutex is not `Sync` (it lives in
    /// shared memory, where processes share it, not references), so threads share the mapping.
    fn mapped_mutex() -> Shm {
        let shm = Shm::new(4096).expect("map");
        // SAFETY: a fresh, zeroed, page-aligned mapping that nothing uses yet.
        unsafe { RobustMutex::init(shm.ptr().cast()) }.expect("init");
        shm
    }

    fn mutex(shm: &Shm) -> &RobustMutex {
        // SAFETY: `mapped_mutex` initialized it; it lives as long as `shm`.
        unsafe { &*shm.ptr().cast::<RobustMutex>() }
    }

    #[test]
    fn lock_try_lock_and_timeout() {
        let shm = mapped_mutex();
        assert_eq!(mutex(&shm).lock(), Locked::Clean);
        std::thread::scope(|s| {
            s.spawn(|| {
                assert_eq!(mutex(&shm).try_lock(), None);
                assert_eq!(mutex(&shm).lock_until(Deadline::now()), Err(LockError::Timeout));
            });
        });
        mutex(&shm).unlock();
        assert_eq!(mutex(&shm).try_lock(), Some(Locked::Clean));
        mutex(&shm).unlock();
    }

    #[test]
    fn a_sleeper_whose_wake_up_was_lost_still_takes_over() {
        // Staged: the holder "dies" the way the kernel reports it (OWNER_DIED | WAITERS, holder
        // id cleared) but nobody is woken — as when the one waiter the kernel woke is killed
        // before it takes over. The remaining sleeper must notice on its own.
        let shm = mapped_mutex();
        let m = mutex(&shm);
        assert_eq!(m.lock(), Locked::Clean);
        let (tx, rx) = std::sync::mpsc::channel();
        let (tid_tx, tid_rx) = std::sync::mpsc::channel();
        std::thread::scope(|s| {
            s.spawn(|| {
                tid_tx.send(crate::pid_tid().1).expect("send");
                let m = mutex(&shm);
                let how = m.lock();
                m.make_consistent();
                m.unlock();
                tx.send(how).expect("send");
            });
            let until = Deadline::after(Duration::from_secs(10));
            let tid = tid_rx
                .recv_timeout(Duration::from_secs(10))
                .expect("the waiter's tid");
            // Asleep in the kernel (state S), with WAITERS set: only the futex puts it there.
            let asleep = || {
                std::fs::read_to_string(format!("/proc/self/task/{tid}/stat"))
                    .ok()
                    .and_then(|st| st.rsplit_once(") ").map(|(_, rest)| rest.starts_with('S')))
                    .unwrap_or(false)
            };
            while m.word.load(Ordering::Relaxed) & WAITERS == 0 || !asleep() {
                assert!(!until.passed(), "the waiter never went to sleep");
                std::thread::yield_now();
            }
            // Leave our robust list as a dying thread's is left (the entry unlinked), then
            // write the word as the kernel does for a dead holder, without waking anyone.
            let next = m.next.load(Ordering::Relaxed);
            let prev = m.prev.load(Ordering::Relaxed);
            // SAFETY: we hold the mutex, so its links are this thread's list's live entries.
            unsafe {
                prev_of(strip(next)).store(prev, Ordering::Relaxed);
                next_of(strip(prev)).store(next, Ordering::Relaxed);
            }
            m.word.store(OWNER_DIED | WAITERS, Ordering::SeqCst);
            let got = rx.recv_timeout(Duration::from_secs(5));
            if got.is_err() {
                // Free the sleeper so the scope can end, then fail.
                m.word.store(0, Ordering::SeqCst);
                futex_wake(&m.word, u32::MAX);
            }
            assert_eq!(got.ok(), Some(Locked::OwnerDied), "the sleeper stayed asleep");
        });
    }

    #[test]
    fn a_dead_holder_is_reported_not_waited_for() {
        let shm = mapped_mutex();
        // A thread that ends holding a robust mutex is a dead owner, as a killed process is.
        std::thread::scope(|s| {
            s.spawn(|| assert_eq!(mutex(&shm).lock(), Locked::Clean));
        });
        let m = mutex(&shm);
        assert_eq!(
            m.lock_until(Deadline::after(Duration::from_secs(10))),
            Ok(Locked::OwnerDied)
        );
        m.make_consistent();
        m.unlock();
        assert_eq!(m.lock(), Locked::Clean);
        m.unlock();
    }
    /// The calling thread's robust list, as the kernel will walk it: entries, first to last.
    fn listed() -> Vec<*mut u8> {
        let head = caller().head;
        assert!(!head.is_null(), "glibc registered a robust list");
        let head_entry = head.cast_mut().cast::<u8>();
        let mut out = Vec::new();
        // SAFETY: this thread's own list, which nothing else edits meanwhile.
        let mut p = unsafe { (*head).list.load(Ordering::Relaxed) };
        while strip(p) != head_entry {
            out.push(strip(p));
            assert!(out.len() < 64, "a loop in the robust list");
            // SAFETY: a listed entry is alive.
            p = unsafe { next_of(strip(p)).load(Ordering::Relaxed) };
        }
        out
    }

    /// A glibc robust mutex in a mapping, for mixing with ours.
    fn glibc_robust(shm: &Shm, at: usize) -> *mut libc::pthread_mutex_t {
        let m = shm.ptr().wrapping_add(at).cast::<libc::pthread_mutex_t>();
        // SAFETY: the attribute lives across the calls; `m` is in a fresh zeroed mapping.
        unsafe {
            let mut attr = std::mem::MaybeUninit::<libc::pthread_mutexattr_t>::uninit();
            assert_eq!(libc::pthread_mutexattr_init(attr.as_mut_ptr()), 0);
            assert_eq!(
                libc::pthread_mutexattr_setpshared(attr.as_mut_ptr(), libc::PTHREAD_PROCESS_SHARED),
                0
            );
            assert_eq!(
                libc::pthread_mutexattr_setrobust(attr.as_mut_ptr(), libc::PTHREAD_MUTEX_ROBUST),
                0
            );
            assert_eq!(libc::pthread_mutex_init(m, attr.as_ptr()), 0);
            libc::pthread_mutexattr_destroy(attr.as_mut_ptr());
        }
        m
    }

    #[test]
    fn entries_sit_in_glibcs_list_as_glibcs_own_do() {
        let shm = mapped_mutex();
        let ours = mutex(&shm);
        let theirs = glibc_robust(&shm, 1024);
        let theirs_entry = theirs.cast::<u8>().wrapping_add(32);
        let head = caller().head.cast_mut().cast::<u8>();
        assert_eq!(listed(), Vec::<*mut u8>::new());
        // SAFETY: initialized above; the mapping outlives every call.
        unsafe {
            assert_eq!(libc::pthread_mutex_lock(theirs), 0);
            // glibc's own entry: what our layout copies (the word 32 bytes before it, the
            // head's `prev` one word before the head).
            assert_eq!(listed(), vec![theirs_entry]);
            assert_eq!(prev_of(head).load(Ordering::Relaxed), theirs_entry);
            assert_eq!(ours.lock(), Locked::Clean);
            assert_eq!(listed(), vec![ours.entry(), theirs_entry]);
            // Unlock in lock order: glibc unlinks from the middle of a list we head.
            assert_eq!(libc::pthread_mutex_unlock(theirs), 0);
            assert_eq!(listed(), vec![ours.entry()]);
            ours.unlock();
            assert_eq!(listed(), Vec::<*mut u8>::new());
            // And the other way round: ours in the middle of glibc's.
            assert_eq!(ours.lock(), Locked::Clean);
            assert_eq!(libc::pthread_mutex_lock(theirs), 0);
            assert_eq!(listed(), vec![theirs_entry, ours.entry()]);
            ours.unlock();
            assert_eq!(listed(), vec![theirs_entry]);
            assert_eq!(libc::pthread_mutex_unlock(theirs), 0);
            assert_eq!(listed(), Vec::<*mut u8>::new());
        }
    }

    #[test]
    fn a_thread_dying_with_ours_and_glibcs_leaves_both_recoverable() {
        for glibc_first in [false, true] {
            let shm = mapped_mutex();
            let ours = mutex(&shm);
            let theirs = glibc_robust(&shm, 1024) as usize;
            let extra = ours_at(&shm, 2048);
            std::thread::scope(|s| {
                s.spawn(|| {
                    let theirs = theirs as *mut libc::pthread_mutex_t;
                    // SAFETY: initialized above; alive until the scope ends.
                    unsafe {
                        if glibc_first {
                            assert_eq!(libc::pthread_mutex_lock(theirs), 0);
                        }
                        assert_eq!(ours.lock(), Locked::Clean);
                        assert_eq!(extra.lock(), Locked::Clean);
                        if !glibc_first {
                            assert_eq!(libc::pthread_mutex_lock(theirs), 0);
                        }
                        // Unlock one from the middle, then die holding the rest.
                        ours.unlock();
                        assert_eq!(ours.lock(), Locked::Clean);
                    }
                });
            });
            let ten = Deadline::after(Duration::from_secs(10));
            assert_eq!(ours.lock_until(ten), Ok(Locked::OwnerDied));
            assert_eq!(extra.lock_until(ten), Ok(Locked::OwnerDied));
            // SAFETY: as above.
            unsafe {
                let theirs = theirs as *mut libc::pthread_mutex_t;
                assert_eq!(libc::pthread_mutex_lock(theirs), libc::EOWNERDEAD);
                assert_eq!(libc::pthread_mutex_consistent(theirs), 0);
                assert_eq!(libc::pthread_mutex_unlock(theirs), 0);
            }
            ours.make_consistent();
            extra.make_consistent();
            ours.unlock();
            extra.unlock();
            assert_eq!(listed(), Vec::<*mut u8>::new());
        }
    }

    fn ours_at(shm: &Shm, at: usize) -> &RobustMutex {
        let m = shm.ptr().wrapping_add(at).cast::<RobustMutex>();
        // SAFETY: a fresh, zeroed, aligned part of the mapping, unused; it lives as long as `shm`.
        unsafe {
            RobustMutex::init(m).expect("init");
            &*m
        }
    }

    #[test]
    fn a_sleeping_waiter_wakes_when_the_holder_dies() {
        let shm = mapped_mutex();
        let m = mutex(&shm);
        let (locked_tx, locked_rx) = std::sync::mpsc::channel();
        let (die_tx, die_rx) = std::sync::mpsc::channel::<()>();
        std::thread::scope(|s| {
            let holder = s.spawn(move || {
                assert_eq!(m.lock(), Locked::Clean);
                locked_tx.send(()).expect("send");
                // Die (return) holding it once the waiter sleeps.
                die_rx.recv_timeout(Duration::from_secs(10)).expect("told to die");
            });
            locked_rx
                .recv_timeout(Duration::from_secs(10))
                .expect("holder locked");
            let waiter = s.spawn(|| m.lock_until(Deadline::after(Duration::from_secs(20))));
            // The waiter announces itself (WAITERS) just before it sleeps in the kernel.
            let until = std::time::Instant::now() + Duration::from_secs(10);
            while m.word.load(Ordering::Relaxed) & WAITERS == 0 {
                assert!(
                    std::time::Instant::now() < until,
                    "the waiter never went to sleep"
                );
                std::thread::yield_now();
            }
            let started = std::time::Instant::now();
            die_tx.send(()).expect("send");
            holder.join().expect("holder");
            assert_eq!(waiter.join().expect("waiter"), Ok(Locked::OwnerDied));
            assert!(
                started.elapsed() < Duration::from_secs(5),
                "woken late: {:?}",
                started.elapsed()
            );
        });
    }

    #[test]
    fn unlocking_while_inconsistent_makes_it_not_recoverable() {
        let shm = mapped_mutex();
        let m = mutex(&shm);
        std::thread::scope(|s| {
            s.spawn(|| assert_eq!(m.lock(), Locked::Clean));
        });
        // Waiting, not `Deadline::now()`: the scope ends when the thread's closure returns,
        // a moment before the thread itself exits and the kernel walks its list.
        assert_eq!(
            m.lock_until(Deadline::after(Duration::from_secs(10))),
            Ok(Locked::OwnerDied)
        );
        m.unlock();
        assert_eq!(m.lock_until(Deadline::now()), Err(LockError::NotRecoverable));
        assert_eq!(
            m.lock_until(Deadline::after(Duration::from_secs(1))),
            Err(LockError::NotRecoverable)
        );
        // Refused, not held: the word is free and the list is empty.
        assert_eq!(m.word.load(Ordering::Relaxed), 0);
        assert_eq!(listed(), Vec::<*mut u8>::new());
    }

    #[test]
    fn unlock_by_another_thread_does_nothing() {
        let shm = mapped_mutex();
        let m = mutex(&shm);
        assert_eq!(m.lock(), Locked::Clean);
        std::thread::scope(|s| {
            s.spawn(|| {
                m.unlock();
                assert_eq!(m.try_lock(), None);
            });
        });
        m.unlock();
        assert_eq!(m.try_lock(), Some(Locked::Clean));
        m.unlock();
    }
}
