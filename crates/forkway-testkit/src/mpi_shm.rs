//! Where an MPI job keeps its shared memory: shared by forkway-mpi's test harness and the
//! course runner's launcher (std only, so the runner needs no MPI library to build).

/// A folder of its own for Open MPI's shared-memory segments (`vader_segment.*`): Open MPI
/// leaves them in /dev/shm when a job ends (4 MiB a rank, measured: about 30 files a test run),
/// so each job gets this folder through `OMPI_MCA_btl_vader_backing_directory`, removed on drop.
pub struct MpiShmDir(std::path::PathBuf);

impl MpiShmDir {
    /// Makes the folder (under /dev/shm, or the temp folder where there is none).
    pub fn new() -> MpiShmDir {
        use std::sync::atomic::{AtomicU32, Ordering};
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let base = std::path::Path::new("/dev/shm");
        let base = if base.is_dir() {
            base.to_path_buf()
        } else {
            std::env::temp_dir()
        };
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let dir = base.join(format!("forkway-mpi-{}-{n}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        MpiShmDir(dir)
    }

    /// The folder, for `OMPI_MCA_btl_vader_backing_directory`.
    pub fn path(&self) -> &std::path::Path {
        &self.0
    }
}

impl Default for MpiShmDir {
    fn default() -> MpiShmDir {
        MpiShmDir::new()
    }
}

impl Drop for MpiShmDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
