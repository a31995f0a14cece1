//! The listener's side of the authkey handshake, for many peers at once.
//!
//! A listener that ran each handshake with blocking reads would give every unauthenticated
//! peer a thread (or make every other peer wait behind it): a stranger that trickles one byte
//! every few seconds would hold that thread for as long as it likes, and a thousand of them
//! would take the server's threads and descriptors. Here every peer that has not finished the
//! handshake is a [`Peer`]: a nonblocking socket, the bytes still to send, the frame being
//! read, and where in the exchange it is. One thread polls them all; each peer has one
//! deadline for the whole exchange, and there are at most [`MAX_UNAUTHENTICATED`] of them (the
//! one that has waited longest makes room for a newcomer).

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::time::Instant;

use crate::auth::{self, AuthError, CHALLENGE, FAILURE, PRE_AUTH_MAX, WELCOME};

/// How many peers may be in the middle of the handshake at once, per listener. A newcomer past
/// it drops the one that has waited longest. An honest client finishes in three round trips,
/// so it is only dropped if this many strangers connect after it within those.
pub const MAX_UNAUTHENTICATED: usize = 128;

/// What the peer sends next: we challenge it, then it challenges us.
enum Stage {
    /// We sent our challenge `message`; its answer comes next.
    Response { message: Vec<u8> },
    /// We welcomed it; its challenge comes next.
    Challenge,
    /// We answered its challenge; its verdict comes next.
    Verdict,
}

/// A peer in the middle of the handshake.
pub(crate) struct Peer {
    fd: OwnedFd,
    /// The whole handshake must be over by then (`None`: a timeout too long for the clock).
    pub(crate) deadline: Option<Instant>,
    /// Bytes not yet written.
    out: Vec<u8>,
    /// The frame being read: its 4-byte header, then its payload. Read exactly, never
    /// ahead: what the peer sends after its last handshake frame (its first request) stays in
    /// the socket for the connection that takes it over.
    frame: Vec<u8>,
    stage: Stage,
}

/// What [`Peer::progress`] came to.
pub(crate) enum Progress {
    /// Still talking.
    Waiting,
    /// Authenticated both ways: take the socket with [`Peer::into_fd`].
    Done,
}

impl Peer {
    /// Takes a freshly accepted socket and sends it our challenge.
    pub(crate) fn start(fd: OwnedFd, deadline: Option<Instant>) -> Result<Peer, AuthError> {
        set_nonblocking(fd.as_fd(), true).map_err(|e| AuthError::Connection(Box::new(e)))?;
        let message = auth::new_challenge()?;
        let mut peer = Peer {
            fd,
            deadline,
            out: Vec::new(),
            frame: Vec::with_capacity(4),
            stage: Stage::Challenge,
        };
        peer.queue(&[CHALLENGE, &message].concat());
        peer.stage = Stage::Response { message };
        peer.flush()?;
        Ok(peer)
    }

    pub(crate) fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// The poll events this peer waits for.
    pub(crate) fn events(&self) -> libc::c_short {
        if self.out.is_empty() {
            libc::POLLIN
        } else {
            libc::POLLIN | libc::POLLOUT
        }
    }

