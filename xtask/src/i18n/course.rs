//! The catalog of the course commands: list, start, grade, watch, hint, reset, solution.

use super::{pick, Lang};

/// The catalog, part two: one method per message.
impl Lang {
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

    /// Started, but every run so far was restricted to some checks: there is no lesson score.
    pub fn state_no_full_run(self) -> &'static str {
        pick(self, "started, no full run yet", "已开始，尚未完整运行过")
    }

    /// Exercises whose checks ran alone since the last full run, and whether they pass now.
    pub fn since_alone(self, exercises: &[(&str, bool)]) -> String {
        let list: Vec<String> = exercises
            .iter()
            .map(|(id, passes)| match (self, passes) {
                (Lang::En, true) => format!("{id} passes"),
                (Lang::En, false) => format!("{id} fails"),
                (Lang::ZhCn, true) => format!("{id} 通过"),
                (Lang::ZhCn, false) => format!("{id} 未通过"),
            })
            .collect();
        pick(
            self,
            format!("; run alone since: {}", list.join(", ")),
            format!("；此后单独运行：{}", list.join("，")),
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

    /// A check a restricted run skipped: `reason` is the table's "skipped: …".
    pub fn not_run(self, check: &str, reason: &str) -> String {
        pick(
            self,
            format!("not run: {check} ({reason})"),
            format!("未运行：{check}（{reason}）"),
        )
    }

    /// After a run of some of a lesson's checks.
    pub fn partial_run(self, number: u32) -> String {
        pick(
            self,
            format!("Only some of lesson {number}'s checks ran: this score is not the lesson's. The course list keeps the last full run's score; `cargo xtask lesson {number}` runs them all."),
            format!("只运行了第 {number} 课的部分检查项：这个得分不是整课的得分。课程列表保留上一次完整运行的得分；`cargo xtask lesson {number}` 会运行全部检查项。"),
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

    /// Where to read, in an edition of the book not built yet.
    pub fn build_the_book_first(self, at: &str) -> String {
        pick(
            self,
            format!("{at} (build it first: cargo xtask book --lang {})", self.tag()),
            format!("{at}（先用 `cargo xtask book --lang {}` 生成）", self.tag()),
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
