//! Building the book. Chapters include code from the crates by anchor; the book is built from a
//! staged copy in which every exercise region is blanked, so no chapter can show a solution.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::lesson::Lesson;
use crate::regions;

/// Copies `book/` and `crates/` into `target/book-stage`, blanking every exercise region.
pub fn stage(root: &Path, lessons: &[Lesson]) -> Result<PathBuf, String> {
    let stage = crate::fs::target_dir(root).join("book-stage");
    let _ = std::fs::remove_dir_all(&stage);
    for dir in ["book", "crates"] {
        copy_tree(&root.join(dir), &stage.join(dir))?;
    }
    render_exercise_boxes(&stage.join("book").join("src"), lessons)?;
    for lesson in lessons {
        for ex in &lesson.exercises {
            let file = stage.join(&ex.file);
            if !file.starts_with(stage.join("crates")) {
                continue;
            }
            let text = std::fs::read_to_string(&file).map_err(|e| format!("{}: {e}", file.display()))?;
            let blank = regions::blank(&text, &ex.region, &ex.id, &ex.title)?;
            std::fs::write(&file, blank).map_err(|e| format!("{}: {e}", file.display()))?;
        }
    }
    Ok(stage)
}

/// The exercise box a chapter shows where it writes `{{#exercise N.M}}`: the statement, the
/// checks and their points, straight from `lesson.toml`, so the book and the runner can never
/// disagree about what an exercise asks.
pub fn exercise_box(lesson: &Lesson, ex: &crate::lesson::Exercise) -> String {
    let mut out = String::new();
    let checks: Vec<&crate::lesson::Check> = lesson.checks.iter().filter(|c| c.exercise == ex.id).collect();
    let points: u32 = checks.iter().map(|c| c.points).sum();
    let kind = if ex.kind == "build" { "build it" } else { "use it" };
    out.push_str(&format!("> **Exercise {} ({kind}): {}**\n>\n", ex.id, ex.title));
    out.push_str(&format!(
        "> In `{}`, between the `exercise_{}` anchors.",
        ex.file,
        ex.id.replace('.', "_")
    ));
    if !ex.needs.is_empty() {
        out.push_str(&format!(" Needs exercise {} first.", ex.needs.join(", ")));
    }
    out.push_str("\n>\n");
    for line in ex.statement.trim().lines() {
        if line.trim().is_empty() {
            out.push_str(">\n");
        } else {
            out.push_str(&format!("> {line}\n"));
        }
    }
    out.push_str(">\n> Checks (");
    out.push_str(&format!("{points} points): "));
    let list: Vec<String> = checks
        .iter()
        .map(|c| format!("`{}` ({})", c.id, c.points))
        .collect();
    out.push_str(&list.join(", "));
    out.push_str(&format!(
        ".\n> Run them: `cargo xtask lesson {} --exercise {}`; a hint: `cargo xtask hint {} {}`.\n",
        lesson.number, ex.id, lesson.number, ex.id
    ));
    out
}

/// Replaces every `{{#exercise N.M}}` line in the staged chapters with the exercise's box.
fn render_exercise_boxes(src: &Path, lessons: &[Lesson]) -> Result<(), String> {
    for path in crate::fs::files_under(src) {
        if path.extension().is_none_or(|e| e != "md") {
            continue;
        }
        let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        if !text.contains("{{#exercise ") {
            continue;
        }
        let mut out = String::new();
        for line in text.lines() {
            match exercise_placeholder(line) {
                Some(id) => {
                    let found = lessons
                        .iter()
                        .find_map(|l| l.exercise(id).map(|e| (l, e)))
                        .ok_or_else(|| {
                            format!("{}: `{{{{#exercise {id}}}}}` names no exercise", path.display())
                        })?;
                    out.push_str(&exercise_box(found.0, found.1));
                }
                None => {
                    out.push_str(line);
                    out.push('\n');
                }
            }
        }
        std::fs::write(&path, out).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    Ok(())
}

/// `{{#exercise 1.4}}` alone on a line → `1.4`.
pub fn exercise_placeholder(line: &str) -> Option<&str> {
    line.trim()
        .strip_prefix("{{#exercise ")?
        .strip_suffix("}}")
        .map(str::trim)
}

fn copy_tree(from: &Path, to: &Path) -> Result<(), String> {
    std::fs::create_dir_all(to).map_err(|e| format!("{}: {e}", to.display()))?;
    let entries = std::fs::read_dir(from).map_err(|e| format!("{}: {e}", from.display()))?;
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name();
        if name == "target" || name == "book" && from.ends_with("book") {
            continue; // build output, never sources
        }
        if path.is_dir() {
            copy_tree(&path, &to.join(&name))?;
        } else {
            std::fs::copy(&path, to.join(&name)).map_err(|e| format!("{}: {e}", path.display()))?;
        }
    }
    Ok(())
}

