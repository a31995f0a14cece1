//! `cargo xtask mutants`: do the graded checks catch wrong answers?
//!
//! A lesson's graded checks are the specification of its exercises only if wrong code fails
//! them. Two kinds of wrong code are tried in each exercise region:
//!
//! - **plausible wrong answers**, written by hand beside the lesson
//!   (`lessons/NN-slug/wrong/<exercise>-<slug>.rs`): the whole file replaces the region's body,
//!   and its first line, `// wrong: …`, says what a learner got wrong. Each must fail a graded
//!   check on every run (`verify` tries them too);
//! - **mutants** from cargo-mutants, restricted to the regions' lines with `--in-diff` on the
//!   starter→reference diff. A mutant no graded check catches is tried against the reference
//!   tests: caught there, it is a *grading gap* (a requirement the graded checks miss); missed
//!   there too, it is equivalent or untested, and listed.
//!
//! Everything runs in a copy of the workspace under `target/mutants/` with its own target
//! directory, so the learner's files and build are never touched.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{json, Value};

use crate::lesson::{Exercise, Lesson};
use crate::runner::{self, Build, Status};
use crate::{fs, regions};

/// A plausible wrong answer kept beside a lesson.
#[derive(Debug, Clone)]
pub struct WrongAnswer {
    /// The file, relative to the root.
    pub file: String,
    pub exercise: String,
    /// What the learner got wrong (the first line, after `// wrong:`).
    pub what: String,
    /// The region body it stands for.
    pub body: String,
}

/// How a wrong answer fared.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Failed these graded checks (on every run).
    Caught(Vec<String>),
    /// Passed every graded check: the checks have a gap.
    Missed,
    /// Caught in only this many of that many runs: luck, not a specification.
    Sometimes(u32, u32),
    /// Does not compile, so it proves nothing: fix the wrong answer.
    DoesNotBuild(String),
}

/// Reads `lessons/<dir>/wrong/*.rs` of a lesson.
pub fn wrong_answers(root: &Path, lesson: &Lesson) -> Result<Vec<WrongAnswer>, String> {
    let Some(dir) = lesson_dir(root, lesson) else {
        return Ok(Vec::new());
    };
    let wrong_dir = dir.join("wrong");
    let mut files: Vec<PathBuf> = match std::fs::read_dir(&wrong_dir) {
        Ok(entries) => entries
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "rs"))
            .collect(),
        Err(_) => return Ok(Vec::new()),
    };
    files.sort();
    let mut answers = Vec::new();
    for path in files {
        let rel = path.strip_prefix(root).unwrap_or(&path).display().to_string();
        let name = path.file_stem().and_then(|n| n.to_str()).unwrap_or_default();
        let exercise = name.split_once('-').map(|(e, _)| e).unwrap_or(name);
        if lesson.exercise(exercise).is_none() {
            return Err(format!(
                "{rel}: the name must start with an exercise id of lesson {} (e.g. `{}.1-…`)",
                lesson.number, lesson.number
            ));
        }
        let body = std::fs::read_to_string(&path).map_err(|e| format!("{rel}: {e}"))?;
        let what = body
            .lines()
            .next()
            .and_then(|l| l.trim().strip_prefix("// wrong:"))
            .map(|w| w.trim().to_owned())
            .ok_or_else(|| format!("{rel}: the first line must be `// wrong: <what is wrong>`"))?;
        answers.push(WrongAnswer {
            file: rel,
            exercise: exercise.to_owned(),
            what,
            body,
        });
    }
    Ok(answers)
}

/// The folder of a lesson's `lesson.toml` (its chapter path does not say it).
pub(crate) fn lesson_dir(root: &Path, lesson: &Lesson) -> Option<PathBuf> {
    let entries = std::fs::read_dir(root.join("lessons")).ok()?;
    entries.flatten().map(|e| e.path()).find(|p| {
        std::fs::read_to_string(p.join("lesson.toml"))
            .ok()
            .and_then(|t| toml::from_str::<Lesson>(&t).ok())
            .is_some_and(|l| l.id == lesson.id)
    })
}

