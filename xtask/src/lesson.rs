//! `lessons/NN-slug/lesson.toml`: the single source of truth for a lesson.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::i18n::Lang;

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
    /// The folder of its `lesson.toml` (set by `load_all`), where its translations live too.
    #[serde(skip)]
    pub dir: PathBuf,
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
        crate::i18n::current().command_missing(lesson.number, &self.command, &self.install)
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

    /// Splits what `ex` needs into exercises to write first and exercises checked together with
    /// it. Two exercises whose checks run each other's code (1.2 joins through 1.4's bootstrap,
    /// 1.4's checks join through 1.2) cannot be ordered: telling the learner "first" both ways
    /// would send them round in a circle, so such a group is named as one.
    pub fn needs_split(&self, ex: &Exercise) -> (Vec<String>, Vec<String>) {
        let reaches = |from: &str, to: &str| -> bool {
            let mut seen = BTreeSet::new();
            let mut stack = vec![from.to_string()];
            while let Some(id) = stack.pop() {
                if id == to {
                    return true;
                }
                if seen.insert(id.clone()) {
                    if let Some(e) = self.exercise(&id) {
                        stack.extend(e.needs.iter().cloned());
                    }
                }
            }
            false
        };
        let together: Vec<String> = self
            .exercises
            .iter()
            .filter(|o| o.id != ex.id && reaches(&ex.id, &o.id) && reaches(&o.id, &ex.id))
            .map(|o| o.id.clone())
            .collect();
        let first = ex
            .needs
            .iter()
            .filter(|n| !together.contains(n))
            .cloned()
            .collect();
        (first, together)
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
        let mut lesson: Lesson = toml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
        lesson.dir = entry.path();
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

/// `load_all`, with the texts of `lang` over the English ones where a translation has them, and
/// the sections to read in that language's edition of the book.
pub fn load_all_in(root: &Path, lang: Lang) -> Result<Vec<Lesson>, String> {
    let mut lessons = load_all(root)?;
    let edition = (lang != Lang::En).then(|| Edition::built_in(root, lang));
    for lesson in &mut lessons {
        if let Some(t) = Translation::load(lesson, lang)? {
            lesson.translate(&t);
        }
        if let Some(edition) = &edition {
            lesson.read_in(edition);
        }
    }
    Ok(lessons)
}

/// A translated edition of the book, as `cargo xtask book --lang <tag>` builds it: HTML only
/// (a translation has no Markdown of its own: `book/po` holds its messages), in
/// `<target>/book/<tag>`.
#[derive(Debug, Clone)]
pub struct Edition {
    /// The edition's folder, relative to the root when it lies inside it.
    pub dir: String,
    pub lang: Lang,
    /// False until `cargo xtask book --lang <tag>` has built it.
    pub built: bool,
}

impl Edition {
    pub fn built_in(root: &Path, lang: Lang) -> Edition {
        let dir = crate::fs::target_dir(root).join("book").join(lang.tag());
        let built = dir.join("index.html").is_file();
        let shown = dir.strip_prefix(root).unwrap_or(&dir).display().to_string();
        Edition {
            dir: shown,
            lang,
            built,
        }
    }

    /// `book/src/ch.md#anchor` → `<dir>/ch.html#anchor`: mdBook names a chapter's page after its
    /// file, and a translated heading keeps the English heading's id (`verify` checks it).
    pub fn section(&self, section: &str) -> String {
        let (file, anchor) = match section.split_once('#') {
            Some((file, anchor)) => (file, format!("#{anchor}")),
            None => (section, String::new()),
        };
        let page = file.strip_prefix("book/src/").unwrap_or(file);
        let page = page.strip_suffix(".md").unwrap_or(page);
        let at = format!("{}/{page}.html{anchor}", self.dir);
        if self.built {
            at
        } else {
            self.lang.build_the_book_first(&at)
        }
    }
}

impl Lesson {
    /// Points every exercise's section at `edition`'s page instead of the English chapter.
    pub fn read_in(&mut self, edition: &Edition) {
        for e in &mut self.exercises {
            e.section = edition.section(&e.section);
        }
    }
}

/// A lesson's learner-facing texts in another language: `lesson.<tag>.toml` beside its
/// `lesson.toml` (e.g. `lesson.zh-CN.toml`). Lists have the English ones' length and order.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Translation {
    #[serde(default)]
    pub title: String,
    #[serde(default)]
    pub recap: String,
    #[serde(default)]
    pub not_tested: Vec<String>,
    #[serde(default)]
    pub going_further: Vec<String>,
    /// By exercise id.
    #[serde(default)]
    pub exercises: BTreeMap<String, ExerciseText>,
}

