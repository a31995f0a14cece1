//! `Queue` and `SimpleQueue` across real processes: CPython's cases (`_TestQueue.test_…`,
//! `TestSimpleQueue.test_…`), the extras of the reference, and the faults where Python breaks
//! (killed consumers and producers, garbage on the wire, oversize and unencodable items).

use forkway_testkit as support;

use std::time::{Duration, Instant};

use forkway_ipc::{pipe, GetError, PutError, Queue, SendError, SimpleQueue, INHERITANCE_ONLY};
use forkway_process::{Process, Signal};
use serde::{Deserialize, Serialize, Serializer};
use serde_bytes::ByteBuf;
use support::*;

fn start(p: &mut Process) -> u32 {
    p.start().expect("start");
    p.pid().expect("pid")
}

#[test]
fn test_put_every_form_then_full() {
    // _TestQueue.test_put, maxsize=6.
    let q: Queue<u32> = Queue::bounded(6).expect("queue");
    assert_eq!(q.maxsize(), Some(6));
    assert!(q.is_empty() && !q.is_full());
    q.put(1).expect("put");
    q.put_timeout(2, Duration::from_secs(1)).expect("put_timeout");
    q.put_nowait(3).expect("put_nowait");
    q.put(4).expect("put");
    q.put_nowait(5).expect("put_nowait");
    q.put_timeout(6, Duration::ZERO).expect("put_timeout 0");
    assert!(q.is_full());
    assert_eq!(q.qsize(), 6);

    let err = q.put_nowait(7).expect_err("full");
    assert!(err.is_full(), "{err}");
    assert_eq!(err.into_inner(), 7, "Full hands the item back");
    assert!(q.put_timeout(7, Duration::ZERO).expect_err("full").is_full());
    let began = Instant::now();
    assert!(q
        .put_timeout(7, Duration::from_millis(100))
        .expect_err("full")
        .is_full());
    assert!(
        began.elapsed() >= Duration::from_millis(100),
        "returned before the timeout"
    );

    let (mut r, w) = pipe::<Vec<u32>>().expect("pipe");
    let mut w = w;
    let drain = q.clone();
    let mut child = Process::new(move || {
        let got: Vec<u32> = (0..6).map(|_| drain.get().expect("get")).collect();
        w.send(&got).expect("send");
    });
    start(&mut child);
    assert_eq!(r.recv_timeout(BOUND).expect("drained"), vec![1, 2, 3, 4, 5, 6]);
    assert_eq!(join_bounded(&child), 0);
    assert!(q.is_empty() && !q.is_full());
}

#[test]
fn test_get_every_form_then_empty() {
    // _TestQueue.test_get: items put by a child, got in every form, then Empty.
    let q: Queue<u32> = Queue::new().expect("queue");
    let tx = q.clone();
    let mut child = Process::new(move || (1..=5).for_each(|i| tx.put(i).expect("put")));
    start(&mut child);
    assert_eq!(join_bounded(&child), 0);
    assert_eq!(
        q.qsize(),
        5,
        "an unbounded put has stored the item when it returns"
    );
    assert_eq!(q.get().expect("get"), 1);
    assert_eq!(q.get_timeout(BOUND).expect("get_timeout"), 2);
    assert_eq!(q.get_nowait().expect("get_nowait"), 3);
    assert_eq!(q.get_timeout(Duration::ZERO).expect("get_timeout 0"), 4);
    assert_eq!(q.get().expect("get"), 5);
    assert!(matches!(q.get_nowait(), Err(GetError::Empty)));
    assert!(matches!(q.get_timeout(Duration::ZERO), Err(GetError::Empty)));
}

#[test]
fn test_fork_keeps_order() {
    // _TestQueue.test_fork: 10 items before the fork, 10 from the child, all in order.
    let q: Queue<u32> = Queue::new().expect("queue");
    (0..10).for_each(|i| q.put(i).expect("put"));
    let tx = q.clone();
    let mut child = Process::new(move || (10..20).for_each(|i| tx.put(i).expect("put")));
    start(&mut child);
    assert_eq!(join_bounded(&child), 0);
    let got: Vec<u32> = (0..20).map(|_| q.get_timeout(BOUND).expect("get")).collect();
    assert_eq!(got, (0..20).collect::<Vec<_>>());
    assert!(matches!(q.get_nowait(), Err(GetError::Empty)));
}

#[test]
fn test_qsize() {
    let q: Queue<u8> = Queue::new().expect("queue");
    assert_eq!(q.qsize(), 0);
    q.put(1).expect("put");
    assert_eq!(q.qsize(), 1);
    q.put(2).expect("put");
    assert_eq!(q.qsize(), 2);
    q.get().expect("get");
    assert_eq!(q.qsize(), 1);
    q.get().expect("get");
    assert_eq!(q.qsize(), 0);
}

