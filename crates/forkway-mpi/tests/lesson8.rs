//! Lesson 8's graded checks. Each runs on every rank of an MPI job: `cargo test -p forkway-mpi
//! --test lesson8` starts one `mpirun -n 3` per test (see `forkway_testkit::mpi_harness`), and
//! the course runner runs `mpirun -n 3 <this binary> <test> --exact`.

use forkway_testkit::mpi_harness as support;

#[path = "../examples/squares.rs"]
#[allow(dead_code)]
mod squares;

#[path = "../examples/producer_consumer.rs"]
#[allow(dead_code)]
mod producer_consumer;

use std::process::ExitCode;
use std::sync::atomic::{AtomicI32, Ordering};

use forkway_mpi::{scatter_map, split_counts, MpiPool, PoolError, TaskError};
use mpi::topology::{Communicator, SimpleCommunicator};
use mpi::traits::CommunicatorCollectives;
use support::{mpi, Test};

fn main() -> ExitCode {
    let tests: Vec<Test> = vec![
        mpi("split_counts_share_items_evenly", split_counts_share_items_evenly),
        mpi(
            "scatter_map_returns_results_in_input_order",
            scatter_map_returns_results_in_input_order,
        ),
        mpi("every_rank_maps_its_own_share", every_rank_maps_its_own_share),
        mpi(
            "workers_run_chunks_and_reply_with_their_seq",
            workers_run_chunks_and_reply_with_their_seq,
        ),
        mpi(
            "a_panicking_task_is_that_tasks_error",
            a_panicking_task_is_that_tasks_error,
        ),
        mpi("join_stops_every_worker", join_stops_every_worker),
        mpi("example_squares", example_squares),
        mpi("example_producer_consumer", example_producer_consumer),
    ];
    support::main(&tests, &[])
}

fn square(x: u64) -> u64 {
    x * x
}

/// 8.1: exact shares, including more ranks than items and no items at all.
fn split_counts_share_items_evenly(_world: &SimpleCommunicator) {
    assert_eq!(split_counts(10, 3), [4, 3, 3]);
    assert_eq!(split_counts(11, 3), [4, 4, 3]);
    assert_eq!(split_counts(9, 3), [3, 3, 3]);
    assert_eq!(split_counts(2, 3), [1, 1, 0]);
    assert_eq!(split_counts(0, 4), [0, 0, 0, 0]);
    assert_eq!(split_counts(7, 1), [7]);
    assert_eq!(split_counts(5, 0), [5], "0 ranks counts as 1");
    for items in 0..50 {
        for ranks in 1..9 {
            let counts = split_counts(items, ranks);
            assert_eq!(counts.len(), ranks);
            assert_eq!(
                counts.iter().sum::<usize>(),
                items,
                "split_counts({items}, {ranks})"
            );
            assert!(
                counts.windows(2).all(|w| w[0] >= w[1] && w[0] - w[1] <= 1),
                "{counts:?}"
            );
        }
    }
}

/// 8.2: rank 0 gets every result, in input order, for sizes that do and do not divide evenly.
fn scatter_map_returns_results_in_input_order(world: &SimpleCommunicator) {
    for n in [0u64, 1, 2, 10, 1000, 1001] {
        let items: Vec<u64> = if world.rank() == 0 {
            (0..n).collect()
        } else {
            Vec::new()
        };
        let got = scatter_map(world, square, &items);
        if world.rank() == 0 {
            let want: Vec<u64> = (0..n).map(square).collect();
            assert_eq!(got.as_deref(), Some(&want[..]), "scatter_map of 0..{n}");
        } else {
            assert_eq!(got, None, "only rank 0 gets the results");
        }
    }
}

static RANK: AtomicI32 = AtomicI32::new(-1);

/// Tags each item with the rank that computed it (rank r adds (r + 1) millions).
fn tag_with_rank(x: u64) -> u64 {
    (RANK.load(Ordering::SeqCst) as u64 + 1) * 1_000_000 + x
}

/// 8.2: each rank computes exactly its `split_counts` share — rank 0 the first.
fn every_rank_maps_its_own_share(world: &SimpleCommunicator) {
    RANK.store(world.rank(), Ordering::SeqCst);
    let n = 3 * world.size() as u64 + 1;
    let items: Vec<u64> = if world.rank() == 0 {
        (0..n).collect()
    } else {
        Vec::new()
    };
    let got = scatter_map(world, tag_with_rank, &items);
    if world.rank() == 0 {
        let mut want = Vec::new();
        let mut next = 0u64;
        for (rank, count) in split_counts(n as usize, world.size() as usize)
            .into_iter()
            .enumerate()
        {
            for _ in 0..count {
                want.push((rank as u64 + 1) * 1_000_000 + next);
                next += 1;
            }
        }
        assert_eq!(
            got,
            Some(want),
            "item i must be computed by the rank whose share holds it"
        );
    }
}

