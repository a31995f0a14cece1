//! Tracing a tree of processes: four children, one of them SIGKILLed while it holds a lock,
//! merged by the root into one Chrome trace that follows the format Perfetto reads.
//!
//! Tracing is per program (a global switch), so this file is its own test binary with one
//! test: nothing else runs in it while it records.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use forkway::{AcquireError, Event, Lock, Process, Queue};
use serde_json::Value;

const WAIT: Duration = Duration::from_secs(30);
/// Events the killed child surely recorded before its parent kills it: its puts on `kq`, its
/// wait for the workers and its lock acquire. (Its "ready" put is recorded just after the
/// parent can see the message, so the kill may come first; its last wait never ends.)
const KILLED_PUTS: usize = 200;
const KILLED_EVENTS: usize = KILLED_PUTS + 2;

/// Checks `trace` against the Chrome trace event format: the object form with a
/// `traceEvents` array; every event has `ph`, `name`, `pid`, `tid`, `ts` (µs, a number);
/// complete events (`X`) a `dur`; instants (`i`) a scope `s`; flows (`s`/`f`) an `id`;
/// metadata (`M`) its value in `args`.
fn assert_chrome_format(trace: &Value) -> &Vec<Value> {
    let events = trace["traceEvents"]
        .as_array()
        .expect("an object with a traceEvents array");
    assert!(matches!(trace["displayTimeUnit"].as_str(), Some("ms" | "ns")));
    for e in events {
        let ph = e["ph"].as_str().unwrap_or_else(|| panic!("no ph: {e}"));
        assert!(["X", "i", "M", "s", "f"].contains(&ph), "unknown phase: {e}");
        assert!(e["name"].is_string(), "no name: {e}");
        assert!(
            e["pid"].is_u64() && e["tid"].is_u64(),
            "pid/tid not integers: {e}"
        );
        assert!(e["ts"].is_number(), "ts not a number: {e}");
        match ph {
            "X" => assert!(e["dur"].as_f64().is_some_and(|d| d >= 0.0), "X without dur: {e}"),
            "i" => assert!(
                matches!(e["s"].as_str(), Some("t" | "p" | "g")),
                "instant scope: {e}"
            ),
            "s" | "f" => assert!(e["id"].is_u64(), "flow without id: {e}"),
            "M" => assert!(e["args"]["name"].is_string(), "metadata without a name: {e}"),
            _ => {}
        }
    }
    events
}

