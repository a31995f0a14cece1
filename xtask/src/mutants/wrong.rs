//! The plausible wrong answers kept beside a lesson (`lessons/NN-slug/wrong/`), and whether the
//! graded checks catch each one.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use crate::lesson::{Exercise, Lesson};
use crate::regions;
use crate::runner::{self, Build, Status};

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
