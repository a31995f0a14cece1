//! Lesson 6's graded checks: the two halves of the authkey handshake, the server's
//! request/reply loop, and the seeds' manager programs.
//! Run them with `cargo xtask lesson 6` (or `cargo test -p forkway-manager --test lesson6`).

use forkway_testkit as support;

use std::collections::HashMap;
use std::os::unix::net::UnixStream;

use forkway_ipc::Connection;
use forkway_manager::auth::{answer_challenge, deliver_challenge, CHALLENGE, FAILURE, WELCOME};
use forkway_manager::{client, AuthError, ListProxy, Listener, Manager, ManagerError, QueueProxy};
use forkway_process::Process;
use hmac::{Hmac, Mac};
use support::*;

const KEY: &[u8] = b"the key both sides know";

fn hmac_sha256(key: &[u8], message: &[u8]) -> Vec<u8> {
    let mut m = Hmac::<sha2::Sha256>::new_from_slice(key).expect("any key length");
    m.update(message);
    m.finalize().into_bytes().to_vec()
}

fn hmac_md5(key: &[u8], message: &[u8]) -> Vec<u8> {
    let mut m = Hmac::<md5::Md5>::new_from_slice(key).expect("any key length");
    m.update(message);
    m.finalize().into_bytes().to_vec()
}

/// Two connected ends: the code under test gets one, the test plays the other side by hand.
fn ends() -> (Connection<()>, Connection<()>) {
    let (a, b) = UnixStream::pair().expect("socketpair");
    (
        Connection::from_stream(a.into()),
        Connection::from_stream(b.into()),
    )
}

/// Plays the prover against the learner's verifier: reads the challenge, answers with
/// `answer(message)`, returns (the challenge's message, the verdict).
fn prove_by_hand(answer: fn(&[u8]) -> Vec<u8>) -> (Vec<u8>, Vec<u8>, Result<(), AuthError>) {
    let (mut ours, mut theirs) = ends();
    let verifier = std::thread::spawn(move || deliver_challenge(&mut theirs, KEY));
    let challenge = ours.recv_bytes().expect("a challenge");
    let message = challenge
        .strip_prefix(CHALLENGE)
        .unwrap_or_else(|| panic!("the challenge starts with #CHALLENGE#: {challenge:?}"))
        .to_vec();
    ours.send_bytes(&answer(&message)).expect("answer");
    let verdict = ours.recv_bytes().expect("a verdict");
    // Hang up before waiting: a verifier that reads more than it should sees end of file.
    drop(ours);
    (
        message,
        verdict,
        verifier.join().expect("the verifier does not panic"),
    )
}

#[test]
fn the_verifier_welcomes_the_right_key() {
    let answer = |m: &[u8]| [b"{sha256}".as_slice(), &hmac_sha256(KEY, m)].concat();
    let (message, verdict, outcome) = prove_by_hand(answer);
    assert!(message.starts_with(b"{sha256}"), "CPython 3.12's digest prefix");
    assert_eq!(message.len(), 8 + 40, "`{{sha256}}` and 40 random bytes");
    assert_eq!(verdict, WELCOME);
    assert!(outcome.is_ok(), "{outcome:?}");
    let (again, _, _) = prove_by_hand(answer);
    assert_ne!(
        message, again,
        "every challenge is fresh: a recorded answer is worth nothing"
    );
}

#[test]
fn the_verifier_refuses_a_wrong_digest() {
    let wrong_key = |m: &[u8]| [b"{sha256}".as_slice(), &hmac_sha256(b"another key", m)].concat();
    let (_, verdict, outcome) = prove_by_hand(wrong_key);
    assert_eq!(verdict, FAILURE);
    assert!(matches!(outcome, Err(AuthError::WrongDigest)), "{outcome:?}");
    let garbage = |_: &[u8]| b"hello, let me in".repeat(3);
    let (_, verdict, outcome) = prove_by_hand(garbage);
    assert_eq!(verdict, FAILURE, "garbage is refused too");
    assert!(outcome.is_err());
}

