//! The runner's two languages (English, Simplified Chinese): which one speaks, and what it says.
//!
//! Only what a learner reads is translated. Ids, statuses, commands, paths and the machine
//! formats of `grade` (json, junit, classroom) stay the same in every language.
//!
//! The catalog, one method of `Lang` per message, is kept in two files by who reads it:
//! `report` for what a run of checks prints, `course` for the course commands around it.

mod course;
mod report;

use std::sync::OnceLock;

/// A language the runner speaks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Lang {
    #[default]
    #[value(name = "en")]
    En,
    #[value(name = "zh-CN", alias = "zh", alias = "zh_CN")]
    ZhCn,
}

static CURRENT: OnceLock<Lang> = OnceLock::new();

impl Lang {
    /// The tag in translation file names: `lesson.zh-CN.toml`.
    pub fn tag(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::ZhCn => "zh-CN",
        }
    }

    /// A language tag or a locale name: `zh`, `zh-CN`, `zh_CN.UTF-8` are Chinese, anything else
    /// (`en`, `C`, `POSIX`, a language we do not have) English.
    pub fn from_locale(name: &str) -> Lang {
        if name.trim().to_ascii_lowercase().starts_with("zh") {
            Lang::ZhCn
        } else {
            Lang::En
        }
    }

    /// `--lang` if given, else `FORKWAY_LANG`, else the locale's messages language (the first
    /// set of `LC_ALL`, `LC_MESSAGES`, `LANG`, as POSIX orders them), else English. `var` reads
    /// the environment (a parameter so tests need not change the process's own).
    pub fn choose(flag: Option<Lang>, var: impl Fn(&str) -> Option<String>) -> Lang {
        let set = |name: &str| var(name).filter(|v| !v.trim().is_empty());
        flag.or_else(|| set("FORKWAY_LANG").map(|v| Lang::from_locale(&v)))
            .or_else(|| {
                ["LC_ALL", "LC_MESSAGES", "LANG"]
                    .iter()
                    .find_map(|name| set(name))
                    .map(|v| Lang::from_locale(&v))
            })
            .unwrap_or_default()
    }
}

/// Fixes the language of this run (once, in `main`).
pub fn set(lang: Lang) {
    let _ = CURRENT.set(lang);
}

/// The language of this run; English until `set`.
pub fn current() -> Lang {
    CURRENT.get().copied().unwrap_or_default()
}

/// Columns `c` takes in a terminal: CJK ideographs, kana, hangul, full-width forms and most
/// emoji take two, combining marks and zero-width characters none, the rest one.
fn char_width(c: char) -> usize {
    match u32::from(c) {
        0x0300..=0x036F | 0x200B..=0x200F | 0xFE00..=0xFE0F => 0,
        0x1100..=0x115F
        | 0x2E80..=0x303E
        | 0x3041..=0x33FF
        | 0x3400..=0x4DBF
        | 0x4E00..=0x9FFF
        | 0xA000..=0xA4CF
        | 0xAC00..=0xD7A3
        | 0xF900..=0xFAFF
        | 0xFE30..=0xFE4F
        | 0xFF00..=0xFF60
        | 0xFFE0..=0xFFE6
        | 0x1F300..=0x1F64F
        | 0x1F900..=0x1F9FF
        | 0x20000..=0x3FFFD => 2,
        _ => 1,
    }
}

/// The display width of `s` in terminal columns (`format!`'s `{:<n}` counts characters, which
/// misaligns columns of Chinese text).
pub fn width(s: &str) -> usize {
    s.chars().map(char_width).sum()
}

/// `s` followed by spaces up to `columns` display columns (`{:<columns}` for wide text).
pub fn pad(s: &str, columns: usize) -> String {
    let mut out = s.to_owned();
    out.extend(std::iter::repeat_n(' ', columns.saturating_sub(width(s))));
    out
}

/// `en` or `zh` by language.
fn pick<T>(lang: Lang, en: T, zh: T) -> T {
    match lang {
        Lang::En => en,
        Lang::ZhCn => zh,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
        }
    }

    #[test]
    fn the_flag_then_forkway_lang_then_the_locale() {
        let zh = [("LANG", "zh_CN.UTF-8")];
        assert_eq!(Lang::choose(None, env(&zh)), Lang::ZhCn);
        assert_eq!(Lang::choose(Some(Lang::En), env(&zh)), Lang::En);
        let both = [("LANG", "zh_CN.UTF-8"), ("FORKWAY_LANG", "en")];
        assert_eq!(Lang::choose(None, env(&both)), Lang::En);
        let forced = [("LANG", "C.UTF-8"), ("FORKWAY_LANG", "zh-CN")];
        assert_eq!(Lang::choose(None, env(&forced)), Lang::ZhCn);
        // LC_ALL overrides LANG; an empty variable counts as unset.
        let c = [("LANG", "zh_CN.UTF-8"), ("LC_ALL", "C")];
        assert_eq!(Lang::choose(None, env(&c)), Lang::En);
        let empty = [("LANG", "zh_CN.UTF-8"), ("LC_ALL", ""), ("FORKWAY_LANG", "")];
        assert_eq!(Lang::choose(None, env(&empty)), Lang::ZhCn);
        let messages = [("LANG", "en_US.UTF-8"), ("LC_MESSAGES", "zh_CN.UTF-8")];
        assert_eq!(Lang::choose(None, env(&messages)), Lang::ZhCn);
        assert_eq!(Lang::choose(None, env(&[])), Lang::En);
    }

    #[test]
    fn wide_characters_take_two_columns() {
        assert_eq!(width("join-reaps"), 10);
        assert_eq!(width("第 1 课"), 7);
        assert_eq!(width("重新运行："), 10);
        assert_eq!(width("—✓"), 2);
        assert_eq!(pad("进程", 6), "进程  ");
        assert_eq!(pad("abcdef", 3), "abcdef");
    }
}
