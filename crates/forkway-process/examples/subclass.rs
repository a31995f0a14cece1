//! Seed: "开进程的方法2" — subclass `Process` and override `run()`.
//!
//! ```python
//! class Piao(Process):
//!     def __init__(self, name):
//!         super().__init__()
//!         self.name = name
//!
//!     def run(self):
//!         print('%s piaoing..' % self.name)
//!         print('%s piao end..' % self.name)
//!
//! if __name__ == '__main__':
//!     p1 = Piao('egon')
//!     p1.start()   # runs p1.run() in the child
//!     print('parent...')
//! ```
//! Rust has no inheritance: the struct implements the [`Run`] trait and
//! `Process::from_run` turns it into a process. Run it:
//! `cargo run -p forkway-process --example subclass`

use forkway_process::{Process, ProcessError, Run};

// ANCHOR: piao
/// The state a Python subclass would keep in `self`.
struct Piao {
    name: String,
}

impl Run for Piao {
    fn run(&mut self) {
        // ANCHOR: exercise_1_8
        println!("{} piaoing..", self.name);
        println!("{} piao end..", self.name);
        // ANCHOR_END: exercise_1_8
    }
}
// ANCHOR_END: piao

fn main() -> Result<(), ProcessError> {
    let name = "egon".to_owned();
    let mut p1 = Process::from_run(Piao { name: name.clone() }).with_name(name);
    p1.start()?;
    println!("parent...");
    p1.join()?;
    Ok(())
}