/// mdBook's heading ids: lower case, spaces to `-`, other punctuation dropped.
pub fn slug(heading: &str) -> String {
    heading
        .trim()
        .chars()
        .filter_map(|c| {
            if c.is_alphanumeric() || c == '_' || c == '-' {
                Some(c.to_ascii_lowercase())
            } else if c == ' ' {
                Some('-')
            } else {
                None
            }
        })
        .collect()
}

fn headings(md: &str) -> Vec<String> {
    md.lines()
        .filter(|l| l.starts_with('#'))
        .map(|l| slug(l.trim_start_matches('#')))
        .collect()
}

/// Checks every `{{#include file:anchor}}` and every relative link of every chapter under
/// `src`: the file exists, the anchor is marked in it, a link's target and `#section` exist.
pub fn check_references(src: &Path) -> Vec<String> {
    let mut problems = Vec::new();
    for path in crate::fs::files_under(src) {
        if path.extension().is_some_and(|e| e == "md") {
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            problems.extend(check_chapter(&path, &text));
        }
    }
    problems
}

fn check_chapter(path: &Path, text: &str) -> Vec<String> {
    let mut problems = Vec::new();
    let here = path.parent().unwrap_or(Path::new("."));
    let name = path.display();
    for (i, line) in text.lines().enumerate() {
        let mut rest = line;
        while let Some(start) = rest.find("{{#include ") {
            let after = &rest[start + 11..];
            let Some(end) = after.find("}}") else { break };
            let spec = after[..end].trim();
            let (file, anchor) = match spec.rsplit_once(':') {
                Some((f, a)) if !a.chars().all(|c| c.is_ascii_digit()) => (f, Some(a)),
                _ => (spec, None),
            };
            match std::fs::read_to_string(here.join(file)) {
                Err(_) => problems.push(format!("{name}:{}: include of missing file {file}", i + 1)),
                Ok(code) => {
                    if let Some(a) = anchor {
                        if regions::find(&code, a).is_err() {
                            problems.push(format!("{name}:{}: no anchor `{a}` in {file}", i + 1));
                        }
                    }
                }
            }
            rest = &after[end..];
        }
        let mut rest = line;
        while let Some(start) = rest.find("](") {
            let after = &rest[start + 2..];
            let Some(end) = after.find(')') else { break };
            let target = &after[..end];
            rest = &after[end..];
            if target.contains("://") || target.starts_with("mailto:") {
                continue;
            }
            let (file, section) = target.split_once('#').unwrap_or((target, ""));
            let linked = if file.is_empty() {
                path.to_path_buf()
            } else {
                here.join(file)
            };
            match std::fs::read_to_string(&linked) {
                Err(_) if !linked.exists() => {
                    problems.push(format!("{name}:{}: broken link {target}", i + 1))
                }
                Ok(md)
                    if !section.is_empty()
                        && linked.extension().is_some_and(|e| e == "md")
                        && !headings(&md).iter().any(|h| h == section) =>
                {
                    problems.push(format!("{name}:{}: no section #{section} in {file}", i + 1));
                }
                _ => {}
            }
        }
    }
    problems
}

/// Finds mdBook, installing it with cargo when missing.
pub fn mdbook(install: bool) -> Result<PathBuf, String> {
    if let Ok(out) = Command::new("mdbook").arg("--version").output() {
        if out.status.success() {
            return Ok(PathBuf::from("mdbook"));
        }
    }
    let home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))
        .unwrap_or_default();
    let installed = home.join("bin").join("mdbook");
    if installed.exists() {
        return Ok(installed);
    }
    if !install {
        return Err("mdBook is not installed (cargo install mdbook --locked --version 0.5.4)".into());
    }
    eprintln!("mdBook is not installed: installing it with `cargo install mdbook --locked --version 0.5.4` (a few minutes, once)…");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let status = Command::new(cargo)
        .args(["install", "mdbook", "--locked", "--version", "0.5.4"])
        .status()
        .map_err(|e| format!("cannot run cargo install: {e}"))?;
    if !status.success() {
        return Err("`cargo install mdbook` failed (see above); install it by hand and rerun".into());
    }
    Ok(installed)
}

/// Stages, checks and builds the book into `target/book`.
pub fn build(root: &Path, lessons: &[Lesson], install: bool) -> Result<PathBuf, String> {
    let stage = stage(root, lessons)?;
    let problems = check_references(&stage.join("book").join("src"));
    if !problems.is_empty() {
        return Err(format!(
            "the book has broken references:\n  {}",
            problems.join("\n  ")
        ));
    }
    let mdbook = mdbook(install)?;
    let out_dir = crate::fs::target_dir(root).join("book");
    let out = Command::new(&mdbook)
        .arg("build")
        .arg(stage.join("book"))
        .arg("--dest-dir")
        .arg(&out_dir)
        .output()
        .map_err(|e| format!("cannot run {}: {e}", mdbook.display()))?;
    let log = String::from_utf8_lossy(&out.stderr);
    // mdBook logs a broken include as an error but still exits 0: treat any ERROR as fatal.
    if !out.status.success() || log.contains("ERROR") {
        return Err(format!("mdbook build failed:\n{log}"));
    }
    Ok(out_dir)
}
