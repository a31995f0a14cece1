//! The forkway course runner: `cargo xtask <command>`.
//!
//! - `lesson` lists the lessons; `lesson N` starts lesson N (first time only) and grades it.
//! - `hint N [EXERCISE]` shows the next hint; `reset N [EXERCISE]` restores the starter;
//!   `solution N` shows the reference once the lesson passes.
//! - `book` builds the book; `verify` keeps the curriculum honest (used by CI).
//!
//! Exit codes of `lesson N`: 0 all checks pass, 1 some fail, 2 the code does not build,
//! 3 the runner itself failed.

mod bench;
mod book;
mod export;
mod grade;
mod lesson;
mod progress;
mod regions;
mod report;
mod runner;
mod watch;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use lesson::Lesson;
use progress::Progress;
use runner::{Build, Status};

#[derive(Parser)]
#[command(name = "cargo xtask", about = "The forkway course runner")]
struct Cli {
    /// The course repository (default: the workspace that holds this runner).
    #[arg(long, global = true)]
    root: Option<PathBuf>,
    #[command(subcommand)]
    command: Cmd,
}

/// Output formats of `grade`.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Format {
    Human,
    Json,
    Junit,
    Classroom,
}

#[derive(Subcommand)]
enum Cmd {
    /// List the lessons, or start and grade lesson N.
    Lesson {
        /// The lesson number; omit it to list the lessons.
        number: Option<u32>,
        /// Run only this check (id or test name); may be repeated.
        #[arg(long)]
        only: Vec<String>,
        /// Grade the code as it is, without blanking the lesson's exercises first.
        #[arg(long)]
        no_start: bool,
        /// Run the checks again whenever an exercise file is saved (Ctrl-C to stop).
        #[arg(long)]
        watch: bool,
    },
    /// Grade every lesson's checks (for instructors and autograders).
    Grade {
        #[arg(long, value_enum, default_value = "human")]
        format: Format,
        /// Only these lessons, e.g. `--lessons 1,2`.
        #[arg(long, value_delimiter = ',')]
        lessons: Vec<u32>,
        /// Run each check this many times more than its own repeat count.
        #[arg(long, default_value_t = 1)]
        repeat: u32,
    },
    /// Write a starter repository for a class: the chosen lessons blanked, no solutions inside.
    Export {
        /// The folder to create (must not exist, or be empty).
        #[arg(long)]
        out: PathBuf,
        /// The lessons to blank, e.g. `--lessons 1,2` (default: all).
        #[arg(long, value_delimiter = ',')]
        lessons: Vec<u32>,
    },
    /// Show the next hint for an exercise (the first unfinished one by default).
    Hint { number: u32, exercise: Option<String> },
    /// Put the starter back in a lesson's exercises (your version is backed up first).
    Reset { number: u32, exercise: Option<String> },
    /// Show the reference solution of a lesson you have passed.
    Solution {
        number: u32,
        /// Show it even though the lesson has not passed yet.
        #[arg(long)]
        force: bool,
        /// Write the reference back into the files (your version is backed up first).
        #[arg(long)]
        apply: bool,
    },
    /// Build the book into target/book (installs mdBook if missing).
    Book {
        /// Fail instead of installing mdBook.
        #[arg(long)]
        no_install: bool,
    },
    /// Benchmark forkway beside CPython and the bare-libc floor; print the table of ratios.
    Bench {
        /// A smoke run: every workload runs, no figure to quote (what CI runs).
        #[arg(long)]
        quick: bool,
        /// Also write the charts into book/src/img for the book.
        #[arg(long)]
        book: bool,
        /// Run only this bench (process, ipc, sync, joinable, pool); repeat for several. The
        /// table still shows every bench with results in target/forkway-bench.
        #[arg(long)]
        only: Vec<String>,
        /// Run nothing: rebuild the table, summary and charts from the last runs' results.
        #[arg(long)]
        report: bool,
    },
    /// Check the curriculum: metadata, reference passes, starters fail, book references.
    Verify {
        /// Run each check this many times more than its own repeat count.
        #[arg(long, default_value_t = 1)]
        repeat: u32,
        /// Skip building and grading the blanked starters (the slow part).
        #[arg(long)]
        skip_starter: bool,
    },
}

