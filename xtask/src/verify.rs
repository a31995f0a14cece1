//! `cargo xtask verify`: the curriculum keeps its promises (metadata, reference passes, starters
//! fail, book references resolve).

use std::path::Path;

use crate::lesson::Lesson;
use crate::runner::{self, Build, Status};
use crate::{book, export, fs, load, mutants, regions};

/// Exports a starter with every lesson blanked, runs its `cargo test`, and compares the failing
/// tests with the graded checks: every graded check must fail (unless marked as passing on a
/// starter) and nothing else may.
///
/// With only some lessons `chosen` (`verify --lesson N`), only those are blanked, and a later
/// lesson's graded check may fail too (it builds on a blanked one): that is no problem.
fn verify_export(root: &Path, lessons: &[Lesson], chosen: &[u32]) -> Result<Vec<String>, String> {
    let out = crate::fs::target_dir(root).join("verify").join("export");
    let _ = std::fs::remove_dir_all(&out);
    export::export(root, lessons, chosen, &out)?;
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    // One pipe for stdout and stderr: cargo's "Running <target>" lines (stderr) must stay in
    // order with the "test … FAILED" lines (stdout) to know which target a test belongs to.
    let (mut reader, writer) = std::io::pipe().map_err(|e| e.to_string())?;
    let mut cmd = std::process::Command::new(cargo);
    cmd.args(["test", "--no-fail-fast"])
        .env(
            "CARGO_TARGET_DIR",
            crate::fs::target_dir(root).join("verify-target"),
        )
        .env("FORKWAY_FORK_WARNING", "0")
        .current_dir(&out)
        .stdout(writer.try_clone().map_err(|e| e.to_string())?)
        .stderr(writer);
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("cannot run cargo test in the export: {e}"))?;
    drop(cmd); // closes our copies of the write end, so the read below ends at EOF
    let mut text = String::new();
    std::io::Read::read_to_string(&mut reader, &mut text).map_err(|e| e.to_string())?;
    let _ = child.wait();
    let mut failing = std::collections::BTreeSet::new();
    let mut target = String::new();
    let mut suites = 0;
    for line in text.lines() {
        let t = line.trim();
        if let Some(rest) = t.strip_prefix("Running ") {
            target = rest.split_whitespace().next().unwrap_or("").to_owned();
            suites += 1;
        } else if let Some(rest) = t.strip_prefix("Doc-tests ") {
            target = format!("doctests of {rest}");
            suites += 1;
        } else if let Some(name) = t
            .strip_prefix("test ")
            .and_then(|r| r.strip_suffix(" ... FAILED"))
        {
            failing.insert((target.clone(), name.to_owned()));
        }
    }
    let mut problems = Vec::new();
    if suites == 0 {
        problems.push(format!(
            "the starter's `cargo test` ran no test suite:\n{}",
            text.lines().rev().take(15).collect::<Vec<_>>().join("\n")
        ));
        return Ok(problems);
    }
    let mut expected = std::collections::BTreeSet::new();
    let mut tolerated = std::collections::BTreeSet::new();
    // A lesson that needs an optional engine is outside the plain `cargo test` (its crate is
    // not a default member): its checks cannot fail there.
    for l in lessons.iter().filter(|l| l.requires_command.is_none()) {
        for c in &l.checks {
            let key = (format!("tests/{}.rs", l.test_target), c.test.clone());
            if !chosen.contains(&l.number) {
                tolerated.insert(key);
            } else if c.passes_on_starter.is_none() {
                expected.insert(key);
            }
        }
    }
    // Another lesson's own tests (kept in a partial starter) may build on a blanked lesson too.
    let others: Vec<&String> = lessons
        .iter()
        .filter(|l| !chosen.contains(&l.number))
        .flat_map(|l| &l.reference_tests)
        .collect();
    for (target, test) in failing.difference(&expected) {
        if tolerated.contains(&(target.clone(), test.clone()))
            || others
                .iter()
                .any(|t| !target.is_empty() && t.ends_with(target.as_str()))
        {
            continue;
        }
        problems.push(format!("starter: `{test}` in {target} fails but is not a graded check (list its file in reference_tests?)"));
    }
    for (target, test) in expected.difference(&failing) {
        problems.push(format!(
            "starter: graded check `{test}` ({target}) does not fail in the starter's cargo test"
        ));
    }
    Ok(problems)
}