/// The lesson with every check runnable on its own: no `requires`, no `needs`.
fn ungated(lesson: &Lesson) -> Lesson {
    let mut l = lesson.clone();
    for c in &mut l.checks {
        c.requires.clear();
    }
    for e in &mut l.exercises {
        e.needs.clear();
    }
    l
}

/// Where the work copy and its build live.
pub fn work_dirs(root: &Path) -> (PathBuf, PathBuf) {
    let base = crate::fs::target_dir(root).join("mutants");
    (base.join("work"), base.join("target"))
}

/// Tries each wrong answer in a copy of the workspace at `work` (made fresh by the caller): the
/// exercise's own checks first, then the lesson's others if those all pass; `repeat` runs each.
pub fn try_wrong_answers(
    work: &Path,
    target: &Path,
    lesson: &Lesson,
    answers: &[WrongAnswer],
    repeat: u32,
) -> Result<Vec<(WrongAnswer, Verdict)>, String> {
    let lesson = ungated(lesson);
    let none = BTreeSet::new();
    let mut out = Vec::new();
    for answer in answers {
        let ex = lesson
            .exercise(&answer.exercise)
            .ok_or_else(|| format!("{}: no exercise {}", answer.file, answer.exercise))?;
        let path = work.join(&ex.file);
        let original = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", ex.file))?;
        let wrong = regions::replace(&original, &ex.region, &indent_like(&original, ex, &answer.body)?)?;
        std::fs::write(&path, wrong).map_err(|e| format!("{}: {e}", ex.file))?;
        let verdict = judge(work, target, &lesson, ex, repeat, &none);
        std::fs::write(&path, &original).map_err(|e| format!("{}: {e}", ex.file))?;
        if runner::stop_requested() {
            break;
        }
        out.push((answer.clone(), verdict?));
    }
    Ok(out)
}

/// The wrong answer as written, or re-indented to the region when it was written flush left.
fn indent_like(text: &str, ex: &Exercise, body: &str) -> Result<String, String> {
    let region = regions::find(text, &ex.region)?;
    let already = body
        .lines()
        .filter(|l| !l.trim().is_empty())
        .all(|l| l.starts_with(&region.indent));
    if already || region.indent.is_empty() {
        return Ok(body.to_owned());
    }
    Ok(body
        .lines()
        .map(|l| {
            if l.trim().is_empty() {
                "\n".to_owned()
            } else {
                format!("{}{l}\n", region.indent)
            }
        })
        .collect())
}

fn judge(
    work: &Path,
    target: &Path,
    lesson: &Lesson,
    ex: &Exercise,
    repeat: u32,
    blank: &BTreeSet<String>,
) -> Result<Verdict, String> {
    // Only what the answer can break: the test target, and the example when the answer is one.
    let example = Path::new(&ex.file)
        .parent()
        .filter(|dir| dir.ends_with("examples"))
        .and_then(|_| Path::new(&ex.file).file_stem())
        .and_then(|n| n.to_str())
        .map(|n| format!("--example={n}"));
    let exe = match runner::build_with(work, lesson, Some(target), example.as_deref())? {
        Build::Ready(exe) => exe,
        Build::Failed(errors) => {
            return Ok(Verdict::DoesNotBuild(
                errors.lines().take(8).collect::<Vec<_>>().join("\n"),
            ))
        }
    };
    let own: Vec<String> = lesson
        .checks
        .iter()
        .filter(|c| c.exercise == ex.id)
        .map(|c| c.id.clone())
        .collect();
    let others: Vec<String> = lesson
        .checks
        .iter()
        .filter(|c| c.exercise != ex.id)
        .map(|c| c.id.clone())
        .collect();
    for ids in [own, others] {
        if ids.is_empty() {
            continue;
        }
        // A wrong answer must be caught on every run: one run in which every check passes makes
        // it a miss that only luck was catching.
        let mut caught = BTreeSet::new();
        let mut runs_caught = 0;
        for _ in 0..repeat.max(1) {
            let failed: Vec<String> = runner::run_checks(&exe, lesson, Some(&ids), 1, blank)
                .into_iter()
                .filter(|r| r.status != Status::Pass)
                .map(|r| r.id)
                .collect();
            if failed.is_empty() {
                break;
            }
            runs_caught += 1;
            caught.extend(failed);
        }
        if runs_caught == repeat.max(1) {
            return Ok(Verdict::Caught(caught.into_iter().collect()));
        }
        if runs_caught > 0 {
            return Ok(Verdict::Sometimes(runs_caught, repeat.max(1)));
        }
    }
    Ok(Verdict::Missed)
}

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

