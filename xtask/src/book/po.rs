//! The translations' gettext files: reading them, and checking that a translation is complete
//! and keeps what the English text links to.

use std::collections::HashSet;
use std::path::Path;

use super::{slug, BoxTexts, Lang};

#[derive(Debug, Default, Clone)]
pub struct PoEntry {
    /// The `#:` references, e.g. `src/ch01-processes.md:12`.
    pub sources: Vec<String>,
    pub fuzzy: bool,
    pub obsolete: bool,
    pub msgid: String,
    pub msgstr: String,
}

/// Parses a po file (the subset gettext writes: comments, flags, `msgid`/`msgstr`, continued
/// strings, `#~` obsolete entries). The header (empty msgid) is left out.
pub fn po_entries(text: &str) -> Vec<PoEntry> {
    let mut entries = Vec::new();
    let mut cur = PoEntry::default();
    let mut field: Option<bool> = None; // Some(false) in msgid, Some(true) in msgstr
    let mut started = false;
    let flush = |cur: &mut PoEntry, entries: &mut Vec<PoEntry>, started: &mut bool| {
        if *started && !cur.msgid.is_empty() {
            entries.push(std::mem::take(cur));
        }
        *cur = PoEntry::default();
        *started = false;
    };
    for raw in text.lines() {
        let (line, obsolete) = match raw.strip_prefix("#~") {
            Some(rest) => (rest.trim_start(), true),
            None => (raw, false),
        };
        if line.trim().is_empty() {
            flush(&mut cur, &mut entries, &mut started);
            field = None;
        } else if let Some(refs) = line.strip_prefix("#:") {
            if started {
                flush(&mut cur, &mut entries, &mut started);
            }
            cur.sources.extend(refs.split_whitespace().map(str::to_owned));
        } else if let Some(flags) = line.strip_prefix("#,") {
            if started {
                flush(&mut cur, &mut entries, &mut started);
            }
            cur.fuzzy |= flags.split(',').any(|f| f.trim() == "fuzzy");
        } else if line.starts_with('#') {
            continue;
        } else if let Some(rest) = line.strip_prefix("msgid ") {
            if started {
                flush(&mut cur, &mut entries, &mut started);
            }
            started = true;
            cur.obsolete = obsolete;
            cur.msgid = unquote(rest);
            field = Some(false);
        } else if let Some(rest) = line.strip_prefix("msgstr ") {
            cur.msgstr = unquote(rest);
            field = Some(true);
        } else if line.starts_with('"') {
            match field {
                Some(false) => cur.msgid.push_str(&unquote(line)),
                Some(true) => cur.msgstr.push_str(&unquote(line)),
                None => {}
            }
        }
    }
    flush(&mut cur, &mut entries, &mut started);
    entries
}

/// `"a\"b\n"` → `a"b` and a newline.
fn unquote(s: &str) -> String {
    let s = s.trim();
    let s = s.strip_prefix('"').unwrap_or(s);
    let s = s.strip_suffix('"').unwrap_or(s);
    let mut out = String::new();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('r') => out.push('\r'),
            Some(other) => out.push(other),
            None => {}
        }
    }
    out
}

/// Link targets `](…)` and `{{#…}}` directives of a message, in order.
fn references(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    for (open, close, keep) in [("](", ")", 2), ("{{#", "}}", 0)] {
        let mut rest = text;
        while let Some(start) = rest.find(open) {
            let after = &rest[start + open.len()..];
            let Some(end) = after.find(close) else { break };
            let body = &after[..end];
            found.push(if keep == 0 {
                format!("{{{{#{body}}}}}")
            } else {
                body.to_owned()
            });
            rest = &after[end..];
        }
    }
    found
}

