//! A test harness for tests that run on MPI ranks.
//!
//! libtest runs each test on a thread of one process; an MPI test runs on N processes started
//! by `mpirun`, all executing the same test at the same time. So these test targets bring their
//! own `main` (`harness = false`) and work in two modes:
//!
//! - **outside MPI** (`cargo test -p forkway-mpi`, or the binary run by hand): for each selected
//!   test, start `mpirun --allow-run-as-root --oversubscribe -n 3 <this binary> <test> --exact`,
//!   kill it if it outlives its time limit (an MPI hang becomes a failure), and print libtest's
//!   lines (`test name ... ok`, `test result: ok. N passed; …`).
//! - **inside MPI** (the binary started by `mpirun`, by the mode above or by the course runner,
//!   which runs `mpirun … <binary> <test> --exact --test-threads=1`): initialize MPI and run the
//!   selected tests on every rank, one after the other. A test that panics on any rank aborts
//!   the whole job (`MPI_Abort`), so `mpirun` exits non-zero; rank 0 prints the results.
//!
//! Arguments are libtest's: name filters, `--exact`, `--list [--format terse]`, `--nocapture`;
//! `--test-threads` and other flags are accepted and ignored.

use std::io::{Read, Write};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::process::{Command, ExitCode, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use mpi::topology::{Communicator, SimpleCommunicator};
use mpi::traits::CommunicatorCollectives;

/// How to get `mpirun` on Debian or Ubuntu.
pub const INSTALL: &str = "sudo apt-get install -y openmpi-bin libopenmpi-dev libclang-dev";

/// One test.
pub struct Test {
    /// Its name, as libtest would print it.
    pub name: &'static str,
    /// Where it runs.
    pub kind: Kind,
}

/// Where a test runs.
pub enum Kind {
    /// Runs on every rank of an `mpirun` job.
    Mpi(fn(&SimpleCommunicator)),
    /// Runs in the launching process, outside MPI (it starts `mpirun` itself).
    Outer(fn()),
}

/// A test run on every rank of an `mpirun` job.
pub fn mpi(name: &'static str, f: fn(&SimpleCommunicator)) -> Test {
    Test {
        name,
        kind: Kind::Mpi(f),
    }
}

/// A test run in the launching process, outside MPI.
pub fn outer(name: &'static str, f: fn()) -> Test {
    Test {
        name,
        kind: Kind::Outer(f),
    }
}

/// A program run on the ranks by an outer test: `<binary> --scenario <name>` under mpirun.
pub type Scenario = (&'static str, fn(&SimpleCommunicator));

/// True in a process started by `mpirun` (Open MPI and PMIx set these).
pub fn inside_mpi() -> bool {
    ["OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK"]
        .iter()
        .any(|v| std::env::var_os(v).is_some())
}

/// The ranks of a launched job: `FORKWAY_MPI_RANKS`, 3 by default.
pub fn ranks() -> u32 {
    env_number("FORKWAY_MPI_RANKS").unwrap_or(3)
}

/// A launched job's time limit: `FORKWAY_MPI_TEST_TIMEOUT` seconds, 120 by default.
pub fn time_limit() -> Duration {
    Duration::from_secs(env_number("FORKWAY_MPI_TEST_TIMEOUT").unwrap_or(120).into())
}

fn env_number(name: &str) -> Option<u32> {
    std::env::var(name).ok().and_then(|v| v.parse().ok())
}

#[derive(Default)]
struct Args {
    filters: Vec<String>,
    exact: bool,
    list: bool,
    terse: bool,
    nocapture: bool,
    ignored: bool,
    scenario: Option<String>,
}

fn parse_args() -> Args {
    let mut args = Args::default();
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--exact" => args.exact = true,
            "--list" => args.list = true,
            "--nocapture" | "--no-capture" => args.nocapture = true,
            "--ignored" => args.ignored = true,
            "--format" => args.terse = it.next().as_deref() == Some("terse"),
            "--format=terse" => args.terse = true,
            "--scenario" => args.scenario = it.next(),
            // libtest flags that take a value as the next argument.
            "--test-threads" | "--skip" | "--color" | "-Z" | "--logfile" => {
                it.next();
            }
            "--bench" => {}
            _ if a.starts_with('-') => {}
            _ => args.filters.push(a),
        }
    }
    args
}

