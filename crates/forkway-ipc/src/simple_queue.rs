//! `SimpleQueue<T>`: Python's `multiprocessing.SimpleQueue`, a kernel pipe with two locks.
//!
//! Writers take the write lock for a whole frame, so frames never interleave; readers take the
//! read lock for a whole frame, so no two readers split one. That is all of Python's design.
//! forkway keeps it minimal but makes its failures visible: the locks are robust mutexes in
//! shared memory, so a process killed holding one does not hang the others, and a process
//! killed *in the middle of a frame* poisons the queue (every later call says so) instead of
//! letting a reader see half a message or wait forever for the other half.
//!
//! The pipe's buffer (64 KiB by default on Linux) is the queue's capacity: `put` blocks when it
//! is full until a reader drains it. So Python's deadlock is here too — a child that puts more
//! than the buffer holds cannot finish until someone reads, and joining it first hangs. Use
//! [`Queue`](crate::Queue) when that matters: it has no such limit, and never tears a message.

use std::io;
use std::marker::PhantomData;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::poll::{poll, PollFd, PollFlags};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::codec::{self, DEFAULT_MAX_MESSAGE};
use crate::error::{GetError, PutError, RecvError};
use forkway_sys::fds::{take_memfd, MemfdRef};
use forkway_sys::{Deadline, LockError, Locked, RobustMutex, Shm, LOCK_GRACE};

/// How often a reader waiting for the rest of a frame checks that its writer is still alive.
const WATCH_EVERY: Duration = Duration::from_millis(50);

#[repr(C)]
struct Header {
    rlock: RobustMutex,
    wlock: RobustMutex,
    /// 1 while the read lock's holder is inside a frame.
    reading: AtomicU32,
    /// 1 while the write lock's holder is inside a frame.
    writing: AtomicU32,
    /// 1 once the framing is lost; never cleared.
    poisoned: AtomicU32,
}

/// A multi-producer, multi-consumer queue on one kernel pipe. Python's `SimpleQueue`.
///
/// Create it before the fork and share it by inheritance: clone the handle into the child's
/// closure. Handles are `Send + Sync`, so threads may share them too. For a forkserver or spawn
/// child, make it with [`SimpleQueue::new_sendable`] and pass it in the target's arguments; an
/// ordinary one passed there is refused at `start()` with Python's reason ("SimpleQueue objects
/// should only be shared between processes through inheritance").
///
/// ```
/// use forkway_ipc::SimpleQueue;
/// use forkway_process::Process;
///
/// let q: SimpleQueue<String> = SimpleQueue::new()?;
/// assert!(q.is_empty()?);
/// let tx = q.clone();
/// let mut child = Process::new(move || tx.put("hi".to_owned()).expect("put"));
/// child.start()?;
/// assert_eq!(q.get()?, "hi");
/// child.join()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct SimpleQueue<T> {
    inner: Arc<Inner>,
    _items: PhantomData<fn(T) -> T>,
}

impl<T> Clone for SimpleQueue<T> {
    fn clone(&self) -> Self {
        SimpleQueue {
            inner: Arc::clone(&self.inner),
            _items: PhantomData,
        }
    }
}

/// What the handles of one queue share in one process.
struct Inner {
    shm: Shm,
    reader: OwnedFd,
    writer: OwnedFd,
    /// Closing is per process, as for [`Queue`](crate::Queue).
    closed: AtomicBool,
    max_message: AtomicUsize,
}

/// Marks an I/O error as "the writer died mid-frame" on its way out of the frame reader.
#[derive(Debug)]
struct WriterDied;

impl std::fmt::Display for WriterDied {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a writer died in the middle of a message")
    }
}

impl std::error::Error for WriterDied {}

impl<T> SimpleQueue<T> {
    /// An empty queue.
    ///
    /// # Errors
    /// The OS error when the pipe or the shared memory for the locks cannot be made.
    pub fn new() -> io::Result<SimpleQueue<T>> {
        SimpleQueue::create(false)
    }

    /// An empty queue that can also be handed to a forkserver or spawn child (lesson 7) as a
    /// target's argument: its locks live in a memfd, which travels with the pipe's two ends as
    /// three descriptors (see [`crate::fds`]). It costs three descriptors per process that holds
    /// it, and is shared exactly as an inherited one, kill-safety included.
    ///
    /// # Errors
    /// The OS error when the pipe or the memfd cannot be made or mapped.
    pub fn new_sendable() -> io::Result<SimpleQueue<T>> {
        SimpleQueue::create(true)
    }

