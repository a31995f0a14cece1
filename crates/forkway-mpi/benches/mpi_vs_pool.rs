//! The cost of the engine: MpiPool against forkway's Pool on one machine, and the per-message
//! costs that feed the chapter's scaling model.
//!
//! `cargo bench -p forkway-mpi` re-runs this binary under `mpirun -n 3` (one parent, two
//! workers, like `Pool(2)`), and rank 0 measures, interleaving the two pools round by round so
//! that a noisy, shared machine affects both alike:
//!
//! - ping-pong between ranks 0 and 1 on `MPI_COMM_WORLD` (8 B and 1 MiB): the latency α and
//!   the time per byte β of one message;
//! - `map` of 100 000 trivial tasks, and one `apply` round trip, on both pools;
//! - the scaling model of chapter 8, evaluated with the measured costs.

use forkway_testkit::mpi_harness as support;

use std::process::ExitCode;
use std::time::{Duration, Instant};

use forkway_mpi::MpiPool;
use mpi::point_to_point::{Destination, Source};
use mpi::topology::{Communicator, SimpleCommunicator};

const ROUNDS: usize = 7;
const TASKS: u64 = 100_000;

fn trivial(x: u64) -> u64 {
    x.wrapping_mul(x)
}

fn main() -> ExitCode {
    if !support::inside_mpi() {
        if support::find_mpirun().is_none() {
            eprintln!(
                "this bench runs on MPI ranks; install Open MPI: {}",
                support::INSTALL
            );
            return ExitCode::FAILURE;
        }
        let job = support::launch(&["--inside"], 3, Duration::from_secs(600));
        print!("{}", job.stdout);
        if !job.success() {
            eprintln!("{}", job.report());
            return ExitCode::FAILURE;
        }
        return ExitCode::SUCCESS;
    }
    let Some(universe) = mpi::initialize() else {
        return ExitCode::FAILURE;
    };
    let world = universe.world();
    let (alpha, beta) = ping_pong(&world);
    if let Some(mpi_pool) = MpiPool::new(&world).expect("an MpiPool of 3 ranks") {
        report(&mpi_pool, alpha, beta);
        mpi_pool.close();
        mpi_pool.join().expect("join");
    }
    ExitCode::SUCCESS
}

