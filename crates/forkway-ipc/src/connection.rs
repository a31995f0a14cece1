//! `Pipe()` and `Connection`: typed messages over a kernel pipe or a Unix socket pair.

use std::marker::PhantomData;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::time::Duration;

use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::socket::{socketpair, AddressFamily, SockFlag, SockType};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::codec::{self, DEFAULT_MAX_MESSAGE};
use crate::error::{RecvError, SendError};
use forkway_sys::Deadline;

/// One end of a pipe, carrying messages of type `T`. Python's `multiprocessing.Connection`.
///
/// Create the pair before starting a process, move one end into the child's closure, and keep
/// the other: `start` closes the parent's copy of whatever the closure owns. Methods take
/// `&mut self`: two threads writing one connection at once would interleave their frames.
///
/// For a forkserver or spawn child (lesson 7), put the end in the target's arguments instead:
/// every connection can travel there, no special constructor needed — an end *is* a descriptor,
/// with no shared memory behind it (Python's `reduction.DupFd` sends it the same way). See the
/// `Serialize` impl below for what is refused.
pub struct Connection<T> {
    fd: Option<OwnedFd>,
    readable: bool,
    writable: bool,
    max_message: usize,
    /// The process that marked this end close-on-fork (0: not marked). In any other process
    /// the descriptor was closed at fork, so this copy must neither be used nor closed again.
    close_on_fork_in: u32,
    /// Bytes read from the descriptor but not yet returned: small messages are read several
    /// at a time, one `read(2)` instead of two per message (header, then payload).
    rbuf: ReadBuf,
    // `fn(T) -> T`: a connection sends and receives `T`s but holds none, so it is Send and
    // Sync whatever `T` is.
    _messages: PhantomData<fn(T) -> T>,
}

/// A duplex pipe (a Unix socket pair): both ends send and receive. Python's `Pipe()`.
///
/// ```
/// use forkway_ipc::pipe;
/// use forkway_process::Process;
///
/// let (mut parent, mut child_end) = pipe::<String>()?;
/// parent.set_close_on_fork(true); // the child must not hold a copy of our end
/// let mut p = Process::new(move || {
///     while let Ok(word) = child_end.recv() {
///         let _ = child_end.send(&word.to_uppercase());
///     }
/// });
/// p.start()?;
/// parent.send(&"hello".to_owned())?;
/// assert_eq!(parent.recv()?, "HELLO");
/// drop(parent); // EOF for the child: its loop ends
/// p.join()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
/// The OS error when no socket pair can be made (out of file descriptors).
pub fn pipe<T>() -> std::io::Result<(Connection<T>, Connection<T>)> {
    let (a, b) = socketpair(
        AddressFamily::Unix,
        SockType::Stream,
        None,
        SockFlag::SOCK_CLOEXEC,
    )?;
    Ok((Connection::new(a, true, true), Connection::new(b, true, true)))
}

/// A one-way pipe: `(reader, writer)`, as Python's `Pipe(duplex=False)`. A kernel pipe.
///
/// # Errors
/// The OS error when no pipe can be made (out of file descriptors).
pub fn simplex<T>() -> std::io::Result<(Connection<T>, Connection<T>)> {
    let (r, w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)?;
    Ok((Connection::new(r, true, false), Connection::new(w, false, true)))
}

impl<T> Connection<T> {
    fn new(fd: OwnedFd, readable: bool, writable: bool) -> Self {
        Connection {
            fd: Some(fd),
            readable,
            writable,
            max_message: DEFAULT_MAX_MESSAGE,
            close_on_fork_in: 0,
            rbuf: ReadBuf::default(),
            _messages: PhantomData,
        }
    }

    /// A connection over a connected stream socket (Unix or TCP): both directions, the same
    /// framing as [`pipe`]'s — and as Python's `multiprocessing.connection`, so either side may
    /// be CPython. Used by listeners and clients.
    pub fn from_stream(fd: OwnedFd) -> Connection<T> {
        Connection::new(fd, true, true)
    }