    fn create(sendable: bool) -> io::Result<SimpleQueue<T>> {
        let shm = if sendable {
            Shm::new_sendable(4096)?
        } else {
            Shm::new(4096)?
        };
        let header = shm.ptr().cast::<Header>();
        // SAFETY: a fresh zeroed mapping, large enough, not shared with anyone yet.
        unsafe {
            RobustMutex::init(std::ptr::addr_of_mut!((*header).rlock))?;
            RobustMutex::init(std::ptr::addr_of_mut!((*header).wlock))?;
        }
        let (r, w) = nix::unistd::pipe2(OFlag::O_CLOEXEC)?;
        // Readers never block inside read(2): they poll, so that a reader waiting for the rest
        // of a frame can notice that its writer died. (The flag is on the shared open file
        // description: every process's copy of the read end is non-blocking.)
        nix::fcntl::fcntl(&r, nix::fcntl::FcntlArg::F_SETFL(OFlag::O_NONBLOCK))?;
        Ok(SimpleQueue {
            inner: Arc::new(Inner {
                shm,
                reader: r,
                writer: w,
                closed: AtomicBool::new(false),
                max_message: AtomicUsize::new(DEFAULT_MAX_MESSAGE),
            }),
            _items: PhantomData,
        })
    }

    fn header(&self) -> &Header {
        // SAFETY: initialized in `new`; the mapping lives as long as `self`; every field is an
        // atomic or a mutex.
        unsafe { &*self.inner.shm.ptr().cast::<Header>() }
    }

    /// The largest message this process's handles send or accept (64 MiB by default).
    pub fn set_max_message(&self, bytes: usize) {
        self.inner.max_message.store(bytes, Ordering::Relaxed);
    }

    fn max_message(&self) -> usize {
        self.inner.max_message.load(Ordering::Relaxed)
    }

    fn reader(&self) -> Result<BorrowedFd<'_>, GetError> {
        if self.is_closed() {
            return Err(GetError::Closed);
        }
        Ok(self.inner.reader.as_fd())
    }

    /// Runs `f` holding the read lock: lets tests stop a process inside it.
    #[doc(hidden)]
    pub fn hold_read_lock_for_tests<R>(&self, f: impl FnOnce() -> R) -> R {
        let header = self.header();
        header.rlock.lock();
        let result = f();
        header.rlock.unlock();
        result
    }

    /// The pipe's write end (Python's `_writer`). Writing to it bypasses the lock and the
    /// framing: it exists for fault-injection tests and low-level experiments.
    pub fn writer_fd(&self) -> BorrowedFd<'_> {
        self.inner.writer.as_fd()
    }

    fn poison_reason(&self) -> Option<String> {
        (self.header().poisoned.load(Ordering::Acquire) != 0)
            .then(|| "a process died in the middle of a message, or bytes that are not a frame were written into the pipe".to_owned())
    }

    fn poison(&self, why: &str) -> GetError {
        self.header().poisoned.store(1, Ordering::Release);
        GetError::Poisoned(why.to_owned())
    }

    /// Whether the pipe held nothing when checked (approximate: another process may put or
    /// get at any moment). Python's `empty()`.
    ///
    /// # Errors
    /// [`GetError::Closed`] after `close`.
    pub fn is_empty(&self) -> Result<bool, GetError> {
        Ok(!readable(self.reader()?, Some(Duration::ZERO))?)
    }

    /// No more puts or gets through this process's handles: later calls fail with
    /// [`GetError::Closed`] / [`PutError::Closed`]. Other processes are not affected. The
    /// descriptors are released when this process's last handle is dropped.
    pub fn close(&self) {
        self.inner.closed.store(true, Ordering::Release);
    }

    /// Whether [`close`](SimpleQueue::close) was called in this process.
    pub fn is_closed(&self) -> bool {
        self.inner.closed.load(Ordering::Acquire)
    }

    /// Reads exactly `buf.len()` bytes of a frame whose start we already read (or `0` at EOF
    /// before any byte). While the pipe is empty, checks every [`WATCH_EVERY`] that a writer
    /// still holds the write lock: if none does and still no byte comes, the writer died
    /// mid-frame and nothing will ever complete it.
    fn read_full(&self, fd: BorrowedFd<'_>, buf: &mut [u8]) -> io::Result<usize> {
        let header = self.header();
        let mut got = 0;
        while got < buf.len() {
            match nix::unistd::read(fd, &mut buf[got..]) {
                Ok(0) => break,
                Ok(n) => got += n,
                Err(Errno::EINTR) => {}
                Err(Errno::EAGAIN) => {
                    if readable(fd, Some(WATCH_EVERY)).map_err(io::Error::other)? {
                        continue;
                    }
                    // A live writer mid-frame holds the lock: EBUSY, keep waiting.
                    let Some(how) = header.wlock.try_lock() else {
                        continue;
                    };
                    let died = how == Locked::OwnerDied || header.writing.load(Ordering::Acquire) != 0;
                    header.wlock.unlock();
                    // No writer inside a frame: every byte of ours was written already.
                    if died || !readable(fd, Some(Duration::ZERO)).map_err(io::Error::other)? {
                        return Err(io::Error::other(WriterDied));
                    }
                }
                Err(e) => return Err(e.into()),
            }
        }
        Ok(got)
    }
}

