//! Regression tests for defects an acceptance suite found (issue 17): timeouts that waited for
//! a stopped process's lock, huge timeouts, decoders that allocated what a lying length
//! claimed, and a queue that followed a corrupt ring header out of its mapping.
//!
//! Faults that used to kill or hang the caller run where they cannot take the test harness
//! down: in a forked child (checked by its exit code), or on a thread whose answer is awaited
//! with a bound.

use forkway_testkit as support;

use std::sync::mpsc;
use std::time::{Duration, Instant};

use forkway_ipc::{codec, pipe, GetError, PutError, Queue, RecvError, SimpleQueue};
use forkway_process::Process;
use nix::sys::signal::{raise, Signal};
use support::*;

/// Generous: the operations under test must take about 100 ms, and used to take for ever.
const QUICK: Duration = Duration::from_secs(2);

/// Waits (bounded) until `pid` is stopped (state `T` in /proc).
fn wait_stopped(pid: u32) {
    let deadline = Instant::now() + BOUND;
    loop {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let state = stat
            .rsplit(')')
            .next()
            .and_then(|rest| rest.split_whitespace().next());
        if state == Some("T") {
            return;
        }
        assert!(Instant::now() < deadline, "process {pid} never stopped: {stat}");
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Starts a child that runs `hold(stop)`, where `stop` tells the parent it holds the lock and
/// stops itself (SIGSTOP); returns once it is stopped. The child is killed and reaped on drop.
struct Stopped(Process);

impl Stopped {
    fn holding(hold: impl FnOnce(&mut dyn FnMut()) + Send + 'static) -> Stopped {
        let ready: Queue<()> = Queue::new().expect("queue");
        let r2 = ready.clone();
        let mut p = Process::new(move || {
            hold(&mut || {
                r2.put(()).expect("put");
                let _ = raise(Signal::SIGSTOP);
            });
        });
        p.start().expect("start");
        ready.get_timeout(BOUND).expect("the holder never took the lock");
        wait_stopped(p.pid().expect("pid"));
        Stopped(p)
    }

    fn kill(&self) {
        let _ = self.0.kill();
    }
}

impl Drop for Stopped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.join_timeout(BOUND);
    }
}

/// Runs `ops` on a thread and waits for it at most [`BOUND`]; when it does not return, kills
/// `holder` (which unblocks it: the lock's owner died) and fails with `what`.
fn bounded<R: Send + 'static>(holder: &Stopped, what: &str, ops: impl FnOnce() -> R + Send + 'static) -> R {
    let (tx, rx) = mpsc::channel();
    let thread = std::thread::spawn(move || {
        let _ = tx.send(ops());
    });
    match rx.recv_timeout(Duration::from_secs(5)) {
        Ok(r) => {
            let _ = thread.join();
            r
        }
        Err(_) => {
            holder.kill();
            let _ = rx.recv_timeout(BOUND);
            panic!("{what}: still blocked after 5 s behind a stopped lock holder");
        }
    }
}

#[test]
fn queue_timeouts_are_bounded_when_the_lock_holder_is_stopped() {
    let q: Queue<u32> = Queue::new().expect("queue");
    q.put(1).expect("put");
    let q2 = q.clone();
    // A consumer stopped inside `get`, holding the consumers' lock.
    let holder = Stopped::holding(move |stop| {
        let _ = q2.get_claimed(|_| stop());
    });
    let q3 = q.clone();
    let outcomes = bounded(&holder, "get_timeout / put_nowait / get_nowait", move || {
        let time = |f: &dyn Fn() -> String| {
            let began = Instant::now();
            let what = f();
            (what, began.elapsed())
        };
        [
            time(&|| format!("{:?}", q3.get_timeout(Duration::from_millis(100)))),
            time(&|| format!("{:?}", q3.put_nowait(2))),
            time(&|| format!("{:?}", q3.get_nowait())),
            time(&|| format!("{:?}", q3.put_timeout(3, Duration::from_millis(100)))),
        ]
    });
    // Consumers and producers have a lock each: the stopped consumer holds only the
    // consumers', so gets give up after the lock grace and puts go through at once.
    let expected = ["Err(Empty)", "Ok(())", "Err(Empty)", "Ok(())"];
    for ((what, took), want) in outcomes.iter().zip(expected) {
        assert_eq!(what, want);
        assert!(*took < QUICK, "{what} took {took:?}");
    }
    drop(holder);
    // The holder died inside the lock: the queue goes on, its item still there.
    assert_eq!(q.get_timeout(BOUND).expect("get"), 1);
    assert_eq!(q.get_timeout(BOUND).expect("get"), 2);
    assert_eq!(q.get_timeout(BOUND).expect("get"), 3);
}

