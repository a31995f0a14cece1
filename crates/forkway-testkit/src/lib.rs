//! Helpers shared by the tests and benches of every forkway crate (a dev-dependency; never
//! published).
//!
//! Four parts, each behind a feature, because their users differ:
//! - `process` (default): the tests' helpers (bounded waits, handshakes, example runs, leak
//!   checks), at the crate's root. They are built on forkway's `Process`.
//! - `bench`: the CPython side of the benches, their interleaved runs and result files.
//! - `interpreter`: which CPython the benches compare against. It needs only std and
//!   serde_json, so `cargo xtask bench` picks the interpreter the same way as the benches
//!   without building any forkway crate (`default-features = false, features = ["interpreter"]`).
//! - `mpi`: the harness of forkway-mpi's tests and bench, which run themselves under `mpirun`;
//!   it needs an MPI library, so only forkway-mpi asks for it.

#[cfg(feature = "bench")]
pub mod bench;
#[cfg(feature = "interpreter")]
pub mod interpreter;
#[cfg(feature = "mpi")]
pub mod mpi_harness;
#[cfg(feature = "mpi-shm")]
pub mod mpi_shm;
#[cfg(feature = "process")]
mod support;
#[cfg(feature = "process")]
pub use support::*;
