//! `cargo xtask bench`: every crate's bench beside CPython and the bare-libc floor, one table.
//!
//! Each crate's criterion bench ends with an interleaved run (A B C, A B C, …; medians) and
//! writes `target/forkway-bench/<name>.json`; this command runs them in turn, then gathers those
//! files into one table, `target/forkway-bench/summary.json` and an SVG chart of the ratios
//! (`book/src/img/bench-ratios.svg` with `--book`, for the book's chapter).
//!
//! This file runs the benches and gathers their files; `table` prints what they measured and
//! `charts` draws it.

mod charts;
mod table;

use std::path::Path;
use std::process::Command;

use serde_json::Value;

use charts::{chart, curve_chart, pool_vs_spawn_chart};
use table::{columns, missing_cpython, print_python, print_table, table_rows};

// The same choice of CPython as the benches make: one module, two users.
use forkway_testkit::interpreter;

/// (package, bench target, results file), in lesson order. A row per lesson as crates land.
const BENCHES: &[(&str, &str, &str)] = &[
    ("forkway-process", "process", "process.json"),
    ("forkway-ipc", "ipc", "ipc.json"),
    ("forkway-sync", "sync", "sync.json"),
    ("forkway-joinable", "joinable", "joinable.json"),
    ("forkway-pool", "pool", "pool.json"),
    ("forkway-manager", "manager", "manager.json"),
    ("forkway-start", "start", "start.json"),
];

