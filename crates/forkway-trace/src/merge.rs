//! Merging the per-process parts into one Chrome trace, and reading a trace back.
//!
//! The output is the format's JSON object form, `{"traceEvents": [...], ...}`: metadata
//! events (`ph: "M"`, process names) first, then every event ordered by `ts`, then flow
//! events (`ph: "s"`/`"f"`) that draw an arrow from each queue `put` to the `get` that took
//! the message. A queue is FIFO, so the k-th put that finished on a queue is the k-th get that
//! finished on it (to within the few microseconds between a commit and its timestamp).

use std::collections::BTreeMap;
use std::io;
use std::path::Path;

use serde_json::{json, Map, Value};

/// One event of a trace, as the renderer needs it.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// The phase: `X` complete, `i` instant, `M` metadata, `s`/`f` flow start/end.
    pub ph: String,
    /// The category: `process`, `lock`, `sync`, `queue`, `joinable`, `pool`, `manager`.
    pub cat: String,
    /// What happened: `lock acquire`, `lock held`, `put`, `exit`, …
    pub name: String,
    /// The process.
    pub pid: u32,
    /// The thread.
    pub tid: u32,
    /// When it started, µs of `CLOCK_MONOTONIC`.
    pub ts: f64,
    /// How long it took (complete events), µs.
    pub dur: Option<f64>,
    /// The flow's id (flow events).
    pub id: Option<u64>,
    /// Everything else it said: `obj`, sizes, outcomes, exit codes.
    pub args: Map<String, Value>,
}

impl Event {
    /// Reads one event object; `None` when a required field is missing.
    pub fn from_value(v: &Value) -> Option<Event> {
        Some(Event {
            ph: v.get("ph")?.as_str()?.to_owned(),
            cat: v.get("cat").and_then(Value::as_str).unwrap_or("").to_owned(),
            name: v.get("name")?.as_str()?.to_owned(),
            pid: u32::try_from(v.get("pid")?.as_u64()?).ok()?,
            tid: v.get("tid").and_then(Value::as_u64).unwrap_or(0) as u32,
            ts: v.get("ts").and_then(Value::as_f64).unwrap_or(0.0),
            dur: v.get("dur").and_then(Value::as_f64),
            id: v.get("id").and_then(Value::as_u64),
            args: v
                .get("args")
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default(),
        })
    }

    /// The end of a complete event (its start for the others).
    pub fn end(&self) -> f64 {
        self.ts + self.dur.unwrap_or(0.0)
    }

    /// The `obj` argument: which lock, queue, … (its address as text).
    pub fn obj(&self) -> Option<&str> {
        self.args.get("obj").and_then(Value::as_str)
    }
}

/// What a merge found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MergeReport {
    /// Processes with at least one event or a name.
    pub processes: usize,
    /// Events written, flows included.
    pub events: usize,
    /// Lines that were not a whole event (none unless a part was damaged).
    pub bad_lines: usize,
    /// Queue messages matched put → get (arrows).
    pub messages: usize,
}

/// Merges every `*.jsonl` part in `dir` into the Chrome trace `out`.
///
/// # Errors
/// When `dir` cannot be read or `out` written (the error names the file).
pub fn merge_dir(dir: &Path, out: &Path) -> io::Result<MergeReport> {
    let mut values = Vec::new();
    let mut report = MergeReport::default();
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", dir.display())))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "jsonl"))
        .collect();
    entries.sort();
    for part in entries {
        let text = std::fs::read_to_string(&part)
            .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", part.display())))?;
        // A killed process leaves zeroes after its last event: not lines.
        for line in text
            .lines()
            .map(|l| l.trim_matches('\0'))
            .filter(|l| !l.trim().is_empty())
        {
            match serde_json::from_str::<Value>(line) {
                Ok(v) if Event::from_value(&v).is_some() => values.push(v),
                _ => report.bad_lines += 1,
            }
        }
    }
    let trace = merge_values(values, &mut report);
    let text = serde_json::to_string(&trace).map_err(io::Error::other)?;
    std::fs::write(out, text).map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", out.display())))?;
    Ok(report)
}