/// The repository root (the workspace that holds `xtask/`).
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let root = cli.root.clone().unwrap_or_else(root);
    let result = match cli.command {
        Cmd::Lesson { number: None, .. } => list(&root),
        Cmd::Lesson {
            number: Some(n),
            only,
            no_start,
            watch,
        } => {
            if watch {
                watch_lesson(&root, n, &only, no_start)
            } else {
                lesson_cmd(&root, n, &only, no_start)
            }
        }
        Cmd::Grade {
            format,
            lessons,
            repeat,
        } => grade_cmd(&root, format, &lessons, repeat),
        Cmd::Export { out, lessons } => export_cmd(&root, &out, &lessons),
        Cmd::Hint { number, exercise } => hint(&root, number, exercise.as_deref()),
        Cmd::Reset { number, exercise } => reset(&root, number, exercise.as_deref()),
        Cmd::Solution { number, force, apply } => solution(&root, number, force, apply),
        Cmd::Book { no_install } => load(&root)
            .and_then(|ls| book::build(&root, &ls, !no_install))
            .map(|out| {
                println!("The book is in {}/index.html", out.display());
                0
            }),
        Cmd::Verify { repeat, skip_starter } => verify(&root, repeat, skip_starter),
        Cmd::Bench {
            quick,
            book,
            only,
            report,
        } => bench::run(&root, quick, book, &only, report),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::from(3)
        }
    }
}

fn load(root: &Path) -> Result<Vec<Lesson>, String> {
    lesson::load_all(root)
}

fn find(lessons: &[Lesson], n: u32) -> Result<&Lesson, String> {
    lessons.iter().find(|l| l.number == n).ok_or_else(|| {
        let have: Vec<String> = lessons.iter().map(|l| l.number.to_string()).collect();
        format!("there is no lesson {n} (lessons: {})", have.join(", "))
    })
}

fn list(root: &Path) -> Result<u8, String> {
    let lessons = load(root)?;
    let progress = Progress::load(root);
    println!("Lessons (start one with `cargo xtask lesson N`):\n");
    for l in &lessons {
        let state = match progress.lessons.get(&l.id) {
            Some(p) if p.passed => "passed".to_owned(),
            Some(p) if p.started => {
                let passed = l
                    .checks
                    .iter()
                    .filter(|c| p.checks.get(&c.id).is_some_and(|s| s == "pass"));
                format!(
                    "started, {}/{} points",
                    passed.map(|c| c.points).sum::<u32>(),
                    l.max_points()
                )
            }
            _ => "not started".to_owned(),
        };
        println!("  {:>2}. {:<52} {state}", l.number, l.title);
    }
    Ok(0)
}

/// Copies `files` into a fresh `.forkway/backups/<time>-<what>/` and returns that folder.
fn backup(root: &Path, files: &[String], what: &str) -> Result<PathBuf, String> {
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
    println!("Starting lesson {}: {}\n", lesson.number, lesson.title);
    println!("These exercise regions now hold a `todo!()` for you to replace:");
    for ex in &lesson.exercises {
        let line = blank_exercise(root, lesson, ex, true)?;
        println!("  {:<4} {:<5} {}:{line}  {}", ex.id, ex.kind, ex.file, ex.title);
    }
    if !lesson.not_tested.is_empty() {
        println!("\nWhat the checks cannot see (check these yourself):");
        for n in &lesson.not_tested {
            println!("  • {n}");
        }
    }
    println!("\nThe files as they were are backed up in {}", saved.display());
    println!(
        "To undo, put the reference back: cargo xtask solution {} --force --apply\n",
        lesson.number
    );
    Ok(())
}

fn lesson_cmd(root: &Path, n: u32, only: &[String], no_start: bool) -> Result<u8, String> {
    let lessons = load(root)?;
    let lesson = find(&lessons, n)?;
    let mut progress = Progress::load(root);
    if !no_start && !progress.lesson(&lesson.id).started {
        start(root, lesson)?;
        progress.lesson(&lesson.id).started = true;
        progress.save(root)?;
    }
    runner::become_subreaper();
    eprintln!("building lesson {}…", lesson.number);
    let exe = match runner::build(root, lesson, None)? {
        Build::Ready(exe) => exe,
        Build::Failed(errors) => {
            print!("{}", report::build_failure(lesson, &errors));
            return Ok(2);
        }
    };
    let only = (!only.is_empty()).then_some(only);
    let results = runner::run_checks(&exe, lesson, only, 1);
    if results.is_empty() {
        return Err("no check matched --only".into());
    }
    print!(
        "{}",
        report::lesson_table(lesson, &results, report::Style::detect())
    );
    if only.is_some() {
        for r in &results {
            println!("  run it yourself: {}", r.rerun);
        }
    }
    let entry = progress.lesson(&lesson.id);
    for r in &results {
        entry.checks.insert(r.id.clone(), r.status.as_str().to_owned());
    }
    let all_pass = lesson
        .checks
        .iter()
        .all(|c| entry.checks.get(&c.id).is_some_and(|s| s == "pass"));
    let newly_passed = all_pass && !entry.passed;
    entry.passed = all_pass;
    progress.save(root)?;
    if all_pass && (newly_passed || only.is_none()) {
        let next = lessons.iter().find(|l| l.number > lesson.number);
        print!("{}", report::lesson_passed(lesson, next));
    }
    Ok(if results.iter().all(|r| r.status == Status::Pass) {
        0
    } else {
        1
    })
}