/// The test binary's `main`.
pub fn main(tests: &[Test], scenarios: &[Scenario]) -> ExitCode {
    let args = parse_args();
    if args.list {
        for t in tests {
            println!("{}: test", t.name);
        }
        if !args.terse {
            println!("\n{} tests, 0 benchmarks", tests.len());
        }
        return ExitCode::SUCCESS;
    }
    let selected: Vec<&Test> = tests
        .iter()
        .filter(|_| !args.ignored)
        .filter(|t| {
            args.filters.is_empty()
                || args.filters.iter().any(|f| {
                    if args.exact {
                        t.name == f
                    } else {
                        t.name.contains(f.as_str())
                    }
                })
        })
        .collect();
    let filtered = tests.len() - selected.len();
    if inside_mpi() {
        inside(&selected, filtered, scenarios, args.scenario.as_deref())
    } else {
        outside(&selected, filtered, args.nocapture)
    }
}

fn inside(selected: &[&Test], filtered: usize, scenarios: &[Scenario], scenario: Option<&str>) -> ExitCode {
    let Some(universe) = mpi::initialize() else {
        eprintln!("MPI is already initialized in this process");
        return ExitCode::FAILURE;
    };
    let world = universe.world();
    let root = world.rank() == 0;
    if let Some(name) = scenario {
        let Some((_, run)) = scenarios.iter().find(|(n, _)| *n == name) else {
            eprintln!("no scenario named {name}");
            world.abort(2);
        };
        run(&world);
        return ExitCode::SUCCESS;
    }
    let started = Instant::now();
    if root {
        println!("\nrunning {} tests", selected.len());
    }
    let (mut passed, mut ignored) = (0, 0);
    for t in selected {
        match t.kind {
            Kind::Mpi(f) => {
                if catch_unwind(AssertUnwindSafe(|| f(&world))).is_err() {
                    // The other ranks may be waiting for a message this one will never send:
                    // end the job, so that mpirun reports the failure instead of hanging.
                    println!("test {} ... FAILED (on rank {})", t.name, world.rank());
                    let _ = std::io::stdout().flush();
                    let _ = std::io::stderr().flush();
                    world.abort(101);
                }
                // Every rank is done with this test before any starts the next.
                world.barrier();
                passed += 1;
                if root {
                    println!("test {} ... ok", t.name);
                }
            }
            Kind::Outer(_) => {
                ignored += 1;
                if root {
                    println!(
                        "test {} ... ignored, starts mpirun itself: run this binary without mpirun",
                        t.name
                    );
                }
            }
        }
    }
    if root {
        println!(
            "\ntest result: ok. {passed} passed; 0 failed; {ignored} ignored; 0 measured; {filtered} filtered out; finished in {:.2}s\n",
            started.elapsed().as_secs_f64()
        );
    }
    ExitCode::SUCCESS
}

fn outside(selected: &[&Test], filtered: usize, nocapture: bool) -> ExitCode {
    let started = Instant::now();
    if find_mpirun().is_none() {
        eprintln!(
            "forkway-mpi's tests run on MPI ranks, and `mpirun` is not installed.\n\
             Install Open MPI (Debian/Ubuntu): {INSTALL}"
        );
        return ExitCode::FAILURE;
    }
    // Ranks orphaned by a killed mpirun become our children instead of init's, so that
    // `kill_job` can reap them.
    let _ = nix::sys::prctl::set_child_subreaper(true);
    println!("\nrunning {} tests", selected.len());
    let mut failures = Vec::new();
    for t in selected {
        let (ok, report) = match t.kind {
            Kind::Mpi(_) => {
                let job = launch(&[t.name, "--exact"], ranks(), time_limit());
                (job.success(), job.report())
            }
            Kind::Outer(f) => match catch_unwind(AssertUnwindSafe(f)) {
                Ok(()) => (true, String::new()),
                Err(_) => (false, "(the panic message is above)".to_owned()),
            },
        };
        println!("test {} ... {}", t.name, if ok { "ok" } else { "FAILED" });
        if nocapture && ok && !report.is_empty() {
            println!("{report}");
        }
        if !ok {
            failures.push((t.name, report));
        }
    }
    if !failures.is_empty() {
        println!("\nfailures:\n");
        for (name, report) in &failures {
            println!("---- {name} ----\n{report}\n");
        }
        println!("failures:");
        for (name, _) in &failures {
            println!("    {name}");
        }
    }
    println!(
        "\ntest result: {}. {} passed; {} failed; 0 ignored; 0 measured; {filtered} filtered out; finished in {:.2}s\n",
        if failures.is_empty() { "ok" } else { "FAILED" },
        selected.len() - failures.len(),
        failures.len(),
        started.elapsed().as_secs_f64()
    );
    if failures.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// `mpirun` on the PATH, if any.
pub fn find_mpirun() -> Option<std::path::PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join("mpirun"))
        .find(|p| p.is_file())
}

