//! Exercise regions: the lines between `// ANCHOR: exercise_N_M` and `// ANCHOR_END: …`.
//!
//! mdBook understands the same markers, so the book can include the code around a region, and
//! the runner can blank the region into a starter that still compiles (a diverging statement
//! satisfies any return type, so the `;` is right in every position):
//!
//! ```text
//!     // ANCHOR: exercise_1_1
//!     todo!("exercise 1.1: Turn a wait status into Python's exit code");
//!     // ANCHOR_END: exercise_1_1
//! ```

/// Where a region sits in a file (0-based line numbers of its two marker lines).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Region {
    pub begin: usize,
    pub end: usize,
    /// The indentation of the marker line, reused for the starter line.
    pub indent: String,
}

fn marker(line: &str, kind: &str, name: &str) -> bool {
    let t = line.trim();
    t.strip_prefix("//")
        .map(str::trim)
        .and_then(|rest| rest.strip_prefix(kind))
        .and_then(|rest| rest.strip_prefix(':'))
        .is_some_and(|rest| rest.trim() == name)
}

/// Finds region `name` in `text`.
pub fn find(text: &str, name: &str) -> Result<Region, String> {
    let lines: Vec<&str> = text.lines().collect();
    let begins: Vec<usize> = (0..lines.len())
        .filter(|&i| marker(lines[i], "ANCHOR", name))
        .collect();
    let ends: Vec<usize> = (0..lines.len())
        .filter(|&i| marker(lines[i], "ANCHOR_END", name))
        .collect();
    match (begins.as_slice(), ends.as_slice()) {
        ([b], [e]) if b < e => {
            let indent = lines[*b].chars().take_while(|c| c.is_whitespace()).collect();
            Ok(Region {
                begin: *b,
                end: *e,
                indent,
            })
        }
        ([], _) | (_, []) => Err(format!(
            "region `{name}` not found (need `// ANCHOR: {name}` and `// ANCHOR_END: {name}`)"
        )),
        _ => Err(format!(
            "region `{name}` is marked more than once or its end comes first"
        )),
    }
}

/// The lines inside region `name`.
pub fn body(text: &str, name: &str) -> Result<String, String> {
    let r = find(text, name)?;
    let lines: Vec<&str> = text.lines().collect();
    Ok(lines[r.begin + 1..r.end]
        .iter()
        .map(|l| format!("{l}\n"))
        .collect())
}

/// The starter line that replaces a region's body.
pub fn starter_line(indent: &str, exercise_id: &str, title: &str) -> String {
    let title = title.replace('\\', "\\\\").replace('"', "\\\"");
    format!("{indent}todo!(\"exercise {exercise_id}: {title}\");\n")
}

/// True when a region's body is exactly the starter line (the learner has not begun).
pub fn is_blank(body: &str) -> bool {
    let trimmed = body.trim();
    let call = trimmed.strip_suffix(';').unwrap_or(trimmed);
    call.starts_with("todo!(\"exercise ") && call.ends_with(')') && !call.contains('\n')
}

/// Returns `text` with region `name`'s body replaced by `new_body` (lines ending in `\n`).
pub fn replace(text: &str, name: &str, new_body: &str) -> Result<String, String> {
    let r = find(text, name)?;
    let lines: Vec<&str> = text.lines().collect();
    let mut out = String::with_capacity(text.len());
    for l in &lines[..=r.begin] {
        out.push_str(l);
        out.push('\n');
    }
    out.push_str(new_body);
    for l in &lines[r.end..] {
        out.push_str(l);
        out.push('\n');
    }
    if !text.ends_with('\n') {
        out.pop();
    }
    Ok(out)
}

/// Returns `text` with region `name` blanked to its starter line.
pub fn blank(text: &str, name: &str, exercise_id: &str, title: &str) -> Result<String, String> {
    let r = find(text, name)?;
    replace(text, name, &starter_line(&r.indent, exercise_id, title))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SRC: &str = "fn f(x: u8) -> u8 {\n    // ANCHOR: exercise_9_1\n    let y = x + 1;\n    y * 2\n    // ANCHOR_END: exercise_9_1\n}\n";

    #[test]
    fn blank_then_restore_round_trips() {
        let body = body(SRC, "exercise_9_1").expect("body");
        assert_eq!(body, "    let y = x + 1;\n    y * 2\n");
        let starter = blank(SRC, "exercise_9_1", "9.1", "Add one, \"double\"").expect("blank");
        assert!(
            starter.contains("    todo!(\"exercise 9.1: Add one, \\\"double\\\"\");\n"),
            "{starter}"
        );
        assert!(is_blank(&super::body(&starter, "exercise_9_1").expect("body")));
        assert_eq!(replace(&starter, "exercise_9_1", &body).expect("restore"), SRC);
    }

    #[test]
    fn missing_or_doubled_markers_are_errors() {
        assert!(find(SRC, "exercise_9_2").is_err());
        let doubled = format!("{SRC}// ANCHOR: exercise_9_1\n");
        assert!(find(&doubled, "exercise_9_1").is_err());
        assert!(!is_blank("    let y = 1;\n"));
    }
}
