//! Building the book. Chapters include code from the crates by anchor; the book is built from a
//! staged copy in which every exercise region is blanked, so no chapter can show a solution.
//!
//! Staging and the two builds (an edition, the po files) live here; the parts they call are
//! split by what they know about: `boxes` the exercise boxes made from `lesson.toml`, `links`
//! the chapters' includes and links, `po` the gettext files of the translations, `tools` the
//! mdBook programs and their configuration.

mod boxes;
mod links;
mod po;
mod tools;

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::lesson::Lesson;
use crate::regions;

pub use boxes::exercise_placeholder;
use boxes::{render_exercise_boxes, BoxTexts, Boxes};
pub use links::{check_references, slug};
pub use po::check_translation;
use po::{coverage, shorten};
use tools::{edit_config, mdbook, mdbook_build, table, tool, I18N_HELPERS_VERSION};

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
    // Count against the messages the English sources make now, not the po's own entries: text
    // changed since the last `--update-po` is missing from the po and shows in English.
    let pot = extract_pot(root, lessons, install, "book-po-check")?;
    let read = |p: &Path| std::fs::read_to_string(p).map_err(|e| format!("{}: {e}", p.display()));
    let c = coverage(&read(&pot)?, &read(&po)?);
    eprintln!(
        "book ({}): {} of {} messages translated",
        lang.code(),
        c.done,
        c.total
    );
    for problem in check_translation(root, lang).iter().take(10) {
        eprintln!("  {problem}");
    }
    if !c.untranslated.is_empty() {
        const SHOWN: usize = 5;
        let mut list: Vec<String> = c.untranslated.iter().take(SHOWN).map(|m| shorten(m)).collect();
        if c.untranslated.len() > SHOWN {
            list.push(format!("… and {} more", c.untranslated.len() - SHOWN));
        }
        return Err(format!(
            "book ({code}): {n} of {total} messages of the English sources are not translated in \
             book/po/{code}.po (missing, empty or fuzzy), so the {code} book shows them in English:\n  \
             {list}\nrun `cargo xtask book --update-po` and translate the new and fuzzy entries",
            code = lang.code(),
            n = c.untranslated.len(),
            total = c.total,
            list = list.join("\n  "),
        ));
    }
    Ok(dir)
}

/// Extracts the messages of the English sources as they are now into
/// `target/<dir>/messages.pot` (with `mdbook-xgettext`, from a staged copy without the exercise
/// boxes, which are never in a catalogue).
fn extract_pot(root: &Path, lessons: &[Lesson], install: bool, dir: &str) -> Result<PathBuf, String> {
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
    let pot_dir = crate::fs::target_dir(root).join(dir);
    let _ = std::fs::remove_dir_all(&pot_dir);
    mdbook_build(&mdbook, &book, &pot_dir)?;
    let pot = pot_dir.join("messages.pot");
    if !pot.is_file() {
        return Err(format!("mdbook-xgettext wrote no {}", pot.display()));
    }
    Ok(pot)
}

/// Extracts the English messages into `target/book-po/messages.pot` (with `mdbook-xgettext`) and
/// merges them into every `book/po/<lang>.po` (with GNU gettext's `msgmerge`): new text comes in
/// untranslated, changed text as fuzzy, for a translator to finish.
pub fn update_po(root: &Path, lessons: &[Lesson], install: bool) -> Result<PathBuf, String> {
    let pot = extract_pot(root, lessons, install, "book-po")?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn languages_parse_by_code() {
        assert_eq!(Lang::parse("zh-cn"), Ok(Lang::ZhCn));
        assert_eq!(Lang::parse("en"), Ok(Lang::En));
        assert!(Lang::parse("fr").is_err());
    }
}
