//! `Pipe`/`Connection` across real processes, and every kind of bad input on the wire.
//! Ported cases name their CPython test (`_TestConnection.test_…`).

use std::os::fd::AsFd;
use std::time::Duration;

use forkway_ipc::{codec, pipe, simplex, RecvError, SendError};
use forkway_process::Process;
use proptest::prelude::*;

const BOUND: Duration = Duration::from_secs(20);

fn join_bounded(p: &Process) -> i32 {
    assert!(p.join_timeout(BOUND).expect("join"), "the child is still running");
    p.exitcode()
        .unwrap_or_else(|| panic!("{p:?} still running after {BOUND:?}"))
}

/// Writes raw bytes on a connection's descriptor, bypassing the codec.
fn raw_write<T>(c: &forkway_ipc::Connection<T>, bytes: &[u8]) {
    let mut left = bytes;
    while !left.is_empty() {
        let n = nix::unistd::write(c.as_fd(), left).expect("raw write");
        left = &left[n..];
    }
}

#[test]
fn echo_through_a_duplex_pipe() {
    // _TestSubclassingProcess.test_subclassing / _TestConnection.test_connection: an upper-case echo.
    let (mut here, mut there) = pipe::<String>().expect("pipe");
    here.set_close_on_fork(true);
    let mut child = Process::new(move || {
        while let Ok(msg) = there.recv() {
            if there.send(&msg.to_uppercase()).is_err() {
                break;
            }
        }
    });
    child.start().expect("start");
    for word in ["hello", "", "多进程", "with\nnewline"] {
        here.send(&word.to_owned()).expect("send");
        assert_eq!(here.recv_timeout(BOUND).expect("recv"), word.to_uppercase());
    }
    drop(here); // EOF ends the child's loop
    assert_eq!(join_bounded(&child), 0);
}

#[test]
fn large_messages_both_ways() {
    // The child reads the whole message before answering, and the parent sends before it reads:
    // with that discipline, MiB-sized messages never deadlock on the kernel's buffers.
    let (mut here, mut there) = pipe::<Vec<u8>>().expect("pipe");
    let mut child = Process::new(move || {
        let got = there.recv().expect("child recv");
        let reply: Vec<u8> = got.iter().rev().copied().collect();
        there.send(&reply).expect("child send");
    });
    child.start().expect("start");
    let big: Vec<u8> = (0..8 << 20).map(|i: u32| (i % 251) as u8).collect();
    here.send(&big).expect("send 8 MiB");
    let back = here.recv_timeout(BOUND).expect("recv 8 MiB");
    assert_eq!(back.len(), big.len());
    assert!(back.iter().eq(big.iter().rev()));
    assert_eq!(join_bounded(&child), 0);
}

#[test]
fn eof_when_the_writer_is_gone_and_closed_is_different() {
    // _TestConnection: EOFError after the peer closes; "handle is closed" for our own close.
    let (mut reader, mut writer) = simplex::<u32>().expect("simplex");
    let mut child = Process::new(move || {
        for i in 0..3 {
            writer.send(&i).expect("send");
        }
    });
    child.start().expect("start");
    assert_eq!(join_bounded(&child), 0);
    let got: Vec<u32> = (0..3)
        .map(|_| reader.recv_timeout(BOUND).expect("recv"))
        .collect();
    assert_eq!(got, [0, 1, 2]);
    assert!(
        matches!(reader.recv(), Err(RecvError::Eof)),
        "EOF after the last message"
    );
    reader.close();
    assert!(matches!(reader.recv(), Err(RecvError::Closed)));
    assert_eq!(reader.recv().expect_err("closed").to_string(), "handle is closed");
}

#[test]
fn simplex_ends_have_one_direction() {
    let (mut r, mut w) = simplex::<u8>().expect("simplex");
    assert!(matches!(r.send(&1), Err(SendError::ReadOnly)));
    assert!(matches!(w.recv(), Err(RecvError::WriteOnly)));
    assert!(matches!(w.poll(Some(Duration::ZERO)), Err(RecvError::WriteOnly)));
    drop(r);
    assert!(
        matches!(w.send(&1), Err(SendError::BrokenPipe)),
        "nobody can read it any more"
    );
}

#[test]
fn poll_and_timeouts_really_wait_and_really_time_out() {
    let (mut a, mut b) = pipe::<u8>().expect("pipe");
    assert!(!a.poll(Some(Duration::ZERO)).expect("poll"));
    let started = std::time::Instant::now();
    assert!(matches!(
        a.recv_timeout(Duration::from_millis(50)),
        Err(RecvError::Timeout)
    ));
    assert!(
        started.elapsed() >= Duration::from_millis(50),
        "the timeout was honoured"
    );
    b.send(&9).expect("send");
    assert!(a.poll(Some(BOUND)).expect("poll"));
    assert_eq!(a.recv().expect("recv"), 9);
}