#[test]
fn four_processes_one_killed_merge_into_one_chrome_trace() {
    struct RemoveOnDrop(std::path::PathBuf);
    impl Drop for RemoveOnDrop {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
    let dir = std::env::temp_dir().join(format!("forkway-trace-test-{}", std::process::id()));
    let _cleanup = RemoveOnDrop(dir.clone());
    let out = dir.join("trace.json");
    forkway::trace::start(&out).expect("start tracing");

    let lock = Lock::new().expect("lock");
    let q: Queue<u32> = Queue::new().expect("queue");
    let kq: Queue<u32> = Queue::new().expect("queue");
    let ready: Queue<u32> = Queue::new().expect("queue");
    let never = Event::new().expect("event");
    let workers_done = Event::new().expect("event");

    let mut workers: Vec<Process> = (1..=3u32)
        .map(|i| {
            let (lock, q) = (lock.clone(), q.clone());
            Process::new(move || {
                for n in 0..5 {
                    let _held = (n < 3).then(|| lock.acquire().expect("lock"));
                    q.put(i * 10 + n).expect("put");
                }
            })
            .with_name(format!("worker-{i}"))
        })
        .collect();
    let mut victim = {
        let (lock, kq, ready, never) = (lock.clone(), kq.clone(), ready.clone(), never.clone());
        let workers_done = workers_done.clone();
        Process::new(move || {
            for n in 0..KILLED_PUTS as u32 {
                kq.put(n).expect("put");
            }
            // Its death must not hand the workers an owner-died lock: they finish first.
            assert!(workers_done.wait_timeout(WAIT), "the workers did not finish");
            let _held = lock.acquire().expect("lock");
            ready.put(1).expect("ready");
            // Killed here, holding the lock; bounded all the same.
            never.wait_timeout(WAIT);
        })
        .with_name("victim")
    };
    for w in &mut workers {
        w.start().expect("start");
    }
    victim.start().expect("start");

    let mut got = BTreeSet::new();
    for _ in 0..15 {
        got.insert(q.get_timeout(WAIT).expect("a worker's message"));
    }
    for w in &workers {
        w.join_timeout(WAIT).expect("join");
        assert_eq!(w.exitcode(), Some(0));
    }
    workers_done.set();
    // Handshake: the victim holds the lock and has recorded all its events.
    assert_eq!(ready.get_timeout(WAIT).expect("the victim is ready"), 1);
    victim.kill().expect("kill");
    victim.join_timeout(WAIT).expect("join");
    assert_eq!(victim.exitcode(), Some(-9));
    match lock.acquire_timeout(WAIT) {
        Err(AcquireError::OwnerDied(mut g)) => g.mark_consistent(),
        other => panic!("expected owner died, got {other:?}"),
    }
    let pids: Vec<u32> = workers
        .iter()
        .chain([&victim])
        .map(|p| p.pid().expect("pid"))
        .collect();
    let victim_pid = pids[3];

    let merged = forkway::trace::finish().expect("merge").expect("the root merges");
    assert_eq!(merged, std::path::absolute(&out).expect("absolute"));
    let text = std::fs::read_to_string(&out).expect("the trace file");
    let parts_left = dir.join("trace.json.parts").exists();
    std::fs::remove_dir_all(&dir).expect("clean up");
    assert!(!parts_left, "the parts directory is removed after the merge");

    let trace: Value = serde_json::from_str(&text).expect("JSON");
    let events = assert_chrome_format(&trace);

    let names: BTreeMap<u64, &str> = events
        .iter()
        .filter(|e| e["ph"] == "M")
        .map(|e| {
            (
                e["pid"].as_u64().unwrap_or(0),
                e["args"]["name"].as_str().unwrap_or(""),
            )
        })
        .collect();
    let me = u64::from(std::process::id());
    assert_eq!(names.get(&me), Some(&"MainProcess"));
    for (i, pid) in pids.iter().enumerate() {
        let want = if i == 3 {
            "victim".to_owned()
        } else {
            format!("worker-{}", i + 1)
        };
        assert_eq!(
            names.get(&u64::from(*pid)).copied(),
            Some(want.as_str()),
            "{names:?}"
        );
    }

    let of = |pid: u32, cat: &str, name: &str| {
        events
            .iter()
            .filter(|e| e["pid"] == pid && e["cat"] == cat && e["name"] == name)
            .count()
    };
    // The three workers exited normally: every event of theirs is there.
    for pid in &pids[..3] {
        assert_eq!(of(*pid, "lock", "lock acquire"), 3, "pid {pid}");
        assert_eq!(of(*pid, "lock", "lock held"), 3, "pid {pid}");
        assert_eq!(of(*pid, "queue", "put"), 5, "pid {pid}");
        assert_eq!(of(*pid, "process", "start"), 1, "pid {pid}");
        assert_eq!(of(*pid, "process", "exit"), 1, "pid {pid}");
        assert_eq!(of(*pid, "process", "reaped"), 1, "pid {pid}");
    }
    // The victim lost nothing.
    let ready_put = events
        .iter()
        .filter(|e| e["pid"] == victim_pid && e["name"] == "put")
        .count()
        > KILLED_PUTS;
    let kept = events
        .iter()
        .filter(|e| e["pid"] == victim_pid && e["ph"] == "X")
        .count()
        - usize::from(ready_put);
    let lost = KILLED_EVENTS.saturating_sub(kept);
    eprintln!("the killed child kept {kept} of its {KILLED_EVENTS} events (lost {lost})");
    // Every event is in the page cache the moment it is recorded: the kill, which came while
    // it waited, took none of them.
    assert_eq!(lost, 0, "a SIGKILLed process lost events it had recorded");
    let sizes: Vec<f64> = events
        .iter()
        .filter(|e| e["pid"] == victim_pid && e["name"] == "put")
        .filter_map(|e| e["ts"].as_f64())
        .collect();
    assert!(sizes.windows(2).all(|w| w[0] <= w[1]), "a part keeps its order");
    // Its end comes from the parent, which reaped it: killed by signal 9.
    assert_eq!(of(victim_pid, "process", "exit"), 0);
    let exit: Vec<&Value> = events
        .iter()
        .filter(|e| e["pid"] == victim_pid && e["name"] == "reaped")
        .collect();
    assert_eq!(exit.len(), 1);
    assert_eq!(exit[0]["args"]["code"], -9);
    assert_eq!(of(std::process::id(), "process", "kill"), 1);
    assert_eq!(of(std::process::id(), "lock", "owner died"), 1);
    assert_eq!(of(std::process::id(), "process", "join"), 4);

    // Arrows: each of the 15 messages on `q` from its put to its get, and the "ready" one if
    // its put was recorded before the kill.
    let arrows = 15 + usize::from(ready_put);
    assert_eq!(events.iter().filter(|e| e["ph"] == "s").count(), arrows);
    assert_eq!(events.iter().filter(|e| e["ph"] == "f").count(), arrows);
    // One clock for every process: the victim started before its parent killed it.
    let ts_of = |pid: u32, name: &str| {
        events
            .iter()
            .find(|e| e["pid"] == pid && e["name"] == name)
            .and_then(|e| e["ts"].as_f64())
            .unwrap_or_else(|| panic!("no {name} for {pid}"))
    };
    assert!(ts_of(victim_pid, "start") < ts_of(std::process::id(), "kill"));
    assert_eq!(got.len(), 15);
}
