//! Building the book. Chapters include code from the crates by anchor; the book is built from a
//! staged copy in which every exercise region is blanked, so no chapter can show a solution.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde::Deserialize;

use crate::lesson::Lesson;
use crate::regions;

/// A language the book is written in: English, the source, or a translation kept as gettext
/// messages in `book/po/<code>.po` (code blocks and includes stay single-source).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lang {
    En,
    ZhCn,
}

impl Lang {
    /// Every edition, the source first.
    pub const ALL: [Lang; 2] = [Lang::En, Lang::ZhCn];

    /// `en`, `zh-CN`: mdBook's `book.language` and the name of the po file.
    pub fn code(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::ZhCn => "zh-CN",
        }
    }

    /// Parses `--lang`.
    pub fn parse(code: &str) -> Result<Lang, String> {
        Lang::ALL
            .into_iter()
            .find(|l| l.code().eq_ignore_ascii_case(code))
            .ok_or_else(|| format!("unknown language `{code}` (en or zh-CN)"))
    }

    /// The book's title in this language (`book.toml` holds the English one; gettext does not
    /// extract it).
    fn title(self) -> Option<&'static str> {
        match self {
            Lang::En => None,
            Lang::ZhCn => Some("forkway：在真实进程上重建 multiprocessing，从 Python 到 Rust"),
        }
    }

    /// The folder of this edition under `target/book`, and of its staged sources.
    fn suffix(self) -> &'static str {
        match self {
            Lang::En => "",
            Lang::ZhCn => "zh-CN",
        }
    }
}

/// Copies `book/` and `crates/` into `target/book-stage`, blanking every exercise region.
pub fn stage(root: &Path, lessons: &[Lesson]) -> Result<PathBuf, String> {
    stage_lang(root, lessons, Lang::En, Boxes::Render)
}

/// What staging does with the `{{#exercise N.M}}` lines.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Boxes {
    /// Render them in the edition's language.
    Render,
    /// Remove them: the text gettext extracts must not hold the boxes, which come from
    /// `lesson.toml` and `lesson.<lang>.toml`, not from the po files.
    Drop,
}