/// An exercise's texts in a translation.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExerciseText {
    #[serde(default)]
    pub title: String,
    #[serde(default)]
    pub statement: String,
    #[serde(default)]
    pub hints: Vec<String>,
}

impl Translation {
    /// The file of `lesson`'s texts in `lang`.
    pub fn path(lesson: &Lesson, lang: Lang) -> PathBuf {
        lesson.dir.join(format!("lesson.{}.toml", lang.tag()))
    }

    /// `lesson`'s translation into `lang`; `None` for English or when there is none.
    pub fn load(lesson: &Lesson, lang: Lang) -> Result<Option<Translation>, String> {
        if lang == Lang::En {
            return Ok(None);
        }
        let path = Translation::path(lesson, lang);
        match std::fs::read_to_string(&path) {
            Ok(text) => toml::from_str(&text)
                .map(Some)
                .map_err(|e| format!("{}: {e}", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(format!("{}: {e}", path.display())),
        }
    }
}

/// `to` replaced by `from` when `from` is the whole translation of it (same length, nothing
/// blank): half a list would misnumber hints and mix languages.
fn overlay_list(to: &mut Vec<String>, from: &[String]) {
    if from.len() == to.len() && from.iter().all(|s| !s.trim().is_empty()) {
        *to = from.to_vec();
    }
}

fn overlay(to: &mut String, from: &str) {
    if !from.trim().is_empty() {
        *to = from.to_owned();
    }
}

impl Lesson {
    /// Puts the translated texts over the English ones; anything missing stays English.
    pub fn translate(&mut self, t: &Translation) {
        overlay(&mut self.title, &t.title);
        overlay(&mut self.recap, &t.recap);
        overlay_list(&mut self.not_tested, &t.not_tested);
        overlay_list(&mut self.going_further, &t.going_further);
        for e in &mut self.exercises {
            if let Some(text) = t.exercises.get(&e.id) {
                overlay(&mut e.title, &text.title);
                overlay(&mut e.statement, &text.statement);
                overlay_list(&mut e.hints, &text.hints);
            }
        }
    }

    /// Every text of this lesson is there in Simplified Chinese too (`verify`).
    pub fn lint_translations(&self) -> Vec<String> {
        let path = Translation::path(self, Lang::ZhCn);
        match Translation::load(self, Lang::ZhCn) {
            Ok(Some(t)) => self
                .lint_translation(&t)
                .into_iter()
                .map(|p| format!("{}: {p}", path.display()))
                .collect(),
            Ok(None) => vec![format!("{} is missing", path.display())],
            Err(e) => vec![e],
        }
    }

    /// What `t` lacks to be this lesson in another language: every text present, lists as
    /// long as the English ones, no exercise the lesson does not have.
    pub fn lint_translation(&self, t: &Translation) -> Vec<String> {
        let mut problems = Vec::new();
        let mut text = |what: String, english: &str, translated: &str| {
            if !english.trim().is_empty() && translated.trim().is_empty() {
                problems.push(format!("{what} is not translated"));
            }
        };
        text("the title".into(), &self.title, &t.title);
        text("the recap".into(), &self.recap, &t.recap);
        for e in &self.exercises {
            let empty = ExerciseText::default();
            let et = t.exercises.get(&e.id).unwrap_or(&empty);
            text(format!("exercise {}'s title", e.id), &e.title, &et.title);
            text(
                format!("exercise {}'s statement", e.id),
                &e.statement,
                &et.statement,
            );
        }
        let mut list = |what: String, english: &[String], translated: &[String]| {
            if english.len() != translated.len() {
                problems.push(format!(
                    "{what}: {} in English, {} translated",
                    english.len(),
                    translated.len()
                ));
            } else if translated.iter().any(|s| s.trim().is_empty()) {
                problems.push(format!("{what}: an entry is empty"));
            }
        };
        list("not_tested".into(), &self.not_tested, &t.not_tested);
        list("going_further".into(), &self.going_further, &t.going_further);
        for e in &self.exercises {
            let hints = t.exercises.get(&e.id).map_or(&[][..], |et| &et.hints);
            list(format!("exercise {}'s hints", e.id), &e.hints, hints);
        }
        for id in t.exercises.keys() {
            if self.exercise(id).is_none() {
                problems.push(format!("exercise {id} is translated but not in the lesson"));
            }
        }
        problems
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn needs_split_names_a_cycle_as_one_group() {
        let mut l = lesson();
        let base = l.exercises[0].clone();
        l.exercises.clear();
        for (id, needs) in [
            ("1.1", vec![]),
            ("1.2", vec!["1.1", "1.4"]),
            ("1.3", vec!["1.1", "1.2", "1.4"]),
            ("1.4", vec!["1.1", "1.2", "1.3"]),
            ("1.5", vec!["1.1", "1.2", "1.4"]),
        ] {
            let mut e = base.clone();
            e.id = id.into();
            e.needs = needs.into_iter().map(String::from).collect();
            l.exercises.push(e);
        }
        let split = |id: &str| l.needs_split(l.exercise(id).expect("exercise"));
        let v = |ids: &[&str]| ids.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(split("1.1"), (v(&[]), v(&[])));
        assert_eq!(split("1.2"), (v(&["1.1"]), v(&["1.3", "1.4"])));
        assert_eq!(split("1.4"), (v(&["1.1"]), v(&["1.2", "1.3"])));
        assert_eq!(split("1.5"), (v(&["1.1", "1.2", "1.4"]), v(&[])));
    }

    fn lesson() -> Lesson {
        toml::from_str(
            r#"
id = "demo"
number = 1
title = "Processes"
chapter = "book/src/ch.md"
package = "p"
test_target = "t"
recap = "fork and join."
not_tested = ["comments"]

[[exercises]]
id = "1.1"
kind = "build"
title = "Reap a child"
region = "exercise_1_1"
file = "src/lib.rs"
section = "book/src/ch.md#reaping"
statement = "Reap it."
hints = ["waitpid.", "WNOHANG."]
"#,
        )
        .expect("lesson")
    }

    fn translation(text: &str) -> Translation {
        toml::from_str(text).expect("translation")
    }

    #[test]
    fn a_chinese_learner_reads_the_chinese_chapter() {
        let mut edition = Edition {
            dir: "target/book/zh-CN".into(),
            lang: Lang::ZhCn,
            built: true,
        };
        assert_eq!(
            edition.section("book/src/ch07-start-methods.md#spawn-running-the-program-again"),
            "target/book/zh-CN/ch07-start-methods.html#spawn-running-the-program-again"
        );
        edition.built = false;
        assert_eq!(
            edition.section("book/src/ch01-processes.md"),
            "target/book/zh-CN/ch01-processes.html（先用 `cargo xtask book --lang zh-CN` 生成）"
        );
        // What the runner loads for a Chinese run: no exercise points at the English Markdown.
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("root");
        let lessons = load_all_in(root, Lang::ZhCn).expect("lessons");
        for e in lessons.iter().flat_map(|l| &l.exercises) {
            assert!(
                e.section.contains("/book/zh-CN/") && e.section.contains(".html#"),
                "{}: {}",
                e.id,
                e.section
            );
        }
    }

    #[test]
    fn a_complete_translation_replaces_every_text() {
        let t = translation(
            r#"
title = "进程"
recap = "fork 与 join。"
not_tested = ["注释"]
going_further = []
[exercises."1.1"]
title = "回收子进程"
statement = "回收它。"
hints = ["waitpid。", "WNOHANG。"]
"#,
        );
        let mut l = lesson();
        assert!(l.lint_translation(&t).is_empty(), "{:?}", l.lint_translation(&t));
        l.translate(&t);
        assert_eq!(l.title, "进程");
        assert_eq!(l.not_tested, ["注释"]);
        assert_eq!(l.exercises[0].title, "回收子进程");
        assert_eq!(l.exercises[0].hints[1], "WNOHANG。");
        // Ids, files and checks are not texts: they stay.
        assert_eq!(l.exercises[0].section, "book/src/ch.md#reaping");
    }

    #[test]
    fn a_partial_translation_is_reported_and_falls_back_to_english() {
        let t = translation(
            r#"
title = "进程"
[exercises."1.1"]
title = "回收子进程"
hints = ["waitpid。"]
[exercises."1.9"]
title = "多余"
"#,
        );
        let mut l = lesson();
        let problems = l.lint_translation(&t);
        assert_eq!(
            problems,
            [
                "the recap is not translated",
                "exercise 1.1's statement is not translated",
                "not_tested: 1 in English, 0 translated",
                "exercise 1.1's hints: 2 in English, 1 translated",
                "exercise 1.9 is translated but not in the lesson",
            ]
        );
        l.translate(&t);
        assert_eq!(l.recap, "fork and join.");
        assert_eq!(l.exercises[0].statement, "Reap it.");
        assert_eq!(l.exercises[0].hints, ["waitpid.", "WNOHANG."]);
        assert_eq!(l.exercises[0].title, "回收子进程");
    }
}