fn watch_lesson(root: &Path, n: u32, only: &[String], no_start: bool) -> Result<u8, String> {
    let lessons = load(root)?;
    let lesson = find(&lessons, n)?;
    let files: Vec<PathBuf> = lesson.editable_files().iter().map(|f| root.join(f)).collect();
    let mut watcher = watch::Watcher::new(files, true);
    let mut no_start = no_start;
    loop {
        lesson_cmd(root, n, only, no_start)?;
        no_start = true;
        println!(
            "\nWatching {} file(s) of lesson {n}; save one to run the checks again (Ctrl-C stops).",
            lesson.editable_files().len()
        );
        let changed = watcher.wait(None);
        for f in &changed {
            println!("\n── {} changed", f.strip_prefix(root).unwrap_or(f).display());
        }
    }
}

fn grade_cmd(root: &Path, format: Format, only: &[u32], repeat: u32) -> Result<u8, String> {
    let lessons = load(root)?;
    let chosen: Vec<&Lesson> = lessons
        .iter()
        .filter(|l| only.is_empty() || only.contains(&l.number))
        .collect();
    if chosen.is_empty() {
        return Err("no lesson matched --lessons".into());
    }
    runner::become_subreaper();
    let mut grades = Vec::new();
    for lesson in chosen {
        eprintln!("grading lesson {}…", lesson.number);
        let grade = match runner::build(root, lesson, None)? {
            Build::Ready(exe) => grade::LessonGrade {
                lesson,
                results: runner::run_checks(&exe, lesson, None, repeat),
                build_error: None,
            },
            Build::Failed(errors) => grade::LessonGrade {
                lesson,
                results: runner::build_error_results(lesson, &errors),
                build_error: Some(errors),
            },
        };
        grades.push(grade);
    }
    let score: u32 = grades.iter().map(grade::LessonGrade::score).sum();
    let max: u32 = grades.iter().map(grade::LessonGrade::max).sum();
    match format {
        Format::Human => {
            for g in &grades {
                match &g.build_error {
                    Some(errors) => print!("{}", report::build_failure(g.lesson, errors)),
                    None => print!(
                        "{}",
                        report::lesson_table(g.lesson, &g.results, report::Style::detect())
                    ),
                }
                println!();
            }
            println!("Score {score}/{max}");
        }
        Format::Json => {
            println!(
                "{}",
                serde_json::to_string_pretty(&grade::json_report(&grades)).map_err(|e| e.to_string())?
            );
        }
        Format::Junit => print!("{}", grade::junit_report(&grades)),
        Format::Classroom => {
            let payload = grade::classroom_payload(&grades);
            println!("{payload}");
            if let Some(path) = std::env::var_os("GITHUB_OUTPUT") {
                use std::io::Write;
                let mut f = std::fs::OpenOptions::new()
                    .append(true)
                    .create(true)
                    .open(&path)
                    .map_err(|e| format!("GITHUB_OUTPUT: {e}"))?;
                writeln!(f, "result={}", grade::classroom_encoded(&payload))
                    .map_err(|e| format!("GITHUB_OUTPUT: {e}"))?;
            }
        }
    }
    Ok(if score == max {
        0
    } else if grades.iter().any(|g| g.build_error.is_some()) {
        2
    } else {
        1
    })
}