/// Stages one edition: `target/book-stage[-<lang>]`.
fn stage_lang(root: &Path, lessons: &[Lesson], lang: Lang, boxes: Boxes) -> Result<PathBuf, String> {
    let mut name = String::from("book-stage");
    if lang != Lang::En {
        name = format!("{name}-{}", lang.suffix());
    }
    if boxes == Boxes::Drop {
        name.push_str("-pot");
    }
    let stage = crate::fs::target_dir(root).join(name);
    let _ = std::fs::remove_dir_all(&stage);
    for dir in ["book", "crates"] {
        copy_tree(&root.join(dir), &stage.join(dir))?;
    }
    let texts = if lang == Lang::En {
        BoxTexts::default()
    } else {
        BoxTexts::load(root, lang)?
    };
    render_exercise_boxes(&stage.join("book").join("src"), lessons, lang, &texts, boxes)?;
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

/// The translated titles and statements of the exercises, from every
/// `lessons/*/lesson.<lang>.toml` (`[exercises."1.4"] title = … statement = …`).
#[derive(Default)]
pub struct BoxTexts {
    exercises: BTreeMap<String, TranslatedExercise>,
}

#[derive(Default, Deserialize)]
struct TranslatedLesson {
    #[serde(default)]
    exercises: BTreeMap<String, TranslatedExercise>,
}

#[derive(Clone, Default, Deserialize)]
struct TranslatedExercise {
    #[serde(default)]
    title: String,
    #[serde(default)]
    statement: String,
}

impl BoxTexts {
    /// Reads the lessons' translations into `lang`; a lesson without one is no error.
    pub fn load(root: &Path, lang: Lang) -> Result<BoxTexts, String> {
        let mut texts = BoxTexts::default();
        let Ok(entries) = std::fs::read_dir(root.join("lessons")) else {
            return Ok(texts);
        };
        let mut files: Vec<PathBuf> = entries
            .flatten()
            .map(|e| e.path().join(format!("lesson.{}.toml", lang.code())))
            .filter(|p| p.is_file())
            .collect();
        files.sort();
        for file in files {
            let text = std::fs::read_to_string(&file).map_err(|e| format!("{}: {e}", file.display()))?;
            let lesson: TranslatedLesson =
                toml::from_str(&text).map_err(|e| format!("{}: {e}", file.display()))?;
            texts.exercises.extend(lesson.exercises);
        }
        Ok(texts)
    }

    /// The exercise's title and statement in the language, if both are translated.
    fn get(&self, id: &str) -> Option<(&str, &str)> {
        self.exercises
            .get(id)
            .filter(|t| !t.title.trim().is_empty() && !t.statement.trim().is_empty())
            .map(|t| (t.title.as_str(), t.statement.as_str()))
    }
}

/// The exercise box a chapter shows where it writes `{{#exercise N.M}}`: the statement, the
/// checks and their points, straight from `lesson.toml`, so the book and the runner can never
/// disagree about what an exercise asks. In a translation, the title and statement come from
/// `texts` when it has them, else in English (checks, commands and files are the same in all).
pub fn exercise_box(lesson: &Lesson, ex: &crate::lesson::Exercise, lang: Lang, texts: &BoxTexts) -> String {
    let mut out = String::new();
    let checks: Vec<&crate::lesson::Check> = lesson.checks.iter().filter(|c| c.exercise == ex.id).collect();
    let points: u32 = checks.iter().map(|c| c.points).sum();
    let (title, statement) = match lang {
        Lang::En => (ex.title.as_str(), ex.statement.as_str()),
        _ => texts.get(&ex.id).unwrap_or((&ex.title, &ex.statement)),
    };
    let anchors = format!("`exercise_{}`", ex.id.replace('.', "_"));
    let list: Vec<String> = checks
        .iter()
        .map(|c| format!("`{}` ({})", c.id, c.points))
        .collect();
    let run = format!("`cargo xtask lesson {} --exercise {}`", lesson.number, ex.id);
    let hint = format!("`cargo xtask hint {} {}`", lesson.number, ex.id);
    let (first, together) = lesson.needs_split(ex);
    let (head, place, needs, checks_line) = match lang {
        Lang::En => {
            let kind = if ex.kind == "build" { "build it" } else { "use it" };
            (
                format!("**Exercise {} ({kind}): {title}**", ex.id),
                format!("In `{}`, between the {anchors} anchors.", ex.file),
                needs_sentence(
                    &first,
                    &together,
                    |ids| format!(" Needs exercise {ids} first."),
                    |ids| {
                        format!(" Checked together with exercise {ids}: their checks run each other's code.")
                    },
                    ", ",
                ),
                format!(
                    "Checks ({points} points): {}.\n> Run them: {run}; a hint: {hint}.",
                    list.join(", ")
                ),
            )
        }
        Lang::ZhCn => {
            let kind = if ex.kind == "build" { "实现" } else { "使用" };
            (
                format!("**练习 {}（{kind}）：{title}**", ex.id),
                format!("在 `{}` 中，{anchors} 两个锚点之间。", ex.file),
                needs_sentence(
                    &first,
                    &together,
                    |ids| format!("需先完成练习 {ids}。"),
                    |ids| format!("与练习 {ids} 一起检查：它们的检查项互相调用对方的代码。"),
                    "、",
                ),
                format!(
                    "检查项（共 {points} 分）：{}。\n> 运行：{run}；提示：{hint}。",
                    list.join("、")
                ),
            )
        }
    };
    out.push_str(&format!("> {head}\n>\n> {place}"));
    out.push_str(&needs);
    out.push_str("\n>\n");
    for line in statement.trim().lines() {
        if line.trim().is_empty() {
            out.push_str(">\n");
        } else {
            out.push_str(&format!("> {line}\n"));
        }
    }
    out.push_str(&format!(">\n> {checks_line}\n"));
    out
}

/// The box's sentence on what an exercise needs: the exercises to write first, then the ones
/// checked together with it.
fn needs_sentence(
    first: &[String],
    together: &[String],
    first_text: impl Fn(&str) -> String,
    together_text: impl Fn(&str) -> String,
    sep: &str,
) -> String {
    let mut out = String::new();
    if !first.is_empty() {
        out.push_str(&first_text(&first.join(sep)));
    }
    if !together.is_empty() {
        out.push_str(&together_text(&together.join(sep)));
    }
    out
}

/// Replaces every `{{#exercise N.M}}` line in the staged chapters with the exercise's box in
/// `lang` (or drops it).
fn render_exercise_boxes(
    src: &Path,
    lessons: &[Lesson],
    lang: Lang,
    texts: &BoxTexts,
    boxes: Boxes,
) -> Result<(), String> {
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
                    match boxes {
                        Boxes::Render => out.push_str(&exercise_box(found.0, found.1, lang, texts)),
                        // An empty line keeps the line numbers of the po file's references true.
                        Boxes::Drop => out.push('\n'),
                    }
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

/// The mdBook this book is built with.
pub const MDBOOK_VERSION: &str = "0.5.4";
/// The gettext tools for mdBook (`mdbook-xgettext`, `mdbook-gettext`); 0.4 is the first release
/// for mdBook 0.5.
pub const I18N_HELPERS_VERSION: &str = "0.4.0";

/// Finds mdBook, installing it with cargo when missing.
pub fn mdbook(install: bool) -> Result<PathBuf, String> {
    tool("mdbook", "mdbook", MDBOOK_VERSION, install)
}

/// Finds `program` on `PATH` or in cargo's `bin`, else installs `krate` at `version` with
/// `cargo install --locked` (when `install`).
fn tool(program: &str, krate: &str, version: &str, install: bool) -> Result<PathBuf, String> {
    let home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))
        .unwrap_or_default();
    let installed = home.join("bin").join(program);
    if installed.exists() {
        return Ok(installed);
    }
    if let Ok(out) = Command::new(program).arg("--version").output() {
        if out.status.success() {
            return Ok(PathBuf::from(program));
        }
    }
    let command = format!("cargo install {krate} --locked --version {version}");
    if !install {
        return Err(format!("{program} is not installed ({command})"));
    }
    eprintln!("{program} is not installed: installing it with `{command}` (a few minutes, once)…");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let status = Command::new(cargo)
        .args(["install", krate, "--locked", "--version", version])
        .status()
        .map_err(|e| format!("cannot run cargo install: {e}"))?;
    if !status.success() {
        return Err(format!(
            "`{command}` failed (see above); install it by hand and rerun"
        ));
    }
    Ok(installed)
}

