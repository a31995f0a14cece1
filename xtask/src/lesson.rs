//! `lessons/NN-slug/lesson.toml`: the single source of truth for a lesson.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// One lesson, as written in its `lesson.toml`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Lesson {
    /// Stable id; progress is keyed on it, so renumbering lessons loses nothing.
    pub id: String,
    /// The number learners type (`cargo xtask lesson 1`).
    pub number: u32,
    pub title: String,
    /// The chapter's markdown file, relative to the repository root.
    pub chapter: String,
    /// The package whose test target holds the graded checks.
    pub package: String,
    /// The integration-test target (file `tests/<test_target>.rs` of `package`).
    pub test_target: String,
    /// What the lesson taught, shown when it passes.
    pub recap: String,
    #[serde(default)]
    pub exercises: Vec<Exercise>,
    #[serde(default)]
    pub checks: Vec<Check>,
    /// What the tests cannot verify: a learner should check these by reading.
    #[serde(default)]
    pub not_tested: Vec<String>,
    /// Pointers for after the lesson.
    #[serde(default)]
    pub going_further: Vec<String>,
    /// Test files (relative to the root) that exercise this lesson's reference beyond the graded
    /// checks. A starter repository in which the lesson is blanked leaves them out: they would
    /// test the learner's unfinished code.
    #[serde(default)]
    pub reference_tests: Vec<String>,
    /// Packages whose doctests use this lesson's code; a starter turns them off.
    #[serde(default)]
    pub reference_doctests: Vec<String>,
    /// A command each check runs under, e.g. `["mpirun", "-n", "3"]`: the test executable and
    /// its arguments follow it.
    #[serde(default)]
    pub launcher: Vec<String>,
    /// A program the lesson cannot run without (an optional engine such as MPI), and how to
    /// install it. Without it the lesson says so and the rest of the course is unaffected.
    #[serde(default)]
    pub requires_command: Option<RequiredCommand>,
}

/// An external program a lesson needs.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequiredCommand {
    /// The program's name, looked up on `PATH`.
    pub command: String,
    /// The exact command that installs it.
    pub install: String,
}

impl RequiredCommand {
    /// True when `command` is an executable file on `PATH`.
    pub fn available(&self) -> bool {
        use std::os::unix::fs::PermissionsExt;
        std::env::var_os("PATH").is_some_and(|path| {
            std::env::split_paths(&path).any(|dir| {
                std::fs::metadata(dir.join(&self.command))
                    .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
            })
        })
    }

    /// What to tell a learner whose machine lacks it.
    pub fn missing_message(&self, lesson: &Lesson) -> String {
        format!(
            "Lesson {} needs `{}`, which is not installed on this machine.\nInstall it with:\n\n    {}\n\nthen run `cargo xtask lesson {}` again. The other lessons do not need it.",
            lesson.number, self.command, self.install, lesson.number
        )
    }
}

impl Lesson {
    /// `None` when the lesson can run here, else why not.
    pub fn unavailable(&self) -> Option<String> {
        self.requires_command
            .as_ref()
            .filter(|r| !r.available())
            .map(|r| r.missing_message(self))
    }
}

/// A region of the reference code that the learner rewrites.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Exercise {
    /// `1.2`: lesson number and position.
    pub id: String,
    /// `build` (implement a primitive) or `use` (write a program with it).
    pub kind: String,
    pub title: String,
    /// The anchor name of the region, e.g. `exercise_1_2`.
    pub region: String,
    /// The file holding the region, relative to the repository root.
    pub file: String,
    /// Where the chapter explains it (`book/src/….md#anchor`).
    pub section: String,
    /// The exercise's specification: everything the code must do, every protocol detail and
    /// output format a check relies on. Hints help find the way; they never add a requirement.
    #[serde(default)]
    pub statement: String,
    /// Exercises (ids, e.g. `1.4`) whose code this one's checks run: while one of them is still
    /// the starter's `todo!()`, those checks are skipped with "needs exercise … first".
    #[serde(default)]
    pub needs: Vec<String>,
    /// Progressive hints, from a nudge to nearly the answer.
    pub hints: Vec<String>,
}

/// A graded test.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Check {
    /// Stable id of the check.
    pub id: String,
    /// The test function's name in the lesson's test target.
    pub test: String,
    /// The exercise this check grades.
    pub exercise: String,
    pub points: u32,
    /// Seconds before the check is killed.
    #[serde(default = "default_timeout")]
    pub timeout: u64,
    /// How many times it must pass in a row (for checks about races).
    #[serde(default = "default_repeat")]
    pub repeat: u32,
    /// Check ids that must pass first; otherwise this one is skipped.
    #[serde(default)]
    pub requires: Vec<String>,
    /// Set (with the reason) when the check passes even on the blank starter.
    #[serde(default)]
    pub passes_on_starter: Option<String>,
}