    /// The largest message this end accepts or sends (64 MiB by default). A larger incoming
    /// header is refused before anything is allocated.
    pub fn set_max_message(&mut self, bytes: usize) {
        self.max_message = bytes;
    }

    /// Whether this end can receive.
    pub fn readable(&self) -> bool {
        self.readable
    }

    /// Whether this end can send.
    pub fn writable(&self) -> bool {
        self.writable
    }

    /// Closes this end in every process forked from now on (an emulated `FD_CLOFORK`).
    ///
    /// Mark the end the parent keeps: children then hold only the ends they were given, so when
    /// the parent closes its end, the child's `recv` sees EOF. Without it, every child holds a
    /// copy of the parent's end and the EOF never comes (Python has the same trap). In a child,
    /// a copy of a marked end is closed: using it fails with "handle is closed".
    ///
    /// ```
    /// let (mut parent_end, mut child_end) = forkway_ipc::pipe::<u8>()?;
    /// parent_end.set_close_on_fork(true);
    /// let mut p = forkway_process::Process::new(move || {
    ///     // The parent's end is not open here, so this loop ends when the parent closes it.
    ///     while child_end.recv().is_ok() {}
    /// });
    /// p.start()?;
    /// drop(parent_end);
    /// p.join()?;
    /// assert_eq!(p.exitcode(), Some(0));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn set_close_on_fork(&mut self, on: bool) {
        let Some(fd) = self.fd.as_ref().map(std::os::fd::AsRawFd::as_raw_fd) else {
            return;
        };
        if on {
            forkway_process::clofork::close_on_fork(fd);
            self.close_on_fork_in = forkway_sys::current_pid();
        } else if self.close_on_fork_in != 0 {
            forkway_process::clofork::keep_on_fork(fd);
            self.close_on_fork_in = 0;
        }
    }

    /// Whether `close` was called (or this is a close-on-fork end's copy in a child).
    pub fn closed(&self) -> bool {
        self.fd.is_none() || self.closed_at_fork()
    }

    /// True in a forked child for a copy of an end marked close-on-fork in an ancestor.
    fn closed_at_fork(&self) -> bool {
        self.close_on_fork_in != 0 && self.close_on_fork_in != forkway_sys::current_pid()
    }

    /// Closes this end now (dropping it does the same). Later calls fail with "handle is closed".
    pub fn close(&mut self) {
        let Some(fd) = self.fd.take() else { return };
        if self.closed_at_fork() {
            // Already closed at fork; the number may belong to something else now.
            std::mem::forget(fd);
            return;
        }
        if self.close_on_fork_in != 0 {
            forkway_process::clofork::keep_on_fork(std::os::fd::AsRawFd::as_raw_fd(&fd));
        }
        drop(fd);
    }

    fn read_fd(&self) -> Result<BorrowedFd<'_>, RecvError> {
        if self.closed_at_fork() {
            return Err(RecvError::Closed);
        }
        let fd = self.fd.as_ref().ok_or(RecvError::Closed)?;
        if !self.readable {
            return Err(RecvError::WriteOnly);
        }
        Ok(fd.as_fd())
    }

    fn write_fd(&self) -> Result<BorrowedFd<'_>, SendError> {
        if self.closed_at_fork() {
            return Err(SendError::Closed);
        }
        let fd = self.fd.as_ref().ok_or(SendError::Closed)?;
        if !self.writable {
            return Err(SendError::ReadOnly);
        }
        Ok(fd.as_fd())
    }

    /// Sends raw bytes as one message (interoperable with Python's `send_bytes`).
    ///
    /// # Errors
    /// [`SendError::Closed`], [`SendError::ReadOnly`], [`SendError::TooLarge`],
    /// [`SendError::BrokenPipe`] when the reader is gone, [`SendError::Io`].
    pub fn send_bytes(&mut self, bytes: &[u8]) -> Result<(), SendError> {
        let max = self.max_message;
        let fd = self.write_fd()?;
        if bytes.len() > max {
            return Err(SendError::TooLarge {
                len: bytes.len(),
                max,
            });
        }
        codec::write_frame(fd, bytes).map_err(|e| match e.raw_os_error() {
            Some(libc::EPIPE) => SendError::BrokenPipe,
            _ => SendError::Io(e),
        })
    }

    /// Receives one message as raw bytes (interoperable with Python's `recv_bytes`).
    ///
    /// # Errors
    /// [`RecvError::Eof`] once the peer closed and everything was read; the other
    /// [`RecvError`]s for closed handles, bad frames and OS errors.
    pub fn recv_bytes(&mut self) -> Result<Vec<u8>, RecvError> {
        let max = self.max_message;
        self.read_fd()?;
        let fd = self.fd.as_ref().ok_or(RecvError::Closed)?.as_fd();
        let rbuf = &mut self.rbuf;
        codec::read_frame_with(|buf| rbuf.read_full(fd, buf), max)
    }

    /// Whether a message (or EOF) can be read now, waiting up to `timeout` (`None`: forever;
    /// zero: just look). Python's `poll`.
    ///
    /// # Errors
    /// [`RecvError::Closed`], [`RecvError::WriteOnly`], [`RecvError::Io`].
    pub fn poll(&self, timeout: Option<Duration>) -> Result<bool, RecvError> {
        let fd = self.read_fd()?;
        if !self.rbuf.is_empty() {
            return Ok(true);
        }
        let deadline = Deadline::from_timeout(timeout);
        loop {
            let left = poll_timeout(deadline);
            let mut fds = [PollFd::new(fd, PollFlags::POLLIN)];
            match poll(&mut fds, left) {
                Ok(n) => return Ok(n > 0),
                Err(Errno::EINTR) => continue,
                Err(e) => return Err(RecvError::Io(e.into())),
            }
        }
    }
}