/// 8.3: chunks reach workers and their replies come back to the right job, in order.
fn workers_run_chunks_and_reply_with_their_seq(world: &SimpleCommunicator) {
    if let Some(pool) = MpiPool::new(world).expect("a pool of 3 ranks") {
        assert_eq!(pool.workers(), world.size() as usize - 1);
        let want: Vec<u64> = (0..1000).map(square).collect();
        assert_eq!(pool.map(square, 0..1000).expect("map"), want);
        assert_eq!(
            pool.chunksize(7)
                .and_then(|p| p.map(square, 0..100))
                .expect("map"),
            want[..100]
        );
        let many: Vec<_> = (0..20)
            .map(|i| pool.apply_async(square, i).expect("submit"))
            .collect();
        for (i, r) in many.into_iter().enumerate() {
            assert_eq!(r.get().expect("apply_async"), want[i]);
        }
        assert_eq!(pool.tasks_sent(), 1000 + 100 + 20);
        pool.close();
        pool.join().expect("join");
    }
}

fn fails_on_odd(x: u64) -> u64 {
    assert!(x.is_multiple_of(2), "odd input {x}");
    x
}

/// 8.3: a task's panic is its own error; the worker survives and runs the next tasks.
fn a_panicking_task_is_that_tasks_error(world: &SimpleCommunicator) {
    if let Some(pool) = MpiPool::new(world).expect("a pool") {
        let err = pool.apply(fails_on_odd, 3).expect_err("3 is odd");
        match err {
            PoolError::Task(TaskError::Panicked {
                message,
                location,
                rank,
            }) => {
                assert_eq!(message, "odd input 3");
                assert!(location.contains("lesson8.rs"), "{location}");
                assert!(rank >= 1, "a worker rank ran it, not {rank}");
            }
            other => panic!("expected the task's panic, got {other:?}"),
        }
        assert_eq!(pool.apply(fails_on_odd, 4).expect("the worker lives on"), 4);
        let err = pool.map(fails_on_odd, [0, 2, 5, 6]).expect_err("5 is odd");
        assert!(err.to_string().contains("odd input 5"), "{err}");
        pool.close();
        pool.join().expect("join");
    }
}

/// 8.3: after `join`, every worker has left its loop: all ranks meet at a barrier.
fn join_stops_every_worker(world: &SimpleCommunicator) {
    for _ in 0..3 {
        if let Some(pool) = MpiPool::new(world).expect("a pool") {
            assert_eq!(pool.map(square, 0..10).expect("map")[9], 81);
            pool.close();
            pool.join().expect("join");
        }
        // A worker still in its loop never gets here, and the job times out.
        world.barrier();
    }
}

/// 8.4: the seed's three pool programs, run by the workers.
fn example_squares(world: &SimpleCommunicator) {
    if let Some(pool) = MpiPool::new(world).expect("a pool") {
        let got = squares::squares(&pool).expect("the squares");
        let ten: Vec<u64> = (0..10).map(|x| x * x).collect();
        assert_eq!(
            got,
            squares::Squares {
                mapped: ten.clone(),
                one: 4,
                each: ten
            }
        );
        assert_eq!(
            pool.tasks_sent(),
            21,
            "map(0..10), apply_async(2) and ten apply_async: 21 tasks on the workers"
        );
        pool.close();
        pool.join().expect("join");
    }
}

/// 8.5: every item reaches the consumer, in order, and its report reaches rank 0.
fn example_producer_consumer(world: &SimpleCommunicator) {
    let buns: Vec<String> = (0..10).map(|i| format!("包子{i}")).collect();
    let got = producer_consumer::producer_consumer(world, &buns);
    if world.rank() == 0 {
        assert_eq!(got, Some(buns.clone()));
    } else {
        assert_eq!(got, None);
    }
    // A second round on the same ranks: the first must have consumed its own end message.
    let more: Vec<String> = (10..13).map(|i| format!("包子{i}")).collect();
    let got = producer_consumer::producer_consumer(world, &more);
    if world.rank() == 0 {
        assert_eq!(got, Some(more));
    }
}