#[test]
fn garbage_on_the_wire_is_an_error_not_a_panic() {
    let (mut a, b) = pipe::<(u32, String)>().expect("pipe");
    // A negative length that is not -1.
    raw_write(&b, &(-7i32).to_be_bytes());
    assert!(matches!(a.recv(), Err(RecvError::CorruptHeader(_))));
    // A valid frame whose payload is not a (u32, String).
    raw_write(&b, &codec::header(3));
    raw_write(&b, &[0xff, 0xff, 0xff]);
    assert!(matches!(a.recv(), Err(RecvError::Decode { .. })));
    // A frame of the wrong type: a String is not a (u32, String).
    let s = codec::encode(&"just a string".to_owned()).expect("encode");
    raw_write(&b, &codec::header(s.len()));
    raw_write(&b, &s);
    let err = a.recv().expect_err("wrong type");
    assert!(err.to_string().contains("(u32, alloc::string::String)"), "{err}");
}

#[test]
fn oversize_and_truncated_frames() {
    let (mut a, b) = pipe::<Vec<u8>>().expect("pipe");
    a.set_max_message(1024);
    // A header announcing 1 GiB: refused at once, nothing allocated.
    raw_write(&b, &codec::header(1 << 30));
    assert!(matches!(a.recv(), Err(RecvError::TooLarge { len, max: 1024 }) if len == 1 << 30));
    // The long form: -1 then an 8-byte length of 2^62.
    raw_write(&b, &(-1i32).to_be_bytes());
    raw_write(&b, &(1u64 << 62).to_be_bytes());
    assert!(matches!(a.recv(), Err(RecvError::TooLarge { .. })));
    // 100 bytes announced, 10 sent, then the writer closes.
    raw_write(&b, &codec::header(100));
    raw_write(&b, &[0u8; 10]);
    drop(b);
    assert!(matches!(
        a.recv(),
        Err(RecvError::Truncated {
            got: 10,
            expected: 100
        })
    ));
    let (mut c, mut d) = pipe::<Vec<u8>>().expect("pipe");
    d.set_max_message(16);
    assert!(
        matches!(d.send(&vec![0u8; 64]), Err(SendError::TooLarge { .. })),
        "the sender checks too"
    );
    c.close();
}

#[test]
fn raw_bytes_use_cpythons_framing() {
    let (a, mut b) = pipe::<()>().expect("pipe");
    b.send_bytes(b"abc").expect("send_bytes");
    // What CPython's recv_bytes would read: struct.pack("!i", 3) + b"abc".
    let mut raw = [0u8; 7];
    let mut got = 0;
    while got < 7 {
        got += nix::unistd::read(a.as_fd(), &mut raw[got..]).expect("read");
    }
    assert_eq!(&raw, b"\0\0\0\x03abc");
    raw_write(&a, b"\0\0\0\x02hi");
    assert_eq!(b.recv_bytes().expect("recv_bytes"), b"hi");
}

#[test]
fn without_close_on_fork_the_child_keeps_the_parents_end_open() {
    // The trap itself: the child inherits `here` too, so dropping it in the parent is no EOF.
    let (here, mut there) = pipe::<u8>().expect("pipe");
    let mut child = Process::new(move || {
        let eof = matches!(
            there.recv_timeout(Duration::from_millis(300)),
            Err(RecvError::Timeout)
        );
        forkway_process::exit(if eof { 7 } else { 8 });
    });
    child.start().expect("start");
    drop(here);
    assert_eq!(
        join_bounded(&child),
        7,
        "the child's own inherited copy keeps the pipe open"
    );
}

#[test]
fn a_close_on_fork_end_is_closed_in_the_child() {
    let (mut here, _there) = pipe::<u8>().expect("pipe");
    here.set_close_on_fork(true);
    let (mut report, mut report_w) = simplex::<String>().expect("simplex");
    report.set_close_on_fork(true);
    let mut child = Process::new(move || {
        // (The number itself may already be reused in the child, e.g. by its pidfd on us.)
        let used = here.send(&1).map_err(|e| e.to_string());
        let _ = report_w.send(&format!("send={used:?}"));
        std::mem::forget(here); // a stale copy: never closed twice
    });
    child.start().expect("start");
    let line = report.recv_timeout(BOUND).expect("report");
    assert!(
        line.starts_with("open=false") || line.contains("send=Err(\"handle is closed\")"),
        "{line}"
    );
    assert!(line.ends_with("send=Err(\"handle is closed\")"), "{line}");
    assert_eq!(join_bounded(&child), 0);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn decoding_any_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = codec::decode::<(u32, String, Vec<u64>)>(&bytes);
        let _ = codec::decode::<Vec<String>>(&bytes);
    }

    #[test]
    fn values_round_trip(v in (any::<u64>(), ".*", proptest::collection::vec(any::<i16>(), 0..200), any::<Option<bool>>())) {
        let bytes = codec::encode(&v).expect("encode");
        prop_assert_eq!(codec::decode::<(u64, String, Vec<i16>, Option<bool>)>(&bytes).expect("decode"), v);
    }

    #[test]
    fn frames_of_any_size_arrive_whole_and_in_order(sizes in proptest::collection::vec(0usize..300_000, 1..6)) {
        let (mut a, mut b) = pipe::<()>().expect("pipe");
        let payloads: Vec<Vec<u8>> = sizes.iter().enumerate().map(|(i, &n)| vec![i as u8; n]).collect();
        let sent = payloads.clone();
        // A writer thread: a single thread would block on the socket's buffer.
        let writer = std::thread::spawn(move || {
            for p in &sent {
                b.send_bytes(p).expect("send");
            }
        });
        for p in &payloads {
            prop_assert_eq!(&a.recv_bytes().expect("recv"), p);
        }
        writer.join().expect("writer");
    }
}
