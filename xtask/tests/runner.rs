//! Self-tests of the course runner against a fixture course (`tests/fixtures/course`): a lesson
//! whose checks pass, fail, hang, leak and get skipped, and a lesson that does not compile.
//! Each test works on its own copy of the fixture, so progress files never touch the repo.
//! Output is normalized (durations, paths) before it is snapshotted.

use std::path::{Path, PathBuf};
use std::process::Command;

fn target_dir() -> PathBuf {
    // xtask's own target dir: target/<profile>/deps/runner-… → target/
    let exe = std::env::current_exe().expect("exe");
    exe.ancestors().nth(3).expect("target dir").to_path_buf()
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read_dir").flatten() {
        let p = entry.path();
        if p.is_dir() {
            copy_dir(&p, &to.join(entry.file_name()));
        } else {
            std::fs::copy(&p, to.join(entry.file_name())).expect("copy");
        }
    }
}

fn fixture(tag: &str) -> PathBuf {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/course");
    let dst = target_dir()
        .join("xtask-selftest")
        .join(format!("{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dst);
    copy_dir(&src, &dst);
    dst
}

struct Out {
    code: i32,
    stdout: String,
    stderr: String,
}

/// The `sleep` durations the fixture's hanging and leaking checks use: unique to this test
/// process and call site, so parallel tests never count each other's sleepers.
fn markers(root: &Path) -> (String, String) {
    let n = root
        .to_string_lossy()
        .bytes()
        .fold(7u32, |h, b| h.wrapping_mul(31).wrapping_add(u32::from(b)))
        % 100_000;
    (format!("298.{n:05}1"), format!("297.{n:05}1"))
}

fn xtask(root: &Path, args: &[&str]) -> Out {
    xtask_env(root, args, &[])
}

/// `xtask` with a known locale (English unless `env` says otherwise).
fn xtask_env(root: &Path, args: &[&str], env: &[(&str, &str)]) -> Out {
    let (hang, leak) = markers(root);
    let out = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .arg("--root")
        .arg(root)
        .args(args)
        .env_remove("FORKWAY_LANG")
        .env_remove("LC_ALL")
        .env_remove("LC_MESSAGES")
        .env("LANG", "C.UTF-8")
        .envs(env.iter().copied())
        .env("FIXTURE_HANG_SLEEP", hang)
        .env("FIXTURE_LEAK_SLEEP", leak)
        // Its own target dir per copy: cargo hashes path packages relative to their workspace,
        // so two copies sharing one target dir would overwrite each other's test binaries.
        .env("CARGO_TARGET_DIR", root.join("target"))
        .env("NO_COLOR", "1")
        .output()
        .expect("run xtask");
    Out {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Durations and absolute paths change from run to run; the rest must not.
fn normalize(text: &str, root: &Path) -> String {
    let mut out = String::new();
    for line in text.replace(&root.display().to_string(), "[root]").lines() {
        let words: Vec<String> = line
            .split(' ')
            .map(|w| {
                let looks_like_secs = w.ends_with('s')
                    && w.len() > 1
                    && w[..w.len() - 1].chars().all(|c| c.is_ascii_digit() || c == '.')
                    && w.contains('.');
                if looks_like_secs {
                    "[t]".to_owned()
                } else {
                    w.to_owned()
                }
            })
            .collect();
        out.push_str(&words.join(" "));
        out.push('\n');
    }
    out
}

fn sleepers_alive(marker: &str) -> usize {
    std::fs::read_dir("/proc")
        .expect("/proc")
        .flatten()
        .filter_map(|e| std::fs::read(e.path().join("cmdline")).ok())
        .filter(|c| String::from_utf8_lossy(c).replace('\0', " ").trim_end() == format!("sleep {marker}"))
        .count()
}

#[test]
fn grade_json_reports_every_outcome_and_reaps_leaks() {
    let root = fixture("grade");
    let out = xtask(&root, &["grade", "--format", "json"]);
    assert_eq!(
        out.code, 2,
        "a lesson that does not build makes grade exit 2: {}",
        out.stderr
    );
    let mut report: serde_json::Value =
        serde_json::from_str(&out.stdout).expect("stdout is only the JSON report");
    for lesson in report["lessons"].as_array_mut().expect("lessons") {
        for check in lesson["checks"].as_array_mut().expect("checks") {
            check["duration_ms"] = 0.into();
        }
    }
    let statuses: Vec<(&str, &str)> = report["lessons"][0]["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .map(|c| (c["id"].as_str().unwrap_or(""), c["status"].as_str().unwrap_or("")))
        .collect();
    assert_eq!(
        statuses,
        [
            ("passes", "pass"),
            ("fails", "fail"),
            ("hangs", "timeout"),
            ("leaks", "fail"),
            ("gated", "skipped")
        ]
    );
    assert_eq!(report["lessons"][1]["checks"][0]["status"], "build_error");
    assert_eq!(
        (report["score"].as_u64(), report["max"].as_u64()),
        (Some(2), Some(12))
    );
    let (hang, leak) = markers(&root);
    assert_eq!(sleepers_alive(&hang), 0, "the hung check's grandchild was killed");
    assert_eq!(sleepers_alive(&leak), 0, "the leaked child was killed");
    insta::assert_snapshot!(normalize(
        &serde_json::to_string_pretty(&report).expect("json"),
        &root
    ));
    let _ = std::fs::remove_dir_all(&root);
}

#[test]
fn junit_and_classroom_are_machine_readable() {
    let root = fixture("formats");
    let junit = xtask(&root, &["grade", "--format", "junit", "--lessons", "2"]);
    assert_eq!(junit.code, 2);
    assert!(junit.stdout.starts_with("<?xml"), "{}", junit.stdout);
    assert!(
        junit.stdout.contains("<error type=\"build_error\""),
        "{}",
        junit.stdout
    );
    let output_file = root.join("github_output");
    let classroom = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(["--root"])
        .arg(&root)
        .args(["grade", "--format", "classroom", "--lessons", "2"])
        .env("CARGO_TARGET_DIR", root.join("target"))
        // The machine formats are the same in every language.
        .env("LANG", "zh_CN.UTF-8")
        .env_remove("LC_ALL")
        .env_remove("FORKWAY_LANG")
        .env("GITHUB_OUTPUT", &output_file)
        .output()
        .expect("xtask");
    let payload: serde_json::Value =
        serde_json::from_slice(&classroom.stdout).expect("classroom JSON on stdout");
    assert_eq!(payload["status"], "error");
    assert_eq!(payload["max_score"], 4);
    let written = std::fs::read_to_string(&output_file).expect("GITHUB_OUTPUT written");
    assert!(
        written.starts_with("result=") && written.ends_with('\n'),
        "{written}"
    );
    let _ = std::fs::remove_dir_all(&root);
}

#[test]
fn lesson_output_and_exit_codes() {
    let root = fixture("lesson");
    let failing = xtask(&root, &["lesson", "1", "--no-start"]);
    assert_eq!(failing.code, 1);
    insta::assert_snapshot!("failing_lesson", normalize(&failing.stdout, &root));
    let broken = xtask(&root, &["lesson", "2", "--no-start"]);
    assert_eq!(broken.code, 2);
    insta::assert_snapshot!("build_failure", normalize(&broken.stdout, &root));
    let only = xtask(&root, &["lesson", "1", "--no-start", "--only", "passes"]);
    assert_eq!(only.code, 0, "{}\n{}", only.stdout, only.stderr);
    assert!(
        only.stdout
            .contains("run it yourself: cargo test -p demo --test checks -- --exact passes"),
        "{}",
        only.stdout
    );
    // `gated` requires `fails`: skipped, it is reported as not run, with the reason, and has no
    // command to rerun; the lesson's score in the course list is not this run's.
    let gated = xtask(
        &root,
        &["lesson", "1", "--no-start", "--only", "fails", "--only", "gated"],
    );
    assert_eq!(gated.code, 1, "{}\n{}", gated.stdout, gated.stderr);
    assert!(
        gated
            .stdout
            .contains("run it yourself: cargo test -p demo --test checks -- --exact fails\n")
            && !gated.stdout.contains("--exact gated")
            && gated
                .stdout
                .contains("not run: gated (skipped: needs `fails` to pass first)")
            && gated.stdout.contains("this score is not the lesson's"),
        "{}",
        gated.stdout
    );
    let _ = std::fs::remove_dir_all(&root);
}

#[test]
fn the_learner_reads_the_lesson_in_chinese() {
    let root = fixture("zh");
    let zh = [("LANG", "zh_CN.UTF-8")];
    let failing = xtask_env(&root, &["lesson", "1", "--no-start"], &zh);
    assert_eq!(failing.code, 1, "{}", failing.stderr);
    assert!(failing.stderr.contains("正在构建第 1 课"), "{}", failing.stderr);
    insta::assert_snapshot!("failing_lesson_zh_cn", normalize(&failing.stdout, &root));
    // --lang beats the locale, FORKWAY_LANG beats the locale too.
    let english = xtask_env(&root, &["--lang", "en", "hint", "1"], &zh);
    assert!(
        english.stdout.starts_with("Exercise 1.1: Double a number"),
        "{}",
        english.stdout
    );
    let hint = xtask_env(&root, &["hint", "1"], &[("FORKWAY_LANG", "zh-CN")]);
    assert!(hint.stdout.contains("提示 1/2：乘法。"), "{}", hint.stdout);
    let list = xtask_env(&root, &["lesson", "--lang", "zh-CN"], &[]);
    // Aligned in a terminal: 演示 takes four columns, Broken six.
    assert!(
        list.stdout
            .contains("\n   1. 演示    未开始\n   2. Broken  未开始\n"),
        "{}",
        list.stdout
    );
    let unknown = xtask_env(&root, &["lesson", "7"], &zh);
    assert_eq!(unknown.code, 3);
    assert_eq!(unknown.stderr.trim(), "错误：没有第 7 课（现有的课：1, 2）");
    let _ = std::fs::remove_dir_all(&root);
}

#[test]
fn start_hint_reset_and_solution_never_lose_work() {
    let root = fixture("loop");
    let lib = root.join("demo/src/lib.rs");
    let original = std::fs::read_to_string(&lib).expect("lib");
    let started = xtask(&root, &["lesson", "1", "--only", "passes"]);
    assert_eq!(started.code, 1, "the blanked starter fails: {}", started.stdout);
    assert!(
        started.stdout.contains("demo/src/lib.rs:6"),
        "says where the todo is: {}",
        started.stdout
    );
    assert!(std::fs::read_to_string(&lib)
        .expect("lib")
        .contains("todo!(\"exercise 1.1: Double a number\");"));
    let backups = root.join(".forkway/backups");
    assert_eq!(
        std::fs::read_dir(&backups).expect("backups").count(),
        1,
        "start backed the files up"
    );

    // The learner writes something; reset keeps a copy and says where.
    std::fs::write(&lib, original.replace("x * 2", "x + x // mine")).expect("write");
    let reset = xtask(&root, &["reset", "1"]);
    assert_eq!(reset.code, 0);
    assert!(
        reset.stdout.contains("Your versions are saved in"),
        "{}",
        reset.stdout
    );
    let saved: Vec<PathBuf> = std::fs::read_dir(&backups)
        .expect("backups")
        .flatten()
        .map(|e| e.path())
        .collect();
    assert!(
        saved
            .iter()
            .any(|d| std::fs::read_to_string(d.join("demo/src/lib.rs"))
                .is_ok_and(|t| t.contains("x + x // mine"))),
        "the learner's version is in a backup"
    );

    let first = xtask(&root, &["hint", "1"]);
    let second = xtask(&root, &["hint", "1"]);
    assert!(first.stdout.contains("Hint 1/2: Multiply.") && !first.stdout.contains("Hint 2/2"));
    assert!(second.stdout.contains("Hint 2/2: By two."));

    let refused = xtask(&root, &["solution", "1"]);
    assert_eq!(refused.code, 1, "no solution before the lesson passes");
    let applied = xtask(&root, &["solution", "1", "--force", "--apply"]);
    assert_eq!(applied.code, 0);
    assert_eq!(
        std::fs::read_to_string(&lib).expect("lib"),
        original,
        "the reference is back, byte for byte"
    );
    let listed = xtask(&root, &["lesson"]);
    assert!(listed.stdout.contains("started"), "{}", listed.stdout);
    let _ = std::fs::remove_dir_all(&root);
}

#[test]
fn export_writes_a_starter_without_solutions_and_never_overwrites() {
    let root = fixture("export");
    // export copies what git knows: make the fixture copy a repository.
    let git = |args: &[&str]| {
        Command::new("git")
            .args(args)
            .current_dir(&root)
            .output()
            .expect("git")
    };
    git(&["init", "-q"]);
    git(&["add", "-A"]);
    let out_dir = root.join("target").join("starter");
    let out = xtask(
        &root,
        &[
            "export",
            "--out",
            out_dir.to_str().expect("utf-8"),
            "--lessons",
            "1",
        ],
    );
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    let lib = std::fs::read_to_string(out_dir.join("demo/src/lib.rs")).expect("lib");
    assert!(
        lib.contains("todo!(\"exercise 1.1: Double a number\");") && !lib.contains("x * 2"),
        "{lib}"
    );
    let broken = std::fs::read_to_string(out_dir.join("broken/src/lib.rs")).expect("lib");
    assert!(
        broken.contains("\"not a number\""),
        "lessons not chosen keep their code"
    );
    assert!(!out_dir.join(".git").exists() && !out_dir.join(".forkway").exists());
    assert!(std::fs::read_to_string(out_dir.join("README.md"))
        .expect("readme")
        .contains("cargo xtask lesson 1"));
    assert!(out_dir.join(".github/workflows/classroom.yml").is_file());
    let again = xtask(&root, &["export", "--out", out_dir.to_str().expect("utf-8")]);
    assert_eq!(again.code, 3, "exporting over a non-empty folder is refused");
    assert!(again.stderr.contains("not empty"), "{}", again.stderr);
    let _ = std::fs::remove_dir_all(&root);
}

#[test]
fn an_interrupt_kills_the_running_check_and_its_grandchild() {
    let root = fixture("interrupt");
    // The hanging check must still be running when the interrupt comes: give it a long timeout.
    let toml = root.join("lessons/01-demo/lesson.toml");
    let text = std::fs::read_to_string(&toml).expect("lesson.toml");
    std::fs::write(&toml, text.replace("timeout = 2", "timeout = 600")).expect("write");
    let (hang, leak) = markers(&root);
    let mut runner = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .arg("--root")
        .arg(&root)
        .args(["lesson", "1", "--no-start", "--only", "hangs"])
        .env("FIXTURE_HANG_SLEEP", &hang)
        .env("FIXTURE_LEAK_SLEEP", &leak)
        .env("CARGO_TARGET_DIR", root.join("target"))
        .env("NO_COLOR", "1")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("run xtask");
    // The check's grandchild shows up once the fixture is built and the check runs.
    let started = std::time::Instant::now();
    while sleepers_alive(&hang) == 0 {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(300),
            "the hanging check never started"
        );
        assert!(
            runner.try_wait().expect("try_wait").is_none(),
            "the runner ended early"
        );
        std::thread::sleep(std::time::Duration::from_millis(20)); // polling /proc: no event to wait on
    }
    // What a terminal's Ctrl-C or `timeout -s INT` sends (the check is in a group of its own,
    // so only the runner receives it).
    let pid = nix::unistd::Pid::from_raw(runner.id() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT).expect("kill");
    let waited = std::time::Instant::now();
    let status = loop {
        if let Some(status) = runner.try_wait().expect("try_wait") {
            break status;
        }
        if waited.elapsed() > std::time::Duration::from_secs(20) {
            let _ = runner.kill();
            panic!("the runner did not stop within 20 s of SIGINT");
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    };
    assert_eq!(status.code(), Some(130), "128 + SIGINT");
    assert_eq!(
        sleepers_alive(&hang),
        0,
        "nothing of the check survives the interrupt"
    );
    let _ = std::fs::remove_dir_all(&root);
}

#[test]
fn watch_stops_a_run_when_a_file_is_saved_and_starts_again() {
    let root = fixture("watch");
    let toml = root.join("lessons/01-demo/lesson.toml");
    let text = std::fs::read_to_string(&toml).expect("lesson.toml");
    std::fs::write(&toml, text.replace("timeout = 2", "timeout = 600")).expect("write");
    let (hang, leak) = markers(&root);
    let log = root.join("watch.out");
    let mut runner = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .arg("--root")
        .arg(&root)
        .args(["lesson", "1", "--no-start", "--watch", "--only", "hangs"])
        .env("FIXTURE_HANG_SLEEP", &hang)
        .env("FIXTURE_LEAK_SLEEP", &leak)
        .env("CARGO_TARGET_DIR", root.join("target"))
        .env("NO_COLOR", "1")
        .stdout(std::fs::File::create(&log).expect("log"))
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("run xtask");
    let until = |what: &str, cond: &mut dyn FnMut() -> bool| {
        let started = std::time::Instant::now();
        while !cond() {
            assert!(
                started.elapsed() < std::time::Duration::from_secs(300),
                "timed out waiting for {what}"
            );
            std::thread::sleep(std::time::Duration::from_millis(20)); // polling /proc and a file
        }
    };
    until("the hanging check", &mut || sleepers_alive(&hang) == 1);
    // Save an exercise file while the check hangs: the run stops, its group is killed, and
    // the checks run again (the grandchild shows up a second time).
    let lib = root.join("demo/src/lib.rs");
    let code = std::fs::read_to_string(&lib).expect("lib");
    std::fs::write(&lib, format!("{code}\n// saved\n")).expect("save");
    until("the stop message", &mut || {
        std::fs::read_to_string(&log).is_ok_and(|t| t.contains("a file changed during the run"))
    });
    until("the second run", &mut || sleepers_alive(&hang) == 1);
    let pid = nix::unistd::Pid::from_raw(runner.id() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT).expect("kill");
    until("the runner to exit", &mut || {
        runner.try_wait().expect("try_wait").is_some()
    });
    assert_eq!(runner.wait().expect("wait").code(), Some(130));
    assert_eq!(sleepers_alive(&hang), 0, "nothing of either run survives");
    let _ = std::fs::remove_dir_all(&root);
}
