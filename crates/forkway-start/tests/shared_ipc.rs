//! A `SimpleQueue::new_sendable` queue and the ends of a `Pipe` reach forkserver and spawn
//! children as arguments: messages go both ways; a SIGKILLed child's end gives the parent EOF
//! (or a broken pipe), not a hang; a spawned or forkserver consumer killed in the middle of a
//! `get` leaves the queue whole for the next consumer (the guarantee `SimpleQueue` gives under
//! fork); nothing leaks, no zombie stays; and what cannot travel is refused with a clear error.
//!
//! The tests of this file run one at a time (`serial`): an EOF only comes once every copy of
//! the other end is closed, and a child forked by a test running beside it would hold a copy
//! (Python's trap too). The descriptor count is only exact with nothing else running.

use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use forkway_ipc::{
    pipe, simplex, Connection, GetError, PutError, Queue, RecvError, SendError, SimpleQueue,
    CONNECTION_TRAVELS_AS_ARGUMENT,
};
use forkway_start::{bootstrap, forkserver, Context, Process, StartMethod, Target};
use forkway_sync::Event;
use serde_bytes::ByteBuf;

mod common;

use common::{bounded, reap, BOUND, METHODS};

/// One test of this file at a time; the server started before any pipe exists, so it holds none.
fn serial() -> MutexGuard<'static, ()> {
    static SERIAL: Mutex<()> = Mutex::new(());
    let guard = SERIAL.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    forkserver::ensure_running().expect("forkserver");
    guard
}

fn starts(p: &mut Process, method: StartMethod) {
    p.start().unwrap_or_else(|e| panic!("{method}: {e}"));
}

/// A message of `len` bytes that says which it is.
fn big(seq: u32, len: usize) -> ByteBuf {
    let mut bytes = vec![(seq % 251) as u8; len];
    bytes[..4].copy_from_slice(&seq.to_le_bytes());
    ByteBuf::from(bytes)
}

/// Which message `bytes` is, checking that it is whole.
fn seq_of(bytes: &[u8], len: usize) -> Result<u32, String> {
    let seq = u32::from_le_bytes(
        bytes
            .get(..4)
            .and_then(|b| b.try_into().ok())
            .ok_or("a message shorter than 4 bytes")?,
    );
    if bytes.len() != len || bytes[4..].iter().any(|&b| b != (seq % 251) as u8) {
        return Err(format!("message {seq} is torn ({} bytes)", bytes.len()));
    }
    Ok(seq)
}

/// Answers every message with the same bytes reversed until EOF; then says how many.
fn echo(mut conn: Connection<ByteBuf>) -> Result<(), String> {
    let mut n = 0u32;
    loop {
        match conn.recv() {
            Ok(mut bytes) => {
                bytes.reverse();
                conn.send(&bytes).map_err(|e| e.to_string())?;
                n += 1;
            }
            Err(RecvError::Eof) => break,
            Err(e) => return Err(e.to_string()),
        }
    }
    // The parent's end is closed: a send now is a broken pipe, as Python's BrokenPipeError.
    match conn.send(&ByteBuf::from(n.to_le_bytes().to_vec())) {
        Err(SendError::BrokenPipe) => Ok(()),
        other => Err(format!("a send after EOF: {other:?}")),
    }
}

/// Writes `n` messages into a simplex pipe's write end and ends (closing it). Checks first
/// that the end it got is close-on-exec: a program it ran would otherwise hold the pipe open.
fn write_n(mut w: Connection<u32>, n: u32) -> Result<(), String> {
    use std::os::fd::AsFd;
    let flags = nix::fcntl::fcntl(w.as_fd(), nix::fcntl::FcntlArg::F_GETFD).map_err(|e| e.to_string())?;
    if flags & libc::FD_CLOEXEC == 0 {
        return Err("the end that came with the arguments is inheritable across exec".into());
    }
    for i in 0..n {
        w.send(&i).map_err(|e| e.to_string())?;
    }
    Ok(())
}

