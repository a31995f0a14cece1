//! Shared memory inherited across `fork`.
//!
//! The mapping is anonymous and `MAP_SHARED`: it has no name, no file and no descriptor, so there
//! is nothing to leak. The kernel frees it when the last process that has it mapped unmaps it or
//! dies, however it dies. Processes share it only by inheriting it — which is exactly Python's
//! rule that queues and locks are shared by inheritance.

use std::io;
use std::ptr::NonNull;

/// A `MAP_SHARED | MAP_ANONYMOUS` mapping, unmapped on drop.
pub struct Shm {
    ptr: NonNull<u8>,
    len: usize,
    /// The memfd behind the mapping when it was made by [`Shm::new_sendable`] or
    /// [`Shm::from_memfd`]: what lets it travel to a forkserver or spawn child.
    memfd: Option<std::os::fd::OwnedFd>,
}

// SAFETY: the mapping is plain memory; every access to it goes through atomics or under the
// robust mutex that lives in it.
unsafe impl Send for Shm {}
// SAFETY: as above.
unsafe impl Sync for Shm {}

impl Shm {
    /// Maps `len` bytes of zeroed shared memory. `MAP_NORESERVE` makes it a reservation of
    /// address space: pages cost memory only once touched, so a queue may reserve gigabytes and
    /// use kilobytes.
    pub fn new(len: usize) -> io::Result<Shm> {
        // SAFETY: a fresh anonymous mapping at an address the kernel picks; no existing memory
        // is affected.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                -1,
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let ptr = NonNull::new(ptr.cast()).ok_or_else(|| io::Error::other("mmap returned null"))?;
        Ok(Shm {
            ptr,
            len,
            memfd: None,
        })
    }

    /// Maps the largest of `want`, `want/2`, … down to `min` that the kernel grants.
    pub fn reserve(want: usize, min: usize) -> io::Result<Shm> {
        let mut len = want;
        loop {
            match Shm::new(len) {
                Err(e) if len / 2 >= min && e.raw_os_error() == Some(libc::ENOMEM) => len /= 2,
                other => return other,
            }
        }
    }

    /// Maps `len` bytes of zeroed shared memory backed by a fresh memfd, and returns the memfd
    /// too. The memfd lets a process that was *not* forked from this one — a forkserver or
    /// spawn child — map the same memory ([`Shm::map_fd`]); it is close-on-exec, and sparse:
    /// pages cost memory only once touched, as with [`Shm::new`].
    pub fn new_memfd(len: usize) -> io::Result<(Shm, std::os::fd::OwnedFd)> {
        use std::os::fd::{AsRawFd, FromRawFd};
        // SAFETY: memfd_create takes a NUL-terminated name and flags; it returns a new fd or -1.
        let raw = unsafe { libc::memfd_create(c"forkway-shm".as_ptr(), libc::MFD_CLOEXEC) };
        if raw < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: the kernel just gave us this descriptor; nobody else owns it.
        let fd = unsafe { std::os::fd::OwnedFd::from_raw_fd(raw) };
        let size = libc::off_t::try_from(len).map_err(io::Error::other)?;
        // SAFETY: ftruncate on our own descriptor; no memory is passed.
        if unsafe { libc::ftruncate(fd.as_raw_fd(), size) } != 0 {
            return Err(io::Error::last_os_error());
        }
        let shm = Shm::map_fd(std::os::fd::AsFd::as_fd(&fd))?;
        Ok((shm, fd))
    }

    /// Maps the whole of `fd`, a memfd made by [`Shm::new_memfd`] (in this process or another).
    pub fn map_fd(fd: std::os::fd::BorrowedFd<'_>) -> io::Result<Shm> {
        use std::os::fd::AsRawFd;
        let len = usize::try_from(std::fs::File::from(fd.try_clone_to_owned()?).metadata()?.len())
            .map_err(io::Error::other)?;
        if len == 0 {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "an empty memfd"));
        }
        // SAFETY: a fresh shared mapping of the file at an address the kernel picks; no
        // existing memory is affected.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_NORESERVE,
                fd.as_raw_fd(),
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let ptr = NonNull::new(ptr.cast()).ok_or_else(|| io::Error::other("mmap returned null"))?;
        Ok(Shm {
            ptr,
            len,
            memfd: None,
        })
    }

    /// Like [`Shm::new_memfd`], but the mapping keeps its memfd (closed with it): a shared
    /// object made on it can travel to a forkserver or spawn child ([`Shm::memfd`]).
    pub fn new_sendable(len: usize) -> io::Result<Shm> {
        let (mut shm, fd) = Shm::new_memfd(len)?;
        shm.memfd = Some(fd);
        Ok(shm)
    }

    /// Maps a memfd made by [`Shm::new_sendable`] in another process, and keeps it, so the
    /// object can travel on. `InvalidData` when it is smaller than `min_len`.
    pub fn from_memfd(fd: std::os::fd::OwnedFd, min_len: usize) -> io::Result<Shm> {
        let mut shm = Shm::map_fd(std::os::fd::AsFd::as_fd(&fd))?;
        if shm.len < min_len {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "the shared object's memfd is too small",
            ));
        }
        shm.memfd = Some(fd);
        Ok(shm)
    }

    /// The memfd behind the mapping, for one made by [`Shm::new_sendable`] or
    /// [`Shm::from_memfd`]; `None` for an anonymous mapping (shared only by `fork`).
    pub fn memfd(&self) -> Option<std::os::fd::BorrowedFd<'_>> {
        self.memfd.as_ref().map(std::os::fd::AsFd::as_fd)
    }

    /// The start of the mapping.
    #[inline]
    pub fn ptr(&self) -> *mut u8 {
        self.ptr.as_ptr()
    }

    /// The mapping's size in bytes.
    pub fn size(&self) -> usize {
        self.len
    }

    /// Gives the pages of `[from, to)` back to the kernel; they read as zeros afterwards.
    pub fn release(&self, from: usize, to: usize) {
        let page = 4096;
        let from = from.next_multiple_of(page);
        if to <= from || to > self.len {
            return;
        }
        // SAFETY: the range is inside our mapping and page-aligned; the caller holds the lock
        // that makes the range unused by every process. A failure only means the memory stays.
        unsafe {
            libc::madvise(self.ptr().add(from).cast(), to - from, libc::MADV_REMOVE);
        }
    }
}

impl Drop for Shm {
    fn drop(&mut self) {
        // SAFETY: we own the mapping and nothing borrows it past the owner's lifetime.
        unsafe {
            libc::munmap(self.ptr().cast(), self.len);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mapping_is_zeroed_and_released_pages_read_as_zeros() {
        let shm = Shm::reserve(1 << 20, 1 << 16).expect("map");
        assert!(shm.size() >= 1 << 16);
        // SAFETY: every offset written is inside the mapping, which nothing else uses.
        unsafe {
            assert_eq!(*shm.ptr().add(8192), 0);
            *shm.ptr().add(8192) = 7;
            assert_eq!(*shm.ptr().add(8192), 7);
        }
        shm.release(4096, 3 * 4096);
        // SAFETY: as above.
        assert_eq!(unsafe { *shm.ptr().add(8192) }, 0);
    }
}
