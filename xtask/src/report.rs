//! What the runner prints. Pure functions of the results, so insta can snapshot them.

use std::fmt::Write;
use std::time::Duration;

use crate::i18n::{self, Lang};
use crate::lesson::{Exercise, Lesson};
use crate::runner::{CheckResult, Status, SuiteResult};

/// Colours for a terminal (`Style::plain()` for pipes, `NO_COLOR` and snapshots), and the
/// language.
#[derive(Clone, Copy)]
pub struct Style {
    color: bool,
    pub lang: Lang,
}

impl Style {
    #[cfg(test)]
    pub fn plain() -> Style {
        Style::plain_in(Lang::En)
    }
    #[cfg(test)]
    pub fn plain_in(lang: Lang) -> Style {
        Style { color: false, lang }
    }
    pub fn detect() -> Style {
        use std::io::IsTerminal;
        Style {
            color: std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none(),
            lang: i18n::current(),
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
    let t = style.lang;
    let mut out = String::new();
    let _ = writeln!(out, "{}\n", t.lesson_heading(lesson.number, &lesson.title));
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
            Status::Timeout => format!("  {}", t.timed_out()),
            Status::Skipped => format!("  {}", t.skipped(r.message.as_deref().unwrap_or(""))),
            _ if r.leaked > 0 => format!("  {}", t.left_running(r.leaked)),
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
        let _ = writeln!(out, "\n{}", t.first_failure(&first.id, &first.exercise, title));
        let message = t.runner_message(first.message.as_deref().unwrap_or(""));
        for line in message.lines() {
            let _ = writeln!(out, "  │ {line}");
        }
        if let Some(e) = exercise.filter(|e| !e.statement.trim().is_empty()) {
            let _ = writeln!(out, "  {}", t.what_exercise_must_do(&e.id));
            for line in e.statement.trim().lines() {
                let _ = writeln!(out, "    {line}");
            }
        }
        let [rerun, hint, read] = t.failure_labels();
        let _ = writeln!(out, "  {rerun}{}", first.rerun);
        let _ = writeln!(
            out,
            "  {hint}cargo xtask hint {} {}",
            lesson.number, first.exercise
        );
        if let Some(e) = exercise {
            let _ = writeln!(out, "  {read}{}", e.section);
        }
    }
    let score: u32 = results.iter().map(|r| r.points).sum();
    let max: u32 = results.iter().map(|r| r.max_points).sum();
    let _ = writeln!(out, "\n{}", t.score(score, max));
    out
}

/// After a run restricted to some checks (`--exercise`, `--only`): the command that reruns each
/// check that ran, each skipped check with the reason it did not run (there is nothing of it to
/// rerun yet), and that this score is not the lesson's.
pub fn restricted_run(lesson: &Lesson, results: &[CheckResult], t: Lang) -> String {
    let mut out = String::new();
    for r in results.iter().filter(|r| r.status != Status::Skipped) {
        let _ = writeln!(out, "  {}", t.run_it_yourself(&r.rerun));
    }
    for r in results.iter().filter(|r| r.status == Status::Skipped) {
        let _ = writeln!(
            out,
            "  {}",
            t.not_run(&r.id, &t.skipped(r.message.as_deref().unwrap_or("")))
        );
    }
    let _ = writeln!(out, "{}", t.partial_run(lesson.number));
    out
}

/// An exercise's statement: its specification, as `--exercise` and a lesson's start show it.
pub fn statement(lesson: &Lesson, ex: &Exercise, t: Lang) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{}", t.exercise_heading(&ex.id, &ex.kind, &ex.title));
    let _ = writeln!(out, "  {}", t.exercise_where(&ex.file, &ex.section));
    let (first, together) = lesson.needs_split(ex);
    if !first.is_empty() {
        let _ = writeln!(out, "  {}", t.needs_exercises_first(&first.join(", ")));
    }
    if !together.is_empty() {
        let _ = writeln!(out, "  {}", t.checked_together_with(&together.join(", ")));
    }
    for line in ex.statement.trim().lines() {
        let _ = writeln!(out, "  │ {line}");
    }
    out
}

