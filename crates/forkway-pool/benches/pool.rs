//! Placeholder until the pool benchmarks land.
fn main() {}