#[test]
fn test_timeout_really_waits() {
    // _TestQueue.test_timeout: get(True, 0.2) raises Empty after at least 0.1 s. Lower bounds
    // only: a loaded machine may be late, never early.
    let q: Queue<u8> = Queue::new().expect("queue");
    let began = Instant::now();
    assert!(matches!(
        q.get_timeout(Duration::from_millis(200)),
        Err(GetError::Empty)
    ));
    assert!(began.elapsed() >= Duration::from_millis(200));
}

/// An item that refuses to be serialized when it is `Bad`.
#[derive(Debug, PartialEq, Deserialize)]
enum Item {
    Good(u32),
    Bad,
}

impl Serialize for Item {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Item::Good(n) => s.serialize_newtype_variant("Item", 0, "Good", n),
            Item::Bad => Err(serde::ser::Error::custom("Bad refuses to be serialized")),
        }
    }
}

#[test]
fn test_unencodable_item_fails_at_put_and_the_queue_goes_on() {
    // _TestQueue.test_queue_feeder_donot_stop_onexc / _on_queue_feeder_error: Python drops the
    // item on its feeder thread and prints a traceback; forkway fails the put and returns it.
    let q: Queue<Item> = Queue::bounded(1).expect("queue");
    let err = q.put(Item::Bad).expect_err("unencodable");
    assert!(err.to_string().contains("Bad refuses"), "{err}");
    assert_eq!(err.into_inner(), Item::Bad);
    q.put(Item::Good(42)).expect("put");
    assert_eq!(q.qsize(), 1);
    assert_eq!(q.get().expect("get"), Item::Good(42));
    assert!(q.is_empty());
}

#[test]
fn an_item_that_fails_after_outgrowing_the_stack_buffer_fails_at_put() {
    // A put encodes a small message on the stack and moves to a heap buffer past 64 bytes: a
    // failure after that move is reported like any other, and the next put is whole.
    let q: Queue<(String, Item)> = Queue::new().expect("queue");
    let long = "y".repeat(100);
    let err = q.put((long.clone(), Item::Bad)).expect_err("unencodable");
    assert!(err.to_string().contains("Bad refuses"), "{err}");
    assert_eq!(err.into_inner(), (long.clone(), Item::Bad));
    for n in [0, 50, 60, 63, 64, 65, 100, 5000] {
        let text = "z".repeat(n);
        q.put((text.clone(), Item::Good(n as u32))).expect("put");
        assert_eq!(q.get().expect("get"), (text, Item::Good(n as u32)));
    }
    assert!(q.is_empty());
}

/// Puts its text on `side` while it is being serialized: a put inside a put.
#[derive(Debug)]
struct PutsWhileEncoded {
    side: Option<Queue<String>>,
    text: String,
}

impl Serialize for PutsWhileEncoded {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if let Some(side) = &self.side {
            side.put(self.text.clone()).map_err(serde::ser::Error::custom)?;
        }
        s.serialize_str(&self.text)
    }
}

impl<'de> Deserialize<'de> for PutsWhileEncoded {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(PutsWhileEncoded {
            side: None,
            text: String::deserialize(d)?,
        })
    }
}

#[test]
fn a_put_inside_a_serialize_impl_gets_its_own_buffer() {
    // Both messages outgrow the stack buffer: the inner put, made while the outer one is
    // encoding into the thread's buffer, must not write into that same buffer.
    let outer: Queue<(String, PutsWhileEncoded)> = Queue::new().expect("queue");
    let side: Queue<String> = Queue::new().expect("queue");
    let (first, inner) = ("a".repeat(300), "b".repeat(200));
    let item = PutsWhileEncoded {
        side: Some(side.clone()),
        text: inner.clone(),
    };
    outer.put((first.clone(), item)).expect("put");
    assert_eq!(side.get().expect("inner"), inner);
    let (got_first, got) = outer.get().expect("outer");
    assert_eq!((got_first, got.text), (first, inner));
}

#[test]
fn test_closed_queue_put_get_errors() {
    // _TestQueue.test_closed_queue_put_get_exceptions.
    let q: Queue<u8> = Queue::new().expect("queue");
    q.put(1).expect("put");
    q.close();
    assert!(q.is_closed());
    let err = q.put(2).expect_err("closed");
    assert!(err.to_string().contains("is closed"), "{err}");
    assert_eq!(err.into_inner(), 2);
    let err = q.get().expect_err("closed");
    assert!(matches!(err, GetError::Closed) && err.to_string().contains("is closed"));
    // Closing is per process: what was put is still there for the others, and qsize answers
    // (Python's empty() raises OSError on a closed, used queue; forkway has no fd to close).
    assert_eq!(q.qsize(), 1);
}