pub fn verify(
    root: &Path,
    repeat: u32,
    skip_starter: bool,
    skip_wrong: bool,
    only: &[u32],
) -> Result<u8, String> {
    let lessons = load(root)?;
    for n in only {
        if !lessons.iter().any(|l| l.number == *n) {
            return Err(format!("there is no lesson {n}"));
        }
    }
    let chosen = |l: &Lesson| only.is_empty() || only.contains(&l.number);
    runner::become_subreaper();
    let mut problems: Vec<String> = Vec::new();
    for lesson in &lessons {
        let tag = format!("lesson {}", lesson.number);
        problems.extend(lesson.lint().into_iter().map(|p| format!("{tag}: {p}")));
        problems.extend(
            lesson
                .lint_translations()
                .into_iter()
                .map(|p| format!("{tag}: {p}")),
        );
        if let Some(why) = lesson.unavailable() {
            eprintln!("verify {tag}: SKIPPED (metadata checked, nothing run): {why}");
            continue;
        }
        for t in &lesson.reference_tests {
            if !root.join(t).is_file() {
                problems.push(format!("{tag}: reference test {t} does not exist"));
            }
        }
        if !root.join(&lesson.chapter).is_file() {
            problems.push(format!("{tag}: chapter {} does not exist", lesson.chapter));
        }
        for ex in &lesson.exercises {
            match std::fs::read_to_string(root.join(&ex.file)) {
                Err(e) => problems.push(format!("{tag}: exercise {}: {}: {e}", ex.id, ex.file)),
                Ok(text) => match regions::body(&text, &ex.region) {
                    Err(e) => problems.push(format!("{tag}: exercise {}: {e}", ex.id)),
                    Ok(body) if regions::is_blank(&body) => problems.push(format!(
                        "{tag}: exercise {} is blank: the reference must be complete",
                        ex.id
                    )),
                    Ok(_) => {}
                },
            }
            let (file, section) = ex.section.split_once('#').unwrap_or((&ex.section, ""));
            let md = std::fs::read_to_string(root.join(file)).unwrap_or_default();
            if md.is_empty()
                || !md
                    .lines()
                    .any(|l| l.starts_with('#') && book::slug(l.trim_start_matches('#')) == section)
            {
                problems.push(format!(
                    "{tag}: exercise {}: section {} not found",
                    ex.id, ex.section
                ));
            }
        }
        let chapter = std::fs::read_to_string(root.join(&lesson.chapter)).unwrap_or_default();
        for ex in &lesson.exercises {
            for n in &ex.needs {
                if !lessons.iter().any(|l| l.exercise(n).is_some()) {
                    problems.push(format!("{tag}: exercise {} needs unknown exercise {n}", ex.id));
                }
            }
            let boxes = chapter
                .lines()
                .filter(|l| book::exercise_placeholder(l) == Some(ex.id.as_str()))
                .count();
            if boxes != 1 {
                problems.push(format!(
                    "{tag}: {} shows exercise {}'s box {boxes} times (want one `{{{{#exercise {}}}}}` line)",
                    lesson.chapter, ex.id, ex.id
                ));
            }
        }
        if !chosen(lesson) {
            continue;
        }
        eprintln!("verify {tag}: building the reference…");
        let exe = match runner::build(root, lesson, None)? {
            Build::Ready(exe) => exe,
            Build::Failed(e) => {
                problems.push(format!("{tag}: the reference does not build:\n{e}"));
                continue;
            }
        };
        let listed = std::process::Command::new(&exe)
            .args(["--list", "--format", "terse"])
            .output()
            .map_err(|e| e.to_string())?;
        let tests: Vec<String> = String::from_utf8_lossy(&listed.stdout)
            .lines()
            .filter_map(|l| l.strip_suffix(": test").map(str::to_owned))
            .collect();
        for c in &lesson.checks {
            if !tests.contains(&c.test) {
                problems.push(format!(
                    "{tag}: check `{}` names test `{}`, which does not exist",
                    c.id, c.test
                ));
            }
        }
        for t in &tests {
            if !lesson.checks.iter().any(|c| &c.test == t) {
                problems.push(format!(
                    "{tag}: test `{t}` in {} is not a graded check",
                    lesson.test_target
                ));
            }
        }
        eprintln!("verify {tag}: the reference must pass every check ({repeat}× each)…");
        for r in runner::run_checks(&exe, lesson, None, repeat, &Default::default()) {
            if r.status != Status::Pass {
                problems.push(format!(
                    "{tag}: reference fails `{}`: {}",
                    r.id,
                    r.message.unwrap_or_default()
                ));
            }
        }
        if !skip_wrong {
            eprintln!("verify {tag}: every plausible wrong answer must fail a graded check…");
            problems.extend(
                wrong_answers(root, lesson)?
                    .into_iter()
                    .map(|p| format!("{tag}: {p}")),
            );
        }
        if skip_starter {
            continue;
        }
        eprintln!("verify {tag}: the blank starter must fail every check…");
        let copy = crate::fs::target_dir(root).join("verify").join(&lesson.id);
        fs::copy_workspace(root, &copy)?;
        for ex in &lesson.exercises {
            let path = copy.join(&ex.file);
            let text = std::fs::read_to_string(&path).map_err(|e| e.to_string())?;
            std::fs::write(&path, regions::blank(&text, &ex.region, &ex.id, &ex.title)?)
                .map_err(|e| e.to_string())?;
        }
        let shared_target = crate::fs::target_dir(root).join("verify-target");
        let exe = match runner::build(&copy, lesson, Some(&shared_target))? {
            Build::Ready(exe) => exe,
            Build::Failed(e) => {
                problems.push(format!("{tag}: the starter does not compile:\n{e}"));
                continue;
            }
        };
        // Requirements would skip most checks; grade every check on its own.
        let mut ungated = lesson.clone();
        for c in &mut ungated.checks {
            c.requires.clear();
            c.repeat = 1;
        }
        for r in runner::run_checks(&exe, &ungated, None, 1, &Default::default()) {
            let check = lesson.checks.iter().find(|c| c.id == r.id);
            if r.status == Status::Pass && check.is_some_and(|c| c.passes_on_starter.is_none()) {
                problems.push(format!(
                    "{tag}: check `{}` passes on the blank starter: it grades nothing",
                    r.id
                ));
            }
        }
    }
    if !skip_starter {
        eprintln!("verify: a starter repository's `cargo test` must fail exactly on the graded checks…");
        let numbers: Vec<u32> = lessons.iter().filter(|l| chosen(l)).map(|l| l.number).collect();
        problems.extend(verify_export(root, &lessons, &numbers)?);
    }
    let stage = book::stage(root, &lessons)?;
    problems.extend(book::check_references(&stage.join("book").join("src")));
    // The Chinese edition: every message translated, none fuzzy, links and ids intact.
    if let Ok(zh) = book::Lang::parse("zh-CN") {
        problems.extend(
            book::check_translation(root, zh)
                .into_iter()
                .map(|p| format!("book (zh-CN): {p}")),
        );
    }
    for lesson in &lessons {
        for ex in &lesson.exercises {
            let text = std::fs::read_to_string(stage.join(&ex.file)).unwrap_or_default();
            if regions::body(&text, &ex.region)
                .map(|b| !regions::is_blank(&b))
                .unwrap_or(true)
            {
                problems.push(format!("book: exercise {} would show its solution", ex.id));
            }
        }
    }
    if problems.is_empty() {
        println!(
            "verify: {} lesson(s), all consistent; {} run: reference passes{}{}, book references resolve.",
            lessons.len(),
            if only.is_empty() {
                "all".to_owned()
            } else {
                format!("lesson(s) {only:?}")
            },
            if skip_wrong { "" } else { ", wrong answers caught" },
            if skip_starter { "" } else { ", starters fail" },
        );
        Ok(0)
    } else {
        println!("verify found {} problem(s):", problems.len());
        for p in &problems {
            println!("  - {p}");
        }
        Ok(1)
    }
}

/// Every exercise has plausible wrong answers beside the lesson, and each one fails a graded
/// check (`cargo xtask mutants` tries them more times, and adds cargo-mutants' mutants).
fn wrong_answers(root: &Path, lesson: &Lesson) -> Result<Vec<String>, String> {
    let answers = mutants::wrong_answers(root, lesson)?;
    let mut problems = Vec::new();
    for ex in &lesson.exercises {
        if !answers.iter().any(|a| a.exercise == ex.id) {
            problems.push(format!(
                "exercise {} has no plausible wrong answer in the lesson's wrong/ folder",
                ex.id
            ));
        }
    }
    let work = crate::fs::target_dir(root).join("verify").join("wrong");
    fs::copy_workspace(root, &work)?;
    let target = crate::fs::target_dir(root).join("verify-target");
    for (answer, verdict) in mutants::try_wrong_answers(&work, &target, lesson, &answers, 1)? {
        if !matches!(verdict, mutants::Verdict::Caught(_)) {
            problems.push(format!(
                "wrong answer {} ({}) is not caught: {verdict:?}",
                answer.file, answer.what
            ));
        }
    }
    Ok(problems)
}
