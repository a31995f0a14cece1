//! The graded checks of lesson 2. `lessons/02-pipes-and-queues/lesson.toml` lists each test here
//! with its points; `cargo xtask lesson 2` runs them one by one.
//!
//! Each test proves one exercise (see the `exercise_2_N` regions in the crate and its examples).

use forkway_testkit as support;

use std::os::fd::{AsFd, AsRawFd};
use std::time::{Duration, Instant};

use forkway_ipc::{codec, simplex, GetError, PutError, Queue, RecvError};
use forkway_process::Process;
use support::*;

/// Writes raw bytes on a connection's descriptor, bypassing the codec.
fn raw_write<T>(c: &forkway_ipc::Connection<T>, bytes: &[u8]) {
    let mut left = bytes;
    while !left.is_empty() {
        left = &left[nix::unistd::write(c.as_fd(), left).expect("raw write")..];
    }
}

// ---- exercise 2.1: frame a message ---------------------------------------------------------

#[test]
fn header_is_four_bytes_big_endian() {
    assert_eq!(codec::header(0), [0, 0, 0, 0]);
    assert_eq!(codec::header(5), [0, 0, 0, 5]);
    assert_eq!(codec::header(0x0102_0304), [1, 2, 3, 4]);
    assert_eq!(codec::header(0x7fff_ffff), [0x7f, 0xff, 0xff, 0xff]);
}

#[test]
fn header_of_two_gib_or_more_is_minus_one_then_eight_bytes() {
    assert_eq!(
        codec::header(0x8000_0000),
        [0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0x80, 0, 0, 0]
    );
    assert_eq!(
        codec::header(0x1_0000_0002),
        [0xff, 0xff, 0xff, 0xff, 0, 0, 0, 1, 0, 0, 0, 2]
    );
}

#[test]
fn framed_messages_keep_their_boundaries_across_processes() {
    // _TestPoll.test_dont_merge / test_strings: b'a', b'', b'bc' arrive as three messages.
    let (mut r, mut w) = simplex::<()>().expect("simplex");
    let mut child = Process::new(move || {
        for m in [&b"a"[..], b"", b"bc", &[7u8; 70_000]] {
            w.send_bytes(m).expect("send_bytes");
        }
    });
    child.start().expect("start");
    assert_eq!(r.recv_bytes().expect("1"), b"a");
    assert_eq!(r.recv_bytes().expect("2"), b"");
    assert_eq!(r.recv_bytes().expect("3"), b"bc");
    assert_eq!(r.recv_bytes().expect("4"), vec![7u8; 70_000]);
    assert_eq!(join_bounded(&child), 0);
}

// ---- exercise 2.2: EOF when all writers close ----------------------------------------------

#[test]
fn eof_between_messages_is_eof() {
    let (mut r, mut w) = simplex::<u32>().expect("simplex");
    r.set_close_on_fork(true);
    let mut child = Process::new(move || {
        w.send(&1).expect("send");
        w.send(&2).expect("send");
    });
    child.start().expect("start");
    assert_eq!(join_bounded(&child), 0);
    // Our copy of the write end went into the child's closure: with the child gone, no writer
    // is left anywhere, so after the two messages comes EOF.
    assert_eq!(r.recv().expect("1"), 1);
    assert_eq!(r.recv().expect("2"), 2);
    // (A child forked by another test at the wrong moment may hold a copy of the write end for
    // a moment; poll bounds that wait.)
    assert!(
        r.poll(Some(BOUND)).expect("poll"),
        "neither data nor EOF within {BOUND:?}"
    );
    assert!(
        matches!(r.recv(), Err(RecvError::Eof)),
        "EOF after the last message"
    );
}

#[test]
fn eof_inside_a_message_is_truncated() {
    let (mut r, w) = simplex::<u32>().expect("simplex");
    raw_write(&w, &[0, 0, 0, 10, 1, 2, 3]); // announces 10 bytes, sends 3
    drop(w);
    assert!(r.poll(Some(BOUND)).expect("poll"));
    match r.recv_bytes() {
        Err(RecvError::Truncated { got, expected }) => assert_eq!((got, expected), (3, 10)),
        other => panic!("expected Truncated, got {other:?}"),
    }
    let (mut r, w) = simplex::<u32>().expect("simplex");
    raw_write(&w, &[0, 0]); // half a header
    drop(w);
    assert!(r.poll(Some(BOUND)).expect("poll"));
    assert!(matches!(
        r.recv_bytes(),
        Err(RecvError::Truncated { got: 2, expected: 4 })
    ));
}

