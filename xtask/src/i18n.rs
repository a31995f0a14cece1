//! The runner's two languages (English, Simplified Chinese): which one speaks, and what it says.
//!
//! Only what a learner reads is translated. Ids, statuses, commands, paths and the machine
//! formats of `grade` (json, junit, classroom) stay the same in every language.

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

/// The catalog: one method per message.
impl Lang {
    // ── report: the lesson table ──────────────────────────────────────────────────────────

    pub fn lesson_heading(self, number: u32, title: &str) -> String {
        pick(
            self,
            format!("Lesson {number} — {title}"),
            format!("第 {number} 课 — {title}"),
        )
    }

    pub fn timed_out(self) -> &'static str {
        pick(self, "timed out", "超时")
    }

    pub fn skipped(self, reason: &str) -> String {
        let reason = self.runner_message(reason);
        pick(self, format!("skipped: {reason}"), format!("已跳过：{reason}"))
    }

    pub fn left_running(self, n: usize) -> String {
        pick(
            self,
            format!("left {n} process(es) running"),
            format!("留下 {n} 个进程仍在运行"),
        )
    }

    pub fn first_failure(self, check: &str, exercise: &str, title: &str) -> String {
        pick(
            self,
            format!("First failure: {check} (exercise {exercise}: {title})"),
            format!("第一个失败的检查项：{check}（练习 {exercise}：{title}）"),
        )
    }

    pub fn what_exercise_must_do(self, exercise: &str) -> String {
        pick(
            self,
            format!("what exercise {exercise} must do:"),
            format!("练习 {exercise} 的题目说明："),
        )
    }

    /// The labels of the lines after a failure, padded to one width: rerun, hint, read.
    pub fn failure_labels(self) -> [String; 3] {
        let labels = pick(
            self,
            ["rerun:", "hint:", "read:"],
            ["重新运行：", "提示：", "阅读："],
        );
        let w = labels.iter().map(|l| width(l)).max().unwrap_or(0);
        labels.map(|l| match self {
            // English keeps one space after the longest label, as before.
            Lang::En => pad(l, w + 1),
            Lang::ZhCn => pad(l, w),
        })
    }

    pub fn score(self, score: u32, max: u32) -> String {
        pick(
            self,
            format!("Score: {score}/{max}"),
            format!("得分：{score}/{max}"),
        )
    }

    /// Messages the runner writes into a check's result, in English for the machine formats:
    /// the known ones are translated here; a test's own output is left as it is.
    pub fn runner_message(self, message: &str) -> String {
        if self == Lang::En {
            return message.to_owned();
        }
        let between = |pre: &str, post: &str| {
            message
                .strip_prefix(pre)
                .and_then(|m| m.strip_suffix(post))
                .filter(|m| !m.contains('\n'))
                .map(str::to_owned)
        };
        if let Some(check) = between("needs `", "` to pass first") {
            format!("需要 `{check}` 先通过")
        } else if let Some(ex) = between("needs exercise ", " first (still `todo!()`)") {
            format!("需要先完成练习 {ex}（它仍是 `todo!()`）")
        } else if let Some(secs) = between(
            "no result after ",
            "s: the check and its processes were killed. Is something waiting forever (a join, a read)?",
        ) {
            format!("{secs} 秒后仍无结果：检查项及其进程已被终止。是否有什么在无限等待（join、read）？")
        } else if let Some(n) = between(
            "the check passed but left ",
            " process(es) running; the runner killed them",
        ) {
            format!("检查项通过了，但留下 {n} 个进程仍在运行；运行器已终止它们")
        } else if let Some(n) = between(
            "the tests passed but left ",
            " process(es) running; the runner killed them",
        ) {
            format!("测试通过了，但留下 {n} 个进程仍在运行；运行器已终止它们")
        } else {
            message.to_owned()
        }
    }

    // ── report: statements, reference tests, build failures, a passed lesson ──────────────

    /// `build` or `use`, as a learner reads it.
    pub fn kind(self, kind: &str) -> String {
        match (self, kind) {
            (Lang::ZhCn, "build") => "实现".to_owned(),
            (Lang::ZhCn, "use") => "使用".to_owned(),
            _ => kind.to_owned(),
        }
    }

    pub fn exercise_heading(self, id: &str, kind: &str, title: &str) -> String {
        let kind = self.kind(kind);
        pick(
            self,
            format!("Exercise {id} ({kind}): {title}"),
            format!("练习 {id}（{kind}）：{title}"),
        )
    }

    pub fn exercise_where(self, file: &str, section: &str) -> String {
        pick(
            self,
            format!("in {file}   read: {section}"),
            format!("文件 {file}   阅读：{section}"),
        )
    }

    pub fn needs_exercises_first(self, ids: &str) -> String {
        pick(
            self,
            format!("needs exercise(s) {ids} first"),
            format!("需要先完成练习 {ids}"),
        )
    }

    pub fn checked_together_with(self, ids: &str) -> String {
        pick(
            self,
            format!("checked together with exercise(s) {ids}: their checks run each other's code, so write them all before running"),
            format!("与练习 {ids} 一起检查：它们的检查项互相调用对方的代码，请全部写完再运行"),
        )
    }

    pub fn reference_heading(self, number: u32) -> String {
        pick(
            self,
            format!("Reference tests of lesson {number}'s code (not graded: the lesson is done when they pass too)"),
            format!("第 {number} 课代码的参考测试（不计分：它们也通过时，本课才算完成）"),
        )
    }

    pub fn suite_passed(self, passed: usize) -> String {
        pick(self, format!("{passed} passed"), format!("{passed} 个通过"))
    }

    pub fn does_not_build(self) -> &'static str {
        pick(self, "does not build", "无法编译")
    }

    pub fn failed(self) -> &'static str {
        pick(self, "failed", "失败")
    }

    pub fn suite_passed_failed(self, passed: usize, failed: usize) -> String {
        pick(
            self,
            format!("{passed} passed, {failed} failed"),
            format!("{passed} 个通过，{failed} 个失败"),
        )
    }

    pub fn first_failing_reference(self, file: &str) -> String {
        pick(
            self,
            format!("First failing reference test file: {file}"),
            format!("第一个失败的参考测试文件：{file}"),
        )
    }

    pub fn failing_tests(self, names: &str) -> String {
        pick(self, format!("failing: {names}"), format!("失败的测试：{names}"))
    }

    pub fn reference_advice(self) -> &'static str {
        pick(
            self,
            "  Your code passes the graded checks but breaks a requirement these tests hold. Read\n  the failing test: what it does is part of the exercise's statement too.",
            "  你的代码通过了计分检查，却违反了这些测试所守护的一项要求。请阅读\n  失败的测试：它所检验的内容同样是练习题目说明的一部分。",
        )
    }

    pub fn does_not_compile(self) -> &'static str {
        pick(
            self,
            "The code does not compile yet, so no check could run. The compiler says:\n",
            "代码还不能编译，所以没有任何检查项能运行。编译器的输出：\n",
        )
    }

    pub fn fix_first_error(self) -> &'static str {
        pick(
            self,
            "Fix the first error first; the others often follow from it.",
            "先修复第一个错误；其余错误往往是它引起的。",
        )
    }

    pub fn lesson_passed(self, number: u32) -> String {
        pick(
            self,
            format!("Lesson {number} passed. What it taught:"),
            format!("第 {number} 课已通过。本课所学："),
        )
    }

    pub fn going_further(self) -> &'static str {
        pick(self, "Going further:", "延伸阅读：")
    }

    pub fn compare_with_reference(self, number: u32) -> String {
        pick(
            self,
            format!("Compare with the reference solution: cargo xtask solution {number}"),
            format!("与参考答案对照：cargo xtask solution {number}"),
        )
    }

    pub fn next_lesson(self, number: u32, title: &str) -> String {
        pick(
            self,
            format!("Next: cargo xtask lesson {number} ({title})"),
            format!("下一课：cargo xtask lesson {number}（{title}）"),
        )
    }

    pub fn last_lesson(self) -> &'static str {
        pick(
            self,
            "That was the last lesson. Well done.",
            "这是最后一课。干得漂亮！",
        )
    }

    // ── course: list, start, grade, watch ─────────────────────────────────────────────────

    pub fn lessons_heading(self) -> &'static str {
        pick(
            self,
            "Lessons (start one with `cargo xtask lesson N`):",
            "课程（用 `cargo xtask lesson N` 开始一课）：",
        )
    }

    pub fn state_passed(self) -> &'static str {
        pick(self, "passed", "已通过")
    }

    pub fn state_started(self, points: u32, max: u32, best: u32) -> String {
        pick(
            self,
            format!("started, {points}/{max} points (best {best})"),
            format!("已开始，{points}/{max} 分（最好成绩 {best}）"),
        )
    }

    pub fn state_not_started(self) -> &'static str {
        pick(self, "not started", "未开始")
    }

    pub fn starting_lesson(self, number: u32, title: &str) -> String {
        pick(
            self,
            format!("Starting lesson {number}: {title}"),
            format!("开始第 {number} 课：{title}"),
        )
    }

    pub fn regions_now_todo(self) -> &'static str {
        pick(
            self,
            "These exercise regions now hold a `todo!()` for you to replace:",
            "以下练习区域现在是一个 `todo!()`，等你替换成自己的代码：",
        )
    }

    pub fn not_tested_heading(self) -> &'static str {
        pick(
            self,
            "What the checks cannot see (check these yourself):",
            "检查项看不到的地方（请自己检查）：",
        )
    }

    pub fn each_statement(self, number: u32) -> String {
        pick(
            self,
            format!("Each exercise's statement: cargo xtask lesson {number} --exercise <id> (it also runs only that exercise's checks)."),
            format!("查看每个练习的题目说明：cargo xtask lesson {number} --exercise <id>（同时只运行该练习的检查项）。"),
        )
    }

    pub fn backed_up_in(self, dir: &str) -> String {
        pick(
            self,
            format!("The files as they were are backed up in {dir}"),
            format!("原来的文件已备份到 {dir}"),
        )
    }

    pub fn to_undo(self, number: u32) -> String {
        pick(
            self,
            format!("To undo, put the reference back: cargo xtask solution {number} --force --apply"),
            format!("如要撤销，可放回参考答案：cargo xtask solution {number} --force --apply"),
        )
    }

    pub fn no_such_exercise(self, number: u32, id: &str) -> String {
        pick(
            self,
            format!("lesson {number} has no exercise {id}"),
            format!("第 {number} 课没有练习 {id}"),
        )
    }

    pub fn no_such_lesson(self, number: u32, have: &str) -> String {
        pick(
            self,
            format!("there is no lesson {number} (lessons: {have})"),
            format!("没有第 {number} 课（现有的课：{have}）"),
        )
    }

    pub fn error_prefix(self) -> &'static str {
        pick(self, "error: ", "错误：")
    }

    pub fn building_lesson(self, number: u32) -> String {
        pick(
            self,
            format!("building lesson {number}…"),
            format!("正在构建第 {number} 课…"),
        )
    }

    pub fn run_it_yourself(self, command: &str) -> String {
        pick(
            self,
            format!("run it yourself: {command}"),
            format!("自己运行：{command}"),
        )
    }

    pub fn no_check_matched(self) -> &'static str {
        pick(self, "no check matched --only", "没有检查项与 --only 匹配")
    }

    pub fn running_reference_tests(self, files: usize, number: u32) -> String {
        pick(
            self,
            format!("every graded check passes; running the {files} reference test file(s) that use lesson {number}'s code…"),
            format!("所有计分检查都已通过；正在运行使用第 {number} 课代码的 {files} 个参考测试文件…"),
        )
    }

    pub fn changed_during_run(self) -> &'static str {
        pick(
            self,
            "── a file changed during the run: stopped it; running the checks again",
            "── 运行期间有文件被修改：已停止本次运行，重新运行检查",
        )
    }

    pub fn watching(self, files: usize, number: u32) -> String {
        pick(
            self,
            format!("Watching {files} file(s) of lesson {number}; save one to run the checks again (Ctrl-C stops)."),
            format!("正在监视第 {number} 课的 {files} 个文件；保存其中任一个即重新运行检查（Ctrl-C 停止）。"),
        )
    }

    pub fn file_changed(self, file: &str) -> String {
        pick(self, format!("── {file} changed"), format!("── {file} 已修改"))
    }

    pub fn interrupted(self, signal: &str, groups: usize, stragglers: usize) -> String {
        let extra = match (self, stragglers) {
            (_, 0) => String::new(),
            (Lang::En, n) => format!("; {n} straggler(s) killed"),
            (Lang::ZhCn, n) => format!("；另终止了 {n} 个残留进程"),
        };
        pick(
            self,
            format!("interrupted ({signal}): stopped {groups} running process group(s){extra}"),
            format!("已中断（{signal}）：停止了 {groups} 个正在运行的进程组{extra}"),
        )
    }

    // ── hint, reset, solution ─────────────────────────────────────────────────────────────

    pub fn hint_heading(self, id: &str, title: &str, file: &str) -> String {
        pick(
            self,
            format!("Exercise {id}: {title} ({file})"),
            format!("练习 {id}：{title}（{file}）"),
        )
    }

    pub fn hint(self, i: usize, n: usize, text: &str) -> String {
        pick(
            self,
            format!("Hint {i}/{n}: {text}"),
            format!("提示 {i}/{n}：{text}"),
        )
    }

    pub fn next_hint(self, section: &str) -> String {
        pick(
            self,
            format!("Run the same command again for the next hint. Read: {section}"),
            format!("再运行一次同一命令可看下一条提示。阅读：{section}"),
        )
    }

    pub fn last_hint(self, section: &str) -> String {
        pick(
            self,
            format!("That was the last hint. Read: {section}"),
            format!("这是最后一条提示。阅读：{section}"),
        )
    }

    pub fn reset_exercise(self, id: &str, file: &str) -> String {
        pick(
            self,
            format!("reset exercise {id} in {file}"),
            format!("已重置 {file} 中的练习 {id}"),
        )
    }

    pub fn your_versions_saved(self, dir: &str) -> String {
        pick(
            self,
            format!("Your versions are saved in {dir}"),
            format!("你的版本已保存到 {dir}"),
        )
    }

    pub fn not_passed_yet(self, n: u32) -> String {
        pick(
            self,
            format!("Lesson {n} has not passed yet. Try `cargo xtask hint {n}` first; to see the solution anyway: cargo xtask solution {n} --force"),
            format!("第 {n} 课还没有通过。先试试 `cargo xtask hint {n}`；如仍要查看答案：cargo xtask solution {n} --force"),
        )
    }

    pub fn no_reference_kept(self, id: &str) -> String {
        pick(
            self,
            format!("exercise {id}: no reference kept here (this is a starter repository)"),
            format!("练习 {id}：这里没有保存参考答案（这是一个起始代码仓库）"),
        )
    }

    pub fn solution_heading(self, id: &str, title: &str, file: &str) -> String {
        pick(
            self,
            format!("── exercise {id}: {title} ({file})"),
            format!("── 练习 {id}：{title}（{file}）"),
        )
    }

    pub fn reference_back(self) -> &'static str {
        pick(
            self,
            "The reference code is back in place.",
            "参考代码已放回原处。",
        )
    }

    /// A lesson whose engine is not installed (`requires_command`).
    pub fn command_missing(self, number: u32, command: &str, install: &str) -> String {
        pick(
            self,
            format!("Lesson {number} needs `{command}`, which is not installed on this machine.\nInstall it with:\n\n    {install}\n\nthen run `cargo xtask lesson {number}` again. The other lessons do not need it."),
            format!("第 {number} 课需要 `{command}`，但这台机器上没有安装。\n安装命令：\n\n    {install}\n\n然后再运行 `cargo xtask lesson {number}`。其他课不需要它。"),
        )
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

    #[test]
    fn runner_messages_are_translated_and_the_rest_kept() {
        let zh = Lang::ZhCn;
        assert_eq!(
            zh.runner_message("needs `join-reaps` to pass first"),
            "需要 `join-reaps` 先通过"
        );
        assert_eq!(
            zh.runner_message("needs exercise 1.4 first (still `todo!()`)"),
            "需要先完成练习 1.4（它仍是 `todo!()`）"
        );
        assert!(zh
            .runner_message("no result after 30s: the check and its processes were killed. Is something waiting forever (a join, a read)?")
            .starts_with("30 秒后仍无结果"));
        let panic = "panicked at src/lib.rs:1:1:\nneeds `x` to pass first";
        assert_eq!(zh.runner_message(panic), panic);
        assert_eq!(
            Lang::En.runner_message("needs `a` to pass first"),
            "needs `a` to pass first"
        );
    }

    #[test]
    fn labels_line_up() {
        for lang in [Lang::En, Lang::ZhCn] {
            let labels = lang.failure_labels();
            assert!(labels.iter().all(|l| width(l) == width(&labels[0])));
        }
        assert_eq!(Lang::En.failure_labels()[1], "hint:  ");
    }
}
