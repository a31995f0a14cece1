//! Lesson 7's forkserver checks fork no process while they have a second thread: a learner who
//! reruns one with `--nocapture` must not read forkway's "fork from a threaded process" warning
//! in the very checks of the lesson about avoiding that (see `before_libtest` in lesson7.rs).
//!
//! Runs lesson7's test executable, which cargo builds beside this one (`cargo test -p
//! forkway-start` builds every test target before running any).

use std::io::Read;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime};

const WARNING: &str = "forkway: warning: this process";

/// The newest `lesson7-<hash>` executable beside this one, if it is newer than lesson7.rs.
fn lesson7_exe() -> PathBuf {
    let me = std::env::current_exe().expect("current_exe");
    let deps = me.parent().expect("the deps folder");
    let newest = std::fs::read_dir(deps)
        .expect("read the deps folder")
        .flatten()
        .filter(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            name.strip_prefix("lesson7-")
                .is_some_and(|hash| !hash.contains('.') && hash.chars().all(|c| c.is_ascii_hexdigit()))
        })
        .filter_map(|e| Some((e.metadata().ok()?.modified().ok()?, e.path())))
        .max()
        .map(|(_, p)| p);
    let source = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/lesson7.rs");
    let written = std::fs::metadata(source)
        .and_then(|m| m.modified())
        .unwrap_or(SystemTime::UNIX_EPOCH);
    match newest {
        Some(exe)
            if exe
                .metadata()
                .and_then(|m| m.modified())
                .is_ok_and(|t| t >= written) =>
        {
            exe
        }
        _ => panic!(
            "no lesson7 test executable newer than lesson7.rs beside {}: run `cargo test -p \
             forkway-start` (it builds every test target first)",
            me.display()
        ),
    }
}

/// Runs one check of lesson7 with the warning on and returns what it printed.
fn run_check(exe: &PathBuf, test: &str) -> String {
    let mut child = Command::new(exe)
        .args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env_remove("FORKWAY_FORK_WARNING")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run lesson7");
    let readers: Vec<_> = [
        child.stderr.take().map(|r| Box::new(r) as Box<dyn Read + Send>),
        child.stdout.take().map(|r| Box::new(r) as Box<dyn Read + Send>),
    ]
    .into_iter()
    .flatten()
    .map(|mut r| {
        std::thread::spawn(move || {
            let mut text = String::new();
            let _ = r.read_to_string(&mut text);
            text
        })
    })
    .collect();
    // The bound: a hang becomes a failure (the check's own waits are bounded at 40 s).
    let status = forkway_testkit::wait_bounded(&mut child, Duration::from_secs(90), test);
    let text: String = readers
        .into_iter()
        .map(|r| r.join().unwrap_or_default())
        .collect();
    assert!(status.success(), "{test} fails:\n{text}");
    text
}

#[test]
fn the_forkserver_checks_never_fork_a_threaded_process() {
    let exe = lesson7_exe();
    for test in [
        "a_forkserver_child_runs_the_target_it_was_given",
        "the_forkserver_relays_exit_codes",
        "the_forkserver_relays_a_killed_childs_signal",
        "the_forkserver_relays_each_code_to_its_own_child",
    ] {
        let text = run_check(&exe, test);
        assert!(
            !text.contains(WARNING),
            "{test} printed the fork warning:\n{text}"
        );
    }
}
