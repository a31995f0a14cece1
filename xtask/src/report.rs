//! What the runner prints. Pure functions of the results, so insta can snapshot them.

use std::fmt::Write;
use std::time::Duration;

use crate::lesson::{Exercise, Lesson};
use crate::runner::{CheckResult, Status, SuiteResult};

/// Colours for a terminal; `Style::plain()` for pipes, `NO_COLOR` and snapshots.
#[derive(Clone, Copy)]
pub struct Style {
    color: bool,
}

impl Style {
    #[cfg(test)]
    pub fn plain() -> Style {
        Style { color: false }
    }
    pub fn detect() -> Style {
        use std::io::IsTerminal;
        Style {
            color: std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none(),
        }
    }
    fn paint(self, code: &str, text: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_owned()
        }
    }
}

fn mark(status: Status) -> &'static str {
    match status {
        Status::Pass => "✓",
        Status::Fail => "✗",
        Status::Timeout => "⏱",
        Status::Skipped => "-",
        Status::BuildError => "!",
    }
}

fn seconds(d: Duration) -> String {
    format!("{:.2}s", d.as_secs_f64())
}

/// The table of a lesson's checks, the first failure explained, and the score.
pub fn lesson_table(lesson: &Lesson, results: &[CheckResult], style: Style) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "Lesson {} — {}\n", lesson.number, lesson.title);
    let width = results.iter().map(|r| r.id.len()).max().unwrap_or(10);
    for r in results {
        let m = match r.status {
            Status::Pass => style.paint("32", mark(r.status)),
            Status::Skipped => style.paint("2", mark(r.status)),
            _ => style.paint("31", mark(r.status)),
        };
        let time = if r.status == Status::Skipped {
            "-".to_owned()
        } else {
            seconds(r.duration)
        };
        let note = match r.status {
            Status::Timeout => "  timed out".to_owned(),
            Status::Skipped => format!("  skipped: {}", r.message.as_deref().unwrap_or("")),
            _ if r.leaked > 0 => format!("  left {} process(es) running", r.leaked),
            _ => String::new(),
        };
        let _ = writeln!(
            out,
            "  {m} {:<5} {:<width$}  {:>2}/{:<2} {:>7}{note}",
            r.exercise, r.id, r.points, r.max_points, time
        );
    }
    if let Some(first) = results
        .iter()
        .find(|r| matches!(r.status, Status::Fail | Status::Timeout))
    {
        let exercise = lesson.exercise(&first.exercise);
        let title = exercise.map(|e| e.title.as_str()).unwrap_or("");
        let _ = writeln!(
            out,
            "\nFirst failure: {} (exercise {}: {title})",
            first.id, first.exercise
        );
        for line in first.message.as_deref().unwrap_or("").lines() {
            let _ = writeln!(out, "  │ {line}");
        }
        if let Some(e) = exercise.filter(|e| !e.statement.trim().is_empty()) {
            let _ = writeln!(out, "  what exercise {} must do:", e.id);
            for line in e.statement.trim().lines() {
                let _ = writeln!(out, "    {line}");
            }
        }
        let _ = writeln!(out, "  rerun: {}", first.rerun);
        let _ = writeln!(
            out,
            "  hint:  cargo xtask hint {} {}",
            lesson.number, first.exercise
        );
        if let Some(e) = exercise {
            let _ = writeln!(out, "  read:  {}", e.section);
        }
    }
    let score: u32 = results.iter().map(|r| r.points).sum();
    let max: u32 = results.iter().map(|r| r.max_points).sum();
    let _ = writeln!(out, "\nScore: {score}/{max}");
    out
}

/// An exercise's statement: its specification, as `--exercise` and a lesson's start show it.
pub fn statement(ex: &Exercise) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "Exercise {} ({}): {}", ex.id, ex.kind, ex.title);
    let _ = writeln!(out, "  in {}   read: {}", ex.file, ex.section);
    if !ex.needs.is_empty() {
        let _ = writeln!(out, "  needs exercise(s) {} first", ex.needs.join(", "));
    }
    for line in ex.statement.trim().lines() {
        let _ = writeln!(out, "  │ {line}");
    }
    out
}

/// The reference tests that use a lesson's code, run once its graded checks are green.
pub fn reference_table(lesson: &Lesson, suites: &[SuiteResult], style: Style) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\nReference tests of lesson {}'s code (not graded: the lesson is done when they pass too)\n",
        lesson.number
    );
    let width = suites.iter().map(|s| s.file.len()).max().unwrap_or(10);
    for s in suites {
        let m = match s.status {
            Status::Pass => style.paint("32", mark(s.status)),
            _ => style.paint("31", mark(s.status)),
        };
        let what = match s.status {
            Status::Pass => format!("{} passed", s.passed),
            Status::Timeout => "timed out".to_owned(),
            Status::BuildError => "does not build".to_owned(),
            _ if s.failed.is_empty() => "failed".to_owned(),
            _ => format!("{} passed, {} failed", s.passed, s.failed.len()),
        };
        let _ = writeln!(out, "  {m} {:<width$}  {what} {:>7}", s.file, seconds(s.duration));
    }
    if let Some(first) = suites.iter().find(|s| s.status != Status::Pass) {
        let _ = writeln!(out, "\nFirst failing reference test file: {}", first.file);
        if !first.failed.is_empty() {
            let _ = writeln!(out, "  failing: {}", first.failed.join(", "));
        }
        for line in first.message.as_deref().unwrap_or("").lines() {
            let _ = writeln!(out, "  │ {line}");
        }
        let _ = writeln!(
            out,
            "  Your code passes the graded checks but breaks a requirement these tests hold. Read\n  the failing test: what it does is part of the exercise's statement too."
        );
    }
    out
}

