//! The learner's commands: `lesson` (list, start, grade, watch), `hint`, `reset`, `solution`.

use std::path::{Path, PathBuf};

use crate::i18n::{self, width};
use crate::lesson::{self, Lesson};
use crate::progress::{self, LessonProgress, Progress};
use crate::runner::{self, Build, Status};
use crate::{find, regions, report, watch};

/// The lessons, with their texts in the language of this run.
fn load(root: &Path) -> Result<Vec<Lesson>, String> {
    lesson::load_all_in(root, i18n::current())
}

pub fn list(root: &Path) -> Result<u8, String> {
    let t = i18n::current();
    let lessons = load(root)?;
    let progress = Progress::load(root);
    println!("{}\n", t.lessons_heading());
    // Titles are measured in terminal columns: a Chinese character takes two, `—` one.
    let columns = lessons.iter().map(|l| width(&l.title)).max().unwrap_or(0);
    for l in &lessons {
        let state = state(l, progress.lessons.get(&l.id), t);
        println!("  {:>2}. {}  {state}", l.number, i18n::pad(&l.title, columns));
    }
    Ok(0)
}

/// What the course list says of a lesson: its score is the last full run's. Checks run alone
/// since (`--exercise`, `--only`) are named per exercise after it, never counted in it.
fn state(lesson: &Lesson, p: Option<&LessonProgress>, t: i18n::Lang) -> String {
    let Some(p) = p.filter(|p| p.started || p.passed) else {
        return t.state_not_started().to_owned();
    };
    let mut state = if p.passed {
        t.state_passed().to_owned()
    } else if p.checks.is_empty() {
        t.state_no_full_run().to_owned()
    } else {
        t.state_started(full_score(lesson, p), lesson.max_points(), p.best)
    };
    let alone: Vec<(&str, bool)> = lesson
        .exercises
        .iter()
        .filter(|e| {
            lesson
                .checks
                .iter()
                .any(|c| c.exercise == e.id && p.alone.contains_key(&c.id))
        })
        .map(|e| {
            let passes = lesson
                .checks
                .iter()
                .filter(|c| c.exercise == e.id)
                .all(|c| p.status(&c.id) == Some("pass"));
            (e.id.as_str(), passes)
        })
        .collect();
    if !alone.is_empty() {
        state.push_str(&t.since_alone(&alone));
    }
    state
}

/// The score of the lesson's last full run.
fn full_score(lesson: &Lesson, p: &LessonProgress) -> u32 {
    lesson
        .checks
        .iter()
        .filter(|c| p.checks.get(&c.id).is_some_and(|s| s == "pass"))
        .map(|c| c.points)
        .sum()
}

/// Records a run. A full run replaces the lesson's statuses and may raise its best score; a run
/// restricted to some checks notes their statuses beside the full run's, which keep the score.
fn record(entry: &mut LessonProgress, lesson: &Lesson, results: &[runner::CheckResult], restricted: bool) {
    let statuses = results
        .iter()
        .map(|r| (r.id.clone(), r.status.as_str().to_owned()));
    if restricted {
        entry.alone.extend(statuses);
        return;
    }
    entry.alone.clear();
    entry.checks.extend(statuses);
    entry.best = entry.best.max(full_score(lesson, entry));
}

/// Copies `files` into a fresh `.forkway/backups/<time>-<what>/` and returns that folder.
pub(crate) fn backup(root: &Path, files: &[String], what: &str) -> Result<PathBuf, String> {
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let dir = progress::dir(root)
        .join("backups")
        .join(format!("{stamp}-{what}"));
    for f in files {
        let to = dir.join(f);
        if let Some(parent) = to.parent() {
            std::fs::create_dir_all(parent).map_err(|e| format!("{}: {e}", parent.display()))?;
        }
        std::fs::copy(root.join(f), &to).map_err(|e| format!("backing up {f}: {e}"))?;
    }
    Ok(dir)
}