#[test]
fn simple_queue_get_timeout_is_bounded_when_a_reader_is_stopped_in_the_read_lock() {
    let q: SimpleQueue<u32> = SimpleQueue::new().expect("queue");
    q.put(1).expect("put");
    let q2 = q.clone();
    let holder = Stopped::holding(move |stop| q2.hold_read_lock_for_tests(stop));
    let q3 = q.clone();
    let (what, took) = bounded(&holder, "SimpleQueue::get_timeout", move || {
        let began = Instant::now();
        let what = format!("{:?}", q3.get_timeout(Duration::from_millis(100)));
        (what, began.elapsed())
    });
    assert_eq!(what, "Err(Empty)");
    assert!(took < QUICK, "took {took:?}");
}

/// Every public timed method of forkway-ipc given `Duration::MAX` completes normally when it
/// can: a huge timeout means "wait for ever", never an overflow.
#[test]
fn duration_max_timeouts_complete_normally() {
    let max = Duration::MAX;
    let q: Queue<u32> = Queue::bounded(2).expect("queue");
    q.put_timeout(7, max).expect("room");
    assert_eq!(q.get_timeout(max).expect("an item is there"), 7);
    let unbounded: Queue<u32> = Queue::new().expect("queue");
    unbounded.put_timeout(8, max).expect("put");
    assert_eq!(unbounded.get_timeout(max).expect("get"), 8);

    let sq: SimpleQueue<u32> = SimpleQueue::new().expect("queue");
    sq.put(9).expect("put");
    assert_eq!(sq.get_timeout(max).expect("get"), 9);

    let (mut a, mut b) = pipe::<u32>().expect("pipe");
    a.send(&10).expect("send");
    assert!(b.poll(Some(max)).expect("poll"));
    assert_eq!(b.recv_timeout(max).expect("recv"), 10);
}

/// Five bytes that announce a 1000 MiB string.
const LIAR: [u8; 5] = [252, 0, 0, 128, 62];

#[test]
fn a_lying_length_is_a_decode_error_not_an_allocation() {
    let began = Instant::now();
    assert!(codec::decode::<String>(&LIAR).is_err());
    assert!(codec::decode::<Vec<u8>>(&LIAR).is_err());
    assert!(codec::decode::<(u8, String)>(&[1, 252, 0, 0, 128, 62]).is_err());
    // Through a connection that accepts 16-byte messages only.
    let (mut a, mut b) = pipe::<String>().expect("pipe");
    b.set_max_message(16);
    a.send_bytes(&LIAR).expect("send");
    assert!(matches!(b.recv(), Err(RecvError::Decode { .. })));
    assert!(began.elapsed() < QUICK, "took {:?}", began.elapsed());
    // Real values of every size still decode.
    for len in [0usize, 1, 300, 70_000, 5 << 20] {
        let s = "x".repeat(len);
        assert_eq!(
            codec::decode::<String>(&codec::encode(&s).expect("encode")).expect("decode"),
            s
        );
        let v: Vec<u128> = (0..len as u128 / 64).collect();
        assert_eq!(
            codec::decode::<Vec<u128>>(&codec::encode(&v).expect("encode")).expect("decode"),
            v
        );
    }
}

