//! The manager across real processes: CPython's `_TestContainers`, `TestSyncManagerTypes`,
//! `_TestRemoteManager`, `_TestManagerRestart` and `test_manager_initializer` cases (reference
//! §7.3), proxies handed to pool workers, the reference counts, and the failures: malformed
//! requests, clients SIGKILLed mid-call, many clients at once, use after shutdown.

use forkway_testkit as support;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use forkway_manager::{
    Address, DictProxy, ListProxy, LockProxy, Manager, ManagerError, Proxy, QueueProxy, ValueProxy,
};
use forkway_pool::Pool;
use forkway_process::{Process, Signal};
use support::*;

fn kill(pid: u32) {
    let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), Signal::SIGKILL);
}

/// Polls (bounded) until the server holds `n` objects: decrefs of a child that just exited
/// may still be on their way, and no event tells us when the server has counted them.
fn settles_at(m: &Manager, n: usize) -> bool {
    let start = Instant::now();
    while start.elapsed() < BOUND {
        if m.number_of_objects().expect("count") == n {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    false
}

#[test]
fn test_list() {
    let m = Manager::start().expect("manager");
    let l = m.list_from(0..10).expect("list");
    assert_eq!(l.to_vec().expect("copy"), (0..10).collect::<Vec<_>>());
    assert_eq!(l.len().expect("len"), 10);
    assert_eq!(l.get(3).expect("get"), Some(3));
    assert_eq!(l.get(10).expect("get"), None, "past the end");
    l.extend(&[10, 11]).expect("extend");
    l.push(&12).expect("push");
    assert_eq!(l.set(0, &100).expect("set"), 0, "set returns the old item");
    assert!(matches!(
        l.set(99, &1),
        Err(ManagerError::IndexOutOfRange { index: 99, len: 13 })
    ));
    l.insert(1, &-1).expect("insert");
    assert_eq!(l.pop().expect("pop"), Some(12));
    assert_eq!(l.remove(1).expect("remove"), -1);
    assert_eq!(
        l.to_vec().expect("copy"),
        [100, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]
    );
    // A copy is a plain Vec: changing it changes nothing in the manager (Python's `l[:]`).
    let mut copy = l.to_vec().expect("copy");
    copy.clear();
    assert_eq!(l.len().expect("len"), 12);
    l.clear().expect("clear");
    assert!(l.is_empty().expect("empty"));
    assert_eq!(l.pop().expect("pop"), None);
}

#[test]
fn test_list_iter_sees_items_appended_while_it_runs() {
    let m = Manager::start().expect("manager");
    let l = m.list_from([1, 2, 3]).expect("list");
    let mut seen = Vec::new();
    for item in l.iter() {
        let item = item.expect("item");
        if item == 1 {
            l.push(&4).expect("push");
        }
        seen.push(item);
    }
    assert_eq!(seen, [1, 2, 3, 4]);
    assert_eq!(l.iter().count(), 4, "a new iterator starts over and is exhausted");
}

#[test]
fn test_dict() {
    let m = Manager::start().expect("manager");
    let d: DictProxy<String, u32> = m.dict().expect("dict");
    for (i, word) in ["one", "two", "three"].iter().enumerate() {
        assert_eq!(d.insert(&word.to_string(), &(i as u32)).expect("insert"), None);
    }
    assert_eq!(d.insert(&"two".into(), &22).expect("insert"), Some(1));
    assert_eq!(d.get(&"two".into()).expect("get"), Some(22));
    assert_eq!(d.get(&"four".into()).expect("get"), None);
    assert!(d.contains_key(&"one".into()).expect("contains"));
    // Insertion order, as a Python dict keeps it.
    assert_eq!(d.keys().expect("keys"), ["one", "two", "three"]);
    assert_eq!(d.values().expect("values"), [0, 22, 2]);
    assert_eq!(
        d.items().expect("items"),
        [("one".into(), 0), ("two".into(), 22), ("three".into(), 2)]
    );
    assert_eq!(d.remove(&"one".into()).expect("remove"), Some(0));
    assert_eq!(d.remove(&"one".into()).expect("remove"), None);
    d.update([(&"a".to_string(), &1), (&"b".to_string(), &2)])
        .expect("update");
    assert_eq!(d.len().expect("len"), 4);
    d.clear().expect("clear");
    assert!(d.is_empty().expect("empty"));
    let from: DictProxy<u8, String> = m.dict_from([(1, "x".into()), (2, "y".into())]).expect("dict");
    assert_eq!(from.items().expect("items"), [(1, "x".into()), (2, "y".into())]);
}

#[test]
fn a_child_works_on_each_proxy_type() {
    // TestSyncManagerTypes: the child pops until empty, sets a value, fills a dict, waits on
    // an event; the parent sees all of it.
    let m = Manager::start().expect("manager");
    let q: QueueProxy<i32> = m.queue().expect("queue");
    for i in 0..5 {
        q.put(i).expect("put");
    }
    let l = m.list_from([1, 2, 3]).expect("list");
    let v = m.value(&0.5f64).expect("value");
    let d: DictProxy<String, i32> = m.dict().expect("dict");
    let e = m.event().expect("event");
    let go = m.event().expect("event");
    let (q2, l2, v2, d2, e2, go2) = (q.clone(), l.clone(), v.clone(), d.clone(), e.clone(), go.clone());
    let mut p = Process::new(move || {
        while q2.get_nowait().is_ok() {}
        while l2.pop().expect("pop").is_some() {}
        v2.set(&2.5).expect("set");
        d2.insert(&"pid".into(), &(std::process::id() as i32))
            .expect("insert");
        e2.set().expect("set");
        assert!(go2.wait_timeout(BOUND).expect("wait"), "the parent sets go");
    });
    p.start().expect("start");
    assert!(e.wait_timeout(BOUND).expect("wait"), "the child sets the event");
    assert!(q.is_empty().expect("empty"));
    assert!(l.is_empty().expect("empty"));
    assert_eq!(v.get().expect("get"), 2.5);
    assert_eq!(d.get(&"pid".into()).expect("get"), p.pid().map(|p| p as i32));
    go.set().expect("set");
    assert_eq!(join_bounded(&p), 0);
}

#[test]
fn a_lock_acquired_in_the_child_is_released_in_the_parent() {
    let m = Manager::start().expect("manager");
    let lock = m.lock().expect("lock");
    let child_lock = lock.clone();
    let mut p = Process::new(move || child_lock.acquire().expect("acquire"));
    p.start().expect("start");
    assert_eq!(join_bounded(&p), 0);
    assert!(!lock.try_acquire().expect("try"), "the child still holds it");
    lock.release().expect("release");
    assert!(matches!(lock.release(), Err(ManagerError::ReleaseUnlocked)));
    assert_eq!(
        lock.release().unwrap_err().to_string(),
        "release unlocked lock",
        "Python's RuntimeError message"
    );
    assert!(lock.acquire_timeout(Duration::from_millis(10)).expect("acquire"));
    assert!(!lock.acquire_timeout(Duration::from_millis(10)).expect("acquire"));
}

#[test]
fn bounded_queues_and_timeouts() {
    let m = Manager::start().expect("manager");
    assert!(matches!(m.bounded_queue::<u8>(0), Err(ManagerError::ZeroMaxsize)));
    let q = m.bounded_queue::<u8>(2).expect("queue");
    q.put(1).expect("put");
    q.put_nowait(2).expect("put");
    assert!(matches!(q.put_nowait(3), Err(ManagerError::Full)));
    let start = Instant::now();
    assert!(matches!(
        q.put_timeout(3, Duration::from_millis(100)),
        Err(ManagerError::Full)
    ));
    assert!(start.elapsed() >= Duration::from_millis(100));
    assert_eq!(q.qsize().expect("qsize"), 2);
    assert_eq!(q.get().expect("get"), 1);
    assert_eq!(q.get_timeout(Duration::from_millis(10)).expect("get"), 2);
    assert!(matches!(q.get_nowait(), Err(ManagerError::Empty)));
    assert!(matches!(
        q.get_timeout(Duration::from_millis(50)),
        Err(ManagerError::Empty)
    ));
}

fn writer(q: QueueProxy<char>) {
    for c in "itcast".chars() {
        q.put(c).expect("put");
    }
}

fn reader(q: QueueProxy<char>) -> String {
    (0..6).map(|_| q.get_timeout(BOUND).expect("get")).collect()
}

#[test]
fn the_seeds_reader_and_writer_share_a_manager_queue_in_a_pool() {
    let m = Manager::start().expect("manager");
    let q: QueueProxy<char> = m.queue().expect("queue");
    let pool = Pool::new(2).expect("pool");
    // The workers were forked before the queue existed: only its address reaches them.
    pool.apply_async(writer, q.clone())
        .expect("submit")
        .get()
        .expect("writer");
    let got = pool
        .apply_async(reader, q.clone())
        .expect("submit")
        .get()
        .expect("reader");
    assert_eq!(got, "itcast");
    pool.close();
    pool.join().expect("join");
    drop(q);
    assert!(settles_at(&m, 0), "the workers' proxies were released");
}

fn count_words(args: (String, DictProxy<String, u64>, LockProxy)) -> usize {
    let (text, counts, lock) = args;
    let mut mine: HashMap<String, u64> = HashMap::new();
    for w in text.split_whitespace() {
        *mine.entry(w.to_owned()).or_default() += 1;
    }
    // Read-modify-write in the manager is two round trips: without the lock, two workers
    // would both read 3 and both write 4.
    lock.acquire().expect("acquire");
    for (w, n) in &mine {
        let old = counts.get(w).expect("get").unwrap_or(0);
        counts.insert(w, &(old + n)).expect("insert");
    }
    lock.release().expect("release");
    mine.len()
}

#[test]
fn pool_workers_fill_a_shared_dict() {
    let m = Manager::start().expect("manager");
    let counts: DictProxy<String, u64> = m.dict().expect("dict");
    let lock = m.lock().expect("lock");
    let lines: Vec<String> = (0..40)
        .map(|i| format!("the pool the manager {} word{}", "the ".repeat(i % 3), i % 5))
        .collect();
    let mut expected: HashMap<String, u64> = HashMap::new();
    for w in lines.iter().flat_map(|l| l.split_whitespace()) {
        *expected.entry(w.to_owned()).or_default() += 1;
    }
    let pool = Pool::new(3).expect("pool");
    let tasks = lines.into_iter().map(|l| (l, counts.clone(), lock.clone()));
    pool.chunksize(1)
        .expect("chunksize")
        .map(count_words, tasks)
        .expect("map");
    let got: HashMap<String, u64> = counts.items().expect("items").into_iter().collect();
    assert_eq!(got, expected);
    drop(pool);
}

#[test]
fn references_come_and_go_without_growing_the_server() {
    let m = Manager::start().expect("manager");
    assert_eq!(m.number_of_objects().expect("count"), 0);
    for _ in 0..200 {
        let l = m.list::<u8>().expect("list");
        let l2 = l.clone();
        drop(l);
        assert_eq!(l2.len().expect("the clone keeps it alive"), 0);
    }
    assert_eq!(m.number_of_objects().expect("count"), 0);
    // A proxy moved into a child is owned by the child: the parent's leftover copy releases
    // nothing, and the child's drop releases it.
    let q: QueueProxy<u32> = m.queue().expect("queue");
    let keep = q.clone();
    let mut p = Process::new(move || q.put(7).expect("put"));
    p.start().expect("start");
    assert_eq!(join_bounded(&p), 0);
    assert_eq!(keep.get_timeout(BOUND).expect("get"), 7);
    assert!(settles_at(&m, 1), "only `keep` is left");
    drop(keep);
    assert!(settles_at(&m, 0));
    // A proxy sent in a queue keeps its object alive while in flight, even after the
    // sender's own proxy is gone.
    let carrier: QueueProxy<ListProxy<u8>> = m.queue().expect("queue");
    let inner = m.list_from([1u8, 2]).expect("list");
    // `put` takes the proxy and drops it once its bytes are sent.
    carrier.put(inner).expect("put");
    assert_eq!(m.number_of_objects().expect("count"), 2);
    let back = carrier.get().expect("get");
    assert_eq!(back.to_vec().expect("copy"), [1, 2]);
    drop(back);
    assert_eq!(m.number_of_objects().expect("count"), 1, "only the carrier");
}

#[test]
fn a_proxy_read_as_another_type_is_refused() {
    let m = Manager::start().expect("manager");
    let d: DictProxy<String, u32> = m.dict().expect("dict");
    let bytes = forkway_ipc::codec::encode(&d).expect("encode");
    let err = forkway_ipc::codec::decode::<ListProxy<u32>>(&bytes)
        .unwrap_err()
        .to_string();
    assert!(err.contains("is a DictProxy<String, u32>, not a"), "{err}");
    assert!(settles_at(&m, 1), "the refused bytes' reference was released");
    m.share("counts", &d).expect("share");
    assert!(matches!(
        m.lookup::<ValueProxy<u32>>("counts"),
        Err(ManagerError::WrongType { .. })
    ));
    assert!(matches!(
        m.lookup::<DictProxy<String, u32>>("nope"),
        Err(ManagerError::NoSuchName(_))
    ));
    let again: DictProxy<String, u32> = m.lookup("counts").expect("lookup");
    assert_eq!(again.id(), d.id());
}

#[test]
fn malformed_requests_get_an_error_and_the_server_goes_on() {
    let m = Manager::start().expect("manager");
    let l = m.list_from([1, 2, 3]).expect("list");
    let key = forkway_process::authkey();
    let mut raw = forkway_manager::client::<()>(m.address(), Some(&key)).expect("connect");
    for garbage in [
        &b""[..],
        b"\xff\xff\xff\xff",
        b"\x00\x07 not a request",
        &[0u8; 1000],
    ] {
        raw.send_bytes(garbage).expect("send");
        let reply = raw.recv_bytes().expect("the server answers");
        assert!(!reply.is_empty());
    }
    drop(raw);
    // A frame cut in the middle: that connection ends, the server does not.
    let mut raw = forkway_manager::client::<()>(m.address(), Some(&key)).expect("connect");
    use std::io::Write;
    let mut stream = std::fs::File::from(std::os::fd::AsFd::as_fd(&raw).try_clone_to_owned().expect("dup"));
    stream.write_all(&[0, 0, 0, 100, 1, 2]).expect("write");
    drop(stream);
    raw.close();
    assert_eq!(l.to_vec().expect("still serving"), [1, 2, 3]);
}

#[test]
fn a_client_killed_while_it_waits_takes_nothing() {
    let m = Manager::start().expect("manager");
    let q: QueueProxy<u32> = m.queue().expect("queue");
    let lock = m.lock().expect("lock");
    lock.acquire().expect("acquire");
    let (q2, lock2) = (q.clone(), lock.clone());
    let (mut r, w) = pipe();
    let (mut w1, mut w2) = (w.try_clone().expect("dup"), w);
    // Each child makes one call first (its connection is then set up), says so, and blocks.
    let mut getter = Process::new(move || {
        q2.qsize().expect("qsize");
        send_line(&mut w1, "getting");
        let _ = q2.get();
    });
    let mut acquirer = Process::new(move || {
        assert!(!lock2.try_acquire().expect("try"));
        send_line(&mut w2, "acquiring");
        let _ = lock2.acquire();
    });
    getter.start().expect("start");
    acquirer.start().expect("start");
    read_line(&mut r);
    read_line(&mut r);
    // Both sent their request and wait for the answer: kill them mid-call.
    for p in [&getter, &acquirer] {
        let pid = p.pid().expect("pid");
        wait_blocked_in(pid, "unix_stream_read");
        kill(pid);
    }
    assert_eq!(join_bounded(&getter), -9);
    assert_eq!(join_bounded(&acquirer), -9);
    q.put(42).expect("put");
    lock.release().expect("release");
    assert_eq!(q.get_timeout(BOUND).expect("the item is still there"), 42);
    // (A dead waiter woken by the release may take the lock for a moment, fail to answer and
    // give it back: hence a bounded wait rather than a single try.)
    assert!(
        lock.acquire_timeout(BOUND).expect("acquire"),
        "no dead client kept the lock"
    );
}

#[test]
fn many_clients_at_once() {
    let m = Manager::start().expect("manager");
    let l: ListProxy<u32> = m.list().expect("list");
    let mut children: Vec<Process> = (0..8)
        .map(|c| {
            let l = l.clone();
            Process::new(move || {
                for i in 0..100 {
                    l.push(&(c * 1000 + i)).expect("push");
                }
            })
        })
        .collect();
    for c in &mut children {
        c.start().expect("start");
    }
    for c in &children {
        assert_eq!(join_bounded(c), 0);
    }
    let mut all = l.to_vec().expect("copy");
    assert_eq!(all.len(), 800);
    all.sort_unstable();
    all.dedup();
    assert_eq!(all.len(), 800, "every push arrived once");
}

#[test]
fn after_shutdown_every_use_fails_clearly() {
    let mut m = Manager::start().expect("manager");
    let q: QueueProxy<u8> = m.queue().expect("queue");
    q.put(1).expect("put");
    let Address::Unix(socket) = m.address().clone() else {
        panic!("a Unix address by default")
    };
    let dir = socket.parent().expect("dir").to_owned();
    assert!(forkway_manager::connection::is_private_dir(&dir));
    let pid = m.pid().expect("pid");
    m.shutdown().expect("shutdown");
    assert_eq!(m.exitcode(), Some(0), "the server exits 0");
    assert!(is_reaped(pid));
    assert!(!dir.exists(), "the socket's directory is removed");
    let err = q.put(2).unwrap_err();
    assert!(
        matches!(err, ManagerError::Lost { .. } | ManagerError::Unreachable { .. }),
        "{err:?}"
    );
    let err = q.get().unwrap_err();
    assert!(matches!(err, ManagerError::Unreachable { .. }), "{err:?}");
    assert!(err.to_string().contains("has it shut down?"), "{err}");
    assert!(matches!(m.queue::<u8>(), Err(ManagerError::ShutDown)));
    assert_eq!(m.queue::<u8>().unwrap_err().to_string(), "Manager has shut down");
    m.shutdown().expect("a second shutdown does nothing");
}

#[test]
fn a_killed_server_is_reported_and_cleaned_up() {
    let mut m = Manager::start().expect("manager");
    let l: ListProxy<u8> = m.list().expect("list");
    kill(m.pid().expect("pid"));
    let err = l.push(&1).unwrap_err();
    assert!(
        matches!(err, ManagerError::Lost { .. } | ManagerError::Unreachable { .. }),
        "{err:?}"
    );
    assert!(
        std::error::Error::source(&err).is_some(),
        "the socket's error is kept as the source: {err:?}"
    );
    m.shutdown().expect("shutdown reaps it");
    assert_eq!(m.exitcode(), Some(-9));
    let Address::Unix(socket) = m.address().clone() else {
        panic!()
    };
    assert!(
        !socket.exists(),
        "the dead server's socket was removed by shutdown"
    );
}

#[test]
fn the_server_dies_with_its_parent() {
    let (mut r, mut w) = pipe();
    let mut parent = Process::new(move || {
        let m = Manager::start().expect("manager");
        send_line(&mut w, &m.pid().expect("pid").to_string());
        send_line(&mut w, &m.address().to_string());
        idle_until_killed();
    });
    parent.start().expect("start");
    let server: u32 = read_line(&mut r).trim().parse().expect("pid");
    let socket = std::path::PathBuf::from(read_line(&mut r).trim());
    kill(parent.pid().expect("pid"));
    assert_eq!(join_bounded(&parent), -9);
    // The server is a grandchild, reparented when its parent died: no wait call can reach
    // it, so poll /proc (bounded) for it to go.
    let start = Instant::now();
    while std::path::Path::new(&format!("/proc/{server}")).exists() && start.elapsed() < BOUND {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(
        !std::path::Path::new(&format!("/proc/{server}")).exists(),
        "no orphaned server"
    );
    // Killed with its parent, the server could not remove its directory; the next private
    // listener made on this machine removes it.
    let dir = socket.parent().expect("dir").to_owned();
    drop(forkway_manager::Listener::new(None).expect("listener"));
    assert!(
        !dir.exists(),
        "{} is removed once its server is gone",
        dir.display()
    );
}

#[test]
fn test_remote_manager_over_tcp() {
    let key = b"a remote manager's own key, 32 b";
    let m = Manager::builder()
        .address(Address::Tcp("127.0.0.1:0".parse().expect("addr")))
        .authkey(key)
        .start()
        .expect("manager");
    let Address::Tcp(addr) = m.address().clone() else {
        panic!("tcp")
    };
    assert_ne!(addr.port(), 0, "the real port");
    let jobs: QueueProxy<String> = m.queue().expect("queue");
    m.share("jobs", &jobs).expect("share");
    drop(jobs);
    let address = m.address().clone();
    // Two clients that know only the address and the key: one puts, the other gets.
    let mut putter = Process::new(move || {
        let client = Manager::connect(&address, key).expect("connect");
        let jobs: QueueProxy<String> = client.lookup("jobs").expect("lookup");
        jobs.put("hello from afar".into()).expect("put");
    });
    putter.start().expect("start");
    assert_eq!(join_bounded(&putter), 0);
    let client = Manager::connect(m.address(), key).expect("connect");
    let jobs: QueueProxy<String> = client.lookup("jobs").expect("lookup");
    assert_eq!(jobs.get_timeout(BOUND).expect("get"), "hello from afar");
    let wrong = Manager::connect(m.address(), b"not the key").unwrap_err();
    assert!(matches!(wrong, ManagerError::Auth(_)), "{wrong:?}");
    assert!(wrong.to_string().contains("digest sent was rejected"), "{wrong}");
}

#[test]
fn test_rapid_restart_on_the_same_port() {
    let mut first = Manager::builder()
        .address(Address::Tcp("127.0.0.1:0".parse().expect("addr")))
        .start()
        .expect("manager");
    let address = first.address().clone();
    first.shutdown().expect("shutdown");
    let second = Manager::builder()
        .address(address.clone())
        .start()
        .expect("SO_REUSEADDR");
    assert_eq!(second.address(), &address);
    assert_eq!(second.list_from([1]).expect("list").len().expect("len"), 1);
}

#[test]
fn test_manager_initializer_runs_once_in_the_server() {
    let (mut r, mut w) = pipe();
    let m = Manager::builder()
        .initializer(move || send_line(&mut w, &std::process::id().to_string()))
        .start()
        .expect("manager");
    assert_eq!(read_line(&mut r).trim(), m.pid().expect("pid").to_string());
    let failing = Manager::builder()
        .initializer(|| {
            redirect_stderr_to_null();
            panic!("an initializer that fails")
        })
        .start()
        .unwrap_err();
    assert!(matches!(failing, ManagerError::Start(_)), "{failing:?}");
    assert!(failing.to_string().contains("exit code 1"), "{failing}");
    // The cause is kept, not flattened: what reading the server's report gave instead.
    let not_ready = std::error::Error::source(&failing).expect("the StartError");
    assert!(
        not_ready
            .source()
            .is_some_and(|e| e.downcast_ref::<forkway_ipc::RecvError>().is_some()),
        "{failing:?}"
    );
}

#[test]
fn dropping_the_manager_shuts_it_down_and_leaves_nothing() {
    let m = Manager::start().expect("manager");
    let pid = m.pid().expect("pid");
    let Address::Unix(socket) = m.address().clone() else {
        panic!()
    };
    drop(m);
    assert!(is_reaped(pid));
    assert!(!socket.parent().expect("dir").exists());
}

#[test]
fn test_nested_proxies_share_their_referents() {
    // _TestContainers.test_list_proxy_in_list / test_dict_proxy_nested / test_nested_queue.
    let m = Manager::start().expect("manager");
    let outer: ListProxy<ListProxy<u8>> = m.list().expect("outer");
    let inner = m.list_from([1u8]).expect("inner");
    outer.push(&inner).expect("push a proxy");
    let copy = outer.get(0).expect("get").expect("an item");
    copy.push(&2).expect("push through the copy");
    assert_eq!(
        inner.to_vec().expect("copy"),
        [1, 2],
        "a later append shows through"
    );
    drop(inner);
    outer.clear().expect("clear");
    assert_eq!(
        copy.to_vec().expect("the inner list survives the outer's clear"),
        [1, 2]
    );
    let queues: DictProxy<String, QueueProxy<u32>> = m.dict().expect("dict");
    queues
        .insert(&"jobs".into(), &m.queue().expect("queue"))
        .expect("insert");
    let jobs = queues.get(&"jobs".into()).expect("get").expect("the queue");
    jobs.put(5).expect("put");
    let again = queues.get(&"jobs".into()).expect("get").expect("the queue");
    assert_eq!(again.get_timeout(BOUND).expect("get"), 5, "the same queue");
}
