//! Times `map` of 100 000 trivial tasks on a pool of 2 (median of rounds): a small program to
//! profile the pool's hot path with `perf record`, and to compare two builds side by side.
//!
//! `map100k_timing [ROUNDS] [rayon | CHUNKSIZE]`: `rayon` times rayon's map on 2 threads
//! instead; a number maps with that chunk size instead of the default.
use std::time::Instant;

use forkway_pool::Pool;

fn trivial(x: u64) -> u64 {
    x + 1
}

fn main() {
    let rounds: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(200);
    if std::env::args().nth(2).as_deref() == Some("rayon") {
        return rayon_main(rounds);
    }
    let chunksize: Option<usize> = std::env::args().nth(2).and_then(|s| s.parse().ok());
    let pool = Pool::new(2).expect("pool");
    let map = || match chunksize {
        Some(c) => pool.chunksize(c).expect("chunksize").map(trivial, 0..100_000),
        None => pool.map(trivial, 0..100_000),
    };
    for _ in 0..20 {
        assert_eq!(map().expect("map").len(), 100_000);
    }
    let mut times: Vec<f64> = (0..rounds)
        .map(|_| {
            let t = Instant::now();
            let out = map().expect("map");
            let e = t.elapsed().as_secs_f64() * 1e3;
            assert_eq!(out.len(), 100_000);
            assert_eq!(out[99_999], 100_000);
            e
        })
        .collect();
    times.sort_by(f64::total_cmp);
    println!(
        "map100k ms: median {:.3} p25 {:.3} min {:.3} ({rounds} rounds)",
        times[rounds / 2],
        times[rounds / 4],
        times[0]
    );
}

fn rayon_main(rounds: usize) {
    use rayon::prelude::*;
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .build()
        .expect("rayon");
    let mut times: Vec<f64> = (0..rounds)
        .map(|_| {
            let t = Instant::now();
            let out: Vec<u64> = pool.install(|| {
                (0..100_000usize)
                    .into_par_iter()
                    .map(|i| trivial(i as u64))
                    .collect()
            });
            let e = t.elapsed().as_secs_f64() * 1e3;
            assert_eq!(out.len(), 100_000);
            e
        })
        .collect();
    times.sort_by(f64::total_cmp);
    println!(
        "rayon map100k ms: median {:.4} min {:.4}",
        times[rounds / 2],
        times[0]
    );
}