#[test]
fn a_lying_length_under_a_low_address_space_limit_does_not_abort() {
    // The child caps its address space at what it uses plus 256 MiB: allocating the claimed
    // 1000 MiB would abort it (SIGABRT, exit code -6).
    let mut child = Process::new(|| {
        let status = std::fs::read_to_string("/proc/self/status").expect("status");
        let vm_kib: u64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmSize:"))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .expect("VmSize");
        let limit = vm_kib * 1024 + (256 << 20);
        let rlimit = libc::rlimit {
            rlim_cur: limit,
            rlim_max: limit,
        };
        // SAFETY: setrlimit reads the struct we pass; it changes only this (child) process.
        let rc = unsafe { libc::setrlimit(libc::RLIMIT_AS, &rlimit) };
        assert_eq!(rc, 0, "setrlimit");
        let outcome = codec::decode::<String>(&LIAR);
        forkway_process::exit(if outcome.is_err() { 0 } else { 2 });
    });
    child.start().expect("start");
    assert_eq!(
        join_bounded(&child),
        0,
        "0: a decode error; -6: the allocation aborted"
    );
}

/// Corrupts the ring's committed state with `corrupt`, then checks in a child (a corrupt
/// header used to divide by zero, read outside the mapping or allocate a terabyte) that get
/// and put report the queue as poisoned.
fn corrupt_header_is_poisoned(corrupt: fn(&mut [u64; 4])) {
    let q: Queue<u32> = Queue::new().expect("queue");
    q.put(1).expect("put");
    q.corrupt_state_for_tests(corrupt);
    let mut child = Process::new(move || {
        let got = q.get_timeout(Duration::from_millis(10));
        let put = q.put(2);
        let ok = matches!(&got, Err(GetError::Poisoned(why)) if why.contains("overwritten"))
            && matches!(put, Err(PutError::Poisoned { item: 2, .. }));
        forkway_process::exit(if ok { 0 } else { 2 });
    });
    child.start().expect("start");
    assert_eq!(
        join_bounded(&child),
        0,
        "0: poisoned; 2: another answer; negative: a signal"
    );
}

#[test]
fn a_ring_of_capacity_zero_is_poisoned() {
    corrupt_header_is_poisoned(|s| s[3] = 0);
}

#[test]
fn a_ring_larger_than_the_mapping_is_poisoned() {
    corrupt_header_is_poisoned(|s| {
        s[3] = 1 << 40;
        s[0] = (1 << 40) - 4;
    });
}

#[test]
fn a_ring_claiming_more_bytes_than_it_holds_is_poisoned() {
    corrupt_header_is_poisoned(|s| s[1] = 1 << 62);
}

#[test]
fn recv_timeout_is_bounded_by_a_message_that_has_only_begun_to_arrive() {
    // A sender stopped in the middle of a message: recv_timeout must time out, and keep what
    // arrived for the call that gets the rest.
    let (a, mut b) = pipe::<String>().expect("pipe");
    let message = "x".repeat(98);
    let payload = codec::encode(&message).expect("encode");
    let mut frame = codec::header(payload.len());
    frame.extend_from_slice(&payload);
    let write = |bytes: &[u8]| {
        let n = nix::unistd::write(std::os::fd::AsFd::as_fd(&a), bytes).expect("write");
        assert_eq!(n, bytes.len());
    };
    write(&frame[..10]);
    let (tx, rx) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        let began = Instant::now();
        let first = b.recv_timeout(Duration::from_millis(100));
        let _ = tx.send((format!("{first:?}"), began.elapsed()));
        b
    });
    let Ok((first, took)) = rx.recv_timeout(Duration::from_secs(5)) else {
        write(&frame[10..]);
        panic!("recv_timeout(100 ms) still blocked after 5 s on a half-sent message");
    };
    let mut b = reader.join().expect("reader");
    assert_eq!(first, "Err(Timeout)");
    assert!(took < QUICK, "took {took:?}");
    write(&frame[10..]);
    assert_eq!(b.recv_timeout(BOUND).expect("the rest arrived"), message);
    // And the buffer did not eat the next one.
    let (mut a, mut b) = (a, b);
    a.send(&"next".to_owned()).expect("send");
    assert_eq!(b.recv_timeout(BOUND).expect("next"), "next");
}