impl<T: Serialize + DeserializeOwned> Connection<T> {
    /// Sends `value`. It is serialized here, in the caller, so a value that cannot be encoded
    /// fails now (Python's `Queue.put` would lose it later, on a feeder thread).
    ///
    /// # Errors
    /// As [`send_bytes`](Connection::send_bytes), plus [`SendError::Encode`].
    pub fn send(&mut self, value: &T) -> Result<(), SendError> {
        let bytes = codec::encode(value)?;
        self.send_bytes(&bytes)
    }

    /// Receives one value, blocking until it arrives.
    ///
    /// # Errors
    /// As [`recv_bytes`](Connection::recv_bytes), plus [`RecvError::Decode`] when the message is
    /// not a `T`.
    pub fn recv(&mut self) -> Result<T, RecvError> {
        Ok(codec::decode(&self.recv_bytes()?)?)
    }

    /// Receives one value, waiting at most `timeout` — for the whole message: a message that
    /// has only begun to arrive (its sender is slow, or stopped in the middle) is a timeout
    /// too, and what did arrive stays buffered for the next call.
    ///
    /// # Errors
    /// [`RecvError::Timeout`] when no whole message arrived in time; otherwise as
    /// [`recv`](Connection::recv).
    pub fn recv_timeout(&mut self, timeout: Duration) -> Result<T, RecvError> {
        let deadline = Deadline::after(timeout);
        let max = self.max_message;
        self.read_fd()?;
        let fd = self.fd.as_ref().ok_or(RecvError::Closed)?.as_fd();
        if !self.rbuf.buffer_frame(fd, max, deadline)? {
            return Err(RecvError::Timeout);
        }
        self.recv()
    }
}