/// Runs `mdbook build` on a staged book; any ERROR in its log is a failure (mdBook logs a broken
/// include as an error but still exits 0).
fn mdbook_build(mdbook: &Path, book: &Path, out_dir: &Path) -> Result<(), String> {
    let out = Command::new(mdbook)
        .arg("build")
        .arg(book)
        .arg("--dest-dir")
        .arg(out_dir)
        .output()
        .map_err(|e| format!("cannot run {}: {e}", mdbook.display()))?;
    let log = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() || log.contains("ERROR") {
        return Err(format!("mdbook build failed:\n{log}"));
    }
    Ok(())
}

/// Edits the staged `book.toml`.
fn edit_config(book: &Path, edit: impl FnOnce(&mut toml::Table)) -> Result<(), String> {
    let path = book.join("book.toml");
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut config: toml::Table = toml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    edit(&mut config);
    let text = toml::to_string(&config).map_err(|e| format!("{}: {e}", path.display()))?;
    std::fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))
}

fn table<'a>(config: &'a mut toml::Table, key: &str) -> &'a mut toml::Table {
    let entry = config
        .entry(key.to_owned())
        .or_insert_with(|| toml::Value::Table(toml::Table::new()));
    if !entry.is_table() {
        *entry = toml::Value::Table(toml::Table::new());
    }
    match entry {
        toml::Value::Table(t) => t,
        _ => unreachable!("just made a table"),
    }
}

