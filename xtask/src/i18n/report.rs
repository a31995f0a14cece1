//! The catalog of what a run of checks prints: the lesson table, statements, reference tests,
//! build failures, a passed lesson.

use super::{pad, pick, width, Lang};

/// The catalog, part one: one method per message.
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
}

#[cfg(test)]
mod tests {
    use super::*;

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
