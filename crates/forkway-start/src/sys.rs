//! The Linux calls the start methods need beyond forkway-process: memfds for payloads,
//! descriptors passed with `SCM_RIGHTS`, pidfd signals and bounded waits.

use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::socket::{recvmsg, sendmsg, ControlMessage, ControlMessageOwned, MsgFlags};

/// A close-on-exec memfd holding `bytes`, positioned at its start. A memfd, not a pipe: the
/// payload can be any size without either side having to read while the other writes.
pub(crate) fn memfd_with(name: &str, bytes: &[u8]) -> io::Result<OwnedFd> {
    let name = std::ffi::CString::new(name).map_err(io::Error::other)?;
    let fd = nix::sys::memfd::memfd_create(name.as_c_str(), nix::sys::memfd::MFdFlags::MFD_CLOEXEC)?;
    let mut file = std::fs::File::from(fd);
    file.write_all(bytes)?;
    file.seek(SeekFrom::Start(0))?;
    Ok(OwnedFd::from(file))
}

/// Everything in the file `fd`, from its start.
pub(crate) fn read_all(fd: OwnedFd) -> io::Result<Vec<u8>> {
    let mut file = std::fs::File::from(fd);
    file.seek(SeekFrom::Start(0))?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// Sends one datagram with `fds` attached (`SCM_RIGHTS`: the receiver gets its own copies).
pub(crate) fn send_with_fds(sock: BorrowedFd<'_>, bytes: &[u8], fds: &[RawFd]) -> io::Result<()> {
    let iov = [io::IoSlice::new(bytes)];
    let cmsg = [ControlMessage::ScmRights(fds)];
    let cmsgs: &[ControlMessage<'_>] = if fds.is_empty() { &[] } else { &cmsg };
    loop {
        match sendmsg::<()>(sock.as_raw_fd(), &iov, cmsgs, MsgFlags::MSG_NOSIGNAL, None) {
            Err(Errno::EINTR) => continue,
            Err(e) => return Err(e.into()),
            Ok(n) if n == bytes.len() => return Ok(()),
            Ok(_) => return Err(io::Error::other("short write on a SOCK_SEQPACKET socket")),
        }
    }
}

/// Receives one datagram into `buf`, and the descriptors attached to it. `Ok((0, []))` is EOF.
pub(crate) fn recv_with_fds(sock: BorrowedFd<'_>, buf: &mut [u8]) -> io::Result<(usize, Vec<OwnedFd>)> {
    // The request, the status pipe and up to MAX_ARG_FDS descriptors of arguments.
    let mut cmsg_space = nix::cmsg_space!([RawFd; 2 + crate::target::MAX_ARG_FDS]);
    loop {
        let mut iov = [io::IoSliceMut::new(&mut *buf)];
        let msg = match recvmsg::<()>(
            sock.as_raw_fd(),
            &mut iov,
            Some(&mut cmsg_space),
            MsgFlags::MSG_CMSG_CLOEXEC,
        ) {
            Err(Errno::EINTR) => continue,
            Err(e) => return Err(e.into()),
            Ok(msg) => msg,
        };
        let mut fds = Vec::new();
        for cmsg in msg.cmsgs()? {
            if let ControlMessageOwned::ScmRights(raw) = cmsg {
                for fd in raw {
                    // SAFETY: SCM_RIGHTS just installed `fd` in our table; nothing else owns it.
                    fds.push(unsafe { OwnedFd::from_raw_fd(fd) });
                }
            }
        }
        if msg.flags.contains(MsgFlags::MSG_CTRUNC) {
            return Err(io::Error::other(
                "descriptors were dropped from a forkserver message",
            ));
        }
        return Ok((msg.bytes, fds));
    }
}

/// Waits until `fd` is readable (or hung up), at most `timeout` (`None`: for ever). True when it
/// became readable.
pub(crate) fn wait_readable(fd: BorrowedFd<'_>, timeout: Option<Duration>) -> io::Result<bool> {
    let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
    loop {
        let remaining = match deadline {
            None => PollTimeout::NONE,
            Some(d) => {
                let left = d.saturating_duration_since(Instant::now());
                // Round up: a wait must never end before its timeout.
                let ms = left.as_nanos().div_ceil(1_000_000);
                PollTimeout::try_from(ms.min(i32::MAX as u128) as i32).unwrap_or(PollTimeout::MAX)
            }
        };
        let mut fds = [PollFd::new(fd, PollFlags::POLLIN)];
        match poll(&mut fds, remaining) {
            Err(Errno::EINTR) => continue,
            Err(e) => return Err(e.into()),
            Ok(0) if deadline.is_some_and(|d| Instant::now() >= d) => return Ok(false),
            Ok(0) => continue,
            Ok(_) => return Ok(true),
        }
    }
}

/// Sends `signal` to the process `pidfd` refers to. A pidfd names one process for ever, so
/// unlike `kill(pid)` this cannot hit a stranger that reused the pid after the child exited.
pub(crate) fn pidfd_send_signal(pidfd: BorrowedFd<'_>, signal: nix::sys::signal::Signal) -> io::Result<()> {
    // SAFETY: pidfd_send_signal takes an fd, a signal number, a null siginfo and flags 0; no
    // memory is passed to the kernel.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            pidfd.as_raw_fd(),
            signal as libc::c_int,
            std::ptr::null::<libc::siginfo_t>(),
            0,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// `prctl(PR_SET_PDEATHSIG, SIGKILL)`: the kernel kills this process when its parent dies.
pub(crate) fn die_with_parent() -> io::Result<()> {
    // SAFETY: prctl with PR_SET_PDEATHSIG takes a signal number; no memory is involved.
    let rc = unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Device and inode of the running executable: a spawned child checks it runs the same file
/// as its parent before it trusts a function offset from it.
///
/// Asked once per process (every forkserver or spawn `Process` needs it): a process runs one
/// executable from `execve` to its end, and a forked copy runs the same one, so the answer
/// never changes where it is remembered.
pub(crate) fn exe_identity() -> io::Result<(u64, u64)> {
    use std::os::linux::fs::MetadataExt;
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    // Atomics, not a `OnceLock`: a child forked while another thread was filling a `OnceLock`
    // would wait for that thread for ever. Racing writers store the same two numbers.
    static DEV: AtomicU64 = AtomicU64::new(0);
    static INO: AtomicU64 = AtomicU64::new(0);
    static KNOWN: AtomicBool = AtomicBool::new(false);
    if KNOWN.load(Ordering::Acquire) {
        return Ok((DEV.load(Ordering::Relaxed), INO.load(Ordering::Relaxed)));
    }
    let meta = std::fs::metadata("/proc/self/exe")?;
    DEV.store(meta.st_dev(), Ordering::Relaxed);
    INO.store(meta.st_ino(), Ordering::Relaxed);
    KNOWN.store(true, Ordering::Release);
    Ok((meta.st_dev(), meta.st_ino()))
}