#[test]
fn queue_in_a_child_whose_stdin_is_gone() {
    // TestStdinBadfiledescriptor.test_queue_in_process.
    let q: Queue<String> = Queue::new().expect("queue");
    let tx = q.clone();
    let mut child = Process::new(move || {
        // SAFETY: closing fd 0 in a single-threaded child that never reads stdin.
        unsafe { libc::close(0) };
        tx.put("no stdin needed".to_owned()).expect("put");
    });
    start(&mut child);
    assert_eq!(q.get_timeout(BOUND).expect("get"), "no stdin needed");
    assert_eq!(join_bounded(&child), 0);
}

#[test]
fn join_before_drain_cannot_deadlock() {
    // The reference's extra "join after put": Python's child stays alive after join(1) while
    // its 10 MB item sits in the feeder. Here put stores the item in shared memory, so the
    // child exits at once and joining it first is fine.
    let q: Queue<ByteBuf> = Queue::new().expect("queue");
    let tx = q.clone();
    let mut child = Process::new(move || {
        tx.put(ByteBuf::from(vec![0xab; 10_000_000])).expect("put");
    });
    start(&mut child);
    assert_eq!(join_bounded(&child), 0, "the child exited without anyone reading");
    let got = q.get_timeout(BOUND).expect("get");
    assert!(got.as_slice() == vec![0xab; 10_000_000].as_slice());
}

#[test]
fn mutation_after_put_does_not_change_what_arrives() {
    // The reference's extra: CPython pickles later, so `l.append(1)` after `put(l)` shows up in
    // the consumer 200 times in 200. forkway serializes inside `put` — and since put takes the
    // item by value, the caller cannot even touch it afterwards; a clone changes nothing.
    let q: Queue<Vec<u8>> = Queue::new().expect("queue");
    let mut l = vec![0];
    q.put(l.clone()).expect("put");
    l.push(1);
    assert_eq!(q.get().expect("get"), vec![0]);
}

#[test]
fn a_queue_cannot_be_sent_through_a_pipe_or_a_queue() {
    let q: Queue<u8> = Queue::new().expect("queue");
    let (mut a, _b) = pipe::<Queue<u8>>().expect("pipe");
    match a.send(&q) {
        Err(SendError::Encode(e)) => assert!(e.to_string().contains(INHERITANCE_ONLY), "{e}"),
        other => panic!("expected an encode error, got {other:?}"),
    }
    let qq: Queue<Queue<u8>> = Queue::new().expect("queue");
    let err = qq.put(q).expect_err("a queue in a queue");
    assert!(err.to_string().contains(INHERITANCE_ONLY), "{err}");
    assert!(qq.is_empty());
}

#[test]
fn oversize_items_are_refused_and_handed_back() {
    let q: Queue<Vec<u8>> = Queue::new().expect("queue");
    q.set_max_message(1000);
    match q.put(vec![7; 2000]) {
        Err(PutError::TooLarge { item, len, max }) => {
            assert_eq!((item.len(), max), (2000, 1000));
            assert!(len > 2000);
        }
        other => panic!("expected TooLarge, got {other:?}"),
    }
    q.put(vec![7; 10]).expect("a small one still fits");
    assert_eq!(q.get().expect("get"), vec![7; 10]);
}

#[test]
fn zero_maxsize_is_an_error() {
    let err = Queue::<u8>::bounded(0).expect_err("maxsize 0");
    assert!(err.to_string().contains("Queue::new()"), "{err}");
}

/// A number that only even values of can be decoded: a payload that arrives whole but is not
/// a valid `Even` plays the "wrong type" on the wire.
#[derive(Debug, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "u32")]
struct Even(u32);

impl TryFrom<u32> for Even {
    type Error = String;
    fn try_from(n: u32) -> Result<Even, String> {
        if n.is_multiple_of(2) {
            Ok(Even(n))
        } else {
            Err(format!("{n} is odd"))
        }
    }
}

#[test]
fn an_undecodable_message_is_an_error_and_the_next_one_arrives() {
    let q: Queue<Even> = Queue::new().expect("queue");
    q.put(Even(3)).expect("put: encoding does not validate");
    q.put(Even(4)).expect("put");
    match q.get() {
        Err(GetError::Decode(e)) => {
            assert!(
                e.type_name().ends_with("Even") && e.to_string().contains("3 is odd"),
                "{e}"
            );
        }
        other => panic!("expected a decode error, got {other:?}"),
    }
    assert_eq!(q.get().expect("next"), Even(4));
}