fn export_cmd(root: &Path, out: &Path, only: &[u32]) -> Result<u8, String> {
    let lessons = load(root)?;
    let chosen: Vec<u32> = if only.is_empty() {
        lessons.iter().map(|l| l.number).collect()
    } else {
        only.to_vec()
    };
    for n in &chosen {
        find(&lessons, *n)?;
    }
    let done = export::export(root, &lessons, &chosen, out)?;
    println!("Starter repository written to {}", out.display());
    println!("Blanked:");
    for b in &done.blanked {
        println!("  {b}");
    }
    if !done.removed.is_empty() {
        println!("Left out (they test the reference beyond the graded checks):");
        for r in &done.removed {
            println!("  {r}");
        }
    }
    println!("Added README.md for students and .github/workflows/classroom.yml (grades with `cargo xtask grade --format classroom`).");
    println!(
        "Next: cd {} && git init && git add -A && git commit -m starter",
        out.display()
    );
    Ok(0)
}

fn first_unfinished<'a>(lesson: &'a Lesson, progress: &mut Progress) -> Option<&'a lesson::Exercise> {
    let p = progress.lesson(&lesson.id);
    lesson.exercises.iter().find(|e| {
        lesson
            .checks
            .iter()
            .filter(|c| c.exercise == e.id)
            .any(|c| p.checks.get(&c.id).is_none_or(|s| s != "pass"))
    })
}

fn hint(root: &Path, n: u32, exercise: Option<&str>) -> Result<u8, String> {
    let lessons = load(root)?;
    let lesson = find(&lessons, n)?;
    let mut progress = Progress::load(root);
    let ex = match exercise {
        Some(id) => lesson
            .exercise(id)
            .ok_or_else(|| format!("lesson {n} has no exercise {id}"))?,
        None => first_unfinished(lesson, &mut progress).unwrap_or(&lesson.exercises[0]),
    };
    let shown = progress
        .lesson(&lesson.id)
        .hints
        .entry(ex.id.clone())
        .or_insert(0);
    *shown = (*shown + 1).min(ex.hints.len());
    println!("Exercise {}: {} ({})\n", ex.id, ex.title, ex.file);
    for (i, h) in ex.hints.iter().take(*shown).enumerate() {
        println!("Hint {}/{}: {h}\n", i + 1, ex.hints.len());
    }
    if *shown < ex.hints.len() {
        println!(
            "Run the same command again for the next hint. Read: {}",
            ex.section
        );
    } else {
        println!("That was the last hint. Read: {}", ex.section);
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
            .ok_or_else(|| format!("lesson {} has no exercise {id}", lesson.number)),
    }
}

fn reset(root: &Path, n: u32, exercise: Option<&str>) -> Result<u8, String> {
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
        println!("reset exercise {} in {}", ex.id, ex.file);
    }
    let mut progress = Progress::load(root);
    progress.lesson(&lesson.id).started = true;
    progress.save(root)?;
    println!("\nYour versions are saved in {}", saved.display());
    Ok(0)
}

fn solution(root: &Path, n: u32, force: bool, apply: bool) -> Result<u8, String> {
    let lessons = load(root)?;
    let lesson = find(&lessons, n)?;
    let mut progress = Progress::load(root);
    if !force && !progress.lesson(&lesson.id).passed {
        println!(
            "Lesson {n} has not passed yet. Try `cargo xtask hint {n}` first; to see the solution anyway: \
             cargo xtask solution {n} --force"
        );
        return Ok(1);
    }
    if apply {
        let saved = backup(root, &lesson.editable_files(), &format!("before-solution-{n}"))?;
        println!("Your versions are saved in {}", saved.display());
    }
    for ex in &lesson.exercises {
        let path = root.join(&ex.file);
        let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", ex.file))?;
        let current = regions::body(&text, &ex.region)?;
        let reference = match std::fs::read_to_string(reference_path(root, lesson, &ex.id)) {
            Ok(r) => r,
            Err(_) if !regions::is_blank(&current) && !progress.lesson(&lesson.id).started => current.clone(),
            Err(_) => {
                println!(
                    "exercise {}: no reference kept here (this is a starter repository)",
                    ex.id
                );
                continue;
            }
        };
        println!("── exercise {}: {} ({})", ex.id, ex.title, ex.file);
        print!("{reference}");
        if apply {
            std::fs::write(&path, regions::replace(&text, &ex.region, &reference)?)
                .map_err(|e| e.to_string())?;
        }
    }
    if apply {
        println!("\nThe reference code is back in place.");
    }
    Ok(0)
}