/// The reference tests that use a lesson's code, run once its graded checks are green.
pub fn reference_table(lesson: &Lesson, suites: &[SuiteResult], style: Style) -> String {
    let t = style.lang;
    let mut out = String::new();
    let _ = writeln!(out, "\n{}\n", t.reference_heading(lesson.number));
    let width = suites.iter().map(|s| s.file.len()).max().unwrap_or(10);
    for s in suites {
        let m = match s.status {
            Status::Pass => style.paint("32", mark(s.status)),
            _ => style.paint("31", mark(s.status)),
        };
        let what = match s.status {
            Status::Pass => t.suite_passed(s.passed),
            Status::Timeout => t.timed_out().to_owned(),
            Status::BuildError => t.does_not_build().to_owned(),
            _ if s.failed.is_empty() => t.failed().to_owned(),
            _ => t.suite_passed_failed(s.passed, s.failed.len()),
        };
        let _ = writeln!(out, "  {m} {:<width$}  {what} {:>7}", s.file, seconds(s.duration));
    }
    if let Some(first) = suites.iter().find(|s| s.status != Status::Pass) {
        let _ = writeln!(out, "\n{}", t.first_failing_reference(&first.file));
        if !first.failed.is_empty() {
            let _ = writeln!(out, "  {}", t.failing_tests(&first.failed.join(", ")));
        }
        let message = t.runner_message(first.message.as_deref().unwrap_or(""));
        for line in message.lines() {
            let _ = writeln!(out, "  │ {line}");
        }
        let _ = writeln!(out, "{}", t.reference_advice());
    }
    out
}

/// What a learner sees when the code does not compile: the errors, not a table.
pub fn build_failure(lesson: &Lesson, errors: &str, t: Lang) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{}\n", t.lesson_heading(lesson.number, &lesson.title));
    let _ = writeln!(out, "{}", t.does_not_compile());
    out.push_str(errors.trim_end());
    let _ = writeln!(out, "\n\n{}", t.fix_first_error());
    let _ = writeln!(out, "{}", t.score(0, lesson.max_points()));
    out
}

