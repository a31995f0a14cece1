//! The exercise boxes: where a chapter writes `{{#exercise N.M}}`, the staged book shows the
//! exercise's statement and checks from `lesson.toml` (or its translation).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::Lang;
use crate::lesson::Lesson;

/// What staging does with the `{{#exercise N.M}}` lines.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Boxes {
    /// Render them in the edition's language.
    Render,
    /// Remove them: the text gettext extracts must not hold the boxes, which come from
    /// `lesson.toml` and `lesson.<lang>.toml`, not from the po files.
    Drop,
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
    pub(super) fn get(&self, id: &str) -> Option<(&str, &str)> {
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
    let statement = join_cjk_lines(statement.trim());
    for line in statement.lines() {
        if line.trim().is_empty() {
            out.push_str(">\n");
        } else {
            out.push_str(&format!("> {line}\n"));
        }
    }
    out.push_str(&format!(">\n> {checks_line}\n"));
    out
}

/// Joins a hard-wrapped line to the next where the break falls between two Chinese characters:
/// markdown turns a line break into a space, which Chinese text does not have.
fn join_cjk_lines(text: &str) -> String {
    fn cjk(c: char) -> bool {
        matches!(c, '\u{3000}'..='\u{303f}' | '\u{4e00}'..='\u{9fff}' | '\u{ff00}'..='\u{ffef}')
    }
    let mut out = String::new();
    for line in text.lines() {
        let joins = out.chars().last().is_some_and(cjk) && line.trim_start().chars().next().is_some_and(cjk);
        if joins {
            out.push_str(line.trim_start());
        } else {
            if !out.is_empty() {
                out.push('\n');
            }
            out.push_str(line);
        }
    }
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
pub(super) fn render_exercise_boxes(
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chinese_lines_join_without_a_space_and_others_keep_their_breaks() {
        assert_eq!(
            super::join_cjk_lines("写出函数的\n主体。\n\n- 第一点\n- second `x`\nline"),
            "写出函数的主体。\n\n- 第一点\n- second `x`\nline"
        );
    }

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
}