/// Runs the benches (`quick`: criterion's `--quick` and short interleaved runs, to prove every
/// workload runs — no figures to quote), prints the table, writes the summary and the chart.
pub fn run(root: &Path, quick: bool, book: bool, only: &[String], report: bool) -> Result<u8, String> {
    if let Some(unknown) = only.iter().find(|o| !BENCHES.iter().any(|(_, b, _)| b == o)) {
        let known: Vec<&str> = BENCHES.iter().map(|(_, b, _)| *b).collect();
        return Err(format!(
            "no bench named {unknown:?} (there are: {})",
            known.join(", ")
        ));
    }
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    // Chosen once here and handed to every bench, so all the CPython columns are one interpreter.
    let python = if report {
        None
    } else {
        eprintln!("choosing the CPython to compare against (FORKWAY_PYTHON overrides):");
        let chosen = interpreter::choose();
        match &chosen {
            Some(p) => eprintln!("CPython: {}", p.describe()),
            None => eprintln!(
                "python3 not found: the CPython columns will be empty (install python3 to fill them)"
            ),
        }
        chosen
    };
    let out = crate::fs::target_dir(root).join("forkway-bench");
    if let Some(p) = &python {
        // The race's full result (every candidate's time), for the summary of this and of
        // later `--report` runs.
        std::fs::create_dir_all(&out).map_err(|e| format!("{}: {e}", out.display()))?;
        std::fs::write(
            out.join("python.json"),
            serde_json::to_string_pretty(&p.to_json()).map_err(|e| e.to_string())?,
        )
        .map_err(|e| e.to_string())?;
    }
    let chosen = BENCHES
        .iter()
        .filter(|(_, b, _)| !report && (only.is_empty() || only.iter().any(|o| o == b)));
    for (package, bench, file) in chosen {
        let _ = std::fs::remove_file(out.join(file));
        eprintln!(
            "==> cargo bench -p {package} --bench {bench}{}",
            if quick { " -- --quick" } else { "" }
        );
        let mut cmd = Command::new(&cargo);
        cmd.args(["bench", "-p", package, "--bench", bench])
            .current_dir(root);
        // The benches fork from a multi-threaded process (criterion's threads) on purpose.
        cmd.env("FORKWAY_FORK_WARNING", "0");
        // Where the results are read back from below: cargo's real target directory.
        cmd.env("FORKWAY_BENCH_DIR", &out);
        if let Some(p) = &python {
            cmd.env("FORKWAY_PYTHON", &p.path);
        }
        if quick {
            cmd.args(["--", "--quick"]);
        }
        let status = cmd.status().map_err(|e| format!("cannot run cargo bench: {e}"))?;
        if !status.success() {
            return Err(format!(
                "cargo bench -p {package} --bench {bench} failed ({status})"
            ));
        }
    }
    let mut rows = Vec::new();
    let mut ratios = Vec::new();
    let mut pythons: Vec<Value> = Vec::new();
    let mut curves = serde_json::Map::new();
    let mut missing = Vec::new();
    for (_, bench, file) in BENCHES {
        let path = out.join(file);
        let Ok(text) = std::fs::read_to_string(&path) else {
            eprintln!("no results for the {bench} bench yet: run `cargo xtask bench --only {bench}`");
            continue;
        };
        let json: Value = serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
        missing.extend(missing_cpython(bench, &json));
        rows.extend(table_rows(&json));
        ratios.extend(json["ratios"].as_array().cloned().unwrap_or_default());
        // Each bench probes the interpreter it was handed again (its calibration time differs
        // a little): the same executable and version is one interpreter.
        let same = |a: &Value, b: &Value| a["path"] == b["path"] && a["version"] == b["version"];
        if !json["python"].is_null() && !pythons.iter().any(|p| same(p, &json["python"])) {
            pythons.push(json["python"].clone());
        }
        if let Some(c) = json["curves"].as_object() {
            curves.extend(c.clone());
        }
    }
    if !missing.is_empty() {
        // An empty CPython cell would read as "not compared"; it means a script failed.
        return Err(format!(
            "refusing the summary: CPython figures are missing where the benches expect them\n  {}\n\
(a cpython_*.py script failed; run the bench again to see its error)",
            missing.join("\n  ")
        ));
    }
    // The race's record when it matches what the benches ran (it names every candidate and
    // why this one).
    if let Some(raced) = std::fs::read_to_string(out.join("python.json"))
        .ok()
        .and_then(|t| serde_json::from_str::<Value>(&t).ok())
    {
        if let [only] = pythons.as_mut_slice() {
            if only["path"] == raced["path"] && only["version"] == raced["version"] {
                *only = raced;
            }
        }
    }
    print_python(&pythons);
    print_table(&rows, &ratios, quick);
    let summary = serde_json::json!({
        "quick": quick,
        "columns": columns(&rows),
        // One entry unless the benches' results come from runs with different interpreters.
        "python": if pythons.len() == 1 { pythons[0].clone() } else { Value::from(pythons.clone()) },
        "rows": rows,
        "ratios": ratios,
        "curves": curves,
    });
    std::fs::write(
        out.join("summary.json"),
        serde_json::to_string_pretty(&summary).map_err(|e| e.to_string())?,
    )
    .map_err(|e| e.to_string())?;
    let svg = chart(&ratios);
    std::fs::write(out.join("bench-ratios.svg"), &svg).map_err(|e| e.to_string())?;
    if book {
        std::fs::write(root.join("book/src/img/bench-ratios.svg"), &svg).map_err(|e| e.to_string())?;
    }
    // Chapter 5's picture: N tiny tasks through a pool, or one process per task.
    let pool = std::fs::read_to_string(out.join("pool.json"))
        .ok()
        .and_then(|t| serde_json::from_str::<Value>(&t).ok());
    if let Some(svg) = pool.as_ref().and_then(pool_vs_spawn_chart) {
        std::fs::write(out.join("pool-vs-spawn.svg"), &svg).map_err(|e| e.to_string())?;
        if book {
            std::fs::write(root.join("book/src/img/pool-vs-spawn.svg"), &svg).map_err(|e| e.to_string())?;
        }
    }
    // The curves (full runs measure them; a quick run's are two points each).
    for (name, curve) in &curves {
        let Some(svg) = curve_chart(curve) else { continue };
        std::fs::write(out.join(format!("curve-{name}.svg")), &svg).map_err(|e| e.to_string())?;
        if book && !quick {
            std::fs::write(root.join(format!("book/src/img/curve-{name}.svg")), &svg)
                .map_err(|e| e.to_string())?;
        }
    }
    println!("\nresults: {}", out.join("summary.json").display());
    let missed = ratios.iter().filter(|r| r["met"] == Value::Bool(false)).count();
    // A quick run asserts that everything ran, not how fast.
    Ok(if missed > 0 && !quick { 1 } else { 0 })
}
