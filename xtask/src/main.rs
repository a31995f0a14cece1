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
mod cli;
mod course;
mod export;
mod fs;
mod grade;
mod i18n;
mod lesson;
mod mutants;
mod progress;
mod regions;
mod report;
mod runner;
mod verify;
mod watch;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Parser;

use cli::{Cli, Cmd};
use lesson::Lesson;

/// The repository root (the workspace that holds `xtask/`).
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    i18n::set(i18n::Lang::choose(cli.lang, |name| std::env::var(name).ok()));
    runner::handle_interrupts();
    let root = cli.root.clone().unwrap_or_else(root);
    // The book's edition follows only an explicit `--lang`: a Chinese locale still builds the
    // English book unless asked, as both editions live side by side.
    let book_lang = match cli.lang {
        Some(i18n::Lang::ZhCn) => book::Lang::parse("zh-CN"),
        _ => book::Lang::parse("en"),
    };
    let result = match cli.command {
        Cmd::Lesson { number: None, .. } => course::list(&root),
        Cmd::Lesson {
            number: Some(n),
            only,
            no_start,
            watch,
            exercise,
        } => {
            let exercise = exercise.as_deref();
            if watch {
                course::watch_lesson(&root, n, &only, exercise, no_start)
            } else {
                course::lesson_cmd(&root, n, &only, exercise, no_start)
            }
        }
        Cmd::Grade {
            format,
            lessons,
            repeat,
        } => grade::command(&root, format, &lessons, repeat),
        Cmd::Export { out, lessons } => export::command(&root, &out, &lessons),
        Cmd::Hint { number, exercise } => course::hint(&root, number, exercise.as_deref()),
        Cmd::Reset { number, exercise } => course::reset(&root, number, exercise.as_deref()),
        Cmd::Solution { number, force, apply } => course::solution(&root, number, force, apply),
        Cmd::Book {
            no_install,
            update_po,
        } => load(&root).and_then(|ls| {
            if update_po {
                let pot = book::update_po(&root, &ls, !no_install)?;
                println!(
                    "Extracted {}; translate the new and fuzzy messages of book/po/*.po",
                    pot.display()
                );
                return Ok(0);
            }
            let out = book::build_lang(&root, &ls, book_lang.clone()?, !no_install)?;
            println!("The book is in {}/index.html", out.display());
            Ok(0)
        }),
        Cmd::Mutants {
            lesson,
            format,
            wrong_only,
            mutants_only,
            repeat,
        } => match format.as_str() {
            "human" | "json" => {
                mutants::command(&root, &lesson, format == "json", wrong_only, mutants_only, repeat)
            }
            other => Err(format!("unknown format `{other}` (human or json)")),
        },
        Cmd::Verify {
            repeat,
            skip_starter,
            skip_wrong,
            lesson,
        } => verify::verify(&root, repeat, skip_starter, skip_wrong, &lesson),
        Cmd::Bench {
            quick,
            book,
            only,
            report,
        } => bench::run(&root, quick, book, &only, report),
    };
    runner::wait_if_interrupted();
    match result {
        Ok(code) => ExitCode::from(code),
        Err(message) => {
            eprintln!("{}{message}", i18n::current().error_prefix());
            ExitCode::from(3)
        }
    }
}

pub(crate) fn load(root: &Path) -> Result<Vec<Lesson>, String> {
    lesson::load_all(root)
}

pub(crate) fn find(lessons: &[Lesson], n: u32) -> Result<&Lesson, String> {
    lessons.iter().find(|l| l.number == n).ok_or_else(|| {
        let have: Vec<String> = lessons.iter().map(|l| l.number.to_string()).collect();
        i18n::current().no_such_lesson(n, &have.join(", "))
    })
}
