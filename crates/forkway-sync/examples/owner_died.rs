//! A lock holder killed with the lock held, and the recovery. Python's `multiprocessing.Lock`
//! would stay locked for ever; a forkway `Lock` hands the next acquirer
//! `AcquireError::OwnerDied` with the lock held, so it can check the shared state, mark it
//! consistent and go on. Run it: `cargo run -p forkway-sync --example owner_died`, or see its
//! timeline with `cargo xtask trace owner_died`.

use std::time::Duration;

use forkway_process::Process;
use forkway_sync::{AcquireError, Event, Lock};

const PATIENCE: Duration = Duration::from_secs(30);

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let lock = Lock::new()?;
    let holding = Event::new()?;
    let mut holder = {
        let (lock, holding) = (lock.clone(), holding.clone());
        Process::new(move || {
            let _held = lock.acquire().expect("the lock");
            holding.set();
            // Killed in here, with the lock held (a bounded wait all the same).
            std::thread::sleep(PATIENCE);
        })
        .with_name("holder")
    };
    holder.start()?;
    if !holding.wait_timeout(PATIENCE) {
        return Err("the holder never took the lock".into());
    }
    holder.kill()?;
    holder.join()?;
    println!("holder exit code: {:?}", holder.exitcode());

    let mut next = {
        let lock = lock.clone();
        Process::new(move || match lock.acquire_timeout(PATIENCE) {
            Err(AcquireError::OwnerDied(mut guard)) => {
                println!("next: the holder died holding the lock; state checked, marked consistent");
                guard.mark_consistent();
            }
            Ok(_guard) => println!("next: the lock was free"),
            Err(e) => {
                eprintln!("next: {e}");
                forkway_process::exit(1);
            }
        })
        .with_name("next")
    };
    next.start()?;
    next.join()?;
    // After the recovery the lock works as before.
    let _again = lock.acquire_timeout(PATIENCE).map_err(|e| e.to_string())?;
    println!("main: acquired cleanly again");
    Ok(())
}
