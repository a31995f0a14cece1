//! Prints where it was built from and where it runs from: `run_example`'s own test
//! (tests/run_example.rs) checks that the example it runs is the one built beside the test.

fn main() {
    println!("{}", env!("CARGO_MANIFEST_DIR"));
    match std::env::current_exe() {
        Ok(exe) => println!("{}", exe.display()),
        Err(e) => {
            eprintln!("current_exe: {e}");
            std::process::exit(1);
        }
    }
}