fn reference_path(root: &Path, lesson: &Lesson, exercise: &str) -> PathBuf {
    progress::dir(root)
        .join("reference")
        .join(&lesson.id)
        .join(format!("{exercise}.rs.txt"))
}

/// Blanks one exercise region and returns the line of its `todo!()`. With `keep_reference`,
/// the region's current body is first saved for `solution` (unless one is saved already, or
/// the region is blank): that is only right while the region still holds the reference.
fn blank_exercise(
    root: &Path,
    lesson: &Lesson,
    ex: &lesson::Exercise,
    keep_reference: bool,
) -> Result<usize, String> {
    let path = root.join(&ex.file);
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", ex.file))?;
    let body = regions::body(&text, &ex.region)?;
    let keep = reference_path(root, lesson, &ex.id);
    if keep_reference && !regions::is_blank(&body) && !keep.exists() {
        std::fs::create_dir_all(keep.parent().unwrap_or(root)).map_err(|e| e.to_string())?;
        std::fs::write(&keep, &body).map_err(|e| format!("{}: {e}", keep.display()))?;
    }
    let blanked = regions::blank(&text, &ex.region, &ex.id, &ex.title)?;
    std::fs::write(&path, &blanked).map_err(|e| format!("{}: {e}", ex.file))?;
    Ok(regions::find(&blanked, &ex.region)?.begin + 2)
}

/// Blanks a lesson's regions, keeping the reference bodies aside for `solution`.
fn start(root: &Path, lesson: &Lesson) -> Result<(), String> {
    let saved = backup(
        root,
        &lesson.editable_files(),
        &format!("before-lesson-{}", lesson.number),
    )?;
    let t = i18n::current();
    println!("{}\n", t.starting_lesson(lesson.number, &lesson.title));
    println!("{}", t.regions_now_todo());
    for ex in &lesson.exercises {
        let line = blank_exercise(root, lesson, ex, true)?;
        let kind = i18n::pad(&t.kind(&ex.kind), 5);
        println!("  {:<4} {kind} {}:{line}  {}", ex.id, ex.file, ex.title);
    }
    if !lesson.not_tested.is_empty() {
        println!("\n{}", t.not_tested_heading());
        for n in &lesson.not_tested {
            println!("  • {n}");
        }
    }
    if let Some(first) = lesson.exercises.first() {
        println!();
        print!("{}", report::statement(lesson, first, t));
        println!("{}", t.each_statement(lesson.number));
    }
    println!("\n{}", t.backed_up_in(&saved.display().to_string()));
    println!("{}\n", t.to_undo(lesson.number));
    Ok(())
}

/// Starts the lesson (blanks its exercises) unless that was done before.
fn ensure_started(root: &Path, lesson: &Lesson) -> Result<(), String> {
    let mut progress = Progress::load(root);
    if !progress.lesson(&lesson.id).started {
        start(root, lesson)?;
        progress.lesson(&lesson.id).started = true;
        progress.save(root)?;
    }
    Ok(())
}

