//! Snapshots of the swimlane renderer on small, hand-made traces: what a learner sees for a
//! lock handed between processes, a queue's messages, and a holder killed mid-hold.

use forkway_trace::svg::render;
use forkway_trace::Event;
use serde_json::{json, Value};

fn events(list: Value) -> Vec<Event> {
    list.as_array()
        .expect("an array")
        .iter()
        .map(|v| Event::from_value(v).expect("an event"))
        .collect()
}

fn name(pid: u32, name: &str) -> Value {
    json!({"ph": "M", "cat": "__metadata", "name": "process_name", "pid": pid, "tid": pid, "ts": 0, "args": {"name": name}})
}

fn span(pid: u32, cat: &str, what: &str, ts: f64, dur: f64) -> Value {
    json!({"ph": "X", "cat": cat, "name": what, "pid": pid, "tid": pid, "ts": ts, "dur": dur, "args": {"obj": "0x1000"}})
}

fn mark(pid: u32, cat: &str, what: &str, ts: f64, args: Value) -> Value {
    json!({"ph": "i", "s": "t", "cat": cat, "name": what, "pid": pid, "tid": pid, "ts": ts, "args": args})
}

#[test]
fn two_buyers_take_turns_with_the_lock() {
    let trace = events(json!([
        name(1, "MainProcess"),
        name(2, "Process-1"),
        name(3, "Process-2"),
        mark(2, "process", "start", 100.0, json!({})),
        mark(3, "process", "start", 150.0, json!({})),
        span(2, "lock", "lock acquire", 200.0, 5.0),
        span(2, "lock", "lock held", 205.0, 1000.0),
        span(3, "lock", "lock acquire", 250.0, 960.0),
        span(3, "lock", "lock held", 1210.0, 900.0),
        span(1, "process", "join", 160.0, 2000.0),
        mark(2, "process", "exit", 1300.0, json!({"code": 0})),
        mark(3, "process", "exit", 2150.0, json!({"code": 1})),
    ]));
    insta::assert_snapshot!(render(&trace, "tickets, with the lock"));
}

#[test]
fn messages_are_arrows_from_put_to_get() {
    let trace = events(json!([
        name(1, "MainProcess"),
        name(2, "producer"),
        span(2, "queue", "put", 100.0, 20.0),
        span(2, "queue", "put", 400.0, 20.0),
        span(1, "queue", "get", 50.0, 80.0),
        json!({"ph": "X", "cat": "queue", "name": "get", "pid": 1, "tid": 1, "ts": 300.0, "dur": 130.0, "args": {"obj": "0x1000", "wait_us": 110}}),
        json!({"ph": "s", "cat": "queue", "name": "message", "id": 1, "pid": 2, "tid": 2, "ts": 120.0}),
        json!({"ph": "f", "bp": "e", "cat": "queue", "name": "message", "id": 1, "pid": 1, "tid": 1, "ts": 130.0}),
        json!({"ph": "s", "cat": "queue", "name": "message", "id": 2, "pid": 2, "tid": 2, "ts": 420.0}),
        json!({"ph": "f", "bp": "e", "cat": "queue", "name": "message", "id": 2, "pid": 1, "tid": 1, "ts": 430.0}),
    ]));
    insta::assert_snapshot!(render(&trace, "producer/consumer"));
}

#[test]
fn a_killed_holder_and_the_owner_died_recovery() {
    let trace = events(json!([
        name(10, "MainProcess"),
        name(11, "holder"),
        mark(11, "process", "start", 0.0, json!({})),
        json!({"ph": "X", "cat": "lock", "name": "lock acquire", "pid": 11, "tid": 11, "ts": 10.0, "dur": 2.0, "args": {"obj": "0x1000", "outcome": "acquired"}}),
        mark(10, "process", "kill", 500.0, json!({"target": 11})),
        mark(11, "process", "reaped", 510.0, json!({"code": -9})),
        span(10, "lock", "lock acquire", 520.0, 3.0),
        mark(10, "lock", "owner died", 523.0, json!({"obj": "0x1000"})),
        span(10, "lock", "lock held", 523.0, 200.0),
    ]));
    insta::assert_snapshot!(render(&trace, "owner died"));
}

#[test]
fn an_empty_trace_still_draws() {
    let svg = render(&[], "nothing");
    assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
}
