//! `run_example_of` builds the example into the target dir the test executable came from, from
//! the source tree the test was built from, whatever the directory and environment the test runs
//! in: `cargo xtask verify` builds a lesson's tests in a copy of the workspace with a target dir
//! of its own and runs them from the real workspace.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use forkway_testkit::run_example_of;

/// Long enough for the nested cargo to build the example the first time.
const BUILD_BOUND: Duration = Duration::from_secs(300);

#[test]
#[ignore = "run by example_is_built_beside_the_test_executable, from elsewhere"]
fn runs_the_example_built_beside_this_test() {
    let run = run_example_of("forkway-testkit", "where_built", &[]);
    assert_eq!(run.code, 0, "the example failed:{run}");
    let lines: Vec<&str> = run.stdout.lines().collect();
    let exe = std::env::current_exe().expect("current_exe");
    // target/<profile>/deps/<test>-<hash>  →  target/<profile>/examples/where_built
    let beside = exe
        .ancestors()
        .nth(2)
        .expect("profile dir")
        .join("examples")
        .join("where_built");
    assert_eq!(
        lines,
        [env!("CARGO_MANIFEST_DIR"), &beside.display().to_string()],
        "the example must come from this test's source tree and sit beside this test:{run}"
    );
}

/// Runs the test above in a directory outside the workspace, with `CARGO_TARGET_DIR` naming a
/// directory cargo cannot create: a nested cargo that takes either from the test's
/// surroundings builds something else, or nothing.
#[test]
fn example_is_built_beside_the_test_executable() {
    let exe = std::env::current_exe().expect("current_exe");
    let elsewhere = std::env::temp_dir();
    let nowhere: PathBuf = Path::new("/dev/null").join("no-target-dir-here");
    let mut child = Command::new(&exe)
        .args([
            "--ignored",
            "--exact",
            "runs_the_example_built_beside_this_test",
            "--nocapture",
        ])
        .current_dir(&elsewhere)
        .env("CARGO_TARGET_DIR", &nowhere)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn the test executable");
    let stdout = child.stdout.take().expect("stdout");
    let stderr = child.stderr.take().expect("stderr");
    let out = std::thread::spawn(move || std::io::read_to_string(stdout).unwrap_or_default());
    let err = std::thread::spawn(move || std::io::read_to_string(stderr).unwrap_or_default());
    let deadline = Instant::now() + BUILD_BOUND;
    let status = loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the inner test still runs after {BUILD_BOUND:?}: killed");
        }
        // std's Child has no timed wait: poll, with the bound above.
        std::thread::sleep(Duration::from_millis(20));
    };
    let out = out.join().expect("stdout reader");
    let err = err.join().expect("stderr reader");
    assert!(
        status.success() && out.contains("1 passed"),
        "the inner test failed ({status}):\n{out}\n{err}"
    );
}