/// What is left of `deadline` as a `poll(2)` timeout: rounded up to whole milliseconds (so a
/// wait never ends just before its deadline), clamped to the largest `poll` accepts.
pub(crate) fn poll_timeout(deadline: Deadline) -> PollTimeout {
    match deadline.left() {
        None => PollTimeout::NONE,
        Some(left) => {
            let ms = left.as_micros().div_ceil(1000).min(i32::MAX as u128) as i32;
            PollTimeout::try_from(ms).unwrap_or(PollTimeout::MAX)
        }
    }
}

/// A connection's read-ahead buffer.
#[derive(Default)]
struct ReadBuf {
    /// Allocated once at [`ReadBuf::CHUNK`] bytes and never shrunk: refilling it must not
    /// zero 64 KiB per message (that memset showed up in the manager's profile).
    bytes: Vec<u8>,
    /// The unread bytes are `bytes[pos..end]`.
    pos: usize,
    end: usize,
}

impl ReadBuf {
    /// Reads beyond this many bytes go straight into the caller's buffer.
    const CHUNK: usize = 64 * 1024;

    fn is_empty(&self) -> bool {
        self.pos == self.end
    }

    /// Reads until a whole frame is buffered, waiting at most until `deadline`: `false` when
    /// time ran out first (the part that came stays buffered). `true` also when reading the
    /// frame cannot wait — a bad header, a length over `max`, end of file — so that the frame
    /// reader reports it.
    fn buffer_frame(
        &mut self,
        fd: BorrowedFd<'_>,
        max: usize,
        deadline: Deadline,
    ) -> Result<bool, RecvError> {
        loop {
            let have = &self.bytes[self.pos..self.end];
            let need = match have
                .get(..4)
                .map(|h| i32::from_be_bytes([h[0], h[1], h[2], h[3]]))
            {
                None => 4,
                Some(short) if short >= 0 => 4 + short as u64,
                Some(-1) => match have.get(4..12) {
                    None => 12,
                    Some(long) => {
                        let mut len = [0u8; 8];
                        len.copy_from_slice(long);
                        12u64.saturating_add(u64::from_be_bytes(len))
                    }
                },
                Some(_) => return Ok(true),
            };
            if need > max as u64 + 12 {
                return Ok(true);
            }
            let need = need as usize;
            if have.len() >= need {
                return Ok(true);
            }
            if self.bytes.len() - self.pos < need {
                // Make room for the whole frame: unread bytes to the front, then grow.
                self.bytes.copy_within(self.pos..self.end, 0);
                self.end -= self.pos;
                self.pos = 0;
                if self.bytes.len() < need.max(Self::CHUNK) {
                    self.bytes.resize(need.max(Self::CHUNK), 0);
                }
            }
            let mut fds = [PollFd::new(fd, PollFlags::POLLIN)];
            match poll(&mut fds, poll_timeout(deadline)) {
                Ok(0) => return Ok(false),
                Ok(_) => {}
                Err(Errno::EINTR) => continue,
                Err(e) => return Err(RecvError::Io(e.into())),
            }
            let n = read_retrying(fd, &mut self.bytes[self.end..])?;
            if n == 0 {
                return Ok(true);
            }
            self.end += n;
        }
    }

    /// Fills `out` from the buffer, then from `fd`; fewer bytes only at end of file. Blocks
    /// in `read(2)` only when the buffer cannot satisfy the request.
    fn read_full(&mut self, fd: BorrowedFd<'_>, out: &mut [u8]) -> std::io::Result<usize> {
        let mut got = self.take(out);
        while got < out.len() {
            let want = out.len() - got;
            let n = if want >= Self::CHUNK {
                read_retrying(fd, &mut out[got..])?
            } else {
                if self.bytes.len() < Self::CHUNK {
                    self.bytes.resize(Self::CHUNK, 0);
                } else if self.bytes.len() > 4 * Self::CHUNK {
                    // Grown for one big frame by `buffer_frame`, and empty now: give it back.
                    self.bytes.truncate(Self::CHUNK);
                    self.bytes.shrink_to_fit();
                }
                let n = read_retrying(fd, &mut self.bytes)?;
                self.pos = 0;
                self.end = n;
                self.take(&mut out[got..])
            };
            if n == 0 {
                break;
            }
            got += n;
        }
        Ok(got)
    }

