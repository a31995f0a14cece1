//! Records the triple the crate is compiled for: `run_example_of` must tell a target dir's
//! `<triple>/<profile>` folder (a build with `--target`) from a plain `<profile>` folder.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let target = std::env::var("TARGET").unwrap_or_default();
    println!("cargo:rustc-env=FORKWAY_TESTKIT_TARGET={target}");
}