#[test]
fn bounded_put_waits_for_a_get() {
    let q: Queue<u32> = Queue::bounded(3).expect("queue");
    (0..3).for_each(|i| q.put(i).expect("put"));
    let (mut done, mut done_w) = pipe::<()>().expect("pipe");
    let tx = q.clone();
    let mut child = Process::new(move || {
        tx.put(3).expect("put waits for room, then succeeds");
        done_w.send(&()).expect("send");
    });
    let pid = start(&mut child);
    wait_blocked_in(pid, "futex");
    assert!(
        !done.poll(Some(Duration::ZERO)).expect("poll"),
        "put did not wait"
    );
    assert_eq!(q.get().expect("get"), 0);
    done.recv_timeout(BOUND).expect("the child's put finished");
    assert_eq!(join_bounded(&child), 0);
    assert_eq!(q.qsize(), 3, "never more than maxsize");
    let rest: Vec<u32> = (0..3).map(|_| q.get().expect("get")).collect();
    assert_eq!(rest, vec![1, 2, 3]);
}

#[test]
fn a_consumer_killed_asleep_costs_later_puts_at_most_one_wake_up() {
    // A put asks the kernel to wake consumers only when one may be asleep. The sleeper's mark
    // is cleared by the put that wakes it, not by the sleeper: one SIGKILLed in its sleep must
    // not leave every later put paying a futex_wake system call.
    let q: Queue<u32> = Queue::new().expect("queue");
    let mut victim = Process::new({
        let q = q.clone();
        move || {
            let _ = q.get();
            std::process::abort(); // never reached: it is killed while waiting
        }
    });
    let pid = start(&mut victim);
    wait_blocked_in(pid, "futex");
    victim.signal(Signal::SIGKILL).expect("kill");
    assert_eq!(join_bounded(&victim), -9);
    let before = forkway_sys::futex_calls();
    for n in 0..100 {
        q.put(n).expect("put");
    }
    let wakes = forkway_sys::futex_calls().wakes - before.wakes;
    assert!(
        wakes <= 1,
        "100 puts after the sleeper died made {wakes} wake-up calls"
    );
    assert_eq!(
        (0..100).map(|_| q.get().expect("get")).collect::<Vec<_>>(),
        (0..100).collect::<Vec<_>>()
    );
}

#[test]
fn a_producer_killed_asleep_costs_later_gets_at_most_one_wake_up() {
    let q: Queue<u32> = Queue::bounded(1).expect("queue");
    q.put(0).expect("put");
    let mut victim = Process::new({
        let q = q.clone();
        move || {
            let _ = q.put(1);
            std::process::abort(); // never reached: it is killed while waiting for room
        }
    });
    let pid = start(&mut victim);
    wait_blocked_in(pid, "futex");
    victim.signal(Signal::SIGKILL).expect("kill");
    assert_eq!(join_bounded(&victim), -9);
    let before = forkway_sys::futex_calls();
    assert_eq!(q.get().expect("get"), 0);
    for n in 1..100 {
        q.put(n).expect("put");
        assert_eq!(q.get().expect("get"), n);
    }
    let wakes = forkway_sys::futex_calls().wakes - before.wakes;
    assert!(
        wakes <= 1,
        "100 gets after the sleeper died made {wakes} wake-up calls"
    );
}

#[test]
fn killed_consumer_blocked_in_get_does_not_stop_the_others() {
    // The reference's extra "killed reader holds rlock": in Python, killing a child blocked in
    // get() leaves the queue dead for everyone.
    let q: Queue<u32> = Queue::new().expect("queue");
    let results: Queue<(u32, u32)> = Queue::new().expect("results");
    let mut victim = Process::new({
        let q = q.clone();
        move || {
            let _ = q.get();
            std::process::abort(); // never reached: it is killed while waiting
        }
    });
    let victim_pid = start(&mut victim);
    let mut survivors: Vec<Process> = (0..2)
        .map(|id| {
            let (q, results) = (q.clone(), results.clone());
            Process::new(move || {
                while let Ok(n) = q.get() {
                    if n == u32::MAX {
                        break;
                    }
                    results.put((id, n)).expect("put result");
                }
            })
        })
        .collect();
    let pids: Vec<u32> = survivors.iter_mut().map(start).collect();
    wait_blocked_in(victim_pid, "futex");
    for &pid in &pids {
        wait_blocked_in(pid, "futex");
    }
    victim.signal(Signal::SIGKILL).expect("kill");
    assert_eq!(join_bounded(&victim), -9);

    for n in 0..200 {
        q.put(n).expect("put");
    }
    let mut got: Vec<u32> = (0..200)
        .map(|_| {
            results
                .get_timeout(BOUND)
                .expect("every item reaches a survivor")
                .1
        })
        .collect();
    got.sort_unstable();
    assert_eq!(got, (0..200).collect::<Vec<_>>(), "each item exactly once");
    for _ in &survivors {
        q.put(u32::MAX).expect("stop");
    }
    for s in &survivors {
        assert_eq!(join_bounded(s), 0);
    }
    // And this process can still take from it, lock and all.
    q.put(7).expect("put");
    assert_eq!(q.get_timeout(BOUND).expect("get"), 7);
}