#[test]
fn a_pipe_carries_messages_both_ways_to_a_forkserver_or_spawn_child() {
    bootstrap();
    let _serial = serial();
    for method in METHODS {
        let (mut parent, child) = pipe::<ByteBuf>().expect("pipe");
        let mut p = Context::new(method).process(echo, (child,));
        starts(&mut p, method);
        // Small messages and ones far larger than the socket's buffer, interleaved.
        for (seq, len) in [(1u32, 10usize), (2, 3 << 20), (3, 4), (4, 200_000)] {
            let sent = big(seq, len);
            let copy = sent.clone();
            let (back, result) = bounded(&format!("{method}: send"), move || {
                let result = parent.send(&copy).map_err(|e| e.to_string());
                (parent, result)
            });
            parent = back;
            result.unwrap_or_else(|e| panic!("{method}: {e}"));
            let mut back = parent
                .recv_timeout(BOUND)
                .unwrap_or_else(|e| panic!("{method}: {e}"));
            back.reverse();
            assert_eq!(back, sent, "{method}: message {seq}");
        }
        // Closing our end is the child's EOF: it ends by itself (and sees a broken pipe).
        drop(parent);
        reap(&p, 0, &format!("{method}: the echo child"));

        let (mut r, w) = simplex::<u32>().expect("simplex");
        let mut p = Context::new(method).process(write_n, (w, 1000u32));
        starts(&mut p, method);
        for i in 0..1000 {
            assert_eq!(r.recv_timeout(BOUND).ok(), Some(i), "{method}");
        }
        assert!(
            matches!(r.recv_timeout(BOUND), Err(RecvError::Eof)),
            "{method}: the writer's end was not the only one left"
        );
        reap(&p, 0, &format!("{method}: the writer"));
    }
}

/// Says its pid, then waits in `recv` until killed.
fn hold_the_end(mut conn: Connection<u32>) {
    let _ = conn.send(&std::process::id());
    let _ = conn.recv();
    std::thread::sleep(Duration::from_secs(600));
}

#[test]
fn a_sigkilled_child_holding_the_other_end_gives_the_parent_eof_not_a_hang() {
    bootstrap();
    let _serial = serial();
    for method in METHODS {
        let (mut parent, child) = pipe::<u32>().expect("pipe");
        let mut p = Context::new(method).process(hold_the_end, (child,));
        starts(&mut p, method);
        assert_eq!(parent.recv_timeout(BOUND).ok(), p.pid(), "{method}");
        p.kill().expect("kill");
        reap(&p, -9, &format!("{method}: the holder"));
        let got = parent.recv_timeout(BOUND);
        assert!(
            matches!(got, Err(RecvError::Eof)),
            "{method}: expected EOF, got {got:?}"
        );
        let sent = parent.send(&7);
        assert!(
            matches!(sent, Err(SendError::BrokenPipe)),
            "{method}: expected a broken pipe, got {sent:?}"
        );
    }
}

/// Takes `n` messages from `tasks` and puts each, checked and numbered, on `results`; then one
/// message of its own, larger than the pipe's buffer.
fn relay(tasks: SimpleQueue<ByteBuf>, results: SimpleQueue<ByteBuf>, n: u32) -> Result<(), String> {
    for _ in 0..n {
        let bytes = tasks.get_timeout(BOUND).map_err(|e| e.to_string())?;
        let seq = seq_of(&bytes, 100_000)?;
        results.put(big(seq + 1000, 1000)).map_err(|e| e.to_string())?;
    }
    results.put(big(7, 300_000)).map_err(|e| e.to_string())
}

#[test]
fn a_sendable_simple_queue_is_shared_both_ways() {
    bootstrap();
    let _serial = serial();
    for method in METHODS {
        let tasks: SimpleQueue<ByteBuf> = SimpleQueue::new_sendable().expect("queue");
        let results: SimpleQueue<ByteBuf> = SimpleQueue::new_sendable().expect("queue");
        let mut p = Context::new(method).process(relay, (tasks.clone(), results.clone(), 20u32));
        starts(&mut p, method);
        for seq in 0..20 {
            // 100 kB: more than the pipe holds, so puts and gets overlap mid-frame.
            let tx = tasks.clone();
            bounded(&format!("{method}: put"), move || {
                tx.put(big(seq, 100_000)).map_err(|e| e.to_string())
            })
            .unwrap_or_else(|e| panic!("{method}: {e}"));
            let got = results
                .get_timeout(BOUND)
                .unwrap_or_else(|e| panic!("{method}: {e}"));
            assert_eq!(seq_of(&got, 1000), Ok(seq + 1000), "{method}");
        }
        let last = results
            .get_timeout(BOUND)
            .unwrap_or_else(|e| panic!("{method}: {e}"));
        assert_eq!(seq_of(&last, 300_000), Ok(7), "{method}");
        reap(&p, 0, &method.to_string());
        assert!(tasks.is_empty().expect("empty") && results.is_empty().expect("empty"));
    }
}

