//! `cargo xtask bench`: every crate's bench beside CPython and the bare-libc floor, one table.
//!
//! Each crate's criterion bench ends with an interleaved run (A B C, A B C, …; medians) and
//! writes `target/forkway-bench/<name>.json`; this command runs them in turn, then gathers those
//! files into one table, `target/forkway-bench/summary.json` and an SVG chart of the ratios
//! (`book/src/img/bench-ratios.svg` with `--book`, for the book's chapter).

use std::path::Path;
use std::process::Command;

use serde_json::Value;

/// (package, bench target, results file), in lesson order. A row per lesson as crates land.
const BENCHES: &[(&str, &str, &str)] = &[
    ("forkway-process", "process", "process.json"),
    ("forkway-ipc", "ipc", "ipc.json"),
    ("forkway-sync", "sync", "sync.json"),
    ("forkway-joinable", "joinable", "joinable.json"),
];

/// Runs the benches (`quick`: criterion's `--quick` and short interleaved runs, to prove every
/// workload runs — no figures to quote), prints the table, writes the summary and the chart.
pub fn run(root: &Path, quick: bool, book: bool) -> Result<u8, String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    if Command::new("python3").arg("--version").output().is_err() {
        eprintln!("python3 not found: the CPython columns will be empty (install python3 to fill them)");
    }
    let out = root.join("target").join("forkway-bench");
    for (package, bench, file) in BENCHES {
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
    for (_, _, file) in BENCHES {
        let path = out.join(file);
        let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        let json: Value = serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
        rows.extend(table_rows(&json));
        ratios.extend(json["ratios"].as_array().cloned().unwrap_or_default());
    }
    print_table(&rows, &ratios, quick);
    let summary = serde_json::json!({ "quick": quick, "rows": rows, "ratios": ratios });
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
    println!("\nresults: {}", out.join("summary.json").display());
    let missed = ratios.iter().filter(|r| r["met"] == Value::Bool(false)).count();
    // A quick run asserts that everything ran, not how fast.
    Ok(if missed > 0 && !quick { 1 } else { 0 })
}

/// One row per workload: forkway, CPython and floor medians (ns per operation).
fn table_rows(json: &Value) -> Vec<Value> {
    let mut by_workload: std::collections::BTreeMap<String, Value> = std::collections::BTreeMap::new();
    for m in json["medians"].as_array().into_iter().flatten() {
        let (Some(w), Some(c), Some(ns)) = (
            m["workload"].as_str(),
            m["contender"].as_str(),
            m["median_ns"].as_f64(),
        ) else {
            continue;
        };
        let row = by_workload
            .entry(w.to_owned())
            .or_insert_with(|| serde_json::json!({ "workload": w }));
        let column = match c {
            "forkway" => "forkway",
            "floor" => "floor",
            "cpython" | "cpython_fork" => "cpython",
            _ => continue,
        };
        row[column] = Value::from(ns);
    }
    by_workload.into_values().collect()
}

fn fmt_ns(ns: Option<f64>) -> String {
    match ns {
        None => "—".to_owned(),
        Some(ns) if ns >= 1e6 => format!("{:.2} ms", ns / 1e6),
        Some(ns) if ns >= 1e3 => format!("{:.2} µs", ns / 1e3),
        Some(ns) => format!("{ns:.1} ns"),
    }
}

fn print_table(rows: &[Value], ratios: &[Value], quick: bool) {
    if quick {
        println!("\n(quick run: every workload ran; the figures are not for quoting)");
    }
    println!(
        "\n{:<18} {:>12} {:>12} {:>12} {:>16} {:>15}",
        "workload", "forkway", "CPython", "floor", "CPython/forkway", "forkway/floor"
    );
    for r in rows {
        let f = r["forkway"].as_f64();
        let p = r["cpython"].as_f64();
        let fl = r["floor"].as_f64();
        let ratio = |a: Option<f64>, b: Option<f64>| {
            a.zip(b).map_or("—".to_owned(), |(a, b)| format!("{:.2}×", a / b))
        };
        println!(
            "{:<18} {:>12} {:>12} {:>12} {:>16} {:>15}",
            r["workload"].as_str().unwrap_or("?"),
            fmt_ns(f),
            fmt_ns(p),
            fmt_ns(fl),
            ratio(p, f),
            ratio(f, fl)
        );
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

/// A horizontal bar chart of every measured ratio (log scale), target ratios marked.
fn chart(ratios: &[Value]) -> String {
    let measured: Vec<(&str, f64, &str, Option<bool>)> = ratios
        .iter()
        .filter_map(|r| {
            Some((
                r["ratio"].as_str()?,
                r["value"].as_f64()?,
                r["target"].as_str().unwrap_or(""),
                r["met"].as_bool(),
            ))
        })
        .collect();
    let (left, width, bar_h, gap) = (420.0, 360.0, 18.0, 8.0);
    let height = 40.0 + measured.len() as f64 * (bar_h + gap);
    let max = measured.iter().map(|m| m.1).fold(1.0f64, f64::max).max(2.0);
    let x = |v: f64| left + width * (v.max(0.1).log10() + 1.0) / (max.log10() + 1.0);
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" height=\"{height}\" font-family=\"sans-serif\" font-size=\"12\">\n\
         <rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n\
         <text x=\"10\" y=\"20\" font-weight=\"bold\">forkway ratios (log scale; 1× is the line)</text>\n",
        left + width + 90.0
    );
    let one = x(1.0);
    svg += &format!("<line x1=\"{one}\" y1=\"28\" x2=\"{one}\" y2=\"{height}\" stroke=\"#888\" stroke-dasharray=\"4 3\"/>\n");
    for (i, (label, value, target, met)) in measured.iter().enumerate() {
        let y = 32.0 + i as f64 * (bar_h + gap);
        let colour = match met {
            Some(true) => "#3a7d44",
            Some(false) => "#b33a3a",
            None => "#6b7fa8",
        };
        let label = label.replace('&', "&amp;").replace('<', "&lt;");
        let target = target.replace('<', "&lt;").replace('>', "&gt;");
        svg += &format!(
            "<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{label}</text>\n\
             <rect x=\"{left}\" y=\"{y}\" width=\"{:.1}\" height=\"{bar_h}\" fill=\"{colour}\"/>\n\
             <text x=\"{:.1}\" y=\"{}\">{value:.2}× {target}</text>\n",
            left - 6.0,
            y + 13.0,
            (x(*value) - left).max(1.0),
            x(*value) + 4.0,
            y + 13.0
        );
    }
    svg + "</svg>\n"
}