/// A large message that names its sequence number at both ends and fills the middle with a
/// byte derived from it: a torn or mixed message cannot pass `check`. (Built and compared with
/// memset/memcmp, so it stays fast in unoptimized test builds.)
///
/// `ByteBuf` (serde_bytes) makes serde treat the bytes as one blob instead of a sequence of
/// `u8`s: one memcpy each way instead of a call per byte. Use it for binary payloads.
fn big_message(seq: u32, len: usize) -> ByteBuf {
    assert!(len >= 8);
    let mut m = vec![fill_byte(seq); len];
    m[..4].copy_from_slice(&seq.to_le_bytes());
    m[len - 4..].copy_from_slice(&seq.to_le_bytes());
    ByteBuf::from(m)
}

fn fill_byte(seq: u32) -> u8 {
    (seq % 251) as u8 + 1
}

fn check(m: &[u8], len: usize) -> u32 {
    assert_eq!(m.len(), len, "a message of the wrong length arrived");
    let seq = u32::from_le_bytes(m[..4].try_into().expect("4 bytes"));
    assert!(
        m == big_message(seq, len).as_slice(),
        "message {seq} arrived torn"
    );
    seq
}

#[test]
fn producer_killed_mid_put_never_leaves_a_torn_message() {
    const LEN: usize = 3 << 20;
    let q: Queue<ByteBuf> = Queue::new().expect("queue");
    for round in 0..6u64 {
        let tx = q.clone();
        let mut producer = Process::new(move || {
            for seq in 0.. {
                tx.put(big_message(seq, LEN)).expect("put");
            }
        });
        start(&mut producer);
        // Let it get going (at least one message), then kill it at a varying moment, most
        // likely inside a put: a put of 3 MiB is almost all copying.
        let first = q.get_timeout(BOUND).expect("a first message");
        assert_eq!(check(&first, LEN), 0);
        // Not an ordering sleep: it only spreads the kill over different moments of the put.
        // The assertions below hold whenever the kill lands.
        std::thread::sleep(Duration::from_micros(300 * round + 50));
        producer.signal(Signal::SIGKILL).expect("kill");
        assert_eq!(join_bounded(&producer), -9);
        let mut last = 0;
        while let Ok(m) = q.get_nowait() {
            let seq = check(&m, LEN);
            assert_eq!(seq, last + 1, "messages lost or reordered");
            last = seq;
        }
    }
    q.put(ByteBuf::from(vec![1, 2, 3]))
        .expect("the lock survived every kill");
    assert_eq!(q.get().expect("get").as_slice(), [1, 2, 3]);
}

#[test]
fn consumer_killed_mid_get_leaves_the_rest_whole_and_in_order() {
    const LEN: usize = 2 << 20;
    let q: Queue<ByteBuf> = Queue::new().expect("queue");
    for round in 0..4u64 {
        for seq in 0..40 {
            q.put(big_message(seq, LEN)).expect("put");
        }
        let rx = q.clone();
        let mut consumer = Process::new(move || loop {
            let _ = rx.get();
        });
        start(&mut consumer);
        // As above: a varying kill moment (before, during or between gets), not an ordering;
        // whatever it hit, what is left must be whole and in order.
        std::thread::sleep(Duration::from_micros(500 * round + 100));
        consumer.signal(Signal::SIGKILL).expect("kill");
        assert_eq!(join_bounded(&consumer), -9);
        let mut prev = None;
        while let Ok(m) = q.get_nowait() {
            let seq = check(&m, LEN);
            assert!(prev.is_none_or(|p| seq == p + 1), "gap after {prev:?}: {seq}");
            prev = Some(seq);
        }
        assert!(prev.is_none_or(|p| p == 39), "the newest messages are all there");
    }
}

#[test]
fn ring_wraps_grows_and_shrinks() {
    // In one process: FIFO through wrap-around, growth while wrapped, and the big ring given
    // back once empty (more than 64 MiB in flight).
    let q: Queue<ByteBuf> = Queue::new().expect("queue");
    let mut expect = std::collections::VecDeque::new();
    for (seq, step) in (0..400usize).enumerate() {
        let len = match step % 7 {
            0 => 30_000,
            3 => 100_000 + step * 1000,
            _ => 10 + step,
        };
        let m = big_message(seq as u32, len.max(8));
        q.put(m.clone()).expect("put");
        expect.push_back(m);
        if step % 3 != 0 {
            assert_eq!(q.get().expect("get"), expect.pop_front().expect("expected"));
        }
    }
    while let Some(m) = expect.pop_front() {
        assert_eq!(q.get().expect("get"), m);
    }
    for i in 0..10u32 {
        q.put(big_message(i, 8 << 20)).expect("put 8 MiB");
    }
    for i in 0..10u32 {
        assert_eq!(check(&q.get().expect("get"), 8 << 20), i);
    }
    q.put(ByteBuf::from(vec![9])).expect("after shrinking");
    assert_eq!(q.get().expect("get").as_slice(), [9]);
}