/// Says it is about to take an item, then waits in `get` (no item comes) until killed.
fn wait_in_get(q: SimpleQueue<u32>, ready: Event) {
    ready.set();
    let _ = q.get();
    std::thread::sleep(Duration::from_secs(600));
}

/// Holds the queue's read lock — a `get` between taking the lock and reading — until killed.
fn hold_in_get(q: SimpleQueue<u32>, ready: Event) {
    q.hold_read_lock_for_tests(|| {
        ready.set();
        std::thread::sleep(Duration::from_secs(600));
    });
}

/// The second consumer: takes `n` items and hands them back in the order it got them.
fn take_n(q: SimpleQueue<u32>, back: Queue<u32>, n: u32) -> Result<(), String> {
    for _ in 0..n {
        let item = q.get_timeout(BOUND).map_err(|e| e.to_string())?;
        back.put(item).map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// Whether some thread of `pid` sleeps in `poll` (or the kernel hides where threads sleep).
/// Every thread is looked at: a spawned test child runs its target on libtest's thread.
fn wait_in_poll(pid: u32, what: &str) {
    let deadline = std::time::Instant::now() + BOUND;
    loop {
        let tasks = std::fs::read_dir(format!("/proc/{pid}/task"))
            .into_iter()
            .flatten()
            .flatten();
        let in_poll = tasks.into_iter().any(|task| {
            let wchan = std::fs::read_to_string(task.path().join("wchan")).unwrap_or_default();
            let stat = std::fs::read_to_string(task.path().join("stat")).unwrap_or_default();
            let sleeping = stat
                .rsplit_once(')')
                .is_some_and(|(_, rest)| rest.trim_start().starts_with('S'));
            sleeping && (wchan.contains("poll") || wchan == "0")
        });
        if in_poll {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{what}: pid {pid} never waited in poll"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Starts `victim` as a consumer of a fresh queue under `method`, kills it in the middle of a
/// `get`, and checks that a second consumer started the same way gets every item, whole and
/// in order, and that the queue goes on.
fn kill_mid_get<F>(method: StartMethod, how: &str, victim: F)
where
    F: Target<(SimpleQueue<u32>, Event)>,
{
    let what = format!("{method}, a consumer killed {how}");
    let q: SimpleQueue<u32> = SimpleQueue::new_sendable().expect("queue");
    let ready = Event::new_sendable().expect("event");
    let mut p = Context::new(method).process(victim, (q.clone(), ready.clone()));
    starts(&mut p, method);
    assert!(ready.wait_timeout(BOUND), "{what}: the consumer never started");
    let holding = how.contains("lock");
    if holding {
        // Items wait in the pipe while the victim holds the read lock.
        for item in [10, 11, 12] {
            q.put(item).expect("put");
        }
    } else {
        wait_in_poll(p.pid().expect("pid"), &what);
    }
    p.kill().expect("kill");
    reap(&p, -9, &what);
    if !holding {
        for item in [10, 11, 12] {
            q.put(item).expect("put");
        }
    }
    let back: Queue<u32> = Queue::new_sendable().expect("queue");
    let mut next = Context::new(method).process(take_n, (q.clone(), back.clone(), 3u32));
    starts(&mut next, method);
    let got: Vec<u32> = (0..3)
        .map(|_| back.get_timeout(BOUND).unwrap_or_else(|e| panic!("{what}: {e}")))
        .collect();
    assert_eq!(got, [10, 11, 12], "{what}");
    reap(&next, 0, &what);
    // And the queue goes on here too.
    q.put(13).expect("put");
    assert_eq!(q.get_timeout(BOUND).ok(), Some(13), "{what}");
    assert!(q.is_empty().expect("empty"), "{what}");
}

/// Under fork, a `SimpleQueue` consumer killed while it waits in `get`, or while it holds the
/// read lock between messages, leaves every message whole and the queue usable
/// (`forkway-ipc/tests/queue.rs`, `hardening.rs`). The same for a consumer started by
/// forkserver or spawn: the robust read lock lives in the memfd the child mapped.
#[test]
fn a_consumer_sigkilled_mid_get_leaves_the_simple_queue_whole_for_the_next() {
    bootstrap();
    let _serial = serial();
    for method in METHODS {
        kill_mid_get(method, "waiting in get", wait_in_get);
        kill_mid_get(method, "holding the read lock", hold_in_get);
    }
}

/// Starts a child of `method` with `arg` and returns the refusal's text.
fn refusal<A>(method: StartMethod, arg: A) -> String
where
    A: serde::Serialize + serde::de::DeserializeOwned + Send + 'static,
{
    let mut p = Context::new(method).process(|_a: A| {}, (arg,));
    match p.start() {
        Ok(()) => {
            let _ = p.kill();
            let _ = p.join_timeout(BOUND);
            panic!("{method}: an object that cannot travel was accepted");
        }
        Err(e) => e.to_string(),
    }
}

#[test]
fn what_cannot_travel_is_refused_with_a_clear_error() {
    bootstrap();
    let _serial = serial();
    for method in METHODS {
        let e = refusal(method, SimpleQueue::<u8>::new().expect("queue"));
        assert!(
            e.contains("SimpleQueue objects should only be shared between processes through inheritance")
                && e.contains("SimpleQueue::new_sendable"),
            "{method}: {e}"
        );
        let (mut closed, _other) = pipe::<u8>().expect("pipe");
        closed.close();
        let e = refusal(method, closed);
        assert!(e.contains("handle is closed"), "{method}: {e}");
    }
    // Inside a message, a connection or a sendable queue cannot travel: an error at `put`,
    // with the item back, not a descriptor number that means nothing on the other side.
    let q: Queue<Connection<u8>> = Queue::new().expect("queue");
    let (end, _other) = pipe::<u8>().expect("pipe");
    match q.put(end) {
        Err(PutError::Encode { error, .. }) => {
            assert!(
                error.to_string().contains(CONNECTION_TRAVELS_AS_ARGUMENT),
                "{error}"
            )
        }
        other => panic!(
            "a connection went into a queue: {:?}",
            other.map_err(|e| e.to_string())
        ),
    }
    let sq: Queue<SimpleQueue<u8>> = Queue::new().expect("queue");
    let inner = SimpleQueue::new_sendable().expect("queue");
    assert!(matches!(sq.put(inner), Err(PutError::Encode { .. })));
    assert!(matches!(q.get_nowait(), Err(GetError::Empty)));
}

/// Children of this process and of its forkserver that ended but were not reaped.
fn zombies() -> Vec<String> {
    let parents = [Some(std::process::id()), forkserver::server_pid()];
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").expect("/proc").flatten() {
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // After the command's closing parenthesis: state, ppid.
        let mut rest = stat.rsplit_once(')').map_or("", |(_, r)| r).split_whitespace();
        let (state, ppid) = (rest.next(), rest.next().and_then(|p| p.parse::<u32>().ok()));
        if state == Some("Z") && parents.contains(&ppid) {
            found.push(stat);
        }
    }
    found
}

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count())
}

/// One round of everything above, through children of `method`.
fn round(method: StartMethod) {
    let (mut parent, child) = pipe::<ByteBuf>().expect("pipe");
    let mut p = Context::new(method).process(echo, (child,));
    starts(&mut p, method);
    parent.send(&big(1, 100)).expect("send");
    assert!(parent.recv_timeout(BOUND).is_ok(), "{method}");
    drop(parent);
    reap(&p, 0, &method.to_string());

    let (mut parent, child) = pipe::<u32>().expect("pipe");
    let mut p = Context::new(method).process(hold_the_end, (child,));
    starts(&mut p, method);
    assert_eq!(parent.recv_timeout(BOUND).ok(), p.pid(), "{method}");
    p.kill().expect("kill");
    reap(&p, -9, &method.to_string());

    let q: SimpleQueue<u32> = SimpleQueue::new_sendable().expect("queue");
    let ready = Event::new_sendable().expect("event");
    let mut p = Context::new(method).process(hold_in_get, (q.clone(), ready.clone()));
    starts(&mut p, method);
    assert!(ready.wait_timeout(BOUND), "{method}");
    p.kill().expect("kill");
    reap(&p, -9, &method.to_string());
    let back: Queue<u32> = Queue::new_sendable().expect("queue");
    let mut p = Context::new(method).process(take_n, (q.clone(), back.clone(), 1u32));
    starts(&mut p, method);
    q.put(5).expect("put");
    assert_eq!(back.get_timeout(BOUND).ok(), Some(5), "{method}");
    reap(&p, 0, &method.to_string());
}

#[test]
fn passing_pipes_and_simple_queues_leaks_no_descriptor_and_leaves_no_zombie() {
    bootstrap();
    let _serial = serial();
    // A first round opens what stays open for good (the spawn machinery's, the server's).
    for method in METHODS {
        round(method);
    }
    let before = open_fds();
    for _ in 0..3 {
        for method in METHODS {
            round(method);
        }
    }
    assert_eq!(open_fds(), before, "descriptors leaked");
    assert_eq!(zombies(), Vec::<String>::new(), "zombies left");
}