/// What a learner sees when the code does not compile: the errors, not a table.
pub fn build_failure(lesson: &Lesson, errors: &str) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "Lesson {} — {}\n", lesson.number, lesson.title);
    let _ = writeln!(
        out,
        "The code does not compile yet, so no check could run. The compiler says:\n"
    );
    out.push_str(errors.trim_end());
    let _ = writeln!(
        out,
        "\n\nFix the first error first; the others often follow from it."
    );
    let _ = writeln!(out, "Score: 0/{}", lesson.max_points());
    out
}

/// Shown once every check passes.
pub fn lesson_passed(lesson: &Lesson, next: Option<&Lesson>) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\nLesson {} passed. What it taught:\n  {}",
        lesson.number,
        lesson.recap.trim()
    );
    if !lesson.going_further.is_empty() {
        let _ = writeln!(out, "\nGoing further:");
        for g in &lesson.going_further {
            let _ = writeln!(out, "  • {g}");
        }
    }
    let _ = writeln!(
        out,
        "\nCompare with the reference solution: cargo xtask solution {}",
        lesson.number
    );
    match next {
        Some(n) => {
            let _ = writeln!(out, "Next: cargo xtask lesson {} ({})", n.number, n.title);
        }
        None => {
            let _ = writeln!(out, "That was the last lesson. Well done.");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lesson() -> Lesson {
        toml::from_str(
            r#"
id = "demo"
number = 1
title = "Processes"
chapter = "book/src/ch01-processes.md"
package = "forkway-process"
test_target = "lesson1"
recap = "fork, join, exit codes."
going_further = ["man 2 waitid"]

[[exercises]]
id = "1.1"
kind = "build"
title = "Turn a wait status into an exit code"
region = "exercise_1_1"
file = "crates/forkway-process/src/exitcode.rs"
section = "book/src/ch01-processes.md#exit-codes"
hints = ["Look at WaitStatus."]

[[exercises]]
id = "1.2"
kind = "build"
title = "Reap a child"
region = "exercise_1_2"
file = "crates/forkway-process/src/process.rs"
section = "book/src/ch01-processes.md#reaping"
hints = ["waitpid with WNOHANG."]

[[checks]]
id = "exitcode-normal"
test = "exitcode_of_a_normal_exit"
exercise = "1.1"
points = 2

[[checks]]
id = "join-reaps"
test = "join_reaps_the_child"
exercise = "1.2"
points = 3

[[checks]]
id = "join-timeout"
test = "join_timeout_returns"
exercise = "1.2"
points = 3
timeout = 30

[[checks]]
id = "terminate"
test = "terminate_gives_minus_sigterm"
exercise = "1.2"
points = 2
requires = ["join-reaps"]
"#,
        )
        .expect("lesson")
    }

    fn result(id: &str, exercise: &str, status: Status, points: u32, max: u32, ms: u64) -> CheckResult {
        CheckResult {
            id: id.into(),
            exercise: exercise.into(),
            status,
            points,
            max_points: max,
            duration: Duration::from_millis(ms),
            message: None,
            rerun: format!(
                "cargo test -p forkway-process --test lesson1 -- --exact {}",
                id.replace('-', "_")
            ),
            leaked: 0,
        }
    }

    #[test]
    fn table_with_a_failure_a_timeout_and_a_skip() {
        let mut fail = result("join-reaps", "1.2", Status::Fail, 0, 3, 40);
        fail.message = Some("panicked at crates/forkway-process/src/process.rs:88:9:\nnot yet implemented: exercise 1.2: Reap a child".into());
        let mut timeout = result("join-timeout", "1.2", Status::Timeout, 0, 3, 30_000);
        timeout.message = Some("no result after 30s".into());
        let mut skip = result("terminate", "1.2", Status::Skipped, 0, 2, 0);
        skip.message = Some("needs `join-reaps` to pass first".into());
        let results = vec![
            result("exitcode-normal", "1.1", Status::Pass, 2, 2, 10),
            fail,
            timeout,
            skip,
        ];
        insta::assert_snapshot!(lesson_table(&lesson(), &results, Style::plain()));
    }

    #[test]
    fn table_all_green() {
        let results = vec![
            result("exitcode-normal", "1.1", Status::Pass, 2, 2, 10),
            result("join-reaps", "1.2", Status::Pass, 3, 3, 25),
        ];
        insta::assert_snapshot!(lesson_table(&lesson(), &results, Style::plain()));
    }

    #[test]
    fn a_timeout_first() {
        let mut timeout = result("join-timeout", "1.2", Status::Timeout, 0, 3, 30_000);
        timeout.message = Some(
            "no result after 30s: the check and its processes were killed. Is something waiting forever (a join, a read)?"
                .into(),
        );
        insta::assert_snapshot!(lesson_table(&lesson(), &[timeout], Style::plain()));
    }

    #[test]
    fn build_failure_shows_the_compiler() {
        let errors = "error[E0308]: mismatched types\n  --> crates/forkway-process/src/exitcode.rs:25:9\n   |\n25 |         WaitStatus::Exited(_pid, code) => code,\n   |                                           ^^^^ expected `Option<i32>`, found `i32`\n";
        insta::assert_snapshot!(build_failure(&lesson(), errors));
    }

    #[test]
    fn passed_lesson_offers_the_next() {
        insta::assert_snapshot!(lesson_passed(&lesson(), None));
    }
}
