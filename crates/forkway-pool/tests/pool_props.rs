//! Properties across real processes: `map`, `imap` and `starmap` equal the sequential result
//! for random inputs and chunk sizes; `imap_unordered` is a permutation of it. One pool serves
//! every case (starting workers per case would test fork, not the pool).

use std::sync::OnceLock;

use forkway_pool::Pool;
use proptest::prelude::*;

fn mix(x: i64) -> i64 {
    x.wrapping_mul(0x9E37_79B9).rotate_left(7) ^ 0x5bd1
}

fn mix2(a: i64, b: u8) -> i64 {
    mix(a).wrapping_add(i64::from(b))
}

fn lengths(s: String) -> (usize, String) {
    (s.len(), s.to_uppercase())
}

/// Proptest runs cases on this thread; the pool lives for the whole test binary.
fn with_pool(f: impl FnOnce(&Pool)) {
    thread_local! {
        static POOL: OnceLock<Pool> = const { OnceLock::new() };
    }
    POOL.with(|p| f(p.get_or_init(|| Pool::new(3).expect("pool"))));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn map_equals_the_sequential_map(xs in prop::collection::vec(any::<i64>(), 0..300), chunk in 0usize..40) {
        let expected: Vec<i64> = xs.iter().copied().map(mix).collect();
        with_pool(|pool| {
            let got = if chunk == 0 {
                pool.map(mix, xs.clone()).expect("map")
            } else {
                pool.chunksize(chunk).expect("chunk").map(mix, xs.clone()).expect("map")
            };
            assert_eq!(got, expected);
        });
    }

    #[test]
    fn imap_equals_and_imap_unordered_permutes(xs in prop::collection::vec(any::<i64>(), 0..300), chunk in 1usize..40) {
        let expected: Vec<i64> = xs.iter().copied().map(mix).collect();
        with_pool(|pool| {
            let chunked = pool.chunksize(chunk).expect("chunk");
            let got: Vec<i64> = chunked.imap(mix, xs.clone()).expect("imap").map(|r| r.expect("ok")).collect();
            assert_eq!(&got, &expected);
            let mut got: Vec<i64> = chunked.imap_unordered(mix, xs.clone()).expect("imap").map(|r| r.expect("ok")).collect();
            let mut sorted = expected.clone();
            got.sort_unstable();
            sorted.sort_unstable();
            assert_eq!(got, sorted);
        });
    }

    #[test]
    fn starmap_equals_the_sequential_starmap(pairs in prop::collection::vec((any::<i64>(), any::<u8>()), 0..200), chunk in 0usize..30) {
        let expected: Vec<i64> = pairs.iter().map(|&(a, b)| mix2(a, b)).collect();
        with_pool(|pool| {
            let got = if chunk == 0 {
                pool.starmap(mix2, pairs.clone()).expect("starmap")
            } else {
                pool.chunksize(chunk).expect("chunk").starmap(mix2, pairs.clone()).expect("starmap")
            };
            assert_eq!(got, expected);
        });
    }

    #[test]
    fn strings_travel_whole(words in prop::collection::vec(".{0,40}", 0..60)) {
        let expected: Vec<(usize, String)> = words.iter().cloned().map(lengths).collect();
        with_pool(|pool| assert_eq!(pool.map(lengths, words.clone()).expect("map"), expected));
    }
}