/// Orders `values` (events of all processes) and adds the message arrows.
fn merge_values(values: Vec<Value>, report: &mut MergeReport) -> Value {
    let (mut meta, mut events): (Vec<Value>, Vec<Value>) = values.into_iter().partition(|v| v["ph"] == "M");
    // A child renamed by its parent twice keeps the last name: one entry per pid.
    let mut names: BTreeMap<u64, Value> = BTreeMap::new();
    for m in meta.drain(..) {
        names.insert(m["pid"].as_u64().unwrap_or(0), m);
    }
    let ts = |v: &Value| v["ts"].as_f64().unwrap_or(0.0);
    events.sort_by(|a, b| ts(a).total_cmp(&ts(b)));
    let mut pids: std::collections::BTreeSet<u64> = names.keys().copied().collect();
    pids.extend(events.iter().filter_map(|e| e["pid"].as_u64()));
    for pid in &pids {
        names.entry(*pid).or_insert_with(|| {
            json!({"ph": "M", "cat": "__metadata", "name": "process_name", "pid": pid, "tid": pid,
                   "ts": 0, "args": {"name": format!("pid {pid}")}})
        });
    }
    report.processes = pids.len();

    // put → get arrows, per queue, in order of completion.
    let mut puts: BTreeMap<String, Vec<&Value>> = BTreeMap::new();
    let mut gets: BTreeMap<String, Vec<&Value>> = BTreeMap::new();
    for e in &events {
        let (Some(obj), Some(name)) = (e["args"]["obj"].as_str(), e["name"].as_str()) else {
            continue;
        };
        if e["cat"] != "queue" {
            continue;
        }
        match name {
            "put" => puts.entry(obj.to_owned()).or_default().push(e),
            "get" => gets.entry(obj.to_owned()).or_default().push(e),
            _ => {}
        }
    }
    let end = |v: &Value| ts(v) + v["dur"].as_f64().unwrap_or(0.0);
    let mut flows = Vec::new();
    for (obj, mut ps) in puts {
        let Some(mut gs) = gets.remove(&obj) else { continue };
        ps.sort_by(|a, b| end(a).total_cmp(&end(b)));
        gs.sort_by(|a, b| end(a).total_cmp(&end(b)));
        for (p, g) in ps.iter().zip(gs.iter()) {
            let id = flows.len() / 2 + 1;
            flows.push(json!({"ph": "s", "cat": "queue", "name": "message", "id": id,
                              "pid": p["pid"], "tid": p["tid"], "ts": end(p), "args": {"obj": obj}}));
            flows.push(
                json!({"ph": "f", "bp": "e", "cat": "queue", "name": "message", "id": id,
                              "pid": g["pid"], "tid": g["tid"], "ts": end(g), "args": {"obj": obj}}),
            );
        }
    }
    report.messages = flows.len() / 2;
    let mut all: Vec<Value> = names.into_values().collect();
    all.extend(events);
    all.extend(flows);
    report.events = all.len();
    json!({
        "traceEvents": all,
        "displayTimeUnit": "ms",
        "otherData": {"producer": "forkway-trace", "clock": "CLOCK_MONOTONIC"},
    })
}

/// Reads a Chrome trace (either form: a JSON array, or an object with `traceEvents`).
///
/// # Errors
/// When the file cannot be read or is not such JSON.
pub fn read_trace(path: &Path) -> io::Result<Vec<Event>> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
    let v: Value = serde_json::from_str(&text)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("{}: {e}", path.display())))?;
    let list = match &v {
        Value::Array(list) => list,
        Value::Object(o) => o.get("traceEvents").and_then(Value::as_array).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{}: no traceEvents", path.display()),
            )
        })?,
        _ => {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{}: not a trace", path.display()),
            ))
        }
    };
    Ok(list.iter().filter_map(Event::from_value).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_killed_process_part_with_a_torn_line_and_zeroes_merges() {
        let dir = std::env::temp_dir().join(format!("forkway-merge-test-{}", std::process::id()));
        let parts = dir.join("parts");
        std::fs::create_dir_all(&parts).expect("mkdir");
        let whole = r#"{"ph":"X","cat":"lock","name":"lock acquire","pid":5,"tid":5,"ts":1.000,"dur":2.000,"args":{}}"#;
        let mut killed = format!("{whole}\n{}", &whole[..40]).into_bytes();
        killed.extend(std::iter::repeat_n(0u8, 4096));
        std::fs::write(parts.join("5.jsonl"), killed).expect("write");
        let out = dir.join("trace.json");
        let report = merge_dir(&parts, &out);
        let events = read_trace(&out);
        let _ = std::fs::remove_dir_all(&dir);
        let report = report.expect("merge");
        assert_eq!(report.bad_lines, 1, "the torn line is counted and skipped");
        assert_eq!(report.processes, 1);
        let events = events.expect("read back");
        assert_eq!(events.iter().filter(|e| e.ph == "X").count(), 1);
        assert_eq!(
            events
                .iter()
                .find(|e| e.ph == "M")
                .map(|e| e.args["name"].clone()),
            Some("pid 5".into())
        );
    }
}