impl<T: Serialize + DeserializeOwned> SimpleQueue<T> {
    /// Puts `item`. Blocks while the pipe's buffer is full.
    ///
    /// # Errors
    /// Every error hands the item back: [`PutError::Closed`], [`PutError::Encode`],
    /// [`PutError::TooLarge`], [`PutError::Poisoned`], [`PutError::Io`].
    pub fn put(&self, item: T) -> Result<(), PutError<T>> {
        if self.is_closed() {
            return Err(PutError::Closed(item));
        }
        let payload = match codec::encode(&item) {
            Ok(p) => p,
            Err(error) => return Err(PutError::Encode { item, error }),
        };
        if payload.len() > self.max_message() {
            let (len, max) = (payload.len(), self.max_message());
            return Err(PutError::TooLarge { item, len, max });
        }
        let header = self.header();
        let how = header.wlock.lock();
        if how == Locked::OwnerDied && header.writing.load(Ordering::Acquire) != 0 {
            // The dead writer left part of a frame in the pipe; anything we add after it would
            // be read as the rest of that frame.
            header.poisoned.store(1, Ordering::Release);
        }
        if let Some(reason) = self.poison_reason() {
            header.wlock.unlock();
            return Err(PutError::Poisoned { item, reason });
        }
        header.writing.store(1, Ordering::Release);
        let result = codec::write_frame(self.inner.writer.as_fd(), &payload);
        header.writing.store(0, Ordering::Release);
        header.wlock.unlock();
        result.map_err(|error| PutError::Io { item, error })
    }

    /// Takes the oldest message, waiting as long as it takes.
    ///
    /// # Errors
    /// [`GetError::Closed`]; [`GetError::Decode`] when the message is not a `T` (consumed);
    /// [`GetError::Poisoned`] once the framing is lost; [`GetError::Io`].
    pub fn get(&self) -> Result<T, GetError> {
        self.get_until(Deadline::never())
    }

    /// Takes the oldest message, waiting at most `timeout` (an extension: Python's
    /// `SimpleQueue.get` has no timeout). The timeout bounds the wait for a message and for the
    /// read lock; once a frame has started to arrive, its end is waited for (a writer stopped in
    /// the middle of a frame delays it: giving up there would tear the stream).
    ///
    /// # Errors
    /// [`GetError::Empty`] when nothing came in time; otherwise as [`SimpleQueue::get`].
    pub fn get_timeout(&self, timeout: Duration) -> Result<T, GetError> {
        self.get_until(Deadline::after(timeout))
    }

    fn get_until(&self, deadline: Deadline) -> Result<T, GetError> {
        let fd = self.reader()?;
        let header = self.header();
        loop {
            if let Some(reason) = self.poison_reason() {
                return Err(GetError::Poisoned(reason));
            }
            // Wait without the lock: a reader killed here holds nothing.
            if !readable(fd, deadline.left())? {
                return Err(GetError::Empty);
            }
            // Bounded like the wait for data: a reader stopped inside a frame (SIGSTOP) must not
            // stretch our timeout.
            let how = match header.rlock.lock_until(deadline.at_least(LOCK_GRACE)) {
                Ok(how) => how,
                Err(LockError::Timeout) => return Err(GetError::Empty),
                Err(_) => return Err(self.poison("the read lock is not recoverable")),
            };
            if how == Locked::OwnerDied {
                // The dead reader's framing state is judged just below; the lock itself goes on.
                header.rlock.make_consistent();
            }
            if how == Locked::OwnerDied && header.reading.load(Ordering::Acquire) != 0 {
                header.rlock.unlock();
                return Err(self.poison("a reader died in the middle of a message"));
            }
            if !readable(fd, Some(Duration::ZERO))? {
                // Another reader took what woke us.
                header.rlock.unlock();
                continue;
            }
            header.reading.store(1, Ordering::Release);
            let frame = codec::read_frame_with(|buf| self.read_full(fd, buf), self.max_message());
            let framing_lost = match &frame {
                Ok(_) => None,
                Err(RecvError::Io(e)) if e.get_ref().is_some_and(|e| e.is::<WriterDied>()) => {
                    Some(e.to_string())
                }
                Err(RecvError::Eof) | Err(RecvError::Io(_)) => None,
                // A bad header or a cut frame: the stream is out of step for good.
                Err(e) => Some(e.to_string()),
            };
            if let Some(why) = framing_lost {
                let err = self.poison(&why);
                header.reading.store(0, Ordering::Release);
                header.rlock.unlock();
                return Err(err);
            }
            header.reading.store(0, Ordering::Release);
            header.rlock.unlock();
            // A whole frame whose payload is not a T leaves the stream in step: not poison.
            return codec::decode(&frame?).map_err(GetError::from);
        }
    }
}