fn default_timeout() -> u64 {
    60
}
fn default_repeat() -> u32 {
    1
}

impl Lesson {
    pub fn max_points(&self) -> u32 {
        self.checks.iter().map(|c| c.points).sum()
    }

    pub fn exercise(&self, id: &str) -> Option<&Exercise> {
        self.exercises.iter().find(|e| e.id == id)
    }

    /// The files a learner edits in this lesson.
    pub fn editable_files(&self) -> Vec<String> {
        let set: BTreeSet<String> = self.exercises.iter().map(|e| e.file.clone()).collect();
        set.into_iter().collect()
    }

    /// Problems in the metadata itself (files and tests are checked by `verify`).
    pub fn lint(&self) -> Vec<String> {
        let mut problems = Vec::new();
        let mut ids = BTreeSet::new();
        for c in &self.checks {
            if !ids.insert(c.id.as_str()) {
                problems.push(format!("check id `{}` appears twice", c.id));
            }
            if self.exercise(&c.exercise).is_none() {
                problems.push(format!(
                    "check `{}` grades unknown exercise `{}`",
                    c.id, c.exercise
                ));
            }
            if c.points == 0 {
                problems.push(format!("check `{}` is worth 0 points", c.id));
            }
            if c.timeout == 0 || c.repeat == 0 {
                problems.push(format!(
                    "check `{}` needs a timeout and repeat of at least 1",
                    c.id
                ));
            }
        }
        for c in &self.checks {
            for r in &c.requires {
                let earlier = self
                    .checks
                    .iter()
                    .take_while(|o| o.id != c.id)
                    .any(|o| &o.id == r);
                if !earlier {
                    problems.push(format!(
                        "check `{}` requires `{r}`, which is not an earlier check",
                        c.id
                    ));
                }
            }
        }
        for e in &self.exercises {
            if e.hints.is_empty() || e.hints.iter().any(|h| h.trim().is_empty()) {
                problems.push(format!("exercise {} needs non-empty hints", e.id));
            }
            if e.statement.trim().is_empty() {
                problems.push(format!(
                    "exercise {} has no statement: say what the code must do, every format and protocol its checks rely on",
                    e.id
                ));
            }
            if e.needs.iter().any(|n| n == &e.id) {
                problems.push(format!("exercise {} needs itself", e.id));
            }
            if !self.checks.iter().any(|c| c.exercise == e.id) {
                problems.push(format!("exercise {} has no check grading it", e.id));
            }
            if e.kind != "build" && e.kind != "use" {
                problems.push(format!(
                    "exercise {} has kind `{}`; use `build` or `use`",
                    e.id, e.kind
                ));
            }
            if !e.id.starts_with(&format!("{}.", self.number)) {
                problems.push(format!(
                    "exercise id {} does not start with the lesson number",
                    e.id
                ));
            }
        }
        problems
    }
}

/// The exercises (of every lesson) whose region in `root` is still the starter's `todo!()`.
/// A file or region that cannot be read counts as not blank: its own checks will say why.
pub fn blank_exercises(root: &Path, lessons: &[Lesson]) -> BTreeSet<String> {
    lessons
        .iter()
        .flat_map(|l| &l.exercises)
        .filter(|e| {
            std::fs::read_to_string(root.join(&e.file))
                .ok()
                .and_then(|text| crate::regions::body(&text, &e.region).ok())
                .is_some_and(|body| crate::regions::is_blank(&body))
        })
        .map(|e| e.id.clone())
        .collect()
}

/// Reads every `lessons/*/lesson.toml`, sorted by number.
pub fn load_all(root: &Path) -> Result<Vec<Lesson>, String> {
    let dir = root.join("lessons");
    let mut lessons = Vec::new();
    let entries = std::fs::read_dir(&dir).map_err(|e| format!("cannot read {}: {e}", dir.display()))?;
    for entry in entries.flatten() {
        let path: PathBuf = entry.path().join("lesson.toml");
        if !path.is_file() {
            continue;
        }
        let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        let lesson: Lesson = toml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
        lessons.push(lesson);
    }
    lessons.sort_by_key(|l| l.number);
    for pair in lessons.windows(2) {
        if pair[0].number == pair[1].number || pair[0].id == pair[1].id {
            return Err(format!(
                "two lessons share number {} or id {}",
                pair[0].number, pair[0].id
            ));
        }
    }
    Ok(lessons)
}