    /// Writes and reads what the socket allows without blocking, and answers every frame that
    /// is complete.
    ///
    /// # Errors
    /// The handshake failed: a wrong key either way (a peer whose answer is wrong is told
    /// `#FAILURE#` first), a protocol error, an oversize frame, the peer hung up.
    pub(crate) fn progress(&mut self, key: &[u8]) -> Result<Progress, AuthError> {
        self.flush()?;
        while let Some(frame) = self.read_frame()? {
            match std::mem::replace(&mut self.stage, Stage::Verdict) {
                Stage::Response { message } => {
                    if let Err(e) = auth::verify_response(key, &message, &frame) {
                        self.queue(FAILURE);
                        let _ = self.flush(); // best effort: it is being dropped anyway
                        return Err(e);
                    }
                    self.queue(WELCOME);
                    self.stage = Stage::Challenge;
                }
                Stage::Challenge => {
                    let response = auth::response_to(key, &frame)?;
                    self.queue(&response);
                    self.stage = Stage::Verdict;
                }
                Stage::Verdict => {
                    if frame != WELCOME {
                        return Err(AuthError::Rejected);
                    }
                    // Its verdict came after our answer, so everything we sent was written.
                    set_nonblocking(self.fd.as_fd(), false)
                        .map_err(|e| AuthError::Connection(Box::new(e)))?;
                    return Ok(Progress::Done);
                }
            }
            self.flush()?;
        }
        Ok(Progress::Waiting)
    }

    /// The authenticated socket (after [`Progress::Done`]).
    pub(crate) fn into_fd(self) -> OwnedFd {
        self.fd
    }

    fn queue(&mut self, payload: &[u8]) {
        self.out
            .extend_from_slice(&forkway_ipc::codec::header(payload.len()));
        self.out.extend_from_slice(payload);
    }

    fn flush(&mut self) -> Result<(), AuthError> {
        while !self.out.is_empty() {
            match nix::sys::socket::send(
                self.fd.as_raw_fd(),
                &self.out,
                nix::sys::socket::MsgFlags::MSG_NOSIGNAL,
            ) {
                Ok(n) => {
                    self.out.drain(..n);
                }
                Err(nix::errno::Errno::EINTR) => continue,
                Err(nix::errno::Errno::EAGAIN) => return Ok(()),
                Err(e) => return Err(AuthError::Connection(Box::new(e))),
            }
        }
        Ok(())
    }

    /// The next whole frame, or `None` until more bytes come.
    fn read_frame(&mut self) -> Result<Option<Vec<u8>>, AuthError> {
        loop {
            let want = if self.frame.len() < 4 {
                4
            } else {
                let head = [self.frame[0], self.frame[1], self.frame[2], self.frame[3]];
                let len = i32::from_be_bytes(head);
                // A negative length is CPython's "8-byte length follows" (−1), for frames of
                // 2 GiB and more, or garbage: either way, far over the limit.
                let len = usize::try_from(len).unwrap_or(usize::MAX);
                if len > PRE_AUTH_MAX {
                    return Err(AuthError::Protocol(format!(
                        "a message of {} bytes is over the limit of {PRE_AUTH_MAX} before authentication",
                        i32::from_be_bytes(head)
                    )));
                }
                4 + len
            };
            if self.frame.len() == want {
                let frame = self.frame.split_off(4);
                self.frame.clear();
                return Ok(Some(frame));
            }
            let mut chunk = [0u8; PRE_AUTH_MAX + 4];
            let room = want - self.frame.len();
            match nix::unistd::read(&self.fd, &mut chunk[..room]) {
                Ok(0) => return Err(AuthError::Connection(Box::new(forkway_ipc::RecvError::Eof))),
                Ok(n) => self.frame.extend_from_slice(&chunk[..n]),
                Err(nix::errno::Errno::EINTR) => continue,
                Err(nix::errno::Errno::EAGAIN) => return Ok(None),
                Err(e) => return Err(AuthError::Connection(Box::new(e))),
            }
        }
    }
}

/// Sets or clears `O_NONBLOCK`.
pub(crate) fn set_nonblocking(fd: BorrowedFd<'_>, on: bool) -> std::io::Result<()> {
    use nix::fcntl::{fcntl, FcntlArg, OFlag};
    let flags = OFlag::from_bits_truncate(fcntl(fd, FcntlArg::F_GETFL)?);
    let flags = if on {
        flags | OFlag::O_NONBLOCK
    } else {
        flags - OFlag::O_NONBLOCK
    };
    fcntl(fd, FcntlArg::F_SETFL(flags))?;
    Ok(())
}
