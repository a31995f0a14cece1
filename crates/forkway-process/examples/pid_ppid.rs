//! Seed: "进程pid" — a parent and a child each print their pid and their parent's pid.
//!
//! Python (`multiprocessing`, from the seeds):
//! ```python
//! def run_proc():
//!     print("child: ppid=%d pid=%d" % (os.getppid(), os.getpid()))
//!
//! if __name__ == '__main__':
//!     print("main: ppid=%d pid=%d" % (os.getppid(), os.getpid()))
//!     p1 = multiprocessing.Process(target=run_proc)
//!     p1.start()
//! ```
//! Run it: `cargo run -p forkway-process --example pid_ppid`

use forkway_process::{Process, ProcessError};

// ANCHOR: run_proc
/// The child's work: report who it is and who its parent is.
fn run_proc() {
    println!(
        "child: ppid={} pid={}",
        nix::unistd::getppid(),
        std::process::id()
    );
}
// ANCHOR_END: run_proc

fn main() -> Result<(), ProcessError> {
    println!("main: ppid={} pid={}", nix::unistd::getppid(), std::process::id());
    // ANCHOR: exercise_1_5
    let mut p1 = Process::new(run_proc);
    p1.start()?;
    // The seed never joins; without a join Python waits at exit anyway. Here we say so.
    p1.join()?;
    println!(
        "main: child {} exited with {:?}",
        p1.pid().unwrap_or_default(),
        p1.exitcode()
    );
    // ANCHOR_END: exercise_1_5
    Ok(())
}