pub fn lesson_cmd(
    root: &Path,
    n: u32,
    only: &[String],
    exercise: Option<&str>,
    no_start: bool,
) -> Result<u8, String> {
    let t = i18n::current();
    let lessons = load(root)?;
    let lesson = find(&lessons, n)?;
    if let Some(why) = lesson.unavailable() {
        println!("{why}");
        return Ok(3);
    }
    if !no_start {
        ensure_started(root, lesson)?;
    }
    let mut progress = Progress::load(root);
    let mut only = only.to_vec();
    if let Some(id) = exercise {
        let ex = lesson.exercise(id).ok_or_else(|| t.no_such_exercise(n, id))?;
        print!("{}", report::statement(lesson, ex, t));
        only.extend(
            lesson
                .checks
                .iter()
                .filter(|c| c.exercise == ex.id)
                .map(|c| c.id.clone()),
        );
    }
    runner::become_subreaper();
    eprintln!("{}", t.building_lesson(lesson.number));
    let exe = match runner::build(root, lesson, None)? {
        Build::Ready(exe) => exe,
        Build::Failed(errors) => {
            print!("{}", report::build_failure(lesson, &errors, t));
            return Ok(2);
        }
    };
    if runner::stop_requested() {
        return Ok(1); // interrupted while building
    }
    let blank = lesson::blank_exercises(root, &lessons);
    let only = (!only.is_empty()).then_some(only.as_slice());
    let results = runner::run_checks(&exe, lesson, only, 1, &blank);
    if runner::stop_requested() {
        return Ok(1); // stopped part-way (--watch saw a save): these results mean nothing
    }
    if results.is_empty() {
        return Err(t.no_check_matched().into());
    }
    let style = report::Style::detect();
    print!("{}", report::lesson_table(lesson, &results, style));
    if only.is_some() {
        print!("{}", report::restricted_run(lesson, &results, t));
    }
    let entry = progress.lesson(&lesson.id);
    record(entry, lesson, &results, only.is_some());
    let graded_pass = lesson
        .checks
        .iter()
        .all(|c| entry.checks.get(&c.id).is_some_and(|s| s == "pass"));
    progress.save(root)?;
    // Graded checks green: the lesson is done only when the reference's own tests of this
    // code pass too (they hold the requirements no graded check needs to repeat).
    let mut reference_pass = true;
    if graded_pass && only.is_none() && !lesson.reference_tests.is_empty() {
        eprintln!(
            "{}",
            t.running_reference_tests(lesson.reference_tests.len(), lesson.number)
        );
        let suites = runner::run_reference(root, lesson)?;
        if runner::stop_requested() {
            return Ok(1);
        }
        print!("{}", report::reference_table(lesson, &suites, style));
        reference_pass = suites.iter().all(|s| s.status == Status::Pass);
    }
    let entry = progress.lesson(&lesson.id);
    let done = graded_pass && reference_pass && only.is_none();
    if only.is_none() {
        entry.passed = done;
    }
    progress.save(root)?;
    if done {
        let next = lessons.iter().find(|l| l.number > lesson.number);
        print!("{}", report::lesson_passed(lesson, next, t));
    }
    Ok(
        if results.iter().all(|r| r.status == Status::Pass) && reference_pass {
            0
        } else {
            1
        },
    )
}

pub fn watch_lesson(
    root: &Path,
    n: u32,
    only: &[String],
    exercise: Option<&str>,
    no_start: bool,
) -> Result<u8, String> {
    let lessons = load(root)?;
    let lesson = find(&lessons, n)?;
    // Start first: blanking the exercises changes the very files the watchers look at.
    if !no_start {
        ensure_started(root, lesson)?;
    }
    let files: Vec<PathBuf> = lesson.editable_files().iter().map(|f| root.join(f)).collect();
    let mut watcher = watch::Watcher::new(files.clone(), true);
    loop {
        // A save during the run makes its results stale: a second watcher stops the run (the
        // running check's group is killed) so the next one starts at once.
        let run_over = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let during = {
            let run_over = run_over.clone();
            let files = files.clone();
            std::thread::spawn(move || {
                let mut w = watch::Watcher::new(files, true);
                while !run_over.load(std::sync::atomic::Ordering::SeqCst) {
                    if !w.wait(Some(std::time::Duration::from_millis(200))).is_empty() {
                        runner::request_stop();
                        return;
                    }
                }
            })
        };
        let outcome = lesson_cmd(root, n, only, exercise, true);
        run_over.store(true, std::sync::atomic::Ordering::SeqCst);
        let _ = during.join();
        outcome?;
        if runner::take_stop() {
            println!("\n{}", i18n::current().changed_during_run());
            watcher.refresh();
            continue;
        }
        let t = i18n::current();
        println!("\n{}", t.watching(lesson.editable_files().len(), n));
        let changed = watcher.wait(None);
        for f in &changed {
            let shown = f.strip_prefix(root).unwrap_or(f).display().to_string();
            println!("\n{}", t.file_changed(&shown));
        }
    }
}

