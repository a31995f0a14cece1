//! Listener and Client across real processes: CPython's `_TestListener`/`_TestListenerClient`
//! cases (reference §9.4), the authkey handshake's failures, the pre-authentication limits, and
//! interoperability with the real python3 in both directions.

use forkway_testkit as support;

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use forkway_manager::connection::is_private_dir;
use forkway_manager::{client, Address, AuthError, ConnectError, Listener};
use forkway_process::Process;
use support::*;

fn tcp_any() -> Address {
    Address::Tcp("127.0.0.1:0".parse().expect("addr"))
}

#[test]
fn test_listener_client_per_family_with_and_without_a_key() {
    for key in [None, Some(&b"abracadabra"[..])] {
        for listener in [
            Listener::new(key).expect("unix"),
            Listener::bind(&tcp_any(), key).expect("tcp"),
        ] {
            let address = listener.address().clone();
            let key = key.map(<[u8]>::to_vec);
            let mut p = Process::new(move || {
                let mut c = client::<String>(&address, key.as_deref()).expect("connect");
                c.send(&"hello".to_owned()).expect("send");
            });
            p.start().expect("start");
            let mut conn = listener.accept_timeout::<String>(BOUND).expect("accept");
            assert_eq!(conn.recv().expect("recv"), "hello");
            assert_eq!(join_bounded(&p), 0);
        }
    }
}

#[test]
fn test_issue14725_data_sent_before_accept_arrives() {
    let listener = Listener::new(None).expect("listener");
    {
        let mut c = client::<u32>(listener.address(), None).expect("connect");
        c.send(&1729).expect("send");
    } // closed before accept
    let mut conn = listener.accept_timeout::<u32>(BOUND).expect("accept");
    assert_eq!(conn.recv().expect("recv"), 1729);
}

#[test]
fn test_multiple_bind_and_the_real_port() {
    let l = Listener::new(None).expect("listener");
    let err = Listener::bind(l.address(), None)
        .err()
        .expect("second bind fails");
    assert!(
        matches!(&err, ConnectError::Io(e) if e.kind() == std::io::ErrorKind::AddrInUse),
        "{err}"
    );
    let t = Listener::bind(&tcp_any(), None).expect("tcp");
    let Address::Tcp(real) = t.address() else {
        panic!("tcp")
    };
    assert_ne!(real.port(), 0, "the bound address carries the real port");
    assert!(Listener::bind(t.address(), None).is_err());
}

#[test]
fn the_default_address_is_private_and_removed_with_the_listener() {
    let l = Listener::new(None).expect("listener");
    let Address::Unix(path) = l.address().clone() else {
        panic!("unix")
    };
    let dir = path.parent().expect("dir").to_path_buf();
    assert!(is_private_dir(&dir), "{} is mode 0700", dir.display());
    drop(l);
    assert!(!path.exists() && !dir.exists(), "socket and directory removed");
}

#[test]
fn a_dead_processs_listener_directory_is_removed_by_the_next_listener() {
    let (mut r, mut w) = pipe();
    let mut p = Process::new(move || {
        let l = Listener::new(None).expect("listener");
        let dir = l.private_dir().expect("dir").to_owned();
        send_line(&mut w, &dir.display().to_string());
        idle_until_killed(); // SIGKILLed holding it: nothing removes it
    });
    p.start().expect("start");
    let stale = std::path::PathBuf::from(read_line(&mut r).trim());
    p.kill().expect("kill");
    assert_eq!(join_bounded(&p), -9);
    assert!(
        stale.join("listener").exists(),
        "the killed process left its socket"
    );
    // A live process's directory is not touched.
    let live = Listener::new(None).expect("listener");
    let live_dir = live.private_dir().expect("dir").to_owned();
    assert!(
        !stale.exists(),
        "{} removed when a new listener was made",
        stale.display()
    );
    let _again = Listener::new(None).expect("listener");
    assert!(
        live_dir.join("listener").exists(),
        "a live listener keeps its socket"
    );
    drop(live);
    assert!(!live_dir.exists());
}

#[test]
fn a_wrong_key_fails_on_both_sides_and_carries_nothing() {
    let listener = Listener::new(Some(b"right")).expect("listener");
    let address = listener.address().clone();
    let (mut r, mut w) = pipe();
    let mut p = Process::new(move || {
        let outcome = client::<String>(&address, Some(b"wrong")).map(|_| ());
        send_line(&mut w, &format!("{outcome:?}"));
    });
    p.start().expect("start");
    let server = listener.accept_timeout::<String>(BOUND);
    assert!(
        matches!(server, Err(ConnectError::Auth(AuthError::WrongDigest))),
        "{server:?}"
    );
    assert_eq!(read_line(&mut r), "Err(Auth(Rejected))");
    assert_eq!(join_bounded(&p), 0);
    assert_eq!(AuthError::WrongDigest.to_string(), "digest received was wrong");
    assert_eq!(AuthError::Rejected.to_string(), "digest sent was rejected");
}

