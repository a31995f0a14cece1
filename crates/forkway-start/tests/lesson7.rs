//! Lesson 7's graded checks: a target travels as an offset (7.1), the forkserver relays exit
//! codes (7.2), and a spawned child takes over in `bootstrap` (7.3).
//! Run them with `cargo xtask lesson 7` (or `cargo test -p forkway-start --test lesson7`).
//!
//! The forkserver checks call no `bootstrap`, so they grade exercises 7.1 and 7.2 without 7.3.
//! The relay checks need this process's server to relay exit codes even where it could make its
//! children ours (`forkserver::force_relay`). The offset check must not need the relay: it runs
//! in a process of its own, whose own server makes its children the caller's.
//!
//! Both servers start as the chapter says a program should start one: first thing, while the
//! process has one thread. Under libtest that is never true once a test runs (every test runs on
//! a thread of its own, and `main` waits for it), so a server started from a test would be forked
//! from a two-thread process, and forkway would rightly warn about it. So [`before_libtest`]
//! starts them before libtest's `main`, when the executable is loaded: this process's relaying
//! server, and, in the executable run again by the offset check, the whole check.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use forkway_start::{bootstrap, forkserver, Context, StartError, StartMethod, SPAWN_FD_VAR};

/// The bound of every wait: a hang becomes a failure with a message.
const BOUND: Duration = Duration::from_secs(20);

/// Starts `p`, waits for it (bounded), and returns its exit code.
fn run(p: &mut forkway_start::Process) -> Result<Option<i32>, StartError> {
    p.start()?;
    match p.join_timeout(BOUND) {
        Ok(true) => Ok(p.exitcode()),
        Ok(false) => {
            let _ = p.kill();
            let _ = p.join_timeout(BOUND);
            panic!("{} did not end within {BOUND:?}", p.name());
        }
        Err(e) => Err(e),
    }
}

fn returns(code: i32) -> i32 {
    code
}

fn panics() {
    panic!("this panic is expected by the check");
}

fn sleeps() {
    std::thread::sleep(Duration::from_secs(600));
}

/// Set in the environment of this executable run again by the offset check: the process is that
/// check's own, and runs it before libtest starts.
const OFFSET_CHECK: &str = "FORKWAY_LESSON7_OFFSET_CHECK";

/// Runs when the executable is loaded, before `main` (libtest's), so while this process still has
/// a single thread — as a program's own `main` would, first thing (`.init_array` is where glibc
/// runs such functions, with the program's arguments and environment already in place).
#[used]
#[link_section = ".init_array"]
static BEFORE_LIBTEST: extern "C" fn() = before_libtest;

extern "C" fn before_libtest() {
    if std::env::var_os(SPAWN_FD_VAR).is_some() {
        // A spawned child (exercise 7.3's checks): `bootstrap` in the test takes over.
        return;
    }
    // A panic must not unwind out of this `extern "C"` function: that aborts the process.
    if std::env::var_os(OFFSET_CHECK).is_some() {
        // `exit`, not a return into libtest: this process is the check's, not a test run. The
        // panic hook has printed a panic's message (a `todo!`) for the check to show.
        let code = std::panic::catch_unwind(offset_check).unwrap_or(offset_outcome::PANICKED);
        std::process::exit(code);
    }
    let _ = std::panic::catch_unwind(|| {
        // Forced before the server starts, which is when the server learns it.
        forkserver::force_relay(true);
        // Should this fail, the first forkserver start in a test tries again and says why.
        let _ = forkserver::ensure_running();
    });
}

#[test]
fn the_forkserver_relays_exit_codes() {
    let ctx = Context::new(StartMethod::Forkserver);
    for code in [0, 3, 200] {
        let got = run(&mut ctx.process(returns, (code,)))
            .unwrap_or_else(|e| panic!("a forkserver child returning {code}: {e}"));
        assert_eq!(got, Some(code), "a forkserver child that returns {code}");
    }
    let got = run(&mut ctx.process(panics, ())).unwrap_or_else(|e| panic!("a panicking child: {e}"));
    assert_eq!(got, Some(1), "a forkserver child that panics exits with 1");
}

#[test]
fn the_forkserver_relays_a_killed_childs_signal() {
    let mut p = Context::new(StartMethod::Forkserver).process(sleeps, ());
    p.start().expect("start");
    p.kill().expect("kill");
    assert!(p.join_timeout(BOUND).expect("join"), "the killed child is joined");
    assert_eq!(
        p.exitcode(),
        Some(-9),
        "a child killed by SIGKILL has exit code -9"
    );
}

#[test]
fn the_forkserver_relays_each_code_to_its_own_child() {
    let ctx = Context::new(StartMethod::Forkserver);
    let mut children: Vec<_> = (10..16).map(|code| ctx.process(returns, (code,))).collect();
    for p in &mut children {
        p.start().expect("start");
    }
    // Joined in reverse: each code must arrive at its own child, whatever the order.
    for (p, code) in children.iter().zip(10..16).rev() {
        assert!(p.join_timeout(BOUND).expect("join"), "child {code} ended");
        assert_eq!(p.exitcode(), Some(code), "each child gets its own exit code");
    }
}