/// Plays the verifier against the learner's prover with `message`; returns the response.
fn verify_by_hand(message: &[u8], verdict: &[u8]) -> (Vec<u8>, Result<(), AuthError>) {
    let (mut ours, mut theirs) = ends();
    let prover = std::thread::spawn(move || answer_challenge(&mut theirs, KEY));
    ours.send_bytes(&[CHALLENGE, message].concat())
        .expect("challenge");
    let response = ours.recv_bytes().expect("a response");
    ours.send_bytes(verdict).expect("verdict");
    drop(ours);
    (response, prover.join().expect("the prover does not panic"))
}

#[test]
fn the_prover_answers_a_challenge() {
    let message = [b"{sha256}".as_slice(), &[7u8; 40]].concat();
    let (response, outcome) = verify_by_hand(&message, WELCOME);
    assert_eq!(
        response,
        [b"{sha256}".as_slice(), &hmac_sha256(KEY, &message)].concat(),
        "the MAC covers the whole message, prefix included"
    );
    assert!(outcome.is_ok(), "{outcome:?}");
    // CPython 3.11 and older send 20 bare bytes and expect a bare HMAC-MD5.
    let legacy = [9u8; 20];
    let (response, outcome) = verify_by_hand(&legacy, WELCOME);
    assert_eq!(response, hmac_md5(KEY, &legacy));
    assert!(outcome.is_ok(), "{outcome:?}");
}

#[test]
fn the_prover_reports_a_rejection() {
    let message = [b"{sha256}".as_slice(), &[1u8; 40]].concat();
    let (_, outcome) = verify_by_hand(&message, FAILURE);
    assert!(matches!(outcome, Err(AuthError::Rejected)), "{outcome:?}");
    let (mut ours, mut theirs) = ends();
    let prover = std::thread::spawn(move || answer_challenge(&mut theirs, KEY));
    ours.send_bytes(b"#WELCOME#").expect("not a challenge");
    drop(ours);
    assert!(
        matches!(prover.join().expect("no panic"), Err(AuthError::Protocol(_))),
        "a message that is not a challenge is a protocol error"
    );
}

#[test]
fn listener_and_client_authenticate_both_ways() {
    let listener = Listener::new(Some(KEY)).expect("listener");
    let address = listener.address().clone();
    let mut p = Process::new(move || {
        let mut c = client::<String>(&address, Some(KEY)).expect("the right key gets in");
        c.send(&"hello".into()).expect("send");
        let wrong = client::<String>(&address, Some(b"wrong")).map(drop);
        assert!(wrong.is_err(), "a wrong key does not");
    });
    p.start().expect("start");
    // Bounded: a child that fails before it connects must fail this test, not hang it.
    let mut conn = listener.accept_timeout::<String>(BOUND).expect("accept");
    assert_eq!(conn.recv().expect("recv"), "hello");
    assert!(
        listener.accept_timeout::<String>(BOUND).is_err(),
        "the wrong key is refused"
    );
    assert_eq!(join_bounded(&p), 0);
}

#[test]
fn the_server_answers_requests_in_order() {
    let m = Manager::start().expect("manager");
    let l: ListProxy<u32> = m.list().expect("a list (the server answered `create`)");
    for i in 0..100 {
        l.push(&i).expect("push");
    }
    assert_eq!(l.len().expect("len"), 100);
    assert_eq!(l.to_vec().expect("copy"), (0..100).collect::<Vec<_>>());
    assert!(matches!(
        l.set(500, &1),
        Err(ManagerError::IndexOutOfRange { .. })
    ));
    assert_eq!(l.pop().expect("the server goes on after an error"), Some(99));
}

#[test]
fn malformed_requests_do_not_stop_the_server() {
    let m = Manager::start().expect("manager");
    let q: QueueProxy<u8> = m.queue().expect("queue");
    let key = forkway_process::authkey();
    let mut raw = client::<()>(m.address(), Some(&key)).expect("connect");
    for garbage in [&b"\xde\xad\xbe\xef"[..], b"", &[0xff; 64]] {
        raw.send_bytes(garbage).expect("send");
        let reply = raw.recv_bytes().expect("an error reply, on the same connection");
        assert!(!reply.is_empty());
    }
    q.put(5).expect("put");
    assert_eq!(q.get().expect("get"), 5, "other clients are served as before");
}