/// How a launched `mpirun` job ended.
pub struct Job {
    /// `None` when it was killed at its time limit.
    pub status: Option<ExitStatus>,
    /// What the ranks printed on stdout.
    pub stdout: String,
    /// What the ranks (and mpirun) printed on stderr.
    pub stderr: String,
    /// How long the job ran.
    pub elapsed: Duration,
    /// The time limit it was launched with.
    pub limit: Duration,
}

impl Job {
    /// True when mpirun finished and exited with 0.
    pub fn success(&self) -> bool {
        self.status.is_some_and(|s| s.success())
    }

    /// What a failure report shows: how it ended and everything the ranks printed.
    pub fn report(&self) -> String {
        let how = match self.status {
            None => format!(
                "mpirun did not finish within {:?}: killed (a hang is a failure)",
                self.limit
            ),
            Some(s) => format!("mpirun exited with {s}"),
        };
        format!(
            "{how}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.stdout.trim_end(),
            self.stderr.trim_end()
        )
    }
}

/// Runs this binary with `args` on `ranks` ranks under mpirun, killed at `limit`.
pub fn launch(args: &[&str], ranks: u32, limit: Duration) -> Job {
    use std::os::unix::process::CommandExt;
    let started = Instant::now();
    let fail = |why: String| Job {
        status: None,
        stdout: String::new(),
        stderr: why,
        elapsed: started.elapsed(),
        limit,
    };
    let exe = match std::env::current_exe() {
        Ok(exe) => exe,
        Err(e) => return fail(format!("cannot find this test binary: {e}")),
    };
    let shm = crate::mpi_shm::MpiShmDir::new();
    let mut cmd = Command::new("mpirun");
    cmd.env("OMPI_MCA_btl_vader_backing_directory", shm.path())
        .args(["--allow-run-as-root", "--oversubscribe", "-n"])
        .arg(ranks.to_string())
        .arg(&exe)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // A group of its own: at the time limit, the whole job can be killed at once.
        .process_group(0);
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => return fail(format!("cannot start mpirun: {e}")),
    };
    let slurp = |r: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut text = String::new();
            if let Some(mut r) = r {
                let mut bytes = Vec::new();
                let _ = r.read_to_end(&mut bytes);
                text = String::from_utf8_lossy(&bytes).into_owned();
            }
            text
        })
    };
    let out = slurp(child.stdout.take().map(|s| Box::new(s) as Box<dyn Read + Send>));
    let err = slurp(child.stderr.take().map(|s| Box::new(s) as Box<dyn Read + Send>));
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) if started.elapsed() < limit => std::thread::sleep(Duration::from_millis(20)),
            _ => {
                kill_job(&mut child);
                break None;
            }
        }
    };
    Job {
        status,
        stdout: out.join().unwrap_or_default(),
        stderr: err.join().unwrap_or_default(),
        elapsed: started.elapsed(),
        limit,
    }
}

/// Ends a job that outlived its limit: SIGTERM lets mpirun take its ranks down; whatever is
/// left of the group after a grace period gets SIGKILL.
fn kill_job(child: &mut std::process::Child) {
    use nix::sys::signal::{kill, killpg, Signal};
    use nix::unistd::Pid;
    let pid = Pid::from_raw(child.id() as i32);
    let _ = kill(pid, Signal::SIGTERM);
    let grace = Instant::now();
    while grace.elapsed() < Duration::from_secs(5) {
        if let Ok(Some(_)) = child.try_wait() {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = killpg(pid, Signal::SIGKILL);
    let _ = child.wait();
    // The ranks were mpirun's children; with mpirun gone they are ours (we are their
    // subreaper, see `outside`). Reap them, so that no zombie outlives the test.
    let deadline = Instant::now() + Duration::from_secs(5);
    while killpg(pid, None).is_ok() && Instant::now() < deadline {
        reap_orphans();
        std::thread::sleep(Duration::from_millis(10));
    }
    reap_orphans();
}

/// Reaps every child that has ended (this process is their subreaper).
fn reap_orphans() {
    use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
    use nix::unistd::Pid;
    while let Ok(status) = waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
        if status == WaitStatus::StillAlive {
            break;
        }
    }
}
