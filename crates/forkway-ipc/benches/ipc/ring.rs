//! The floor for small messages between processes: a single-producer, single-consumer ring of
//! `u64` in a shared mapping, each side spinning on the other's index.
//!
//! It asks for nothing a `Queue` must give: one producer and one consumer only, no encoding (the
//! value is the 8 bytes), no lock, no sleeping (an idle consumer burns its core), and no kill
//! safety (a producer killed mid-put is indistinguishable from a slow one). What is left is the
//! cost the hardware charges for moving 8 bytes between two address spaces: the cache lines of
//! the slots and of the two indices travelling between cores. No queue between processes can be
//! faster, which is what makes it the row's floor.

use std::cell::UnsafeCell;
use std::os::fd::AsFd;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use forkway_process::Process;

const SLOTS: usize = 4096;

/// One index on a cache line of its own (128 bytes: adjacent-line prefetch pairs lines), so the
/// producer's writes to `tail` do not evict the consumer's `head`.
#[repr(C, align(128))]
struct Padded(AtomicU64);

#[repr(C)]
struct Ring {
    /// Next slot the consumer reads; written by the consumer only.
    head: Padded,
    /// Next slot the producer writes; written by the producer only.
    tail: Padded,
    slots: [UnsafeCell<u64>; SLOTS],
}

/// A shared anonymous mapping holding one `Ring`, unmapped on drop (in each process that has it).
struct Mapping(*mut Ring);

impl Mapping {
    fn new() -> Mapping {
        // SAFETY: a fresh anonymous shared mapping, checked for failure; zeroed by the kernel,
        // which is a valid `Ring` (indices 0, slots 0).
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                std::mem::size_of::<Ring>(),
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        assert_ne!(ptr, libc::MAP_FAILED, "mmap: {}", std::io::Error::last_os_error());
        Mapping(ptr.cast())
    }

    fn ring(&self) -> &Ring {
        // SAFETY: the mapping lives as long as `self`; `Ring` is only touched through atomics and
        // through slots that the indices hand to exactly one side at a time.
        unsafe { &*self.0 }
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: the pointer and length are those mmap returned; nothing borrows the ring now.
        unsafe { libc::munmap(self.0.cast(), std::mem::size_of::<Ring>()) };
    }
}

// SAFETY: the ring is shared memory by design; the SPSC protocol below decides who touches what.
unsafe impl Send for Mapping {}

/// Spins on `cond`, yielding now and then so that two spinners sharing one core still progress.
fn spin_until(mut cond: impl FnMut() -> bool) {
    let mut spins = 0u32;
    while !cond() {
        spins += 1;
        if spins.is_multiple_of(64) {
            std::thread::yield_now();
        } else {
            std::hint::spin_loop();
        }
    }
}

/// A producer process putting `0..n` on the ring on command; the parent takes them.
pub struct ShmRing {
    _child: Process,
    cmd: std::io::PipeWriter,
    map: Mapping,
}

impl ShmRing {
    pub fn start() -> ShmRing {
        let map = Mapping::new();
        let ring_addr = map.0 as usize;
        let (child_cmd, cmd) = std::io::pipe().expect("pipe");
        let mut child = Process::new(move || {
            // SAFETY: fork kept the shared mapping at the same address in the child.
            let ring = unsafe { &*(ring_addr as *const Ring) };
            let mut word = [0u8; 8];
            let mut tail = 0u64;
            while nix::unistd::read(child_cmd.as_fd(), &mut word) == Ok(8) {
                for i in 0..u64::from_le_bytes(word) {
                    spin_until(|| tail - ring.head.0.load(Ordering::Acquire) < SLOTS as u64);
                    // SAFETY: slot `tail` is free (the consumer is past it) and only the single
                    // producer writes slots; the Release store below publishes it.
                    unsafe { *ring.slots[tail as usize % SLOTS].get() = i };
                    tail += 1;
                    ring.tail.0.store(tail, Ordering::Release);
                }
            }
        });
        child.set_daemon(true).expect("daemon");
        child.start().expect("start");
        ShmRing {
            _child: child,
            cmd,
            map,
        }
    }

    pub fn transfer(&mut self, n: u64) -> Duration {
        let ring = self.map.ring();
        let mut head = ring.head.0.load(Ordering::Relaxed);
        let start = Instant::now();
        nix::unistd::write(self.cmd.as_fd(), &n.to_le_bytes()).expect("command");
        for _ in 0..n {
            spin_until(|| ring.tail.0.load(Ordering::Acquire) > head);
            // SAFETY: the producer published slot `head` (Acquire above) and will not write it
            // again until `head` moves past it.
            let v = unsafe { *ring.slots[head as usize % SLOTS].get() };
            std::hint::black_box(v);
            head += 1;
            ring.head.0.store(head, Ordering::Release);
        }
        start.elapsed()
    }
}