/// Checks a translation of the book: every message of `book/po/<lang>.po` is translated and not
/// fuzzy, a translated message keeps its original's links and includes, a translated heading
/// keeps the English heading's id (`{#id}`) so that links into it still land, and every
/// exercise box has its translated title and statement. Returns the problems.
pub fn check_translation(root: &Path, lang: Lang) -> Vec<String> {
    let mut problems = Vec::new();
    if lang == Lang::En {
        return problems;
    }
    let po = root.join("book").join("po").join(format!("{}.po", lang.code()));
    let name = format!("book/po/{}.po", lang.code());
    let text = match std::fs::read_to_string(&po) {
        Ok(t) => t,
        Err(e) => return vec![format!("{name}: {e}")],
    };
    let entries: Vec<PoEntry> = po_entries(&text).into_iter().filter(|e| !e.obsolete).collect();
    let src = root.join("book").join("src");
    let untranslated: Vec<&PoEntry> = entries.iter().filter(|e| e.msgstr.is_empty()).collect();
    let fuzzy: Vec<&PoEntry> = entries
        .iter()
        .filter(|e| e.fuzzy && !e.msgstr.is_empty())
        .collect();
    for (what, list) in [("untranslated", &untranslated), ("fuzzy", &fuzzy)] {
        if let Some(first) = list.first() {
            problems.push(format!(
                "{name}: {} of {} messages {what} (first at {})",
                list.len(),
                entries.len(),
                first.sources.first().map_or("?", String::as_str)
            ));
        }
    }
    for e in entries.iter().filter(|e| !e.msgstr.is_empty() && !e.fuzzy) {
        let at = e.sources.first().map_or("?", String::as_str);
        let (mut want, mut got) = (references(&e.msgid), references(&e.msgstr));
        want.sort();
        got.sort();
        if want != got {
            problems.push(format!(
                "{name} ({at}): the translation's links/includes {got:?} differ from the original's {want:?}"
            ));
        }
        if e.msgid.ends_with('\n') != e.msgstr.ends_with('\n') {
            problems.push(format!(
                "{name} ({at}): the translation must end with a newline exactly when the original does"
            ));
        }
        if let Some(id) = heading_id(&src, e).filter(|_| e.msgstr != e.msgid) {
            // `<a id="…"></a>` for an id that markdown would mangle (`__name__`).
            if !e.msgstr.trim_end().ends_with(&format!("{{#{id}}}"))
                && !e.msgstr.contains(&format!("<a id=\"{id}\"></a>"))
            {
                problems.push(format!(
                    "{name} ({at}): a translated heading must end with `{{#{id}}}` (the English id, which links use)"
                ));
            }
        }
    }
    if let Ok(lessons) = crate::lesson::load_all(root) {
        let texts = BoxTexts::load(root, lang).unwrap_or_else(|e| {
            problems.push(e);
            BoxTexts::default()
        });
        let missing: Vec<&str> = lessons
            .iter()
            .flat_map(|l| &l.exercises)
            .filter(|ex| texts.get(&ex.id).is_none())
            .map(|ex| ex.id.as_str())
            .collect();
        if !missing.is_empty() {
            problems.push(format!(
                "lessons/*/lesson.{}.toml: no translated title and statement for exercise {} (the book's boxes show them in English)",
                lang.code(),
                missing.join(", ")
            ));
        }
    }
    problems
}

/// The id mdBook gives the English heading an entry translates, if the entry is a `##`-or-deeper
/// heading of a chapter it comes from (found by text, so edits that move lines do not matter). A
/// chapter's title (`# …`, also its name in `SUMMARY.md`, shown in the sidebar and the page's
/// title) gets no `{#id}`: links name the chapter's file, not its title.
fn heading_id(src: &Path, e: &PoEntry) -> Option<String> {
    if e.sources.iter().any(|s| s.contains("SUMMARY.md")) {
        return None;
    }
    let id = slug(&e.msgid);
    e.sources.iter().find_map(|s| {
        let file = s.rsplit_once(':').map_or(s.as_str(), |(f, _)| f);
        let file = file.strip_prefix("src/").unwrap_or(file);
        let text = std::fs::read_to_string(src.join(file)).ok()?;
        let text_of = |l: &str| l.trim_start_matches('#').trim() == e.msgid.trim();
        // Text that is also a table cell shares the message: it gets no id (nothing links it).
        let cell = format!("| {} |", e.msgid.trim());
        let shared = text.lines().any(|l| l.contains(&cell));
        (!shared && text.lines().any(|l| l.starts_with("##") && text_of(l))).then(|| id.clone())
    })
}

