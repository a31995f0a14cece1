//! Lesson 7's graded checks: a target travels as an offset (7.1), the forkserver relays exit
//! codes (7.2), and a spawned child takes over in `bootstrap` (7.3).
//! Run them with `cargo xtask lesson 7` (or `cargo test -p forkway-start --test lesson7`).
//!
//! The forkserver checks call no `bootstrap`, so they grade exercises 7.1 and 7.2 without 7.3.
//! The relay checks force the relay (`forkserver::force_relay`) before the first forkserver
//! start, so that this process's server relays exit codes even where it could make its children
//! ours. The offset check must not need the relay: it runs in a child process of its own, whose
//! own server makes its children the caller's.

use std::time::Duration;

use forkway_start::{bootstrap, forkserver, Context, StartError, StartMethod};

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

#[test]
fn the_forkserver_relays_exit_codes() {
    forkserver::force_relay(true);
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
    forkserver::force_relay(true);
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
    forkserver::force_relay(true);
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
    pub const WRONG_ARGUMENTS: i32 = 10;
    pub const CONFUSED: i32 = 11;
    pub const TARGET_NOT_RUN: i32 = 12;
}

#[test]
fn a_forkserver_child_runs_the_target_it_was_given() {
    // A forkserver belongs to one process, and this process's relays (the checks above force
    // it), which is exercise 7.2's code. So this check, exercise 7.1's, starts its forkserver
    // children from a forked process of its own, which leaves the relay off: its server makes
    // them that process's own children, joined by the kernel.
    let mut checker = forkway_process::Process::fallible(|| {
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
    })
    .with_name("offset-check");
    checker.start().expect("start the offset check's process");
    let ended = checker
        .join_timeout(2 * BOUND)
        .expect("join the offset check's process");
    if !ended {
        let _ = checker.kill();
        let _ = checker.join();
        panic!("the offset check did not end within {:?}", 2 * BOUND);
    }
    match checker.exitcode() {
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
        other => panic!("the offset check's process ended with {other:?} (a panic: see above)"),
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
