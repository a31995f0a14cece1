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
//!
//! `wrong` tries the hand-written wrong answers, `cargo_mutants` runs cargo-mutants on the
//! regions; this file runs both per lesson and reports them.

mod cargo_mutants;
mod wrong;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use crate::fs;
use crate::lesson::Lesson;
use crate::runner;

pub use cargo_mutants::{cargo_mutants, Mutant};
pub(crate) use wrong::lesson_dir;
pub use wrong::{try_wrong_answers, wrong_answers, Verdict, WrongAnswer};

/// Where the work copy and its build live.
pub fn work_dirs(root: &Path) -> (PathBuf, PathBuf) {
    let base = crate::fs::target_dir(root).join("mutants");
    (base.join("work"), base.join("target"))
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