/// Stages, checks and builds one edition: English into `target/book`, a translation into
/// `target/book/<lang>` (building English keeps the translations already built there).
pub fn build_lang(root: &Path, lessons: &[Lesson], lang: Lang, install: bool) -> Result<PathBuf, String> {
    let stage = stage_lang(root, lessons, lang, Boxes::Render)?;
    let book = stage.join("book");
    let problems = check_references(&book.join("src"));
    if !problems.is_empty() {
        return Err(format!(
            "the book has broken references:\n  {}",
            problems.join("\n  ")
        ));
    }
    let mdbook = mdbook(install)?;
    let target = crate::fs::target_dir(root);
    let out_dir = target.join("book");
    if lang == Lang::En {
        // mdBook empties its destination: build beside it, then keep the translated editions.
        let fresh = target.join("book-en");
        let _ = std::fs::remove_dir_all(&fresh);
        mdbook_build(&mdbook, &book, &fresh)?;
        for other in Lang::ALL.into_iter().filter(|l| *l != Lang::En) {
            let built = out_dir.join(other.suffix());
            if built.is_dir() {
                std::fs::rename(&built, fresh.join(other.suffix()))
                    .map_err(|e| format!("{}: {e}", built.display()))?;
            }
        }
        let _ = std::fs::remove_dir_all(&out_dir);
        std::fs::rename(&fresh, &out_dir).map_err(|e| format!("{}: {e}", out_dir.display()))?;
        return Ok(out_dir);
    }
    let gettext = tool(
        "mdbook-gettext",
        "mdbook-i18n-helpers",
        I18N_HELPERS_VERSION,
        install,
    )?;
    let po = root.join("book").join("po").join(format!("{}.po", lang.code()));
    if !po.is_file() {
        return Err(format!("{}: no translation into {}", po.display(), lang.code()));
    }
    edit_config(&book, |config| {
        let meta = table(config, "book");
        meta.insert("language".into(), lang.code().into());
        if let Some(title) = lang.title() {
            meta.insert("title".into(), title.into());
        }
        let pre = table(table(config, "preprocessor"), "gettext");
        pre.insert("command".into(), gettext.display().to_string().into());
        // Translate the chapters as written, before the includes bring the code in: code is
        // never translated, and the messages are those `mdbook-xgettext` saw.
        pre.insert("before".into(), toml::Value::Array(vec!["links".into()]));
    })?;
    let dir = out_dir.join(lang.suffix());
    mdbook_build(&mdbook, &book, &dir)?;
    let (done, total) = translation_coverage(root, lang);
    eprintln!("book ({}): {done} of {total} messages translated", lang.code());
    for problem in check_translation(root, lang).iter().take(10) {
        eprintln!("  {problem}");
    }
    Ok(dir)
}

/// Extracts the English messages into `target/book-po/messages.pot` (with `mdbook-xgettext`) and
/// merges them into every `book/po/<lang>.po` (with GNU gettext's `msgmerge`): new text comes in
/// untranslated, changed text as fuzzy, for a translator to finish.
pub fn update_po(root: &Path, lessons: &[Lesson], install: bool) -> Result<PathBuf, String> {
    let stage = stage_lang(root, lessons, Lang::En, Boxes::Drop)?;
    let book = stage.join("book");
    let mdbook = mdbook(install)?;
    let xgettext = tool(
        "mdbook-xgettext",
        "mdbook-i18n-helpers",
        I18N_HELPERS_VERSION,
        install,
    )?;
    edit_config(&book, |config| {
        // Extract the chapters as written: an include is a line of a code block, not text.
        table(config, "build").insert("use-default-preprocessors".into(), false.into());
        let output = table(config, "output");
        output.clear();
        let x = table(output, "xgettext");
        x.insert("command".into(), xgettext.display().to_string().into());
        x.insert("granularity".into(), 1.into());
    })?;
    let pot_dir = crate::fs::target_dir(root).join("book-po");
    let _ = std::fs::remove_dir_all(&pot_dir);
    mdbook_build(&mdbook, &book, &pot_dir)?;
    let pot = pot_dir.join("messages.pot");
    if !pot.is_file() {
        return Err(format!("mdbook-xgettext wrote no {}", pot.display()));
    }
    for lang in Lang::ALL.into_iter().filter(|l| *l != Lang::En) {
        let po = root.join("book").join("po").join(format!("{}.po", lang.code()));
        let status = if po.is_file() {
            Command::new("msgmerge")
                .args(["--quiet", "--update", "--backup=none", "--no-wrap"])
                .arg(&po)
                .arg(&pot)
                .status()
        } else {
            Command::new("msginit")
                .args(["--no-translator", "--no-wrap", "--locale"])
                .arg(lang.code())
                .arg("--input")
                .arg(&pot)
                .arg("--output-file")
                .arg(&po)
                .status()
        };
        match status {
            Ok(s) if s.success() => eprintln!("updated {}", po.display()),
            Ok(_) => return Err(format!("msgmerge failed on {}", po.display())),
            Err(e) => {
                return Err(format!(
                    "cannot run msgmerge ({e}): install GNU gettext (`apt-get install gettext`)"
                ))
            }
        }
    }
    Ok(pot)
}