/// Waits until `fd` is readable (data or EOF), at most `timeout` (`None`: no limit).
fn readable(fd: BorrowedFd<'_>, timeout: Option<Duration>) -> Result<bool, GetError> {
    let deadline = Deadline::from_timeout(timeout);
    loop {
        let left = crate::connection::poll_timeout(deadline);
        let mut fds = [PollFd::new(fd, PollFlags::POLLIN)];
        match poll(&mut fds, left) {
            Ok(n) => return Ok(n > 0),
            Err(Errno::EINTR) => continue,
            Err(e) => return Err(GetError::Io(e.into())),
        }
    }
}

/// Python's type name and forkway's, for the error of a queue that cannot travel.
const PYTHON: &str = "SimpleQueue";

/// A queue cannot travel inside a message: its locks reach a process only by `fork`.
/// Serializing one fails with Python's explanation ([`forkway_sys::fds::not_sendable`]) —
/// except a [`SimpleQueue::new_sendable`] queue inside
/// [`fds::encode_with_fds`](crate::fds::encode_with_fds), which is how a forkserver or spawn
/// target gets its arguments: it travels as three descriptors, the memfd of its locks and the
/// pipe's read and write ends. The receiver's handle is open (closing is per process) and has
/// the default message limit (`set_max_message` is per process too).
impl<T> Serialize for SimpleQueue<T> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        // The memfd first: an ordinary queue has none and fails before its pipe is copied.
        let memfd = MemfdRef {
            memfd: self.inner.shm.memfd(),
            python: PYTHON,
            rust: PYTHON,
        };
        fn end<'a>(sendable: bool, fd: &'a OwnedFd) -> MemfdRef<'a> {
            MemfdRef {
                // Only a queue that can travel lends its pipe.
                memfd: sendable.then(|| fd.as_fd()),
                python: PYTHON,
                rust: PYTHON,
            }
        }
        let sendable = memfd.memfd.is_some();
        (
            memfd,
            end(sendable, &self.inner.reader),
            end(sendable, &self.inner.writer),
        )
            .serialize(serializer)
    }
}

impl<'de, T> Deserialize<'de> for SimpleQueue<T> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let (memfd, reader, writer) = <(u32, u32, u32)>::deserialize(deserializer)?;
        let memfd = take_memfd::<D::Error>(memfd, PYTHON, PYTHON)?;
        let reader = take_memfd::<D::Error>(reader, PYTHON, PYTHON)?;
        let writer = take_memfd::<D::Error>(writer, PYTHON, PYTHON)?;
        for end in [&reader, &writer] {
            let kind = nix::sys::stat::fstat(end).map_err(D::Error::custom)?.st_mode & libc::S_IFMT;
            if kind != libc::S_IFIFO {
                return Err(D::Error::custom(
                    "a SimpleQueue's descriptors must be a pipe's ends",
                ));
            }
        }
        // The creator initialized the locks; the size check keeps a wrong memfd from being
        // read past its end.
        let shm = Shm::from_memfd(memfd, std::mem::size_of::<Header>()).map_err(D::Error::custom)?;
        Ok(SimpleQueue {
            inner: Arc::new(Inner {
                shm,
                reader,
                writer,
                closed: AtomicBool::new(false),
                max_message: AtomicUsize::new(DEFAULT_MAX_MESSAGE),
            }),
            _items: PhantomData,
        })
    }
}

impl<T> std::fmt::Debug for SimpleQueue<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimpleQueue")
            .field("reader", &self.inner.reader.as_raw_fd())
            .field("closed", &self.is_closed())
            .finish()
    }
}