/// The per-exercise summary of one lesson.
pub struct LessonMutants {
    pub lesson: u32,
    pub wrong: Vec<(WrongAnswer, Verdict)>,
    pub mutants: Vec<Mutant>,
}

impl LessonMutants {
    fn exercises(&self) -> BTreeSet<String> {
        self.wrong
            .iter()
            .map(|(w, _)| w.exercise.clone())
            .chain(self.mutants.iter().map(|m| m.exercise.clone()))
            .collect()
    }

    /// (viable mutants, caught by graded checks, grading gaps, missed by both).
    fn counts(&self, exercise: Option<&str>) -> (usize, usize, usize, usize) {
        let ms: Vec<&Mutant> = self
            .mutants
            .iter()
            .filter(|m| exercise.is_none_or(|e| m.exercise == e) && m.graded != "unviable")
            .collect();
        let caught = ms
            .iter()
            .filter(|m| m.graded == "caught" || m.graded == "timeout")
            .count();
        let gaps = ms
            .iter()
            .filter(|m| m.reference.as_deref().is_some_and(|r| r != "missed"))
            .count();
        (ms.len(), caught, gaps, ms.len() - caught - gaps)
    }

    pub fn to_json(&self) -> Value {
        let per_exercise: Vec<Value> = self
            .exercises()
            .into_iter()
            .map(|e| {
                let (viable, caught, gaps, _) = self.counts(Some(&e));
                let wrong: Vec<Value> = self
                    .wrong
                    .iter()
                    .filter(|(w, _)| w.exercise == e)
                    .map(|(w, v)| json!({"file": w.file, "what": w.what, "verdict": verdict_str(v), "caught_by": caught_by(v)}))
                    .collect();
                let missed: Vec<&String> = self
                    .mutants
                    .iter()
                    .filter(|m| m.exercise == e && m.reference.as_deref() == Some("missed"))
                    .map(|m| &m.name)
                    .collect();
                json!({"exercise": e, "mutants": viable, "caught_by_graded": caught, "grading_gaps": gaps,
                       "missed_by_both": missed, "wrong_answers": wrong})
            })
            .collect();
        let (viable, caught, gaps, both) = self.counts(None);
        json!({"lesson": self.lesson, "mutants": viable, "caught_by_graded": caught, "grading_gaps": gaps,
               "missed_by_both": both, "caught_percent": percent(caught, viable), "exercises": per_exercise})
    }