#[test]
fn bad_headers_are_errors_not_allocations() {
    let (mut r, w) = simplex::<u32>().expect("simplex");
    r.set_max_message(1024);
    raw_write(&w, &[0x7f, 0xff, 0xff, 0xff]); // 2 GiB announced
    drop(w); // a reader that tries to read the 2 GiB gets EOF at once, not a hang
    assert!(matches!(r.recv_bytes(), Err(RecvError::TooLarge { .. })));
    let (mut r, w) = simplex::<u32>().expect("simplex");
    raw_write(&w, &[0xff, 0xff, 0xff, 0xfe]); // -2: no such length
    assert!(matches!(r.recv_bytes(), Err(RecvError::CorruptHeader(_))));
}

#[test]
fn long_header_is_minus_one_then_eight_bytes() {
    // A long header may announce a small length: the reader must follow the -1 marker, not
    // the size of the message.
    let (mut r, w) = simplex::<u32>().expect("simplex");
    raw_write(&w, &[0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0, 5]);
    raw_write(&w, b"hello");
    raw_write(&w, &[0, 0, 0, 0]); // then an empty message in a short header
    drop(w); // a reader that waits for more bytes gets EOF, not a hang
    match r.recv_bytes() {
        Ok(bytes) => assert_eq!(
            bytes, b"hello",
            "ff ff ff ff, then 8 bytes of length 5, then `hello`: the payload is `hello`"
        ),
        Err(e) => panic!("ff ff ff ff (-1) announces an 8-byte length, here 5, then `hello`; got {e:?}"),
    }
    match r.recv_bytes() {
        Ok(bytes) => assert!(
            bytes.is_empty(),
            "a header of 0 is an empty message, got {bytes:?}"
        ),
        Err(e) => panic!("a header of 0 is an empty message, got {e:?}"),
    }
    // The 8-byte length is compared with `max` whole: 4 GiB + 5 is not 5.
    let (mut r, w) = simplex::<u32>().expect("simplex");
    r.set_max_message(1024);
    raw_write(&w, &[0xff, 0xff, 0xff, 0xff, 0, 0, 0, 1, 0, 0, 0, 5]);
    drop(w);
    match r.recv_bytes() {
        Err(RecvError::TooLarge { len, max }) => assert_eq!(
            (len, max),
            (0x1_0000_0005, 1024),
            "TooLarge must carry the announced 8-byte length and the maximum"
        ),
        other => panic!("an 8-byte length of 4 GiB + 5 with a maximum of 1024 is TooLarge, got {other:?}"),
    }
}

#[test]
fn long_header_cut_short_is_truncated() {
    let (mut r, w) = simplex::<u32>().expect("simplex");
    raw_write(&w, &[0xff, 0xff, 0xff, 0xff, 0, 0, 0]); // -1, then 3 of the 8 length bytes
    drop(w);
    assert!(
        r.poll(Some(BOUND)).expect("poll"),
        "neither data nor EOF within {BOUND:?}"
    );
    match r.recv_bytes() {
        Err(RecvError::Truncated { got, expected }) => assert_eq!(
            (got, expected),
            (3, 8),
            "3 of the 8 length bytes arrived before EOF"
        ),
        other => panic!(
            "-1 then only 3 of the 8 length bytes before EOF is Truncated {{ got: 3, expected: 8 }}, got {other:?}"
        ),
    }
}

#[test]
fn a_message_of_exactly_max_bytes_is_accepted() {
    let (mut r, w) = simplex::<u32>().expect("simplex");
    r.set_max_message(16);
    raw_write(&w, &[0, 0, 0, 16]);
    raw_write(&w, &[1u8; 16]);
    raw_write(&w, &[0, 0, 0, 17]);
    raw_write(&w, &[2u8; 17]);
    drop(w);
    match r.recv_bytes() {
        Ok(bytes) => assert_eq!(bytes, [1u8; 16], "the 16-byte payload"),
        Err(e) => panic!("max is 16: a message of exactly 16 bytes is allowed, got {e:?}"),
    }
    match r.recv_bytes() {
        Err(RecvError::TooLarge { len, max }) => assert_eq!((len, max), (17, 16)),
        other => panic!("max is 16: a message of 17 bytes is TooLarge, got {other:?}"),
    }
}