/// How much of the English book a translation covers.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Coverage {
    /// Messages with a translation that is not empty and not fuzzy.
    pub done: usize,
    /// Messages counted.
    pub total: usize,
    /// The msgids of the messages counted but not translated, in order.
    pub untranslated: Vec<String>,
}

/// The coverage of a po file (`po`) of the messages the English sources make now (`pot`, as
/// `mdbook-xgettext` extracts them): a message counts as translated only when the po has a
/// translation of that exact msgid that is neither empty nor fuzzy. Counting the po's own
/// entries instead would miss the text changed since the last `--update-po`, which the po
/// lacks and the translated book shows in English.
pub fn coverage(pot: &str, po: &str) -> Coverage {
    let entries = po_entries(po);
    let translated: HashSet<&str> = entries
        .iter()
        .filter(|e| !e.obsolete && !e.fuzzy && !e.msgstr.is_empty())
        .map(|e| e.msgid.as_str())
        .collect();
    let mut c = Coverage::default();
    for e in po_entries(pot).into_iter().filter(|e| !e.obsolete) {
        c.total += 1;
        if translated.contains(e.msgid.as_str()) {
            c.done += 1;
        } else {
            c.untranslated.push(e.msgid);
        }
    }
    c
}

/// The start of a message, on one line, for a report.
pub fn shorten(msgid: &str) -> String {
    const MAX: usize = 70;
    let line = msgid.split_whitespace().collect::<Vec<_>>().join(" ");
    match line.char_indices().nth(MAX) {
        Some((at, _)) => format!("{}…", &line[..at]),
        None => line,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn po_entries_reads_flags_continuations_and_escapes() {
        let po = r#"msgid ""
msgstr ""
"Language: zh-CN\n"

#: src/a.md:1 src/b.md:2
msgid "Hello \"world\""
msgstr "你好"

#, fuzzy
#: src/a.md:3
msgid ""
"two "
"lines\n"
msgstr "旧"

#: src/a.md:5
msgid "untranslated"
msgstr ""

#~ msgid "gone"
#~ msgstr "没了"
"#;
        let e = po_entries(po);
        assert_eq!(e.len(), 4);
        assert_eq!(e[0].msgid, "Hello \"world\"");
        assert_eq!(e[0].sources, ["src/a.md:1", "src/b.md:2"]);
        assert!(!e[0].fuzzy);
        assert_eq!(e[1].msgid, "two lines\n");
        assert!(e[1].fuzzy);
        assert!(e[2].msgstr.is_empty());
        assert!(e[3].obsolete);
    }

    #[test]
    fn references_finds_links_and_directives() {
        assert_eq!(
            references("see [a](ch01.md#x) and {{#include f.rs:y}}"),
            ["ch01.md#x", "{{#include f.rs:y}}"]
        );
    }

    #[test]
    fn the_committed_translation_is_complete_and_keeps_links() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .expect("the workspace");
        let problems: Vec<String> = check_translation(root, Lang::ZhCn)
            .into_iter()
            .filter(|p| p.starts_with("book/"))
            .collect();
        assert!(problems.is_empty(), "{problems:#?}");
    }

    #[test]
    fn a_message_of_the_sources_missing_from_the_po_is_untranslated() {
        // The sources changed and nobody ran `--update-po`: the po lacks their new message.
        let pot = r#"msgid ""
msgstr ""

#: src/a.md:1
msgid "Kept"
msgstr ""

#: src/a.md:3
msgid "Reworded sentence."
msgstr ""

#: src/a.md:5
msgid "Marked fuzzy"
msgstr ""
"#;
        let po = r#"msgid ""
msgstr ""
"Language: zh-CN\n"

#: src/a.md:1
msgid "Kept"
msgstr "保留"

#: src/a.md:3
msgid "Old sentence."
msgstr "旧句子。"

#, fuzzy
#: src/a.md:5
msgid "Marked fuzzy"
msgstr "模糊"

#~ msgid "Reworded sentence."
#~ msgstr "过时的译文"
"#;
        assert_eq!(
            coverage(pot, po),
            Coverage {
                done: 1,
                total: 3,
                untranslated: vec!["Reworded sentence.".into(), "Marked fuzzy".into()],
            }
        );
    }
}
