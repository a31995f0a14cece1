//! Checking the chapters' references before mdBook sees them: mdBook logs a broken include but
//! still builds, and does not check links at all.

use std::path::Path;

use crate::regions;

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
