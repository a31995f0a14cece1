//! A proxy's bytes name an address; decoding them must not lead this process to answer a
//! stranger's challenge with its authkey. Before, it did: a relay at the named address passed
//! a real manager's challenge to the victim and the victim's answer back, and was welcomed —
//! then read whatever it liked ("TOP-SECRET"). Now a process decodes proxies only for managers
//! it started, inherited from the parent that started them, or connected to explicitly
//! (`Manager::connect`); any other address is an error that names it, and nothing connects.

use forkway_testkit as support;

use std::io::{Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use forkway_manager::{Address, Manager, ValueProxy};
use forkway_process::Process;
use support::*;

/// What the relay saw: `None` if nobody connected to it, else the real manager's verdict on
/// the answer it forwarded (`#WELCOME#`: the relay is in).
type Verdict = Option<Vec<u8>>;

/// A thread that accepts one connection at `at` and relays the handshake between it and the
/// real manager at `manager`: the manager's challenge to the victim, the victim's answer to
/// the manager, and keeps the manager's verdict.
fn relay(at: &Path, manager: PathBuf, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<Verdict> {
    let listener = UnixListener::bind(at).expect("relay bind");
    listener.set_nonblocking(true).expect("nonblocking");
    std::thread::spawn(move || {
        let end = Instant::now() + BOUND;
        let mut victim = loop {
            match listener.accept() {
                Ok((s, _)) => break s,
                Err(_) if stop.load(Ordering::Relaxed) || Instant::now() > end => return None,
                Err(_) => std::thread::sleep(Duration::from_millis(5)),
            }
        };
        victim.set_nonblocking(false).expect("blocking");
        victim.set_read_timeout(Some(BOUND)).expect("timeout");
        let mut real = UnixStream::connect(manager).expect("connect to the real manager");
        real.set_read_timeout(Some(BOUND)).expect("timeout");
        let challenge = read_frame(&mut real)?;
        write_frame(&mut victim, &challenge);
        let answer = read_frame(&mut victim)?;
        write_frame(&mut real, &answer);
        read_frame(&mut real)
    })
}

fn read_frame(s: &mut UnixStream) -> Option<Vec<u8>> {
    let mut head = [0u8; 4];
    s.read_exact(&mut head).ok()?;
    let mut body = vec![0u8; usize::try_from(i32::from_be_bytes(head)).ok()?.min(4096)];
    s.read_exact(&mut body).ok()?;
    Some(body)
}

fn write_frame(s: &mut UnixStream, payload: &[u8]) {
    let mut frame = i32::try_from(payload.len())
        .expect("small")
        .to_be_bytes()
        .to_vec();
    frame.extend_from_slice(payload);
    let _ = s.write_all(&frame);
}

/// A path as long as `like`, so that it can replace it in a proxy's bytes.
fn same_length_path(dir: &Path, like: &Path) -> PathBuf {
    let want = like.as_os_str().len();
    let base = dir.join("relay");
    let mut s = base.display().to_string();
    assert!(s.len() <= want, "{} is longer than {}", s, like.display());
    while s.len() < want {
        s.push('x');
    }
    PathBuf::from(s)
}

fn replace(haystack: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    let at = haystack
        .windows(from.len())
        .position(|w| w == from)
        .expect("the address is in the proxy's bytes");
    [&haystack[..at], to, &haystack[at + from.len()..]].concat()
}

#[test]
fn a_proxy_for_an_unknown_address_is_refused_and_nothing_connects_there() {
    let m = Manager::start().expect("manager");
    let secret: ValueProxy<String> = m.value(&"TOP-SECRET".to_owned()).expect("value");
    let Address::Unix(real) = m.address().clone() else {
        panic!("unix")
    };
    // The attacker's bytes: a real proxy, with the address swapped for the relay's.
    let dir = std::env::temp_dir().join(format!("fwrelay-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir(&dir).expect("dir");
    let at = same_length_path(&dir, &real);
    let stop = Arc::new(AtomicBool::new(false));
    let relay = relay(&at, real.clone(), Arc::clone(&stop));
    let genuine = forkway_ipc::codec::encode(&secret).expect("encode");
    let forged = replace(
        &genuine,
        real.as_os_str().as_encoded_bytes(),
        at.as_os_str().as_encoded_bytes(),
    );
    // The victim decodes them (and, if that worked, uses the proxy), as a pool worker would
    // an argument.
    let outcome = forkway_ipc::codec::decode::<ValueProxy<String>>(&forged)
        .map_err(|e| e.to_string())
        .and_then(|p| p.get().map_err(|e| e.to_string()));
    stop.store(true, Ordering::Relaxed);
    let verdict = relay.join().expect("relay");
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(
        verdict.as_deref().map(String::from_utf8_lossy),
        None,
        "the relay was reached and the manager answered it"
    );
    let err = outcome.expect_err("a proxy for an unknown address is refused");
    assert!(
        err.contains(&at.display().to_string()) && err.contains("did not start it"),
        "the error names the address and says why: {err}"
    );
    // The genuine bytes still decode: this process started that manager.
    let back: ValueProxy<String> = forkway_ipc::codec::decode(&genuine).expect("genuine");
    assert_eq!(back.get().expect("get"), "TOP-SECRET");
}

#[test]
fn proxies_decode_for_managers_started_inherited_or_connected() {
    // A manager started by a child: the test process neither started nor inherited it.
    let (mut r, mut w) = pipe();
    let (mut go_r, go) = release_pipe();
    let mut owner = Process::new(move || {
        let m = Manager::builder()
            .authkey(b"its own key")
            .start()
            .expect("manager");
        let v = m.value(&5u32).expect("value");
        // Two sets of bytes: each carries one reference, for one decoder.
        let bytes = forkway_ipc::codec::encode(&v).expect("encode");
        let theirs = forkway_ipc::codec::encode(&v).expect("encode");
        send_line(&mut w, &m.address().to_string());
        send_line(
            &mut w,
            &theirs.iter().map(|b| format!("{b:02x}")).collect::<String>(),
        );
        // Inherited: a grandchild forked after the start decodes and uses it.
        let mut child = Process::new(move || {
            let v: ValueProxy<u32> = forkway_ipc::codec::decode(&bytes).expect("inherited");
            assert_eq!(v.get().expect("get"), 5);
        });
        child.start().expect("start");
        assert_eq!(join_bounded(&child), 0);
        wait_for_release(&mut go_r);
        drop(v);
    });
    owner.start().expect("start");
    let address = PathBuf::from(read_line(&mut r).trim());
    let hex = read_line(&mut r);
    let bytes: Vec<u8> = (0..hex.len() / 2)
        .map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).expect("hex"))
        .collect();
    let refused = forkway_ipc::codec::decode::<ValueProxy<u32>>(&bytes);
    let err = refused
        .expect_err("not started, inherited or connected")
        .to_string();
    assert!(err.contains(&address.display().to_string()), "{err}");
    // Connected explicitly, with the key: trusted from now on, and its key is used.
    let m = Manager::connect(&Address::Unix(address), b"its own key").expect("connect");
    let v: ValueProxy<u32> = forkway_ipc::codec::decode(&bytes).expect("connected");
    assert_eq!(v.get().expect("get"), 5);
    drop((v, m));
    go.release();
    assert_eq!(join_bounded(&owner), 0);
}