fn first_unfinished<'a>(lesson: &'a Lesson, progress: &mut Progress) -> Option<&'a lesson::Exercise> {
    let p = progress.lesson(&lesson.id);
    lesson.exercises.iter().find(|e| {
        lesson
            .checks
            .iter()
            .filter(|c| c.exercise == e.id)
            .any(|c| p.status(&c.id) != Some("pass"))
    })
}

pub fn hint(root: &Path, n: u32, exercise: Option<&str>) -> Result<u8, String> {
    let t = i18n::current();
    let lessons = load(root)?;
    let lesson = find(&lessons, n)?;
    let mut progress = Progress::load(root);
    let ex = match exercise {
        Some(id) => lesson.exercise(id).ok_or_else(|| t.no_such_exercise(n, id))?,
        None => first_unfinished(lesson, &mut progress).unwrap_or(&lesson.exercises[0]),
    };
    let shown = progress
        .lesson(&lesson.id)
        .hints
        .entry(ex.id.clone())
        .or_insert(0);
    *shown = (*shown + 1).min(ex.hints.len());
    println!("{}\n", t.hint_heading(&ex.id, &ex.title, &ex.file));
    for (i, h) in ex.hints.iter().take(*shown).enumerate() {
        println!("{}\n", t.hint(i + 1, ex.hints.len(), h));
    }
    if *shown < ex.hints.len() {
        println!("{}", t.next_hint(&ex.section));
    } else {
        println!("{}", t.last_hint(&ex.section));
    }
    progress.save(root)?;
    Ok(0)
}

fn selected<'a>(lesson: &'a Lesson, exercise: Option<&str>) -> Result<Vec<&'a lesson::Exercise>, String> {
    match exercise {
        None => Ok(lesson.exercises.iter().collect()),
        Some(id) => lesson
            .exercise(id)
            .map(|e| vec![e])
            .ok_or_else(|| i18n::current().no_such_exercise(lesson.number, id)),
    }
}

pub fn reset(root: &Path, n: u32, exercise: Option<&str>) -> Result<u8, String> {
    let lessons = load(root)?;
    let lesson = find(&lessons, n)?;
    let exercises = selected(lesson, exercise)?;
    let files: Vec<String> = exercises
        .iter()
        .map(|e| e.file.clone())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    let saved = backup(root, &files, &format!("reset-lesson-{n}"))?;
    let started = Progress::load(root).lesson(&lesson.id).started;
    for ex in &exercises {
        // Before the lesson was ever started, the regions hold the reference: keep it.
        blank_exercise(root, lesson, ex, !started)?;
        println!("{}", i18n::current().reset_exercise(&ex.id, &ex.file));
    }
    let mut progress = Progress::load(root);
    progress.lesson(&lesson.id).started = true;
    progress.save(root)?;
    println!(
        "\n{}",
        i18n::current().your_versions_saved(&saved.display().to_string())
    );
    Ok(0)
}