    fn take(&mut self, out: &mut [u8]) -> usize {
        let n = out.len().min(self.end - self.pos);
        out[..n].copy_from_slice(&self.bytes[self.pos..self.pos + n]);
        self.pos += n;
        n
    }
}

fn read_retrying(fd: BorrowedFd<'_>, buf: &mut [u8]) -> std::io::Result<usize> {
    loop {
        match nix::unistd::read(fd, buf) {
            Err(Errno::EINTR) => continue,
            other => return other.map_err(Into::into),
        }
    }
}

impl<T> Drop for Connection<T> {
    fn drop(&mut self) {
        self.close();
    }
}

/// The underlying descriptor, for `poll`/`select` together with other sources.
///
/// # Panics
/// On a closed connection: there is no descriptor left to lend.
impl<T> AsFd for Connection<T> {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_ref().expect("as_fd on a closed Connection").as_fd()
    }
}

/// Why a connection cannot travel outside a target's arguments.
pub const CONNECTION_TRAVELS_AS_ARGUMENT: &str = "a Connection can only be passed to another \
process in a forkserver or spawn target's arguments (or inherited through fork), not inside a message";

/// As a forkserver or spawn target's argument (inside
/// [`fds::encode_with_fds`](crate::fds::encode_with_fds)), a connection travels as a copy of its
/// descriptor, with its direction; the child's end is a new `Connection` on the same socket or
/// pipe, with the default message limit. The caller's end stays open: close it (or let the
/// [`Process`](forkway_process::Process) that took it by value drop it) so that the other side
/// sees EOF when the child ends.
///
/// Refused, with an error at `start()` rather than a hang later:
/// - outside a target's arguments (a connection sent through a queue or another connection),
///   [`CONNECTION_TRAVELS_AS_ARGUMENT`]; Python would lend it through a resource-sharer thread;
/// - a closed end (or a close-on-fork end's stale copy in a forked child): "handle is closed";
/// - an end that has read ahead bytes it has not returned yet (after a `recv_timeout` that ran
///   out mid-message): those bytes would be lost on the way.
impl<T> Serialize for Connection<T> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::Error;
        let fd = match &self.fd {
            Some(fd) if !self.closed_at_fork() => fd,
            _ => return Err(S::Error::custom(RecvError::Closed)),
        };
        if !self.rbuf.is_empty() {
            return Err(S::Error::custom(
                "this Connection has read ahead part of a message: it cannot be passed on without losing it",
            ));
        }
        let index = crate::fds::send_fd(fd.as_fd())
            .ok_or_else(|| S::Error::custom(CONNECTION_TRAVELS_AS_ARGUMENT))?;
        (index, self.readable, self.writable).serialize(serializer)
    }
}

impl<'de, T> serde::Deserialize<'de> for Connection<T> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let (index, readable, writable) = <(u32, bool, bool)>::deserialize(deserializer)?;
        let fd =
            crate::fds::receive_fd(index).ok_or_else(|| D::Error::custom(CONNECTION_TRAVELS_AS_ARGUMENT))?;
        let kind = nix::sys::stat::fstat(&fd).map_err(D::Error::custom)?.st_mode & libc::S_IFMT;
        if kind != libc::S_IFSOCK && kind != libc::S_IFIFO {
            return Err(D::Error::custom(
                "a Connection's descriptor must be a socket or a pipe",
            ));
        }
        Ok(Connection::new(fd, readable, writable))
    }
}

impl<T> std::fmt::Debug for Connection<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("readable", &self.readable)
            .field("writable", &self.writable)
            .field("closed", &self.closed())
            .finish()
    }
}
