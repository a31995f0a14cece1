//! MpiPool beyond the graded checks: every call shape, errors, pools in a row, and the
//! failure model (a dead rank ends the job). Runs under mpirun like lesson8
//! (`forkway_testkit::mpi_harness`).

use forkway_testkit::mpi_harness as support;

use std::process::ExitCode;
use std::time::Duration;

use forkway_mpi::{MpiPool, PoolError, TaskError};
use mpi::point_to_point::{Destination, Source};
use mpi::topology::{Communicator, SimpleCommunicator};
use mpi::traits::CommunicatorCollectives;
use support::{mpi, outer, Test};

fn main() -> ExitCode {
    let tests: Vec<Test> = vec![
        mpi(
            "map_keeps_input_order_for_every_chunk_size",
            map_keeps_input_order_for_every_chunk_size,
        ),
        mpi("starmap_spreads_tuples", starmap_spreads_tuples),
        mpi(
            "imap_reads_an_endless_input_lazily",
            imap_reads_an_endless_input_lazily,
        ),
        mpi(
            "imap_reports_each_tasks_error_in_place",
            imap_reports_each_tasks_error_in_place,
        ),
        mpi(
            "large_arguments_and_results_travel",
            large_arguments_and_results_travel,
        ),
        mpi("misuse_gets_pythons_errors", misuse_gets_pythons_errors),
        mpi(
            "dropping_the_pool_releases_the_workers",
            dropping_the_pool_releases_the_workers,
        ),
        mpi(
            "pool_messages_do_not_meet_the_programs_own",
            pool_messages_do_not_meet_the_programs_own,
        ),
        mpi(
            "a_single_rank_cannot_make_a_pool",
            a_single_rank_cannot_make_a_pool,
        ),
        outer("a_dead_rank_ends_the_whole_job", a_dead_rank_ends_the_whole_job),
    ];
    support::main(&tests, &[("dead-rank", dead_rank)])
}

fn square(x: u64) -> u64 {
    x * x
}

fn map_keeps_input_order_for_every_chunk_size(world: &SimpleCommunicator) {
    if let Some(pool) = MpiPool::new(world).expect("pool") {
        let want: Vec<u64> = (0..517).map(square).collect();
        assert_eq!(pool.map(square, 0..517).expect("map"), want);
        for size in [1, 2, 5, 100, 517, 1000] {
            let got = pool
                .chunksize(size)
                .and_then(|c| c.map(square, 0..517))
                .expect("map");
            assert_eq!(got, want, "chunksize {size}");
        }
        assert_eq!(
            pool.map(square, Vec::<u64>::new()).expect("empty map"),
            Vec::<u64>::new()
        );
        pool.close();
        pool.join().expect("join");
    }
}

fn add(a: u64, b: u64) -> u64 {
    a + b
}

fn three(a: u8, b: String, c: bool) -> String {
    format!("{a}{b}{c}")
}

fn starmap_spreads_tuples(world: &SimpleCommunicator) {
    if let Some(pool) = MpiPool::new(world).expect("pool") {
        let got = pool.starmap(add, (0..50).map(|i| (i, 2 * i))).expect("starmap");
        assert_eq!(got, (0..50).map(|i| 3 * i).collect::<Vec<_>>());
        let got = pool
            .chunksize(3)
            .and_then(|c| c.starmap(three, [(1, "a".to_owned(), true), (2, "b".to_owned(), false)]))
            .expect("starmap");
        assert_eq!(got, ["1atrue", "2bfalse"]);
        pool.close();
        pool.join().expect("join");
    }
}

fn imap_reads_an_endless_input_lazily(world: &SimpleCommunicator) {
    if let Some(pool) = MpiPool::new(world).expect("pool") {
        let first: Vec<u64> = pool
            .imap(square, 0..)
            .expect("imap")
            .take(100)
            .collect::<Result<_, _>>()
            .expect("results");
        assert_eq!(first, (0..100).map(square).collect::<Vec<_>>());
        let sent = pool.tasks_sent();
        assert!(
            sent < 100 + 4 * 2 * pool.workers() as u64,
            "read ahead too far: {sent} sent"
        );
        let chunked: Vec<u64> = pool
            .chunksize(4)
            .and_then(|c| c.imap(square, 0..30))
            .expect("imap")
            .collect::<Result<_, _>>()
            .expect("results");
        assert_eq!(chunked, (0..30).map(square).collect::<Vec<_>>());
        pool.close();
        pool.join().expect("join");
    }
}

fn fails_on_seven(x: u64) -> u64 {
    if x == 7 {
        panic!("seven");
    }
    x
}