pub fn solution(root: &Path, n: u32, force: bool, apply: bool) -> Result<u8, String> {
    let t = i18n::current();
    let lessons = load(root)?;
    let lesson = find(&lessons, n)?;
    let mut progress = Progress::load(root);
    if !force && !progress.lesson(&lesson.id).passed {
        println!("{}", t.not_passed_yet(n));
        return Ok(1);
    }
    if apply {
        let saved = backup(root, &lesson.editable_files(), &format!("before-solution-{n}"))?;
        println!("{}", t.your_versions_saved(&saved.display().to_string()));
    }
    for ex in &lesson.exercises {
        let path = root.join(&ex.file);
        let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", ex.file))?;
        let current = regions::body(&text, &ex.region)?;
        let reference = match std::fs::read_to_string(reference_path(root, lesson, &ex.id)) {
            Ok(r) => r,
            Err(_) if !regions::is_blank(&current) && !progress.lesson(&lesson.id).started => current.clone(),
            Err(_) => {
                println!("{}", t.no_reference_kept(&ex.id));
                continue;
            }
        };
        println!("{}", t.solution_heading(&ex.id, &ex.title, &ex.file));
        print!("{reference}");
        if apply {
            std::fs::write(&path, regions::replace(&text, &ex.region, &reference)?)
                .map_err(|e| e.to_string())?;
        }
    }
    if apply {
        println!("\n{}", t.reference_back());
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::i18n::Lang;
    use crate::runner::CheckResult;

    fn lesson() -> Lesson {
        toml::from_str(
            r#"
id = "demo"
number = 7
title = "Start methods"
chapter = "book/src/ch07.md"
package = "forkway-start"
test_target = "lesson7"
recap = "r"

[[exercises]]
id = "7.1"
kind = "build"
title = "Offset"
region = "exercise_7_1"
file = "a.rs"
section = "book/src/ch07.md#a"
hints = ["h"]

[[exercises]]
id = "7.2"
kind = "build"
title = "Relay"
region = "exercise_7_2"
file = "b.rs"
section = "book/src/ch07.md#b"
hints = ["h"]

[[checks]]
id = "offset"
test = "offset"
exercise = "7.1"
points = 3

[[checks]]
id = "relay"
test = "relay"
exercise = "7.2"
points = 7
"#,
        )
        .expect("lesson")
    }

    fn result(id: &str, status: Status, points: u32) -> CheckResult {
        CheckResult {
            id: id.into(),
            exercise: String::new(),
            status,
            points,
            max_points: points,
            duration: Duration::ZERO,
            message: None,
            rerun: String::new(),
            leaked: 0,
        }
    }

    fn started() -> LessonProgress {
        LessonProgress {
            started: true,
            ..Default::default()
        }
    }

    #[test]
    fn a_run_of_one_exercise_is_not_the_lessons_score() {
        let l = lesson();
        let mut p = started();
        record(&mut p, &l, &[result("offset", Status::Pass, 3)], true);
        assert_eq!(p.best, 0, "best is a full run's");
        assert_eq!(
            state(&l, Some(&p), Lang::En),
            "started, no full run yet; run alone since: 7.1 passes"
        );
        // A full run: its score is the lesson's, and what ran alone before it is forgotten.
        record(
            &mut p,
            &l,
            &[
                result("offset", Status::Pass, 3),
                result("relay", Status::Fail, 0),
            ],
            false,
        );
        assert_eq!(state(&l, Some(&p), Lang::En), "started, 3/10 points (best 3)");
        // 7.2 alone, passing: the score stays the full run's, and the lesson is not complete.
        record(&mut p, &l, &[result("relay", Status::Pass, 7)], true);
        assert_eq!(
            state(&l, Some(&p), Lang::En),
            "started, 3/10 points (best 3); run alone since: 7.2 passes"
        );
        assert_eq!(p.best, 3);
        assert!(!p.passed);
        assert_eq!(p.status("relay"), Some("pass"), "hint goes by the latest status");
        assert_eq!(
            state(&l, Some(&p), Lang::ZhCn),
            "已开始，3/10 分（最好成绩 3）；此后单独运行：7.2 通过"
        );
    }

    #[test]
    fn a_passed_lesson_says_what_failed_alone_since() {
        let l = lesson();
        let mut p = started();
        record(
            &mut p,
            &l,
            &[
                result("offset", Status::Pass, 3),
                result("relay", Status::Pass, 7),
            ],
            false,
        );
        p.passed = true;
        assert_eq!(p.best, 10);
        record(&mut p, &l, &[result("offset", Status::Fail, 0)], true);
        assert_eq!(
            state(&l, Some(&p), Lang::En),
            "passed; run alone since: 7.1 fails"
        );
        assert_eq!(state(&l, None, Lang::En), "not started");
    }
}
