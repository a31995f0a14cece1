//! The terminal table of `cargo xtask bench` and the rows of summary.json: one row per workload,
//! forkway beside CPython and the floors.

use serde_json::Value;

/// Which CPython the columns are: printed above the table (a stale result file from another
/// interpreter shows as a second line).
pub(super) fn print_python(pythons: &[Value]) {
    for p in pythons {
        println!(
            "\nCPython column: {} — Python {} — build: {} (optimised per sysconfig: {}); calibration {:.1} ms; {}",
            p["path"].as_str().unwrap_or("?"),
            p["version"].as_str().unwrap_or("?"),
            p["build"].as_str().unwrap_or("?"),
            p["optimized_per_sysconfig"],
            p["calibration_ms"].as_f64().unwrap_or(f64::NAN),
            p["chosen_because"].as_str().unwrap_or("")
        );
        for c in p["candidates"].as_array().into_iter().flatten() {
            println!(
                "  candidate {:<48} Python {:<8} calibration {:.1} ms",
                c["path"].as_str().unwrap_or("?"),
                c["version"].as_str().unwrap_or("?"),
                c["calibration_ms"].as_f64().unwrap_or(f64::NAN)
            );
        }
    }
}

/// One row per workload: forkway, CPython and floor medians (ns per operation).
pub(super) fn table_rows(json: &Value) -> Vec<Value> {
    let mut by_workload: std::collections::BTreeMap<String, Value> = std::collections::BTreeMap::new();
    for m in json["medians"].as_array().into_iter().flatten() {
        let (Some(w), Some(c), Some(ns)) = (
            m["workload"].as_str(),
            m["contender"].as_str(),
            m["median_ns"].as_f64(),
        ) else {
            continue;
        };
        // The start bench times every method in one workload: a row per method, beside
        // CPython's same method, and spawn's beside its floor (a bare posix_spawn+exec of the
        // same binary), so that fw/floor is spawn's goal ratio.
        let (w, c) = match start_row(w, c) {
            Some((row, column)) => (row, column),
            None => (w.to_owned(), c),
        };
        let w = w.as_str();
        let row = by_workload
            .entry(w.to_owned())
            .or_insert_with(|| serde_json::json!({ "workload": w }));
        if let Some(peer) = c.strip_prefix("peer_") {
            // A Rust crate doing the same job between processes (ipc-channel, procspawn,
            // iceoryx2): the peers' column, by name.
            if !row["peers"].is_object() {
                row["peers"] = serde_json::json!({});
            }
            row["peers"][peer] = Value::from(ns);
            continue;
        }
        if let Some(name) = c.strip_prefix("threads_") {
            // The in-process floor: the same job between threads of one process
            // (crossbeam-channel, rayon), by name.
            if !row["threads"].is_object() {
                row["threads"] = serde_json::json!({});
            }
            row["threads"][name] = Value::from(ns);
            continue;
        }
        let column = match c {
            // The pool's spawn-per-task contenders are compared in its ratios, not here.
            "forkway" | "forkway_pool" => "forkway",
            "floor" => "floor",
            "cpython" | "cpython_fork" | "cpython_pool" => "cpython",
            _ => continue,
        };
        row[column] = Value::from(ns);
    }
    by_workload.into_values().collect()
}

/// The start bench's `start_join*` workloads: the row (`start_join_4GiB spawn`) and column a
/// contender belongs to.
fn start_row(workload: &str, contender: &str) -> Option<(String, &'static str)> {
    if !workload.starts_with("start_join") {
        return None;
    }
    let (method, column) = match contender {
        "posix_spawn floor" => ("spawn", "floor"),
        c => match c.strip_prefix("cpython_") {
            Some(m) => (m, "cpython"),
            None => (c, "forkway"),
        },
    };
    matches!(method, "fork" | "forkserver" | "spawn").then(|| (format!("{workload} {method}"), column))
}

/// The rows of one bench's results whose CPython figure is missing where one is expected: a
/// ratio names a `cpython…` contender of a workload that was measured (it has medians), and
/// the bench ran with a python3 (`"python"` is set), yet that contender has no median. Such a
/// row would show an empty CPython column as if nothing were wrong — the symptom of a script
/// that failed, which the bench itself now refuses too. Results written before the benches
/// recorded each ratio's contenders (`"num"`, `"den"`) cannot be checked and pass.
pub(super) fn missing_cpython(bench: &str, json: &Value) -> Vec<String> {
    if json["python"].is_null() {
        return Vec::new();
    }
    let medians: Vec<(&str, &str)> = json["medians"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|m| m["median_ns"].as_f64().is_some())
        .filter_map(|m| Some((m["workload"].as_str()?, m["contender"].as_str()?)))
        .collect();
    let mut missing = Vec::new();
    for ratio in json["ratios"].as_array().into_iter().flatten() {
        for side in ["num", "den"] {
            let (Some(workload), Some(contender)) = (ratio[side][0].as_str(), ratio[side][1].as_str()) else {
                continue;
            };
            let measured = medians.iter().any(|(w, _)| *w == workload);
            if contender.starts_with("cpython") && measured && !medians.contains(&(workload, contender)) {
                let row = format!(
                    "the {bench} bench's {workload} row has no {contender} figure (for \"{}\")",
                    ratio["ratio"].as_str().unwrap_or("?")
                );
                if !missing.contains(&row) {
                    missing.push(row);
                }
            }
        }
    }
    missing
}