fn imap_reports_each_tasks_error_in_place(world: &SimpleCommunicator) {
    if let Some(pool) = MpiPool::new(world).expect("pool") {
        let got: Vec<Result<u64, PoolError>> = pool
            .chunksize(3)
            .and_then(|c| c.imap(fails_on_seven, 0..10))
            .expect("imap")
            .collect();
        assert_eq!(got.len(), 10);
        for (i, r) in got.into_iter().enumerate() {
            match r {
                Ok(v) => assert_eq!(v, i as u64),
                Err(PoolError::Task(TaskError::Panicked { message, .. })) => {
                    assert_eq!((i, message.as_str()), (7, "seven"));
                }
                Err(e) => panic!("unexpected {e}"),
            }
        }
        pool.close();
        pool.join().expect("join");
    }
}

fn reverse(v: Vec<u8>) -> Vec<u8> {
    v.into_iter().rev().collect()
}

fn large_arguments_and_results_travel(world: &SimpleCommunicator) {
    if let Some(pool) = MpiPool::new(world).expect("pool") {
        let big: Vec<u8> = (0..4 << 20).map(|i: u32| i as u8).collect();
        let back = pool.apply(reverse, big.clone()).expect("4 MiB each way");
        assert!(back.iter().rev().eq(big.iter()));
        pool.close();
        pool.join().expect("join");
    }
}

fn misuse_gets_pythons_errors(world: &SimpleCommunicator) {
    if let Some(pool) = MpiPool::new(world).expect("pool") {
        assert!(matches!(pool.chunksize(0), Err(PoolError::ZeroChunksize)));
        assert!(matches!(pool.join(), Err(PoolError::StillRunning)));
        assert_eq!(PoolError::StillRunning.to_string(), "Pool is still running");
        let pending = pool.apply_async(square, 9).expect("submit");
        pool.close();
        assert!(matches!(pool.apply_async(square, 1), Err(PoolError::NotRunning)));
        assert!(matches!(pool.map(square, 0..3), Err(PoolError::NotRunning)));
        pool.join().expect("join");
        assert_eq!(
            pending
                .get()
                .expect("work submitted before close still completes"),
            81
        );
        pool.join().expect("a second join is harmless");
    }
}

fn dropping_the_pool_releases_the_workers(world: &SimpleCommunicator) {
    for _ in 0..3 {
        if let Some(pool) = MpiPool::new(world).expect("pool") {
            let _pending = pool.apply_async(square, 3).expect("submit");
            let _lazy = pool.imap(square, 0..).expect("imap");
            // No close, no join: drop terminates, and the workers come back from `new`.
        }
        world.barrier();
    }
}

fn pool_messages_do_not_meet_the_programs_own(world: &SimpleCommunicator) {
    // Rank 1 sends rank 0 a message with the pool's own RESULT tag (3) on `world` before the
    // pool exists; the pool, on its duplicate of `world`, must never mistake it for a reply.
    if world.rank() == 1 {
        world.process_at_rank(0).send_with_tag(&[42u8][..], 3);
    }
    if let Some(pool) = MpiPool::new(world).expect("pool") {
        assert_eq!(pool.map(square, 0..20).expect("map")[19], 361);
        pool.close();
        pool.join().expect("join");
        let (msg, status) = world.process_at_rank(1).receive_vec_with_tag::<u8>(3);
        assert_eq!(
            (msg, status.tag()),
            (vec![42u8], 3),
            "the program's own message is still there"
        );
    }
}

fn a_single_rank_cannot_make_a_pool(world: &SimpleCommunicator) {
    let alone = world.split_by_color(mpi::topology::Color::with_value(world.rank()));
    let alone = alone.expect("a communicator of one rank");
    assert!(matches!(MpiPool::new(&alone), Err(PoolError::NoWorkers)));
}

fn dies(_x: u64) -> u64 {
    std::process::abort()
}

/// Under mpirun: a worker rank aborts in the middle of a task.
fn dead_rank(world: &SimpleCommunicator) {
    if let Some(pool) = MpiPool::new(world).expect("pool") {
        let result = pool.apply(dies, 1);
        // Never reached: the job is gone before the reply could come.
        println!("rank 0 went on after the death: {result:?}");
    }
}

/// The failure model, proved: one rank's death ends every rank, and mpirun says which died.
fn a_dead_rank_ends_the_whole_job() {
    let job = support::launch(&["--scenario", "dead-rank"], 3, Duration::from_secs(60));
    assert!(
        job.status.is_some(),
        "the job must end by itself, not hang:\n{}",
        job.report()
    );
    assert!(!job.success(), "mpirun must fail:\n{}", job.report());
    assert!(
        !job.stdout.contains("went on"),
        "rank 0 must not survive:\n{}",
        job.report()
    );
    let said = format!("{}{}", job.stdout, job.stderr);
    assert!(
        said.contains("rank 1") || said.contains("rank 2"),
        "mpirun names the dead rank:\n{}",
        job.report()
    );
}