    pub fn human(&self) -> String {
        use std::fmt::Write;
        let mut out = String::new();
        let _ = writeln!(out, "Lesson {}", self.lesson);
        let _ = writeln!(
            out,
            "  exercise  mutants  graded  gaps  missed  wrong answers caught"
        );
        for e in self.exercises() {
            let (viable, caught, gaps, both) = self.counts(Some(&e));
            let wrong: Vec<&Verdict> = self
                .wrong
                .iter()
                .filter(|(w, _)| w.exercise == e)
                .map(|(_, v)| v)
                .collect();
            let wrong_caught = wrong.iter().filter(|v| matches!(v, Verdict::Caught(_))).count();
            let _ = writeln!(
                out,
                "  {e:<8}  {viable:>7}  {caught:>6}  {gaps:>4}  {both:>6}  {wrong_caught}/{}",
                wrong.len()
            );
        }
        let (viable, caught, gaps, both) = self.counts(None);
        let _ = writeln!(
            out,
            "  total     {viable:>7}  {caught:>6}  {gaps:>4}  {both:>6}  graded checks catch {}",
            percent(caught, viable).map_or("-".to_owned(), |p| format!("{p:.0}%"))
        );
        for (w, v) in &self.wrong {
            if !matches!(v, Verdict::Caught(_)) {
                let _ = writeln!(
                    out,
                    "  ✗ wrong answer {} ({}): {}",
                    w.file,
                    w.what,
                    verdict_str(v)
                );
            }
        }
        for m in &self.mutants {
            match m.reference.as_deref() {
                Some("missed") => {
                    let _ = writeln!(
                        out,
                        "  · missed by every test (equivalent or untested): {}",
                        m.name
                    );
                }
                Some(_) => {
                    let _ = writeln!(out, "  ✗ grading gap (only reference tests catch it): {}", m.name);
                }
                None => {}
            }
        }
        out
    }
}

fn percent(part: usize, whole: usize) -> Option<f64> {
    (whole > 0).then(|| 100.0 * part as f64 / whole as f64)
}

fn verdict_str(v: &Verdict) -> String {
    match v {
        Verdict::Caught(_) => "caught".into(),
        Verdict::Missed => "missed: every graded check passes".into(),
        Verdict::Sometimes(k, n) => format!("caught in only {k} of {n} runs"),
        Verdict::DoesNotBuild(e) => format!("does not build: {e}"),
    }
}

fn caught_by(v: &Verdict) -> Vec<String> {
    match v {
        Verdict::Caught(ids) => ids.clone(),
        _ => Vec::new(),
    }
}

/// `cargo xtask mutants`: wrong answers, then (unless `wrong_only`) cargo-mutants, per lesson.
pub fn command(
    root: &Path,
    numbers: &[u32],
    json_out: bool,
    wrong_only: bool,
    mutants_only: bool,
    repeat: u32,
) -> Result<u8, String> {
    let lessons = crate::load(root)?;
    let chosen: Vec<&Lesson> = lessons
        .iter()
        .filter(|l| numbers.is_empty() || numbers.contains(&l.number))
        .collect();
    if chosen.is_empty() {
        return Err("no lesson matched --lesson".into());
    }
    runner::become_subreaper();
    let (work, target) = work_dirs(root);
    fs::copy_workspace(root, &work)?;
    let mut all = Vec::new();
    for lesson in chosen {
        let wrong = if mutants_only {
            Vec::new()
        } else {
            eprintln!("lesson {}: trying the wrong answers…", lesson.number);
            try_wrong_answers(&work, &target, lesson, &wrong_answers(root, lesson)?, repeat)?
        };
        let mutants = if wrong_only {
            Vec::new()
        } else {
            cargo_mutants(&work, &target, lesson)?
        };
        let lm = LessonMutants {
            lesson: lesson.number,
            wrong,
            mutants,
        };
        if !json_out {
            print!("{}", lm.human());
        }
        all.push(lm);
    }
    if json_out {
        let doc = json!({"schema": 1, "lessons": all.iter().map(LessonMutants::to_json).collect::<Vec<_>>()});
        println!(
            "{}",
            serde_json::to_string_pretty(&doc).map_err(|e| e.to_string())?
        );
    }
    let bad = all.iter().any(|l| {
        l.wrong.iter().any(|(_, v)| !matches!(v, Verdict::Caught(_)))
            || l.mutants
                .iter()
                .any(|m| m.reference.as_deref().is_some_and(|r| r != "missed"))
    });
    Ok(u8::from(bad))
}