/// What the table's columns are, for readers of summary.json: the fixed ones, and the names
/// found in the threads and peers columns (crossbeam-channel, rayon; ipc-channel, procspawn,
/// iceoryx2).
pub(super) fn columns(rows: &[Value]) -> Value {
    let names = |key: &str| {
        let mut found: Vec<String> = Vec::new();
        for r in rows {
            for name in r[key].as_object().into_iter().flat_map(|o| o.keys()) {
                if !found.contains(name) {
                    found.push(name.clone());
                }
            }
        }
        found
    };
    serde_json::json!({
        "forkway": "forkway, ns per operation (median of the interleaved rounds)",
        "cpython": "CPython's multiprocessing with the interpreter named in \"python\", ns per operation",
        "floor": "the same job with bare libc calls between processes, ns per operation",
        "threads": names("threads"),
        "peers": names("peers"),
    })
}

fn fmt_ns(ns: Option<f64>) -> String {
    match ns {
        None => "—".to_owned(),
        Some(ns) if ns >= 1e6 => format!("{:.2} ms", ns / 1e6),
        Some(ns) if ns >= 1e3 => format!("{:.2} µs", ns / 1e3),
        Some(ns) => format!("{ns:.1} ns"),
    }
}

pub(super) fn print_table(rows: &[Value], ratios: &[Value], quick: bool) {
    if quick {
        println!("\n(quick run: every workload ran; the figures are not for quoting)");
    }
    // As wide as the longest workload (the start bench's rows name a method too).
    let w = rows
        .iter()
        .filter_map(|r| r["workload"].as_str())
        .map(|n| n.chars().count())
        .max()
        .unwrap_or(0)
        .max(20);
    println!(
        "\n{:<w$} {:>10} {:>10} {:>10} {:>10} {:>9} {:>9} {:>11}   Rust peers (peer/forkway)",
        "workload", "forkway", "CPython", "floor", "threads", "CPy/fw", "fw/floor", "fw/threads"
    );
    for r in rows {
        let f = r["forkway"].as_f64();
        let p = r["cpython"].as_f64();
        let fl = r["floor"].as_f64();
        let (th_name, th) = match r["threads"].as_object().and_then(|t| t.iter().next()) {
            Some((name, ns)) => (Some(name.as_str()), ns.as_f64()),
            None => (None, None),
        };
        let ratio = |a: Option<f64>, b: Option<f64>| {
            a.zip(b).map_or("—".to_owned(), |(a, b)| format!("{:.2}×", a / b))
        };
        let peers = match r["peers"].as_object() {
            Some(peers) => peers
                .iter()
                .map(|(name, ns)| format!("{name} {} ({})", fmt_ns(ns.as_f64()), ratio(ns.as_f64(), f)))
                .collect::<Vec<_>>()
                .join(", "),
            None => "—".to_owned(),
        };
        let threads = match th_name {
            Some(name) => format!("{} {name}", fmt_ns(th)),
            None => "—".to_owned(),
        };
        println!(
            "{:<w$} {:>10} {:>10} {:>10} {:>10} {:>9} {:>9} {:>11}   {peers}",
            r["workload"].as_str().unwrap_or("?"),
            fmt_ns(f),
            fmt_ns(p),
            fmt_ns(fl),
            fmt_ns(th),
            ratio(p, f),
            ratio(f, fl),
            ratio(f, th),
        );
        if th.is_some() {
            println!("{:<w$} (threads: {threads})", "");
        }
    }
    println!("\ntargets:");
    for r in ratios {
        let value = r["value"]
            .as_f64()
            .map_or("n/a".to_owned(), |v| format!("{v:.2}"));
        let verdict = match r["met"].as_bool() {
            Some(true) => "met",
            Some(false) => "MISSED",
            None if r["target"] == "(info)" => "",
            None => "not measured",
        };
        println!(
            "  {:<56} {value:>8}  {:<7} {verdict}",
            r["ratio"].as_str().unwrap_or("?"),
            r["target"].as_str().unwrap_or("")
        );
    }
}

#[cfg(test)]
mod tests {
    use super::missing_cpython;
    use serde_json::json;

    fn results(python: serde_json::Value, medians: serde_json::Value) -> serde_json::Value {
        json!({
            "python": python,
            "medians": medians,
            "ratios": [
                {"ratio": "Queue: CPython / forkway", "num": ["queue", "cpython"], "den": ["queue", "forkway"]},
                {"ratio": "big: CPython / forkway", "num": ["big", "cpython"], "den": ["big", "forkway"]},
                {"ratio": "written before contenders were recorded"},
            ],
        })
    }

    #[test]
    fn a_measured_row_without_its_cpython_figure_is_refused() {
        let py = json!({"path": "/usr/bin/python3"});
        let both = json!([
            {"workload": "queue", "contender": "forkway", "median_ns": 10.0},
            {"workload": "queue", "contender": "cpython", "median_ns": 90.0},
        ]);
        // `big` was not measured at all (a quick run skips it): nothing expected there.
        assert!(missing_cpython("ipc", &results(py.clone(), both)).is_empty());
        let forkway_only = json!([{"workload": "queue", "contender": "forkway", "median_ns": 10.0}]);
        let missing = missing_cpython("ipc", &results(py, forkway_only.clone()));
        assert_eq!(missing.len(), 1, "{missing:?}");
        assert!(missing[0].contains("ipc") && missing[0].contains("queue") && missing[0].contains("cpython"));
        // Without a python3 the CPython column is empty by design.
        assert!(missing_cpython("ipc", &results(serde_json::Value::Null, forkway_only)).is_empty());
    }
}