fn checks_arguments(name: String, numbers: Vec<u32>, flag: bool) -> i32 {
    if name == "seven" && numbers == [1, 2, 3] && flag {
        0
    } else {
        4
    }
}

fn other_target(x: u8) -> i32 {
    i32::from(x) + 100
}

/// What the offset check's own process exits with.
mod offset_outcome {
    pub const RIGHT: i32 = 0;
    pub const PANICKED: i32 = 1;
    pub const WRONG_ARGUMENTS: i32 = 10;
    pub const CONFUSED: i32 = 11;
    pub const TARGET_NOT_RUN: i32 = 12;
}

/// The offset check's own process: forkserver children of a server that makes them this
/// process's own (no relay, which is exercise 7.2's code). Returns an `offset_outcome`.
fn offset_check() -> i32 {
    forkserver::force_relay(false);
    let ctx = Context::new(StartMethod::Forkserver);
    let first = run(&mut ctx.process(checks_arguments, ("seven".to_owned(), vec![1u32, 2, 3], true)));
    let second = run(&mut ctx.process(other_target, (5u8,)));
    match (first, second) {
        (Ok(Some(0)), Ok(Some(105))) => offset_outcome::RIGHT,
        (Ok(Some(4)), _) => offset_outcome::WRONG_ARGUMENTS,
        (Ok(Some(0)), _) => offset_outcome::CONFUSED,
        (first, second) => {
            eprintln!("the offset check's forkserver children: {first:?}, then {second:?}");
            offset_outcome::TARGET_NOT_RUN
        }
    }
}

#[test]
fn a_forkserver_child_runs_the_target_it_was_given() {
    // A forkserver belongs to one process, and this process's relays, which is exercise 7.2's
    // code. So this check, exercise 7.1's, runs this executable again as a process of its own,
    // which runs `offset_check` before libtest starts (see `before_libtest`) and exits with its
    // outcome. Run, not forked: a fork from this test's thread would copy a threaded process.
    let exe = std::env::current_exe().expect("the test executable's path");
    let mut checker = Command::new(exe)
        .env(OFFSET_CHECK, "1")
        .stdin(Stdio::null())
        .spawn()
        .expect("start the offset check's process");
    let deadline = Instant::now() + 2 * BOUND;
    let status = loop {
        if let Some(status) = checker.try_wait().expect("wait for the offset check's process") {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = checker.kill();
            let _ = checker.wait();
            panic!("the offset check did not end within {:?}", 2 * BOUND);
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    match status.code() {
        Some(offset_outcome::RIGHT) => {}
        Some(offset_outcome::WRONG_ARGUMENTS) => {
            panic!("the target ran, but not with the arguments it was given")
        }
        Some(offset_outcome::CONFUSED) => {
            panic!("the first target ran; a second target was confused with it (or did not run)")
        }
        Some(offset_outcome::TARGET_NOT_RUN) => panic!(
            "a forkserver child did not run its target (a crash such as -11, SIGSEGV, means it \
             jumped to a wrong address; its codes are printed above)"
        ),
        Some(offset_outcome::PANICKED) => {
            panic!("the offset check's process panicked (see its panic message)")
        }
        _ => panic!("the offset check's process ended with {status}"),
    }
}

fn child_of(parent: u32, answer: i32) -> i32 {
    if nix::unistd::getppid().as_raw() as u32 == parent {
        answer
    } else {
        9
    }
}

#[test]
fn a_spawned_child_runs_the_target_with_its_arguments() {
    bootstrap();
    let ctx = Context::new(StartMethod::Spawn);
    let got = run(&mut ctx.process(checks_arguments, ("seven".to_owned(), vec![1u32, 2, 3], true)))
        .expect("start and join");
    assert_eq!(
        got,
        Some(0),
        "the spawned target ran with its arguments (4: wrong arguments)"
    );
    let got = run(&mut ctx.process(child_of, (std::process::id(), 42))).expect("start and join");
    assert_eq!(
        got,
        Some(42),
        "a spawned child is the caller's own child (9: another parent)"
    );
}

fn spawns_a_grandchild(answer: i32) -> i32 {
    let mut p = Context::new(StartMethod::Spawn).process(returns, (answer,));
    if p.start().is_err() || p.join_timeout(BOUND).ok() != Some(true) {
        return 90;
    }
    p.exitcode().unwrap_or(91)
}

#[test]
fn a_spawned_child_can_spawn_again() {
    bootstrap();
    let got = run(&mut Context::new(StartMethod::Spawn).process(spawns_a_grandchild, (17,)))
        .expect("start and join");
    assert_eq!(
        got,
        Some(17),
        "the grandchild's code comes back (90: the child could not spawn)"
    );
}