#[test]
fn simple_queue_empty_close_closed() {
    // TestSimpleQueue.test_empty / test_close / test_closed.
    let q: SimpleQueue<u32> = SimpleQueue::new().expect("simple queue");
    assert!(q.is_empty().expect("empty"));
    let tx = q.clone();
    let mut child = Process::new(move || {
        tx.put(1).expect("put");
        tx.put(2).expect("put");
    });
    start(&mut child);
    assert_eq!(join_bounded(&child), 0);
    assert!(!q.is_empty().expect("empty"));
    assert_eq!(q.get().expect("get"), 1);
    assert_eq!(q.get().expect("get"), 2);
    assert!(q.is_empty().expect("empty"));
    assert!(matches!(
        q.get_timeout(Duration::from_millis(50)),
        Err(GetError::Empty)
    ));
    q.close();
    q.close(); // a double close is fine
    assert!(q.is_closed());
    assert!(matches!(q.get(), Err(GetError::Closed)));
    assert!(matches!(q.is_empty(), Err(GetError::Closed)));
    assert!(matches!(q.put(3), Err(PutError::Closed(3))));
}

fn raw_write(fd: std::os::fd::BorrowedFd<'_>, bytes: &[u8]) {
    let mut left = bytes;
    while !left.is_empty() {
        left = &left[nix::unistd::write(fd, left).expect("raw write")..];
    }
}

#[test]
fn simple_queue_garbage_header_poisons_bad_payload_does_not() {
    let q: SimpleQueue<String> = SimpleQueue::new().expect("simple queue");
    // A whole frame whose payload is not a String: an error, and the stream stays in step.
    raw_write(q.writer_fd(), &[0, 0, 0, 2, 0xff, 0xff]);
    q.put("next".to_owned()).expect("put");
    assert!(matches!(q.get(), Err(GetError::Decode { .. })));
    assert_eq!(q.get().expect("the next message"), "next");
    // Garbage where a header should be: the framing is lost for good, and says so.
    raw_write(q.writer_fd(), &[0x80, 1, 2, 3, 4, 5]);
    let err = q.get().expect_err("garbage header");
    assert!(matches!(err, GetError::Poisoned(_)), "{err}");
    assert!(matches!(q.get(), Err(GetError::Poisoned(_))));
    assert!(matches!(q.put("more".to_owned()), Err(PutError::Poisoned { .. })));
}

#[test]
fn simple_queue_writer_killed_mid_frame_poisons_instead_of_tearing() {
    let q: SimpleQueue<ByteBuf> = SimpleQueue::new().expect("simple queue");
    let tx = q.clone();
    let mut writer = Process::new(move || {
        // 1 MiB cannot fit the pipe: this put blocks mid-frame until someone reads.
        let _ = tx.put(ByteBuf::from(vec![5; 1 << 20]));
    });
    let pid = start(&mut writer);
    wait_blocked_in(pid, "pipe");
    writer.signal(Signal::SIGKILL).expect("kill");
    assert_eq!(join_bounded(&writer), -9);
    let err = q.get_timeout(BOUND).expect_err("half a message must not arrive");
    assert!(matches!(err, GetError::Poisoned(_)), "{err}");
}

#[test]
fn simple_queue_killed_waiting_reader_does_not_stop_others() {
    let q: SimpleQueue<u32> = SimpleQueue::new().expect("simple queue");
    let rx = q.clone();
    let mut victim = Process::new(move || {
        let _ = rx.get();
    });
    let pid = start(&mut victim);
    wait_blocked_in(pid, "poll");
    victim.signal(Signal::SIGKILL).expect("kill");
    assert_eq!(join_bounded(&victim), -9);
    q.put(11).expect("put");
    assert_eq!(q.get_timeout(BOUND).expect("get"), 11);
}

#[test]
fn simple_queue_many_writers_frames_never_interleave() {
    // Messages bigger than PIPE_BUF from four writers at once: the write lock keeps each whole.
    const LEN: usize = 40_000;
    let q: SimpleQueue<ByteBuf> = SimpleQueue::new().expect("simple queue");
    let mut writers: Vec<Process> = (0..4u32)
        .map(|w| {
            let tx = q.clone();
            Process::new(move || {
                for i in 0..25 {
                    tx.put(big_message(w * 1000 + i, LEN)).expect("put");
                }
            })
        })
        .collect();
    writers.iter_mut().for_each(|w| {
        start(w);
    });
    let mut last = [None::<u32>; 4];
    for _ in 0..100 {
        let seq = check(&q.get_timeout(BOUND).expect("get"), LEN);
        let (w, i) = ((seq / 1000) as usize, seq % 1000);
        assert!(last[w].is_none_or(|p| i == p + 1), "writer {w}: FIFO broken");
        last[w] = Some(i);
    }
    for w in &writers {
        assert_eq!(join_bounded(w), 0);
    }
}

