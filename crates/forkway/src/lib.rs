pub use forkway_process as process;