#[test]
fn a_keyless_client_is_refused_by_a_keyed_listener() {
    let listener = Listener::new(Some(b"key")).expect("listener");
    let mut c = client::<String>(listener.address(), None).expect("connect (no handshake)");
    c.send(&"let me in".to_owned()).expect("send");
    let server = listener.accept_timeout::<String>(BOUND);
    assert!(
        matches!(server, Err(ConnectError::Auth(AuthError::Protocol(_)))),
        "{server:?}"
    );
    // What the client reads is the challenge, then the failure: never data.
    assert!(c.recv_bytes().expect("challenge").starts_with(b"#CHALLENGE#"));
    assert_eq!(c.recv_bytes().expect("verdict"), b"#FAILURE#");
}

#[test]
fn an_oversize_frame_before_authentication_is_refused_without_allocating() {
    let listener = Listener::new(Some(b"key")).expect("listener");
    let Address::Unix(path) = listener.address().clone() else {
        panic!("unix")
    };
    let mut raw = UnixStream::connect(path).expect("connect");
    // A header announcing 1 GiB, as the "response" to the challenge.
    raw.write_all(&(1i32 << 30).to_be_bytes()).expect("write");
    let server = listener.accept_timeout::<String>(BOUND);
    assert!(
        matches!(&server, Err(ConnectError::Auth(AuthError::Protocol(why))) if why.contains("before authentication")),
        "{server:?}"
    );
}

#[test]
fn garbage_then_the_listener_goes_on() {
    let listener = Listener::new(Some(b"key")).expect("listener");
    let Address::Unix(path) = listener.address().clone() else {
        panic!("unix")
    };
    let mut raw = UnixStream::connect(&path).expect("connect");
    raw.write_all(&[0, 0, 0, 5, b'h', b'e', b'l', b'l', b'o'])
        .expect("write");
    assert!(listener.accept_timeout::<String>(BOUND).is_err());
    let address = listener.address().clone();
    let mut p = Process::new(move || {
        let mut c = client::<u8>(&address, Some(b"key")).expect("connect");
        c.send(&7).expect("send");
    });
    p.start().expect("start");
    assert_eq!(
        listener
            .accept_timeout::<u8>(BOUND)
            .expect("the next client is served")
            .recv()
            .expect("recv"),
        7
    );
    assert_eq!(join_bounded(&p), 0);
}

#[test]
fn a_silent_peer_is_dropped_after_the_handshake_timeout() {
    let mut listener = Listener::new(Some(b"key")).expect("listener");
    listener.set_handshake_timeout(Duration::from_millis(200));
    let Address::Unix(path) = listener.address().clone() else {
        panic!("unix")
    };
    let _silent = UnixStream::connect(path).expect("connect");
    let start = Instant::now();
    let server = listener.accept_timeout::<String>(BOUND);
    assert!(
        matches!(server, Err(ConnectError::Auth(AuthError::Timeout))),
        "{server:?}"
    );
    assert!(start.elapsed() >= Duration::from_millis(200) && start.elapsed() < BOUND);
}

fn python3() -> bool {
    let ok = Command::new("python3")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        eprintln!(
            "python3 not found: skipping the CPython interoperability test (install python3 to run it)"
        );
    }
    ok
}

/// CPython interpreters of version 3.12 or later on this machine: `python3.13`, `python3.12`
/// on the PATH, and pyenv's builds (`$PYENV_ROOT/versions/3.1x.y`, `~/.pyenv` by default).
fn pythons_312_and_later() -> Vec<String> {
    let mut candidates: Vec<String> = ["python3.14", "python3.13", "python3.12", "python3"]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
    let root = std::env::var("PYENV_ROOT")
        .ok()
        .or_else(|| std::env::var("HOME").ok().map(|h| format!("{h}/.pyenv")));
    if let Some(Ok(versions)) = root.map(|r| std::fs::read_dir(format!("{r}/versions"))) {
        let mut found: Vec<String> = versions
            .flatten()
            .map(|e| e.path().join("bin/python3").display().to_string())
            .collect();
        found.sort();
        candidates.extend(found);
    }
    let mut seen = Vec::new();
    let mut found = Vec::new();
    for python in candidates {
        let Ok(out) = Command::new(&python)
            .args([
                "-c",
                "import sys; print(sys.version_info >= (3, 12), sys.version.split()[0])",
            ])
            .output()
        else {
            continue;
        };
        let said = String::from_utf8_lossy(&out.stdout).into_owned();
        let mut words = said.split_whitespace();
        if out.status.success() && words.next() == Some("True") {
            let version = words.next().unwrap_or_default().to_owned();
            if !seen.contains(&version) {
                seen.push(version);
                found.push(python);
            }
        }
    }
    found
}