#[test]
fn a_child_learns_of_a_full_bounded_queue_at_once() {
    // put_nowait from a child on a full queue: Full, with the item, without waiting.
    let q: Queue<String> = Queue::bounded(1).expect("queue");
    q.put("occupied".to_owned()).expect("put");
    let (mut r, mut w) = support::pipe();
    let tx = q.clone();
    let mut child = Process::new(move || {
        let item = tx.put_nowait("late".to_owned()).expect_err("full").into_inner();
        use std::io::Write;
        w.write_all(format!("{item}\n").as_bytes()).expect("write");
    });
    start(&mut child);
    assert_eq!(join_bounded(&child), 0);
    assert_eq!(read_line(&mut r), "late");
}

#[test]
fn get_claimed_runs_before_the_item_leaves_and_a_claimer_killed_in_it_loses_nothing() {
    let q: Queue<u32> = Queue::new().expect("queue");
    for i in [7, 8] {
        q.put(i).expect("put");
    }
    let mut seen = None;
    assert_eq!(q.get_claimed(|x| seen = Some(*x)).expect("get"), 7);
    assert_eq!(seen, Some(7));

    // A consumer SIGKILLed inside its claim (holding the consumers' lock): the item stays.
    let (mut r, mut w) = support::pipe();
    let mut p = Process::new({
        let q = q.clone();
        move || {
            let _ = q.get_claimed(|_| {
                send_line(&mut w, "claiming");
                idle_until_killed()
            });
        }
    });
    p.start().expect("start");
    assert_eq!(read_line(&mut r), "claiming");
    p.kill().expect("kill");
    assert_eq!(join_bounded(&p), -9);
    assert_eq!(q.get_timeout(BOUND).expect("the item is still there"), 8);
}

#[test]
fn encoded_messages_travel_as_they_are() {
    let q: Queue<u64> = Queue::new().expect("queue");
    q.put_encoded(b"raw frame").expect("put");
    q.put_encoded(&[]).expect("put");
    assert_eq!(q.qsize(), 2);
    let first = q
        .get_encoded_timeout(Duration::from_secs(5), <[u8]>::to_vec)
        .expect("get");
    assert_eq!(first, b"raw frame");
    let mut seen = None;
    let second = q
        .get_encoded_claimed(|bytes| {
            seen = Some(bytes.len());
            bytes.to_vec()
        })
        .expect("get");
    assert!(second.is_empty());
    assert_eq!(seen, Some(0));
    assert!(matches!(
        q.get_encoded_nowait(<[u8]>::to_vec),
        Err(GetError::Empty)
    ));
    // A typed get of an encoded message that is not a T is a decode error, not a panic.
    q.put_encoded(&[255]).expect("put");
    assert!(matches!(q.get_nowait(), Err(GetError::Decode(_))));
    q.close();
    assert!(matches!(q.put_encoded(b"x"), Err(PutError::Closed(()))));
    assert!(matches!(
        q.get_encoded_nowait(<[u8]>::to_vec),
        Err(GetError::Closed)
    ));
}

// Producers and consumers have a lock each, and each side publishes its own half of the state
// with one store: the states a kill can leave, and many of each side at once.

#[test]
fn a_producer_killed_after_writing_its_frame_before_publishing_leaves_no_trace() {
    let q: Queue<ByteBuf> = Queue::new().expect("queue");
    let mut oldest = 100;
    q.put(big_message(0, oldest)).expect("put");
    for (round, len) in [(1u32, 200_000usize), (2, 40), (3, 70_000)] {
        let tx = q.clone();
        let mut producer = Process::new(move || {
            forkway_ipc::fault::die_before_next_publish();
            let _ = tx.put(big_message(100 + round, len));
        });
        start(&mut producer);
        assert_eq!(join_bounded(&producer), -9, "killed by its own fault hook");
        // Its frame is in the ring but was never published: not there for anyone.
        assert_eq!(q.qsize(), 1, "round {round}");
        // The producers' lock died with it; the next put takes over and writes over the frame.
        let len = 8 + round as usize;
        q.put(big_message(round, len)).expect("put after the death");
        assert_eq!(check(&q.get_nowait().expect("get"), oldest), 0);
        assert_eq!(check(&q.get_nowait().expect("get"), len), round);
        assert!(matches!(q.get_nowait(), Err(GetError::Empty)));
        oldest = 8;
        q.put(big_message(0, oldest)).expect("put");
    }
}

