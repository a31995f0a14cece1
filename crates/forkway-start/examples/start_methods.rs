//! The same target under each start method: `cargo run -p forkway-start --example start_methods`.
//!
//! `bootstrap()` is the first line of `main` (a spawned child takes over there), and the
//! forkserver is started second, before the program has any thread.

use forkway_start::{bootstrap, forkserver, Context, StartMethod};

fn greet(method: String, parent: u32) {
    let ppid = nix::unistd::getppid().as_raw() as u32;
    let whose = if ppid == parent {
        "the caller's child"
    } else {
        "the forkserver's child"
    };
    println!("{method}: pid {}, {whose}", std::process::id());
}

fn main() -> Result<(), forkway_start::StartError> {
    bootstrap();
    forkserver::ensure_running()?;
    for method in [StartMethod::Fork, StartMethod::Forkserver, StartMethod::Spawn] {
        let mut p = Context::new(method).process(greet, (method.to_string(), std::process::id()));
        p.start()?;
        p.join()?;
        println!("{} exited with {:?}", p.name(), p.exitcode());
    }
    Ok(())
}
