//! Building a lesson's tests with cargo and finding the executables it built.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::groups::run_in_own_group;
use crate::lesson::Lesson;

/// The outcome of building a lesson.
pub enum Build {
    /// The test executable to run checks with.
    Ready(PathBuf),
    /// Compiler errors, rendered as cargo prints them.
    Failed(String),
}

/// Builds the examples of the lesson's package and its test target.
pub fn build(root: &Path, lesson: &Lesson, target_dir: Option<&Path>) -> Result<Build, String> {
    build_with(root, lesson, target_dir, Some("--examples"))
}

/// Builds the lesson's test target and, with `examples`, those examples first (`--examples`
/// for all of them, or `--example=NAME` for one): trying one wrong answer needs no more.
pub fn build_with(
    root: &Path,
    lesson: &Lesson,
    target_dir: Option<&Path>,
    examples: Option<&str>,
) -> Result<Build, String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let mut steps: Vec<Vec<&str>> = Vec::new();
    if let Some(which) = examples {
        steps.push(vec!["build", "-p", &lesson.package, which]);
    }
    steps.push(vec![
        "test",
        "-p",
        &lesson.package,
        "--test",
        &lesson.test_target,
        "--no-run",
    ]);
    let mut exe = None;
    for args in steps {
        let mut cmd = Command::new(&cargo);
        // Colour codes only for a terminal: piped into a file or a CI log they are noise.
        let colour =
            std::io::IsTerminal::is_terminal(&std::io::stdout()) && std::env::var_os("NO_COLOR").is_none();
        cmd.args(&args)
            .arg(if colour {
                "--message-format=json-diagnostic-rendered-ansi"
            } else {
                "--message-format=json"
            })
            .current_dir(root);
        if let Some(dir) = target_dir {
            cmd.env("CARGO_TARGET_DIR", dir);
        }
        let out = run_in_own_group(&mut cmd).map_err(|e| format!("cannot run cargo: {e}"))?;
        let (mut errors, artifacts) = cargo_messages(&out.stdout);
        if let Some(a) = artifacts.iter().find(|a| a.target == lesson.test_target) {
            exe = Some(a.executable.clone());
        }
        if !out.status.success() {
            if errors.is_empty() {
                errors = String::from_utf8_lossy(&out.stderr).into_owned();
            }
            return Ok(Build::Failed(errors));
        }
    }
    exe.map(Build::Ready)
        .ok_or_else(|| format!("cargo built no test executable named `{}`", lesson.test_target))
}

/// An executable cargo built, from its `compiler-artifact` message.
pub(super) struct Artifact {
    pub(super) package_id: String,
    pub(super) target: String,
    pub(super) executable: PathBuf,
}

/// Reads cargo's `--message-format=json` output: the rendered compiler errors, and every
/// executable it built.
pub(super) fn cargo_messages(stdout: &[u8]) -> (String, Vec<Artifact>) {
    let mut errors = String::new();
    let mut artifacts = Vec::new();
    for line in String::from_utf8_lossy(stdout).lines() {
        let Ok(msg) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        match msg["reason"].as_str() {
            Some("compiler-message") if msg["message"]["level"] == "error" => {
                errors.push_str(msg["message"]["rendered"].as_str().unwrap_or_default());
            }
            Some("compiler-artifact") => {
                if let (Some(exe), Some(target), Some(id)) = (
                    msg["executable"].as_str(),
                    msg["target"]["name"].as_str(),
                    msg["package_id"].as_str(),
                ) {
                    artifacts.push(Artifact {
                        package_id: id.to_owned(),
                        target: target.to_owned(),
                        executable: PathBuf::from(exe),
                    });
                }
            }
            _ => {}
        }
    }
    (errors, artifacts)
}
