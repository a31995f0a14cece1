//! The forkway course runner.
fn main() {}