/// Shown once every check passes.
pub fn lesson_passed(lesson: &Lesson, next: Option<&Lesson>, t: Lang) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\n{}\n  {}",
        t.lesson_passed(lesson.number),
        lesson.recap.trim()
    );
    if !lesson.going_further.is_empty() {
        let _ = writeln!(out, "\n{}", t.going_further());
        for g in &lesson.going_further {
            let _ = writeln!(out, "  • {g}");
        }
    }
    let _ = writeln!(out, "\n{}", t.compare_with_reference(lesson.number));
    match next {
        Some(n) => {
            let _ = writeln!(out, "{}", t.next_lesson(n.number, &n.title));
        }
        None => {
            let _ = writeln!(out, "{}", t.last_lesson());
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
    fn a_restricted_run_lists_skipped_checks_as_not_run() {
        let mut fail = result("join-reaps", "1.2", Status::Fail, 0, 3, 40);
        fail.message = Some("assertion failed".into());
        let mut skip = result("terminate", "1.2", Status::Skipped, 0, 2, 0);
        skip.message = Some("needs `join-reaps` to pass first".into());
        let results = [fail, skip];
        let en = restricted_run(&lesson(), &results, Lang::En);
        assert_eq!(
            en,
            "  run it yourself: cargo test -p forkway-process --test lesson1 -- --exact join_reaps\n\
             \x20 not run: terminate (skipped: needs `join-reaps` to pass first)\n\
             Only some of lesson 1's checks ran: this score is not the lesson's. The course list \
             keeps the last full run's score; `cargo xtask lesson 1` runs them all.\n"
        );
        let zh = restricted_run(&lesson(), &results, Lang::ZhCn);
        assert!(
            zh.contains("  未运行：terminate（已跳过：需要 `join-reaps` 先通过）\n"),
            "{zh}"
        );
        assert_eq!(zh.matches("自己运行：").count(), 1, "{zh}");
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

    /// The test lesson with its Chinese texts.
    fn lesson_zh() -> Lesson {
        let t: crate::lesson::Translation = toml::from_str(
            r#"
title = "进程"
recap = "fork、join 与退出码。"
going_further = ["man 2 waitid"]
[exercises."1.1"]
title = "把等待状态转换成退出码"
statement = "写出 `exitcode_from_status(status)`。"
hints = ["看看 WaitStatus。"]
[exercises."1.2"]
title = "回收子进程"
statement = """
写出 `Inner::try_reap` 的函数体：子进程已退出就回收它，绝不阻塞。

- 仍在运行：返回 `Ok(None)`。
"""
hints = ["带 WNOHANG 的 waitpid。"]
"#,
        )
        .expect("translation");
        let mut l = lesson();
        assert!(l.lint_translation(&t).is_empty(), "{:?}", l.lint_translation(&t));
        l.translate(&t);
        l
    }

    #[test]
    fn chinese_table_with_a_failure_a_timeout_and_a_skip() {
        let mut fail = result("join-reaps", "1.2", Status::Fail, 0, 3, 40);
        fail.message = Some("panicked at crates/forkway-process/src/process.rs:88:9:\nnot yet implemented: exercise 1.2: 回收子进程".into());
        let mut timeout = result("join-timeout", "1.2", Status::Timeout, 0, 3, 30_000);
        timeout.message = Some("no result after 30s: the check and its processes were killed. Is something waiting forever (a join, a read)?".into());
        let mut skip = result("terminate", "1.2", Status::Skipped, 0, 2, 0);
        skip.message = Some("needs `join-reaps` to pass first".into());
        let mut blank = result("exitcode-normal", "1.1", Status::Skipped, 0, 2, 0);
        blank.message = Some("needs exercise 1.4 first (still `todo!()`)".into());
        let results = vec![blank, fail, timeout, skip];
        let table = lesson_table(&lesson_zh(), &results, Style::plain_in(Lang::ZhCn));
        // The rows line up in a terminal: the points column starts at one display column.
        let rows: Vec<&str> = table
            .lines()
            .filter(|l| l.contains("/2 ") || l.contains("/3 "))
            .collect();
        assert_eq!(rows.len(), 4);
        let column = |row: &str| i18n::width(&row[..row.find('/').expect("points")]);
        assert!(rows.iter().all(|r| column(r) == column(rows[0])), "{table}");
        // The labels after the failure line up too.
        let labels: Vec<usize> = table
            .lines()
            .filter_map(|l| l.find("cargo ").map(|at| i18n::width(&l[..at])))
            .collect();
        assert_eq!(labels.len(), 2, "{table}");
        assert_eq!(labels[0], labels[1], "{table}");
        insta::assert_snapshot!(table);
    }

    #[test]
    fn chinese_table_all_green() {
        let results = vec![
            result("exitcode-normal", "1.1", Status::Pass, 2, 2, 10),
            result("join-reaps", "1.2", Status::Pass, 3, 3, 25),
        ];
        insta::assert_snapshot!(lesson_table(&lesson_zh(), &results, Style::plain_in(Lang::ZhCn)));
    }

    #[test]
    fn chinese_statement_build_failure_and_pass() {
        let l = lesson_zh();
        let mut out = statement(&l, &l.exercises[1], Lang::ZhCn);
        out.push('\n');
        out.push_str(&build_failure(&l, "error[E0308]: mismatched types\n", Lang::ZhCn));
        out.push_str(&lesson_passed(&l, Some(&l), Lang::ZhCn));
        insta::assert_snapshot!(out);
    }

    #[test]
    fn chinese_reference_table() {
        let suites = vec![
            SuiteResult {
                file: "crates/forkway-process/tests/process.rs".into(),
                status: Status::Pass,
                passed: 12,
                failed: vec![],
                duration: Duration::from_millis(1500),
                message: None,
            },
            SuiteResult {
                file: "tests/tests/facade.rs".into(),
                status: Status::Fail,
                passed: 3,
                failed: vec!["facade_reaps".into()],
                duration: Duration::from_millis(700),
                message: Some(
                    "the tests passed but left 2 process(es) running; the runner killed them".into(),
                ),
            },
        ];
        insta::assert_snapshot!(reference_table(
            &lesson_zh(),
            &suites,
            Style::plain_in(Lang::ZhCn)
        ));
    }

    #[test]
    fn build_failure_shows_the_compiler() {
        let errors = "error[E0308]: mismatched types\n  --> crates/forkway-process/src/exitcode.rs:25:9\n   |\n25 |         WaitStatus::Exited(_pid, code) => code,\n   |                                           ^^^^ expected `Option<i32>`, found `i32`\n";
        insta::assert_snapshot!(build_failure(&lesson(), errors, Lang::En));
    }

    #[test]
    fn passed_lesson_offers_the_next() {
        insta::assert_snapshot!(lesson_passed(&lesson(), None, Lang::En));
    }
}
