//! The command line: clap's types, nothing else (`main.rs` dispatches, one module per command family).

use std::path::PathBuf;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "cargo xtask", about = "The forkway course runner")]
pub struct Cli {
    /// The course repository (default: the workspace that holds this runner).
    #[arg(long, global = true)]
    pub root: Option<PathBuf>,
    /// The language of what the runner says and of the lesson texts: `en` or `zh-CN`
    /// (default: `FORKWAY_LANG`, else the locale, e.g. `LANG=zh_CN.UTF-8`, else English).
    #[arg(long, global = true, value_enum, ignore_case = true)]
    pub lang: Option<crate::i18n::Lang>,
    #[command(subcommand)]
    pub command: Cmd,
}

/// Output formats of `grade`.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Human,
    Json,
    Junit,
    Classroom,
}

#[derive(Subcommand)]
pub enum Cmd {
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
        /// Show this exercise's statement (e.g. `1.4`) and run only its checks.
        #[arg(long)]
        exercise: Option<String>,
        /// Run each failing check once more with tracing on, and point to its timeline (an SVG
        /// in target/forkway-trace/).
        #[arg(long)]
        trace: bool,
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
    /// Build the book into target/book, or with the global `--lang zh-CN` the translation
    /// into target/book/zh-CN (installs mdBook and mdbook-i18n-helpers if missing).
    Book {
        /// Fail instead of installing mdBook.
        #[arg(long)]
        no_install: bool,
        /// Extract the English text and merge it into book/po/*.po (needs GNU gettext), instead
        /// of building.
        #[arg(long)]
        update_po: bool,
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
    /// Mutation testing of the exercise regions: do the graded checks catch wrong code?
    Mutants {
        /// Only these lessons (repeatable; default: all).
        #[arg(long)]
        lesson: Vec<u32>,
        /// `human` or `json`.
        #[arg(long, default_value = "human")]
        format: String,
        /// Only the hand-written wrong answers (lessons/*/wrong/), not cargo-mutants.
        #[arg(long)]
        wrong_only: bool,
        /// Only cargo-mutants, not the wrong answers (`verify` tries those).
        #[arg(long, conflicts_with = "wrong_only")]
        mutants_only: bool,
        /// Runs of each wrong answer's checks (it must be caught on every one).
        #[arg(long, default_value_t = 2)]
        repeat: u32,
    },
    /// Run an example with tracing: writes target/forkway-trace/NAME.json (open it in
    /// <https://ui.perfetto.dev> or chrome://tracing) and NAME.svg (one lane per process).
    Trace {
        /// The example to run (a file under crates/*/examples), e.g. `tickets`.
        #[arg(required_unless_present = "book")]
        example: Option<String>,
        /// Arguments for the example, after `--`.
        #[arg(last = true)]
        args: Vec<String>,
        /// The output files' name (default: the example's name and its arguments).
        #[arg(long)]
        name: Option<String>,
        /// Instead: run the book's traced programs again and rewrite their figures in
        /// book/src/img/trace-*.svg.
        #[arg(long, conflicts_with = "example")]
        book: bool,
    },
    /// Check the curriculum: metadata, reference passes, starters fail, book references.
    Verify {
        /// Run each check this many times more than its own repeat count.
        #[arg(long, default_value_t = 1)]
        repeat: u32,
        /// Skip building and grading the blanked starters (the slow part).
        #[arg(long)]
        skip_starter: bool,
        /// Skip trying the plausible wrong answers (lessons/*/wrong/).
        #[arg(long)]
        skip_wrong: bool,
        /// Build and run only these lessons (repeatable); the metadata of every lesson, the
        /// starter repository and the book are still checked.
        #[arg(long = "lesson", value_name = "N")]
        lessons: Vec<u32>,
    },
}