// ---- exercise 2.3: a blocking get with a timeout ---------------------------------------------

#[test]
fn get_waits_for_a_put_from_another_process() {
    let q: Queue<String> = Queue::new().expect("queue");
    let (release_r, release) = release_pipe();
    let tx = q.clone();
    let mut child = Process::new(move || {
        let mut release_r = release_r;
        wait_for_release(&mut release_r);
        tx.put("late".to_owned()).expect("put");
    });
    child.start().expect("start");
    let rx = q.clone();
    let got = within_bound("get_nowait() on an empty queue", move || rx.get_nowait());
    assert!(matches!(got, Err(GetError::Empty)), "{got:?}");
    release.release();
    assert_eq!(q.get_timeout(BOUND).expect("get waits for the put"), "late");
    assert_eq!(join_bounded(&child), 0);
}

/// Fails the test, after killing and reaping `child`, unless it exits within [`BOUND`] with
/// code 0. `asleep_in` says what the child was doing when it was put to sleep, `why` what to
/// look at when it never wakes.
fn expect_woken(child: &Process, asleep_in: &str, why: &str) {
    let exited = child.join_timeout(BOUND).expect("join");
    if !exited {
        let _ = child.kill();
        let _ = child.join_timeout(BOUND);
        panic!("a process asleep in {asleep_in} was still asleep {BOUND:?} after the call that should wake it: {why}");
    }
    assert_eq!(
        child.exitcode(),
        Some(0),
        "the process woken from {asleep_in} failed"
    );
}

#[test]
fn a_put_wakes_a_consumer_asleep_in_get() {
    let q: Queue<String> = Queue::new().expect("queue");
    let rx = q.clone();
    // `get()` has no timeout: a consumer that no put wakes sleeps for ever, so no bound can
    // let a lost wake-up pass here (a `get_timeout` would find the message when it ran out).
    let mut child = Process::new(move || assert_eq!(rx.get().expect("get"), "wake up"));
    child.start().expect("start");
    // The put must come while the consumer is asleep, or `get` finds the message without
    // sleeping at all.
    wait_asleep(child.pid().expect("pid"));
    q.put("wake up".to_owned()).expect("put");
    expect_woken(
        &child,
        "get()",
        "the put did not wake it. Does your get raise `header.consumers_asleep` (store 1) after \
         reading `seen` and before its second look? A put wakes sleepers only when it finds that \
         flag raised",
    );
}

#[test]
fn get_timeout_returns_empty_after_the_timeout() {
    let q: Queue<u8> = Queue::new().expect("queue");
    let began = Instant::now();
    let rx = q.clone();
    let got = within_bound("get_timeout(150 ms) on an empty queue", move || {
        rx.get_timeout(Duration::from_millis(150))
    });
    assert!(matches!(got, Err(GetError::Empty)), "{got:?}");
    assert!(began.elapsed() >= Duration::from_millis(150), "returned early");
    q.put(3).expect("put");
    assert_eq!(q.get_timeout(Duration::from_millis(150)).expect("get"), 3);
}

#[test]
fn get_nowait_answers_at_once() {
    let q: Queue<u8> = Queue::new().expect("queue");
    let rx = q.clone();
    let got = within_bound("get_nowait() on an empty queue", move || rx.get_nowait());
    assert!(matches!(got, Err(GetError::Empty)), "{got:?}");
    q.put(1).expect("put");
    q.put(2).expect("put");
    assert_eq!(q.get_nowait().expect("first"), 1);
    assert_eq!(q.get_nowait().expect("second"), 2);
    assert!(matches!(q.get_nowait(), Err(GetError::Empty)));
}

// ---- exercise 2.4: bounded put -------------------------------------------------------------

#[test]
fn full_queue_hands_the_item_back() {
    let q: Queue<String> = Queue::bounded(2).expect("queue");
    q.put_nowait("a".to_owned()).expect("a");
    q.put_nowait("b".to_owned()).expect("b");
    match q.put_nowait("c".to_owned()) {
        Err(PutError::Full(item)) => assert_eq!(item, "c"),
        other => panic!("expected Full(c), got {other:?}"),
    }
    let began = Instant::now();
    assert!(q
        .put_timeout("c".to_owned(), Duration::from_millis(100))
        .expect_err("full")
        .is_full());
    assert!(began.elapsed() >= Duration::from_millis(100), "returned early");
    assert_eq!(q.qsize(), 2);
}

