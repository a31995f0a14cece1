//! cargo-mutants run on the exercise regions only (`--in-diff` on the starter→reference diff);
//! a mutant the graded checks miss is tried against the reference tests.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use serde_json::Value;

use crate::lesson::Lesson;
use crate::regions;

/// One cargo-mutants mutant of an exercise region and what caught it.
#[derive(Debug, Clone)]
pub struct Mutant {
    pub name: String,
    pub exercise: String,
    /// `caught`, `missed`, `timeout` (counts as caught: the check did not pass) or `unviable`.
    pub graded: String,
    /// For a mutant the graded checks missed: `caught` or `missed` by the reference tests.
    pub reference: Option<String>,
}

/// Makes sure `cargo mutants` runs, installing it with cargo the first time (as `book` does
/// for mdBook).
fn ensure_cargo_mutants() -> Result<(), String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let have = Command::new(&cargo)
        .args(["mutants", "--version"])
        .output()
        .is_ok_and(|o| o.status.success());
    if have {
        return Ok(());
    }
    eprintln!("cargo-mutants is not installed; installing it with `cargo install cargo-mutants --locked` (a few minutes, once)…");
    let status = Command::new(&cargo)
        .args(["install", "cargo-mutants", "--locked"])
        .status()
        .map_err(|e| format!("cannot run cargo install: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err("`cargo install cargo-mutants --locked` failed; install it by hand and run again".into())
    }
}