/// One-way latency (seconds) and seconds per byte between ranks 0 and 1.
fn ping_pong(world: &SimpleCommunicator) -> (f64, f64) {
    let one_way = |bytes: usize, trips: usize| -> f64 {
        let msg = vec![7u8; bytes];
        let mut times = Vec::new();
        for _ in 0..ROUNDS {
            let started = Instant::now();
            for _ in 0..trips {
                match world.rank() {
                    0 => {
                        world.process_at_rank(1).send(&msg[..]);
                        let _ = world.process_at_rank(1).receive_vec::<u8>();
                    }
                    1 => {
                        let (m, _) = world.process_at_rank(0).receive_vec::<u8>();
                        world.process_at_rank(0).send(&m[..]);
                    }
                    _ => {}
                }
            }
            times.push(started.elapsed().as_secs_f64() / trips as f64 / 2.0);
        }
        median(times)
    };
    if world.rank() > 1 {
        // Rank 2 is not part of the ping-pong: it waits without spinning (a core is precious).
        let _ = forkway_mpi::wait::receive_bytes(&world.process_at_rank(0), Some(99));
        return (0.0, 0.0);
    }
    let alpha = one_way(8, 2000);
    let big = 1 << 20;
    let beta = (one_way(big, 50) - alpha) / big as f64;
    if world.rank() == 0 {
        for r in 2..world.size() {
            world.process_at_rank(r).send_with_tag(&[0u8][..], 99);
        }
    }
    (alpha, beta)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn report(mpi_pool: &MpiPool, alpha: f64, beta: f64) {
    let pool = forkway_pool::Pool::new(mpi_pool.workers()).expect("a forkway Pool");
    let (mut mpi_map, mut fw_map, mut mpi_rt, mut fw_rt) = (vec![], vec![], vec![], vec![]);
    for _ in 0..ROUNDS {
        let t = Instant::now();
        let a = mpi_pool.map(trivial, 0..TASKS).expect("MpiPool map");
        mpi_map.push(t.elapsed().as_secs_f64());
        let t = Instant::now();
        let b = pool.map(trivial, 0..TASKS).expect("Pool map");
        fw_map.push(t.elapsed().as_secs_f64());
        assert_eq!(a, b);
        let t = Instant::now();
        for i in 0..200 {
            mpi_pool.apply(trivial, i).expect("apply");
        }
        mpi_rt.push(t.elapsed().as_secs_f64() / 200.0);
        let t = Instant::now();
        for i in 0..200 {
            pool.apply(trivial, i).expect("apply");
        }
        fw_rt.push(t.elapsed().as_secs_f64() / 200.0);
    }
    pool.close();
    let _ = pool.join();
    let (mpi_map, fw_map, mpi_rt, fw_rt) = (median(mpi_map), median(fw_map), median(mpi_rt), median(fw_rt));
    let us = 1e6;
    println!(
        "forkway-mpi bench: {} workers, medians of {ROUNDS} interleaved rounds",
        mpi_pool.workers()
    );
    println!("| workload | MpiPool | forkway Pool | MpiPool / Pool |");
    println!("|---|---|---|---|");
    println!(
        "| map of {TASKS} trivial tasks | {:.2} ms | {:.2} ms | {:.2}× |",
        mpi_map * 1e3,
        fw_map * 1e3,
        mpi_map / fw_map
    );
    println!(
        "| one apply round trip | {:.1} µs | {:.1} µs | {:.2}× |",
        mpi_rt * us,
        fw_rt * us,
        mpi_rt / fw_rt
    );
    println!();
    println!("per-message costs, rank 0 ↔ rank 1 on this machine (shared memory):");
    println!(
        "  latency α = {:.2} µs, time per byte β = {:.3} ns ({:.2} GB/s)",
        alpha * us,
        beta * 1e9,
        1e-9 / beta
    );
    // Rank 0 encodes every argument and decodes every result: its cost per task, e, is the
    // serial part of a map. Measured from the map above (an upper bound: it includes the wait).
    let e = mpi_map / TASKS as f64;
    println!("  rank 0's cost per trivial task in a map e = {:.3} µs", e * us);
    println!();
    println!("scaling model (chapter 8): T(P) = max(N·t/P, N·(e + s·β)) + 8·(α + c·s·β), N = {TASKS}, s = 16 B per task,");
    println!("chunks of c = N/(4P) tasks; efficiency = N·t / (P·T(P))");
    let networks = [
        ("this machine (measured)", alpha, beta),
        ("10 GbE TCP (assumed α = 30 µs, 1.1 GB/s)", 30e-6, 1.0 / 1.1e9),
        ("InfiniBand HDR (assumed α = 1.5 µs, 20 GB/s)", 1.5e-6, 1.0 / 20e9),
    ];
    let s = 16.0;
    let n = TASKS as f64;
    for (name, a, b) in networks {
        println!("\n{name}");
        println!("| task cost t | P = 2 | 8 | 32 | 128 | 512 |");
        println!("|---|---|---|---|---|---|");
        for t in [10e-6, 1e-3, 100e-3] {
            let cells: Vec<String> = [2.0, 8.0, 32.0, 128.0, 512.0]
                .iter()
                .map(|&p| {
                    let c = n / (4.0 * p);
                    let time = (n * t / p).max(n * (e + s * b)) + 8.0 * (a + c * s * b);
                    format!("{:.0} %", 100.0 * n * t / (p * time))
                })
                .collect();
            println!("| {} | {} |", fmt_time(t), cells.join(" | "));
        }
    }
}

fn fmt_time(t: f64) -> String {
    if t < 1e-3 {
        format!("{:.0} µs", t * 1e6)
    } else {
        format!("{:.0} ms", t * 1e3)
    }
}
