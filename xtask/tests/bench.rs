//! `cargo xtask bench` reads the benches' results from cargo's real target directory: with
//! CARGO_TARGET_DIR set (a CI cache, a shared target), the files the benches wrote there are
//! found, the summary names the interpreter and the thread and peer columns, the curves are
//! drawn, and a missed target makes the exit code 1.

use std::path::{Path, PathBuf};
use std::process::Command;

/// A temporary target directory, removed however the test ends.
struct TempTarget(PathBuf);

impl Drop for TempTarget {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn medians(rows: &[(&str, &str, f64)]) -> serde_json::Value {
    rows.iter()
        .map(|(w, c, ns)| serde_json::json!({"workload": w, "contender": c, "median_ns": ns}))
        .collect()
}

/// What a bench writes (see crates/forkway-testkit/src/bench.rs).
fn write_results(dir: &Path) {
    let python = serde_json::json!({
        "path": "/usr/bin/python3",
        "version": "3.11.2 (main) [GCC 12.2.0]",
        "build": "no PGO, no LTO, -O2",
        "optimized_per_sysconfig": false,
        "calibration_ms": 12.5,
        "chosen_because": "fastest of 2 found",
    });
    let ipc = serde_json::json!({
        "bench": "ipc",
        "python": python,
        "medians": medians(&[
            ("queue_small", "forkway", 500.0),
            ("queue_small", "cpython", 12_000.0),
            ("queue_small", "threads_crossbeam-channel", 100.0),
            ("queue_small", "peer_iceoryx2", 250.0),
        ]),
        "ratios": [
            {"ratio": "queue small msgs/s: forkway / CPython", "value": 24.0, "target": ">= 20", "met": true},
            {"ratio": "queue small: forkway / crossbeam threads (time)", "value": 5.0, "target": "<= 3", "met": false},
        ],
        "curves": {
            "queue-size": {
                "title": "Queue: time per message vs message size (1 → 1)",
                "x": "message size (bytes)",
                "y": "time per message (ns)",
                "series": {"forkway": [[8.0, 500.0], [1024.0, 900.0]], "CPython": [[8.0, 12000.0], [1024.0, 14000.0]]},
            },
        },
    });
    // Each bench probes the interpreter again: another calibration time, the same interpreter.
    let mut pool_python = python.clone();
    pool_python["calibration_ms"] = serde_json::json!(13.0);
    pool_python["chosen_because"] = serde_json::json!("FORKWAY_PYTHON");
    let pool = serde_json::json!({
        "bench": "pool",
        "python": pool_python,
        "medians": medians(&[
            ("pool_map_100k", "forkway", 2.0e6),
            ("pool_map_100k", "cpython_pool", 2.4e7),
            ("pool_map_100k", "threads_rayon", 5.0e5),
        ]),
        "ratios": [],
        "curves": {},
    });
    // What `cargo xtask bench` records of its race before it runs the benches.
    let mut raced = python.clone();
    raced["candidates"] = serde_json::json!([
        {"path": "/usr/bin/python3", "version": "3.11.2", "calibration_ms": 12.5},
        {"path": "/opt/python/bin/python3", "version": "3.11.7", "calibration_ms": 16.0},
    ]);
    std::fs::create_dir_all(dir).expect("mkdir");
    std::fs::write(dir.join("python.json"), raced.to_string()).expect("write python.json");
    std::fs::write(dir.join("ipc.json"), ipc.to_string()).expect("write ipc.json");
    std::fs::write(dir.join("pool.json"), pool.to_string()).expect("write pool.json");
}

#[test]
fn bench_reads_and_writes_under_cargo_target_dir() {
    let target =
        TempTarget(std::env::temp_dir().join(format!("forkway-bench-target-{}", std::process::id())));
    let results = target.0.join("forkway-bench");
    write_results(&results);
    let out = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(["bench", "--report"])
        .env("CARGO_TARGET_DIR", &target.0)
        .env_remove("FORKWAY_BENCH_DIR")
        .output()
        .expect("run xtask");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    // One target missed in the results: the run must say so and fail.
    assert_eq!(out.status.code(), Some(1), "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(stdout.contains("MISSED"), "{stdout}");
    assert!(
        stdout.contains("/usr/bin/python3"),
        "the interpreter is named: {stdout}"
    );
    assert!(stdout.contains("crossbeam-channel"), "{stdout}");
    assert!(stdout.contains("iceoryx2"), "{stdout}");

    let summary: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(results.join("summary.json")).expect("summary.json in CARGO_TARGET_DIR"),
    )
    .expect("summary json");
    assert_eq!(summary["python"]["version"], "3.11.2 (main) [GCC 12.2.0]");
    assert_eq!(summary["python"]["optimized_per_sysconfig"], false);
    assert_eq!(summary["python"]["chosen_because"], "fastest of 2 found");
    assert_eq!(summary["python"]["candidates"][1]["version"], "3.11.7");
    assert!(
        stdout.contains("/opt/python/bin/python3"),
        "the race's candidates are listed: {stdout}"
    );
    assert_eq!(
        summary["columns"]["threads"],
        serde_json::json!(["crossbeam-channel", "rayon"])
    );
    assert_eq!(summary["columns"]["peers"], serde_json::json!(["iceoryx2"]));
    let row = |w: &str| {
        summary["rows"]
            .as_array()
            .and_then(|rows| rows.iter().find(|r| r["workload"] == w))
            .cloned()
            .unwrap_or_else(|| panic!("no row {w} in {summary}"))
    };
    assert_eq!(row("queue_small")["threads"]["crossbeam-channel"], 100.0);
    assert_eq!(row("queue_small")["peers"]["iceoryx2"], 250.0);
    assert_eq!(row("queue_small")["cpython"], 12_000.0);
    assert_eq!(row("pool_map_100k")["threads"]["rayon"], 5.0e5);
    assert_eq!(row("pool_map_100k")["cpython"], 2.4e7);
    let curve = std::fs::read_to_string(results.join("curve-queue-size.svg")).expect("the curve's SVG");
    assert!(
        curve.starts_with("<svg") && curve.contains("<polyline"),
        "{curve}"
    );
    assert!(results.join("bench-ratios.svg").is_file());
}
