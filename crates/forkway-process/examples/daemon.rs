//! Seed: "守护进程" — a daemon child ends when the main process ends.
//!
//! ```python
//! def fun(name):
//!     print('%s come back..' % name)
//!     time.sleep(random.randint(1, 3))
//!     print('%s is gone..' % name)
//!
//! if __name__ == '__main__':
//!     p1 = Process(target=fun, args=('egon',))
//!     p1.daemon = True
//!     p1.start()
//!     print('main process.')
//! ```
//! The main process does not wait: it prints and ends, and the daemon is terminated with it, so
//! "is gone" never prints. Run it: `cargo run -p forkway-process --example daemon`

use std::time::Duration;

use forkway_process::{Process, ProcessError};

fn fun(name: &str) {
    println!("{name} come back..");
    // Simulated work that the daemon never gets to finish.
    std::thread::sleep(Duration::from_secs(2));
    println!("{name} is gone..");
}

fn main() -> Result<(), ProcessError> {
    // ANCHOR: exercise_1_7
    let mut p1 = Process::new(|| fun("egon")).with_daemon(true);
    p1.start()?;
    println!("main process. daemon pid={}", p1.pid().unwrap_or_default());
    // Leaving `main` drops `p1`: a daemon is terminated and reaped, not waited for.
    Ok(())
    // ANCHOR_END: exercise_1_7
}