#[test]
fn an_undelivered_reply_gives_back_what_it_took() {
    let m = Manager::start().expect("manager");
    let q: QueueProxy<u32> = m.queue().expect("queue");
    for round in 0..5 {
        let q2 = q.clone();
        let (mut r, mut w) = pipe();
        let mut getter = Process::new(move || {
            q2.qsize().expect("qsize"); // connected and authenticated from here on
            send_line(&mut w, "getting");
            let _ = q2.get();
        });
        getter.start().expect("start");
        read_line(&mut r);
        let pid = getter.pid().expect("pid");
        // Its request is sent and it waits for the answer: kill it mid-call.
        wait_blocked_in(pid, "unix_stream_read");
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid as i32),
            forkway_process::Signal::SIGKILL,
        );
        assert_eq!(join_bounded(&getter), -9);
        q.put(round).expect("put");
        assert_eq!(
            q.get_timeout(BOUND)
                .expect("the item is not lost to the dead client"),
            round
        );
    }
}

#[test]
fn shutdown_stops_the_server() {
    let mut m = Manager::start().expect("manager");
    let q: QueueProxy<u8> = m.queue().expect("queue");
    m.shutdown().expect("shutdown");
    assert_eq!(m.exitcode(), Some(0), "the server exits by itself, with 0");
    assert!(q.put(1).is_err());
}

#[test]
fn example_reader_writer() {
    let run = run_example_of("forkway-manager", "reader_writer", &[]);
    assert_eq!(run.code, 0, "{run:?}");
    let main_pid: u32 = run
        .stdout
        .lines()
        .next()
        .and_then(|l| l.strip_prefix('(')?.strip_suffix(") start")?.parse().ok())
        .unwrap_or_else(|| panic!("the first line is `(pid) start`: {run:?}"));
    let pids = |who: &str| -> (u32, u32) {
        let line = run
            .stdout
            .lines()
            .find(|l| l.starts_with(&format!("{who} started (")))
            .unwrap_or_else(|| panic!("a `{who} started (pid), parent (ppid)` line: {run:?}"));
        let nums: Vec<u32> = line
            .split(|c: char| !c.is_ascii_digit())
            .filter_map(|s| s.parse().ok())
            .collect();
        (nums[0], nums[1])
    };
    for who in ["writer", "reader"] {
        let (pid, ppid) = pids(who);
        assert_ne!(pid, main_pid, "the {who} runs in a pool worker");
        assert_eq!(ppid, main_pid, "whose parent is the main process");
    }
    let got: String = run
        .stdout
        .lines()
        .filter_map(|l| l.strip_prefix("reader got from the queue: "))
        .collect();
    assert_eq!(got, "itcast", "{run:?}");
    assert!(run.stdout.lines().any(|l| l == format!("({main_pid}) End")));
}

#[test]
fn example_word_count() {
    // Every line shares words with every other, so lost updates would show.
    let words = ["the", "pool", "manager", "proxy", "the", "dict"];
    let text: String = (0..150)
        .map(|i| {
            let mut line: Vec<&str> = words.to_vec();
            line.push(words[i % words.len()]);
            line.join(" ") + "\n"
        })
        .collect();
    let mut expected: HashMap<String, u64> = HashMap::new();
    for w in text.split_whitespace() {
        *expected.entry(w.to_owned()).or_default() += 1;
    }
    let path = std::env::temp_dir().join(format!("forkway-words-{}.txt", std::process::id()));
    std::fs::write(&path, &text).expect("write the text");
    let run = run_example_of("forkway-manager", "word_count", &[path.to_str().expect("utf-8")]);
    let _ = std::fs::remove_file(&path);
    assert_eq!(run.code, 0, "{run:?}");
    let mut got: HashMap<String, u64> = HashMap::new();
    let mut total = None;
    for line in run.stdout.lines() {
        let (word, n) = line
            .split_once(' ')
            .unwrap_or_else(|| panic!("`word count`: {line:?}"));
        let n: u64 = n.parse().unwrap_or_else(|_| panic!("a count: {line:?}"));
        if word == "total" {
            total = Some(n);
        } else {
            got.insert(word.to_owned(), n);
        }
    }
    assert_eq!(got, expected, "every worker's counts arrived, none was lost");
    assert_eq!(total, Some(expected.values().sum()));
}