/// Every file below `dir`, recursively (unreadable folders are skipped).
pub(crate) fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                files.push(path);
            }
        }
    }
    files
}

/// Copies the files git knows (tracked and untracked-but-not-ignored) into `to`.
pub(crate) fn copy_workspace(root: &Path, to: &Path) -> Result<(), String> {
    let out = std::process::Command::new("git")
        .args(["ls-files", "-co", "--exclude-standard", "-z"])
        .current_dir(root)
        .output()
        .map_err(|e| format!("git ls-files: {e}"))?;
    if !out.status.success() {
        return Err("git ls-files failed: verify needs a git checkout".into());
    }
    let _ = std::fs::remove_dir_all(to);
    for name in out.stdout.split(|&b| b == 0).filter(|n| !n.is_empty()) {
        let rel = String::from_utf8_lossy(name).into_owned();
        let from = root.join(&rel);
        if !from.is_file() {
            continue;
        }
        let dest = to.join(&rel);
        std::fs::create_dir_all(dest.parent().unwrap_or(to)).map_err(|e| e.to_string())?;
        std::fs::copy(&from, &dest).map_err(|e| format!("{rel}: {e}"))?;
    }
    Ok(())
}

/// Exports a starter with every lesson blanked, runs its `cargo test`, and compares the failing
/// tests with the graded checks: every graded check must fail (unless marked as passing on a
/// starter) and nothing else may.
fn verify_export(root: &Path, lessons: &[Lesson]) -> Result<Vec<String>, String> {
    let out = root.join("target").join("verify").join("export");
    let _ = std::fs::remove_dir_all(&out);
    let numbers: Vec<u32> = lessons.iter().map(|l| l.number).collect();
    export::export(root, lessons, &numbers, &out)?;
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    // One pipe for stdout and stderr: cargo's "Running <target>" lines (stderr) must stay in
    // order with the "test … FAILED" lines (stdout) to know which target a test belongs to.
    let (mut reader, writer) = std::io::pipe().map_err(|e| e.to_string())?;
    let mut cmd = std::process::Command::new(cargo);
    cmd.args(["test", "--no-fail-fast"])
        .env("CARGO_TARGET_DIR", root.join("target").join("verify-target"))
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
    for l in lessons {
        for c in l.checks.iter().filter(|c| c.passes_on_starter.is_none()) {
            expected.insert((format!("tests/{}.rs", l.test_target), c.test.clone()));
        }
    }
    for (target, test) in failing.difference(&expected) {
        problems.push(format!("starter: `{test}` in {target} fails but is not a graded check (list its file in reference_tests?)"));
    }
    for (target, test) in expected.difference(&failing) {
        problems.push(format!(
            "starter: graded check `{test}` ({target}) does not fail in the starter's cargo test"
        ));
    }
    Ok(problems)
}

fn verify(root: &Path, repeat: u32, skip_starter: bool) -> Result<u8, String> {
    let lessons = load(root)?;
    runner::become_subreaper();
    let mut problems: Vec<String> = Vec::new();
    for lesson in &lessons {
        let tag = format!("lesson {}", lesson.number);
        problems.extend(lesson.lint().into_iter().map(|p| format!("{tag}: {p}")));
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
        for r in runner::run_checks(&exe, lesson, None, repeat) {
            if r.status != Status::Pass {
                problems.push(format!(
                    "{tag}: reference fails `{}`: {}",
                    r.id,
                    r.message.unwrap_or_default()
                ));
            }
        }
        if skip_starter {
            continue;
        }
        eprintln!("verify {tag}: the blank starter must fail every check…");
        let copy = root.join("target").join("verify").join(&lesson.id);
        copy_workspace(root, &copy)?;
        for ex in &lesson.exercises {
            let path = copy.join(&ex.file);
            let text = std::fs::read_to_string(&path).map_err(|e| e.to_string())?;
            std::fs::write(&path, regions::blank(&text, &ex.region, &ex.id, &ex.title)?)
                .map_err(|e| e.to_string())?;
        }
        let shared_target = root.join("target").join("verify-target");
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
        for r in runner::run_checks(&exe, &ungated, None, 1) {
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
        problems.extend(verify_export(root, &lessons)?);
    }
    let stage = book::stage(root, &lessons)?;
    problems.extend(book::check_references(&stage.join("book").join("src")));
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
            "verify: {} lesson(s), all consistent; reference passes, starters fail, book references resolve.",
            lessons.len()
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