#[test]
fn a_consumer_killed_before_publishing_its_head_leaves_the_message_for_the_next_one_whole() {
    const LEN: usize = 3 << 20;
    let q: Queue<ByteBuf> = Queue::new().expect("queue");
    q.put(big_message(1, LEN)).expect("put");
    q.put(big_message(2, 16)).expect("put");
    let rx = q.clone();
    let mut consumer = Process::new(move || {
        forkway_ipc::fault::die_after_next_claim();
        // It reads the whole message (the claim), then dies before its get is published.
        let _ = rx.get_claimed(|m| assert_eq!(m.len(), LEN));
    });
    start(&mut consumer);
    assert_eq!(join_bounded(&consumer), -9, "killed by its own fault hook");
    assert_eq!(q.qsize(), 2);
    // Delivered once, whole, to the next consumer; the consumers' lock goes on after the death.
    assert_eq!(check(&q.get_timeout(BOUND).expect("get"), LEN), 1);
    assert_eq!(check(&q.get_timeout(BOUND).expect("get"), 16), 2);
    assert!(matches!(q.get_nowait(), Err(GetError::Empty)));
}

/// What a consumer of [`mesh`] reports: the message's producer and number, and whether it was
/// whole.
#[derive(Debug, Serialize, Deserialize)]
struct Got {
    consumer: u32,
    producer: u32,
    seq: u32,
    whole: bool,
}

/// `k` producer and `k` consumer processes on one queue, all at once; producer `p` puts
/// `per_producer` messages of `len(seq)` bytes. Checks that every message arrives exactly once,
/// whole, and that each consumer sees each producer's messages in order.
fn mesh(k: u32, per_producer: u32, len: fn(u32) -> usize) {
    use std::io::Write;
    let q: Queue<ByteBuf> = Queue::new().expect("queue");
    let results: Queue<Got> = Queue::new().expect("results");
    // Everybody starts together (a barrier made of a pipe each way), so that puts, gets and
    // the ring's growth overlap. (Lines up, single bytes down: writes this small are atomic,
    // and several children read the one pipe.)
    let (mut ready_r, ready_w) = support::pipe();
    let (go_r, mut go_w) = support::pipe();
    let mut procs = Vec::new();
    for role in 0..2 * k {
        let (q, results) = (q.clone(), results.clone());
        let (mut ready_w, mut go_r) = (ready_w.try_clone().expect("dup"), go_r.try_clone().expect("dup"));
        let mut p = Process::new(move || {
            send_line(&mut ready_w, "ready");
            // One byte each: several readers share the pipe.
            wait_for_release(&mut go_r);
            if role < k {
                for seq in 0..per_producer {
                    let id = role << 24 | seq;
                    q.put(big_message(id, len(seq))).expect("put");
                }
            } else {
                let consumer = role - k;
                loop {
                    let m = q.get().expect("get");
                    if m.is_empty() {
                        return;
                    }
                    let id = u32::from_le_bytes(m[..4].try_into().expect("4 bytes"));
                    let whole = m.len() >= 8 && m == big_message(id, m.len()).as_slice();
                    let got = Got {
                        consumer,
                        producer: id >> 24,
                        seq: id & 0xff_ffff,
                        whole,
                    };
                    results.put(got).expect("report");
                }
            }
        });
        start(&mut p);
        procs.push(p);
    }
    drop((ready_w, go_r));
    for _ in 0..2 * k {
        assert_eq!(read_line(&mut ready_r), "ready");
    }
    go_w.write_all(&vec![b'!'; 2 * k as usize]).expect("go");
    let total = k * per_producer;
    let mut seen = std::collections::BTreeSet::new();
    let mut last = std::collections::BTreeMap::new();
    for _ in 0..total {
        let got = results.get_timeout(BOUND).expect("a report within BOUND");
        assert!(got.whole, "a torn message: {got:?}");
        assert!(seen.insert((got.producer, got.seq)), "delivered twice: {got:?}");
        if let Some(prev) = last.insert((got.consumer, got.producer), got.seq) {
            assert!(got.seq > prev, "out of order: {got:?} after {prev}");
        }
    }
    for _ in 0..k {
        q.put(ByteBuf::new()).expect("stop");
    }
    for p in &procs {
        assert_eq!(join_bounded(p), 0);
    }
    assert_eq!(seen.len() as u32, total, "every message exactly once");
    assert!(q.is_empty() && results.is_empty());
}

#[test]
fn two_producers_two_consumers_every_message_once_in_order() {
    mesh(2, 3000, |_| 8);
}

#[test]
fn four_producers_four_consumers_every_message_once_in_order() {
    mesh(4, 1500, |seq| 8 + (seq as usize % 5) * 40);
}

#[test]
fn the_ring_grows_while_producers_and_consumers_are_busy() {
    // Sizes rising to 512 KiB: the ring doubles again and again while both sides work.
    mesh(2, 120, |seq| 8 + (seq as usize * 4409) % (512 << 10));
}