#[test]
fn bounded_put_waits_until_a_get_makes_room() {
    let q: Queue<u32> = Queue::bounded(1).expect("queue");
    q.put(0).expect("put");
    let tx = q.clone();
    let mut child = Process::new(move || {
        for i in 1..=20 {
            tx.put(i).expect("put waits for room");
        }
    });
    child.start().expect("start");
    let got: Vec<u32> = (0..=20).map(|_| q.get_timeout(BOUND).expect("get")).collect();
    assert_eq!(got, (0..=20).collect::<Vec<_>>());
    assert_eq!(join_bounded(&child), 0);
}

#[test]
fn a_get_wakes_a_producer_asleep_in_put() {
    let q: Queue<String> = Queue::bounded(1).expect("queue");
    q.put("first".to_owned()).expect("put");
    let tx = q.clone();
    // `put()` on a full queue has no timeout: a producer that no get wakes sleeps for ever.
    let mut child = Process::new(move || tx.put("second".to_owned()).expect("put"));
    child.start().expect("start");
    // The get must come while the producer is asleep, or `put` finds room without sleeping.
    wait_asleep(child.pid().expect("pid"));
    assert_eq!(q.get_nowait().expect("the queue is full"), "first");
    expect_woken(
        &child,
        "put() on a full queue",
        "the get that made room did not wake it. Does your put raise \
         `header.producers_asleep` (store 1) after reading `seen` and before its second look? A \
         get wakes sleeping producers only when it finds that flag raised",
    );
    assert_eq!(q.get_nowait().expect("the woken put's item"), "second");
}

#[test]
fn unbounded_put_never_waits() {
    let q: Queue<u64> = Queue::new().expect("queue");
    let tx = q.clone();
    let mut child = Process::new(move || (0..20_000).for_each(|i| tx.put(i).expect("put")));
    child.start().expect("start");
    // Nobody reads while the child puts: an unbounded put must not wait for a reader.
    assert_eq!(join_bounded(&child), 0);
    assert_eq!(q.qsize(), 20_000);
}

// ---- exercises 2.5 to 2.8: the seeds' programs -----------------------------------------------

fn run(name: &str, args: &[&str]) -> Vec<String> {
    let run = run_example_of("forkway-ipc", name, args);
    assert_eq!(run.code, 0, "the example failed:{run}");
    run.stdout.lines().map(str::to_owned).collect()
}

#[test]
fn example_download_analyse() {
    let run = run_example_of("forkway-ipc", "download_analyse", &[]);
    assert_stdout_lines(&run, &["[11, 22, 33, 44]"]);
}

#[test]
fn example_producer_consumer() {
    // The cook pauses between buns (0, 30, 60 ms, …), so the queue is empty now and then
    // before the end: a consumer must wait for the cook's Done, not stop when it sees nothing.
    let lines = run("producer_consumer", &["30"]);
    let got: Vec<&String> = lines.iter().filter(|l| l.starts_with("consumer")).collect();
    let expected: Vec<String> = (0..10).map(|i| format!("consumer egon got bun {i}.")).collect();
    assert_eq!(
        got,
        expected.iter().collect::<Vec<_>>(),
        "every bun, in order: {lines:?}"
    );
    assert_eq!(
        lines.last().map(String::as_str),
        Some("main process.."),
        "{lines:?}"
    );
    assert_eq!(lines.len(), 21, "10 made, 10 eaten, 1 main line: {lines:?}");
}

#[test]
fn example_return_values() {
    // Job 2's result arrives first, every time: the example's job 1 waits for a byte that job
    // 2 writes into this pipe after its put. Printing in arrival order shows here.
    let (gate_r, gate_w) = pipe();
    let gate = format!("/proc/{}/fd/{}", std::process::id(), gate_r.as_raw_fd());
    let run = run_example_env(
        "forkway-ipc",
        "return_values",
        &[],
        &[("RETURN_VALUES_GATE", &gate)],
    );
    drop((gate_r, gate_w));
    assert_stdout_lines(&run, &["job(1) returned 1", "job(2) returned 4"]);
}

#[test]
fn example_maxsize3() {
    assert_stdout_lines(
        &run_example_of("forkway-ipc", "maxsize3", &[]),
        &[
            "full: true",
            "full after 200 ms: msg4 handed back",
            "full at once: msg4 handed back",
            "got msg1",
            "got msg2",
            "got msg3",
            "empty: true",
        ],
    );
}