/// The starter→reference diff of a lesson's exercise files, as `--in-diff` reads it: the
/// reference's region lines are the "added" lines, so only they are mutated.
fn region_diff(work: &Path, lesson: &Lesson) -> Result<String, String> {
    let mut diff = String::new();
    for file in lesson.editable_files() {
        let reference = std::fs::read_to_string(work.join(&file)).map_err(|e| format!("{file}: {e}"))?;
        let mut starter = reference.clone();
        for ex in lesson.exercises.iter().filter(|e| e.file == file) {
            starter = regions::blank(&starter, &ex.region, &ex.id, &ex.title)?;
        }
        let dir = work.join("..").join("diff");
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let old = dir.join("starter.rs");
        std::fs::write(&old, &starter).map_err(|e| format!("{}: {e}", old.display()))?;
        let out = Command::new("diff")
            .args([
                "-u",
                "--label",
                &format!("a/{file}"),
                "--label",
                &format!("b/{file}"),
            ])
            .arg(&old)
            .arg(work.join(&file))
            .output()
            .map_err(|e| format!("cannot run diff: {e}"))?;
        // diff exits 1 when the files differ, which they must.
        if out.status.code() != Some(1) {
            return Err(format!(
                "diff of {file} failed: {}",
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        diff.push_str(&String::from_utf8_lossy(&out.stdout));
    }
    Ok(diff)
}

/// Which exercise a mutant belongs to: the region of the lesson its lines overlap (a mutant
/// that replaces a whole function body spans the region inside it).
fn exercise_at(work: &Path, lesson: &Lesson, file: &str, (first, last): (usize, usize)) -> Option<String> {
    lesson.exercises.iter().filter(|e| e.file == file).find_map(|e| {
        let text = std::fs::read_to_string(work.join(&e.file)).ok()?;
        let r = regions::find(&text, &e.region).ok()?;
        // Region body lines, 1-based: after the ANCHOR line, before the ANCHOR_END line.
        let (begin, end) = (r.begin + 2, r.end);
        (first <= end && last >= begin).then(|| e.id.clone())
    })
}

/// Runs cargo-mutants over `lesson`'s regions in `work`: first against the graded checks, then
/// the survivors against every test of the workspace.
pub fn cargo_mutants(work: &Path, target: &Path, lesson: &Lesson) -> Result<Vec<Mutant>, String> {
    ensure_cargo_mutants()?;
    let base = work
        .parent()
        .unwrap_or(work)
        .join(format!("lesson-{}", lesson.number));
    let _ = std::fs::remove_dir_all(&base);
    std::fs::create_dir_all(&base).map_err(|e| format!("{}: {e}", base.display()))?;
    let diff_file = base.join("regions.diff");
    std::fs::write(&diff_file, region_diff(work, lesson)?)
        .map_err(|e| format!("{}: {e}", diff_file.display()))?;
    let graded = run_cargo_mutants(
        work,
        target,
        lesson,
        &diff_file,
        &base.join("graded"),
        None,
        &["--", "--test", &lesson.test_target],
    )?;
    let missed: Vec<&String> = graded
        .iter()
        .filter(|(_, o)| o.summary == "missed")
        .map(|(n, _)| n)
        .collect();
    let reference = if missed.is_empty() {
        BTreeMap::new()
    } else {
        let re = format!(
            "^({})$",
            missed
                .iter()
                .map(|n| regex_escape(n))
                .collect::<Vec<_>>()
                .join("|")
        );
        run_cargo_mutants(
            work,
            target,
            lesson,
            &diff_file,
            &base.join("reference"),
            Some(&re),
            &["--test-workspace", "true"],
        )?
    };
    let mut mutants = Vec::new();
    for (name, outcome) in graded {
        let exercise = exercise_at(work, lesson, &outcome.file, outcome.lines).unwrap_or_else(|| "?".into());
        let reference = (outcome.summary == "missed").then(|| {
            reference
                .get(&name)
                .map(|o| o.summary.clone())
                .unwrap_or_else(|| "missed".into())
        });
        mutants.push(Mutant {
            name,
            exercise,
            graded: outcome.summary,
            reference,
        });
    }
    Ok(mutants)
}

fn regex_escape(s: &str) -> String {
    s.chars()
        .flat_map(|c| {
            let special = "\\.+*?()|[]{}^$#&-~".contains(c);
            special.then_some('\\').into_iter().chain(std::iter::once(c))
        })
        .collect()
}

/// One cargo-mutants run; returns each mutant's name and outcome (`caught`, `missed`,
/// `timeout`, `unviable`).
fn run_cargo_mutants(
    work: &Path,
    target: &Path,
    lesson: &Lesson,
    diff: &Path,
    out: &Path,
    re: Option<&str>,
    extra: &[&str],
) -> Result<BTreeMap<String, Outcome>, String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let mut cmd = Command::new(&cargo);
    // Its progress goes to our stderr: stdout is the report (and JSON with --format json).
    cmd.stdout(std::process::Stdio::from(std::io::stderr()));
    cmd.arg("mutants")
        .arg("--dir")
        .arg(work)
        .arg("--in-place")
        .arg("--in-diff")
        .arg(diff)
        .args(["-p", &lesson.package, "--no-shuffle", "--timeout", "60"])
        .args(["--build-timeout", "600", "--colors", "never", "--no-times"])
        .arg("--output")
        .arg(out);
    if let Some(re) = re {
        cmd.args(["--re", re]);
    }
    cmd.args(extra)
        .env("CARGO_TARGET_DIR", target)
        .env("FORKWAY_FORK_WARNING", "0")
        .env("RUST_BACKTRACE", "0")
        .current_dir(work);
    eprintln!(
        "lesson {}: cargo mutants ({})…",
        lesson.number,
        out.file_name().and_then(|n| n.to_str()).unwrap_or("")
    );
    let status = cmd
        .status()
        .map_err(|e| format!("cannot run cargo mutants: {e}"))?;
    let outcomes = out.join("mutants.out").join("outcomes.json");
    let text = std::fs::read_to_string(&outcomes)
        .map_err(|e| format!("cargo mutants ({status}) wrote no {}: {e}", outcomes.display()))?;
    let json: Value = serde_json::from_str(&text).map_err(|e| format!("{}: {e}", outcomes.display()))?;
    let mut result = BTreeMap::new();
    for o in json["outcomes"].as_array().into_iter().flatten() {
        let Some(m) = o["scenario"].get("Mutant") else {
            continue; // the baseline
        };
        let name = mutant_name(m);
        let outcome = match o["summary"].as_str().unwrap_or("") {
            "CaughtMutant" => "caught",
            "MissedMutant" => "missed",
            "Timeout" => "timeout",
            "Unviable" => "unviable",
            other => other,
        };
        let line = |end: &str| m["span"][end]["line"].as_u64().unwrap_or(0) as usize;
        result.insert(
            name,
            Outcome {
                summary: outcome.to_owned(),
                file: m["file"].as_str().unwrap_or("").to_owned(),
                lines: (line("start"), line("end")),
            },
        );
    }
    Ok(result)
}

/// What cargo-mutants reported of one mutant, and where it is.
#[derive(Debug, Clone)]
struct Outcome {
    /// `caught`, `missed`, `timeout` or `unviable`.
    summary: String,
    file: String,
    /// First and last line (1-based) of the mutated code: for a replaced function body, the
    /// whole body around the region.
    lines: (usize, usize),
}

/// The name `--list` shows and `--re` matches: `file:line:col: replace … with …`.
fn mutant_name(m: &Value) -> String {
    if let Some(name) = m["name"].as_str() {
        return name.to_owned();
    }
    let file = m["file"].as_str().unwrap_or("?");
    let line = m["span"]["start"]["line"].as_u64().unwrap_or(0);
    let col = m["span"]["start"]["column"].as_u64().unwrap_or(0);
    let genre = m["genre"].as_str().unwrap_or("");
    let replacement = m["replacement"].as_str().unwrap_or("");
    let function = m["function"]["function_name"].as_str().unwrap_or("");
    format!("{file}:{line}:{col}: {genre} {function} {replacement}")
}
