//! The worker: what every process of the pool runs, from fork to exit.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use crate::supervise::{Initializer, Shared};
use crate::task::trampoline_at;
use crate::wire::{chunk_error, FromWorker};
use crate::TaskError;

/// Exit code of a worker whose initializer panicked (the parent reads the shared flag, not this).
pub(crate) const INIT_FAILED_EXIT: i32 = 3;

/// The body of worker number `index` (its slot in the shared page), in the forked child.
pub(crate) fn run(shared: &Shared, index: usize, maxtasks: Option<u64>, init: Option<Arc<Initializer>>) {
    if let Some(init) = init {
        // An initializer's panic is printed like any child's; the parent learns that it failed.
        if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| init())).is_err() {
            shared
                .page()
                .init_failed
                .store(u64::from(std::process::id()), Ordering::SeqCst);
            forkway_process::exit(INIT_FAILED_EXIT);
        }
    }
    keep_freed_memory();
    crate::arena::set_worker_arena(shared);
    if shared.page().fault_first_claim.swap(0, Ordering::SeqCst) != 0 {
        forkway_ipc::fault::die_after_next_claim();
    }
    worker_loop(shared, index, maxtasks);
}

/// Tells malloc to keep the memory a chunk frees for the next chunk.
///
/// Every chunk allocates and frees the same few buffers (its arguments, its results, their
/// encodings). With glibc's defaults, freeing them leaves more than 128 KiB free at the top of
/// the heap, which goes back to the kernel, and the next chunk takes it again page by page:
/// a map of 100 000 integers measured ~140 page faults per call in the workers, and ran 40 %
/// slower, depending only on where in the heap the buffers happened to land. A worker is a
/// long-lived process that `maxtasksperchild` replaces when memory must go back.
fn keep_freed_memory() {
    #[cfg(target_env = "gnu")]
    // SAFETY: mallopt only sets malloc's tuning parameters (to values in their valid ranges:
    // 64 MiB of free top before trimming, heap rather than mmap below 32 MiB, glibc's maximum
    // for a dynamic threshold); it is called in the worker before any task runs.
    unsafe {
        libc::mallopt(libc::M_TRIM_THRESHOLD, 64 << 20);
        libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
    }
}

// ANCHOR: worker_loop
/// Takes tasks until told to stop (or until `maxtasks` are done), and sends every result back.
///
/// The slot protocol is what lets the parent survive our death: while we hold a task, our slot
/// says which (`seq + 1`), and it says so *before* the task leaves the queue (`get_claimed`).
fn worker_loop(shared: &Shared, index: usize, maxtasks: Option<u64>) {
    // ANCHOR: exercise_5_3
    let slot = &shared.page().slots[index];
    let mut out = Vec::new();
    let mut done = 0u64;
    loop {
        let Ok(task) = shared
            .tasks
            .get_claimed(|task| slot.store(task.seq + 1, Ordering::SeqCst))
        else {
            // The queue is closed or a message is corrupt: nothing sensible is left to do.
            return;
        };
        if task.run == 0 {
            // A stop message (`close`). The slot keeps its seq: the parent reads it to tell
            // "took a stop, do not replace me" from "died mid-task".
            return;
        }
        // SAFETY: task messages come only from the parent that forked us, which put the
        // address of a trampoline of this very executable in `run`.
        let run = unsafe { trampoline_at(task.run) };
        run(&task.args, &mut out);
        let reply = FromWorker {
            seq: task.seq,
            outcome: std::mem::take(&mut out),
        };
        if let Err(refused) = shared.results.put(reply) {
            // Too large for the queue, most likely: the task still gets an answer.
            let error = TaskError::ResultNotSerializable(refused.to_string());
            if shared
                .results
                .put(FromWorker {
                    seq: task.seq,
                    outcome: chunk_error(error),
                })
                .is_err()
            {
                return;
            }
        }
        // Only now, with the result safely in the queue, do we let go of the task.
        slot.store(0, Ordering::SeqCst);
        done += 1;
        if maxtasks == Some(done) {
            return;
        }
    }
    // ANCHOR_END: exercise_5_3
}
// ANCHOR_END: worker_loop