/// One entry of a po file.
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

/// `translated/total` of a po file, for reports.
pub fn translation_coverage(root: &Path, lang: Lang) -> (usize, usize) {
    let po = root.join("book").join("po").join(format!("{}.po", lang.code()));
    let entries: Vec<PoEntry> = po_entries(&std::fs::read_to_string(po).unwrap_or_default())
        .into_iter()
        .filter(|e| !e.obsolete)
        .collect();
    let done = entries
        .iter()
        .filter(|e| !e.fuzzy && !e.msgstr.is_empty())
        .count();
    (done, entries.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lesson() -> Lesson {
        toml::from_str(
            r#"
id = "l"
number = 1
title = "t"
chapter = "book/src/ch01-processes.md"
package = "p"
test_target = "lesson1"
recap = "r"
[[exercises]]
id = "1.4"
kind = "build"
title = "The child's bootstrap"
region = "exercise_1_4"
file = "crates/a/src/child.rs"
section = "book/src/ch01-processes.md#x"
statement = "Run the target.\n\nThen _exit."
needs = ["1.1"]
hints = ["h"]
[[checks]]
id = "exit-zero"
test = "exit_zero"
exercise = "1.4"
points = 2
"#,
        )
        .expect("a valid lesson")
    }

    #[test]
    fn the_english_box_is_unchanged_by_languages() {
        let l = lesson();
        let text = exercise_box(&l, &l.exercises[0], Lang::En, &BoxTexts::default());
        assert_eq!(
            text,
            "> **Exercise 1.4 (build it): The child's bootstrap**\n>\n> In `crates/a/src/child.rs`, between the `exercise_1_4` anchors. Needs exercise 1.1 first.\n>\n> Run the target.\n>\n> Then _exit.\n>\n> Checks (2 points): `exit-zero` (2).\n> Run them: `cargo xtask lesson 1 --exercise 1.4`; a hint: `cargo xtask hint 1 1.4`.\n"
        );
    }

    #[test]
    fn a_translated_box_uses_the_translation_and_falls_back_to_english() {
        let l = lesson();
        let mut texts: BoxTexts = BoxTexts::default();
        let none = exercise_box(&l, &l.exercises[0], Lang::ZhCn, &texts);
        assert!(
            none.contains("**练习 1.4（实现）：The child's bootstrap**"),
            "{none}"
        );
        assert!(none.contains("> Run the target."), "{none}");
        let parsed: TranslatedLesson = toml::from_str(
            "title = \"进程\"\n[exercises.\"1.4\"]\ntitle = \"子进程的引导过程\"\nstatement = \"运行目标。\"\nhints = [\"提示\"]\n",
        )
        .expect("a valid translation");
        texts.exercises.extend(parsed.exercises);
        let zh = exercise_box(&l, &l.exercises[0], Lang::ZhCn, &texts);
        assert!(zh.contains("**练习 1.4（实现）：子进程的引导过程**"), "{zh}");
        assert!(zh.contains("> 运行目标。\n"), "{zh}");
        assert!(zh.contains("需先完成练习 1.1。"), "{zh}");
        assert!(zh.contains("检查项（共 2 分）：`exit-zero` (2)。"), "{zh}");
        assert!(!zh.contains("Run the target"), "{zh}");
    }

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
    fn languages_parse_by_code() {
        assert_eq!(Lang::parse("zh-cn"), Ok(Lang::ZhCn));
        assert_eq!(Lang::parse("en"), Ok(Lang::En));
        assert!(Lang::parse("fr").is_err());
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
}