#[test]
fn cpython_clients_and_listeners_interoperate_both_ways() {
    if !python3() {
        return;
    }
    interoperate("python3");
}

/// The `{sha256}` protocol of CPython 3.12+, against a real interpreter when there is one
/// (the byte-exact exchange is also pinned by `auth::tests::cpython_312_exchange_test_vector`).
#[test]
fn cpython_312_and_later_interoperate_both_ways() {
    let pythons = pythons_312_and_later();
    if pythons.is_empty() {
        eprintln!(
            "no CPython >= 3.12 found (python3.13, python3.12, pyenv versions): skipping the \
             live 3.12 handshake test; the recorded 3.12 exchange is still checked by the unit test"
        );
        return;
    }
    for python in pythons {
        eprintln!("interoperating with {python}");
        interoperate(&python);
    }
}

/// Both roles against `python`; for 3.12+, also which digest each side's answer used.
fn interoperate(python: &str) {
    // A CPython Client → our Listener. It reports the prefix of its answer to our challenge.
    let listener = Listener::new(Some(b"shared key")).expect("listener");
    let Address::Unix(path) = listener.address().clone() else {
        panic!("unix")
    };
    let script = "import sys\nimport multiprocessing.connection as mc\n\
make = getattr(mc, '_create_response', None)\n\
if make:\n    def spy(k, m):\n        r = make(k, m)\n        print('answer', r[:8], flush=True)\n        return r\n    mc._create_response = spy\n\
else:\n    print('answer legacy', flush=True)\n\
c = mc.Client(sys.argv[1], authkey=b'shared key')\nc.send_bytes(b'from python')\nprint(c.recv_bytes().decode(), flush=True)\n";
    let mut py = Command::new(python)
        .args(["-c", script, path.to_str().expect("utf-8 path")])
        .stdout(Stdio::piped())
        .spawn()
        .expect("python");
    let mut conn = listener
        .accept_timeout::<()>(BOUND)
        .expect("a CPython client authenticates");
    assert_eq!(conn.recv_bytes().expect("recv"), b"from python");
    conn.send_bytes(b"from rust").expect("send");
    let mut out = BufReader::new(py.stdout.take().expect("stdout"));
    let mut answer = String::new();
    out.read_line(&mut answer).expect("read");
    if answer.trim() != "answer legacy" {
        assert_eq!(
            answer.trim(),
            "answer b'{sha256}'",
            "{python} answered with SHA-256"
        );
    }
    let mut line = String::new();
    out.read_line(&mut line).expect("read");
    assert_eq!(line.trim(), "from rust");
    assert!(py.wait().expect("wait").success());

    // Our client → a CPython Listener, which reports the prefix of our answer; then a wrong
    // key against CPython, both messages.
    let script = "import sys\nimport multiprocessing.connection as mc\n\
check = getattr(mc, '_verify_challenge', None)\n\
if check:\n    def spy(k, m, r):\n        print('ours', r[:8], flush=True)\n        return check(k, m, r)\n    mc._verify_challenge = spy\n\
l = mc.Listener(('127.0.0.1', 0), authkey=b'shared key')\nprint(l.address[1], flush=True)\n\
c = l.accept()\nc.send_bytes(c.recv_bytes().upper())\n\
try:\n    l.accept()\nexcept mc.AuthenticationError as e:\n    print('python:', e, flush=True)\n";
    let mut py = Command::new(python)
        .args(["-c", script])
        .stdout(Stdio::piped())
        .spawn()
        .expect("python");
    let mut out = BufReader::new(py.stdout.take().expect("stdout"));
    let mut port = String::new();
    out.read_line(&mut port).expect("port");
    let address = Address::Tcp(format!("127.0.0.1:{}", port.trim()).parse().expect("addr"));
    let mut conn = client::<()>(&address, Some(b"shared key")).expect("we authenticate to CPython");
    conn.send_bytes(b"shout").expect("send");
    assert_eq!(conn.recv_bytes().expect("recv"), b"SHOUT");
    let wrong = client::<()>(&address, Some(b"wrong key"));
    assert!(
        matches!(wrong, Err(ConnectError::Auth(AuthError::Rejected))),
        "{wrong:?}"
    );
    let mut said = String::new();
    out.read_line(&mut said).expect("python's output");
    if said.starts_with("ours") {
        // 3.12+: our answer to its `{sha256}` challenge was a `{sha256}` one, both times.
        assert_eq!(said.trim(), "ours b'{sha256}'", "{python}");
        said.clear();
        out.read_line(&mut said).expect("python's output");
        assert_eq!(said.trim(), "ours b'{sha256}'", "{python}");
        said.clear();
        out.read_line(&mut said).expect("python's error");
    }
    assert_eq!(said.trim(), "python: digest received was wrong");
    assert!(py.wait().expect("wait").success());
}
