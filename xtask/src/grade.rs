//! `cargo xtask grade`: every lesson's checks, for instructors and autograders.
//!
//! Machine formats put only the report on stdout (progress goes to stderr, cargo's own output is
//! captured), so `cargo xtask grade --format json > grade.json` is always valid JSON.

use std::fmt::Write;

use base64::Engine;
use serde_json::{json, Value};

use std::path::Path;

use crate::cli::Format;
use crate::lesson::Lesson;
use crate::runner::{self, Build, CheckResult, Status};
use crate::{load, report};

/// The version of the JSON report's schema; bumped on any incompatible change.
pub const SCHEMA_VERSION: u32 = 1;

/// One lesson's graded results.
pub struct LessonGrade<'a> {
    pub lesson: &'a Lesson,
    pub results: Vec<CheckResult>,
    /// Compiler errors when the lesson's code did not build.
    pub build_error: Option<String>,
}

impl LessonGrade<'_> {
    pub fn score(&self) -> u32 {
        self.results.iter().map(|r| r.points).sum()
    }
    pub fn max(&self) -> u32 {
        self.lesson.max_points()
    }
}

/// Removes terminal colour codes (cargo renders diagnostics with them).
pub fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\x1b' && chars.peek() == Some(&'[') {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

fn clean(message: Option<&str>) -> Option<String> {
    message.map(strip_ansi)
}

/// The versioned JSON report.
pub fn json_report(grades: &[LessonGrade<'_>]) -> Value {
    let lessons: Vec<Value> = grades
        .iter()
        .map(|g| {
            let checks: Vec<Value> = g
                .results
                .iter()
                .map(|r| {
                    json!({
                        "id": r.id,
                        "exercise": r.exercise,
                        "status": r.status.as_str(),
                        "points": r.points,
                        "max_points": r.max_points,
                        "duration_ms": r.duration.as_millis() as u64,
                        "message": clean(r.message.as_deref()),
                        "rerun": r.rerun,
                    })
                })
                .collect();
            json!({
                "id": g.lesson.id,
                "number": g.lesson.number,
                "title": g.lesson.title,
                "score": g.score(),
                "max": g.max(),
                "build_error": clean(g.build_error.as_deref()),
                "checks": checks,
            })
        })
        .collect();
    json!({
        "schema": "forkway-grade",
        "version": SCHEMA_VERSION,
        "score": grades.iter().map(LessonGrade::score).sum::<u32>(),
        "max": grades.iter().map(LessonGrade::max).sum::<u32>(),
        "lessons": lessons,
    })
}

fn xml_escape(text: &str) -> String {
    text.chars()
        .filter(|c| !c.is_control() || *c == '\n' || *c == '\t')
        .map(|c| match c {
            '&' => "&amp;".to_owned(),
            '<' => "&lt;".to_owned(),
            '>' => "&gt;".to_owned(),
            '"' => "&quot;".to_owned(),
            '\'' => "&apos;".to_owned(),
            c => c.to_string(),
        })
        .collect()
}

/// JUnit XML: one test suite per lesson, one test case per check.
pub fn junit_report(grades: &[LessonGrade<'_>]) -> String {
    let count = |s: Status| {
        grades
            .iter()
            .flat_map(|g| &g.results)
            .filter(|r| r.status == s)
            .count()
    };
    let total: usize = grades.iter().map(|g| g.results.len()).sum();
    let time: f64 = grades
        .iter()
        .flat_map(|g| &g.results)
        .map(|r| r.duration.as_secs_f64())
        .sum();
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        out,
        "<testsuites name=\"forkway\" tests=\"{total}\" failures=\"{}\" errors=\"{}\" skipped=\"{}\" time=\"{time:.3}\">",
        count(Status::Fail) + count(Status::Timeout),
        count(Status::BuildError),
        count(Status::Skipped)
    );
    for g in grades {
        let failures = g
            .results
            .iter()
            .filter(|r| matches!(r.status, Status::Fail | Status::Timeout))
            .count();
        let errors = g
            .results
            .iter()
            .filter(|r| r.status == Status::BuildError)
            .count();
        let skipped = g.results.iter().filter(|r| r.status == Status::Skipped).count();
        let _ = writeln!(
            out,
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{failures}\" errors=\"{errors}\" skipped=\"{skipped}\">",
            xml_escape(&format!("lesson {}: {}", g.lesson.number, g.lesson.title)),
            g.results.len()
        );
        for r in &g.results {
            let _ = write!(
                out,
                "    <testcase classname=\"{}\" name=\"{}\" time=\"{:.3}\"",
                xml_escape(&g.lesson.id),
                xml_escape(&r.id),
                r.duration.as_secs_f64()
            );
            let message = xml_escape(&clean(r.message.as_deref()).unwrap_or_default());
            let first = message.lines().next().unwrap_or("").to_owned();
            match r.status {
                Status::Pass => out.push_str("/>\n"),
                Status::Fail | Status::Timeout => {
                    let _ = write!(
                        out,
                        ">\n      <failure type=\"{}\" message=\"{first}\">{message}\nrerun: {}</failure>\n    </testcase>\n",
                        r.status.as_str(),
                        xml_escape(&r.rerun)
                    );
                }
                Status::BuildError => {
                    let _ = write!(out, ">\n      <error type=\"build_error\" message=\"{first}\">{message}</error>\n    </testcase>\n");
                }
                Status::Skipped => {
                    let _ = write!(out, ">\n      <skipped message=\"{first}\"/>\n    </testcase>\n");
                }
            }
        }
        out.push_str("  </testsuite>\n");
    }
    out.push_str("</testsuites>\n");
    out
}

/// The payload GitHub Classroom's grading reporter reads (one runner's `result`, base64 JSON):
/// `{version, status, max_score, tests: [{name, status, message, score, …}]}`.
pub fn classroom_payload(grades: &[LessonGrade<'_>]) -> Value {
    let mut tests = Vec::new();
    for g in grades {
        for r in &g.results {
            let status = match r.status {
                Status::Pass => "pass",
                Status::BuildError => "error",
                _ => "fail",
            };
            let message = match r.status {
                Status::Pass => String::new(),
                Status::Skipped => format!("skipped: {}", r.message.as_deref().unwrap_or("")),
                _ => format!(
                    "{}\nrerun: {}",
                    clean(r.message.as_deref()).unwrap_or_default(),
                    r.rerun
                ),
            };
            tests.push(json!({
                "name": format!("lesson {} · {}", g.lesson.number, r.id),
                "status": status,
                "message": message,
                "score": r.points,
                "max_score": r.max_points,
                "execution_time": format!("{:.2}s", r.duration.as_secs_f64()),
            }));
        }
    }
    let all = grades.iter().flat_map(|g| &g.results);
    let status = if grades.iter().any(|g| g.build_error.is_some()) {
        "error"
    } else if all.clone().all(|r| r.status == Status::Pass) {
        "pass"
    } else {
        "fail"
    };
    json!({
        "version": 1,
        "status": status,
        "max_score": grades.iter().map(LessonGrade::max).sum::<u32>(),
        "tests": tests,
    })
}

/// Base64 of the classroom payload, the form the reporter decodes.
pub fn classroom_encoded(payload: &Value) -> String {
    base64::engine::general_purpose::STANDARD.encode(payload.to_string())
}

/// `cargo xtask grade`: builds and grades the chosen lessons, then prints the report in `format`.
pub fn command(root: &Path, format: Format, only: &[u32], repeat: u32) -> Result<u8, String> {
    // Only the human report speaks the learner's language: the machine formats stay English.
    let lessons = match format {
        Format::Human => crate::lesson::load_all_in(root, crate::i18n::current())?,
        _ => load(root)?,
    };
    let chosen: Vec<&Lesson> = lessons
        .iter()
        .filter(|l| only.is_empty() || only.contains(&l.number))
        .collect();
    if chosen.is_empty() {
        return Err("no lesson matched --lessons".into());
    }
    runner::become_subreaper();
    let blank = crate::lesson::blank_exercises(root, &lessons);
    let mut grades = Vec::new();
    for lesson in chosen {
        if let Some(why) = lesson.unavailable() {
            eprintln!("not grading lesson {}: {why}", lesson.number);
            continue;
        }
        eprintln!("grading lesson {}…", lesson.number);
        let grade = match runner::build(root, lesson, None)? {
            Build::Ready(exe) => LessonGrade {
                lesson,
                results: runner::run_checks(&exe, lesson, None, repeat, &blank),
                build_error: None,
            },
            Build::Failed(errors) => LessonGrade {
                lesson,
                results: runner::build_error_results(lesson, &errors),
                build_error: Some(errors),
            },
        };
        grades.push(grade);
    }
    let score: u32 = grades.iter().map(LessonGrade::score).sum();
    let max: u32 = grades.iter().map(LessonGrade::max).sum();
    match format {
        Format::Human => {
            for g in &grades {
                match &g.build_error {
                    Some(errors) => print!(
                        "{}",
                        report::build_failure(g.lesson, errors, crate::i18n::current())
                    ),
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
                serde_json::to_string_pretty(&json_report(&grades)).map_err(|e| e.to_string())?
            );
        }
        Format::Junit => print!("{}", junit_report(&grades)),
        Format::Classroom => {
            let payload = classroom_payload(&grades);
            println!("{payload}");
            if let Some(path) = std::env::var_os("GITHUB_OUTPUT") {
                use std::io::Write;
                let mut f = std::fs::OpenOptions::new()
                    .append(true)
                    .create(true)
                    .open(&path)
                    .map_err(|e| format!("GITHUB_OUTPUT: {e}"))?;
                writeln!(f, "result={}", classroom_encoded(&payload))
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn lesson() -> Lesson {
        toml::from_str(
            r#"
id = "demo"
number = 1
title = "Demo <&>"
chapter = "c.md"
package = "p"
test_target = "t"
recap = "r"
[[exercises]]
id = "1.1"
kind = "build"
title = "x"
region = "exercise_1_1"
file = "f.rs"
section = "c.md#x"
hints = ["h"]
[[checks]]
id = "a"
test = "a"
exercise = "1.1"
points = 2
[[checks]]
id = "b"
test = "b"
exercise = "1.1"
points = 3
"#,
        )
        .expect("lesson")
    }

    fn results() -> Vec<CheckResult> {
        let r = |id: &str, status, points, max, msg: Option<&str>| CheckResult {
            id: id.into(),
            exercise: "1.1".into(),
            status,
            points,
            max_points: max,
            duration: Duration::from_millis(1500),
            message: msg.map(str::to_owned),
            rerun: format!("cargo test -p p --test t -- --exact {id}"),
            leaked: 0,
        };
        vec![
            r("a", Status::Pass, 2, 2, None),
            r(
                "b",
                Status::Fail,
                0,
                3,
                Some("\x1b[31mleft\x1b[0m != \"right\" <&>"),
            ),
        ]
    }

    #[test]
    fn json_report_is_versioned_and_complete() {
        let lesson = lesson();
        let grades = [LessonGrade {
            lesson: &lesson,
            results: results(),
            build_error: None,
        }];
        insta::assert_snapshot!(serde_json::to_string_pretty(&json_report(&grades)).expect("json"));
    }

    #[test]
    fn junit_escapes_and_counts() {
        let lesson = lesson();
        let grades = [LessonGrade {
            lesson: &lesson,
            results: results(),
            build_error: None,
        }];
        insta::assert_snapshot!(junit_report(&grades));
    }

    #[test]
    fn classroom_payload_round_trips_through_base64() {
        let lesson = lesson();
        let grades = [LessonGrade {
            lesson: &lesson,
            results: results(),
            build_error: None,
        }];
        let payload = classroom_payload(&grades);
        assert_eq!(payload["status"], "fail");
        assert_eq!(payload["max_score"], 5);
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(classroom_encoded(&payload))
            .expect("b64");
        let back: Value = serde_json::from_slice(&decoded).expect("json");
        assert_eq!(back, payload);
        insta::assert_snapshot!(serde_json::to_string_pretty(&payload).expect("json"));
    }
}
