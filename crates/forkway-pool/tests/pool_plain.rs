//! The map family's fast path for plain data (arguments as fixed-width records in a shared
//! arena, results stored there by the workers): taken when it applies, equal to the serial
//! result at every size and chunk boundary, and as safe as the ordinary path — a panicking
//! task is its error, a worker SIGKILLed mid-chunk fails the map without a hang, and the next
//! map is right. Under every start method.
//!
//! Every test calls `forkway_start::bootstrap()` first: a spawned worker re-runs this test
//! binary with `--exact <test name>`, and `bootstrap` is where it becomes a worker.

use forkway_pool::{Pool, PoolError, TaskError};
use forkway_start::{bootstrap, Context, StartMethod};
use forkway_testkit::{Watchdog, BOUND};
use serde::{Deserialize, Serialize};

const ARENA: usize = 0;
const ORDINARY: usize = 1;

const METHODS: [StartMethod; 3] = [StartMethod::Fork, StartMethod::Forkserver, StartMethod::Spawn];

fn pool(method: StartMethod, processes: usize) -> Pool {
    Pool::builder()
        .processes(processes)
        .context(Context::new(method))
        .build()
        .unwrap_or_else(|e| panic!("{method}: pool: {e}"))
}

/// Runs `call` and returns which path its one map job took.
fn path_of(pool: &Pool, call: impl FnOnce()) -> usize {
    let before = pool.map_paths();
    call();
    let after = pool.map_paths();
    let taken: Vec<usize> = (0..2).filter(|i| after[*i] != before[*i]).collect();
    assert_eq!(taken.len(), 1, "one map job: {before:?} -> {after:?}");
    taken[0]
}

/// Sizes around the chunk boundaries of a pool of 2 with the default chunksize (8 chunks).
const SIZES: [u64; 9] = [1, 2, 7, 8, 9, 15, 16, 17, 1001];

#[test]
fn maps_of_every_primitive_equal_the_serial_result() {
    bootstrap();
    let _watchdog = Watchdog::new("the maps");
    let pool = pool(StartMethod::Fork, 2);
    for n in SIZES {
        let got = path_of(&pool, || {
            assert_eq!(
                pool.map(|x: u64| x.wrapping_mul(3) + u64::MAX / 2, 0..n)
                    .expect("u64"),
                (0..n)
                    .map(|x| x.wrapping_mul(3) + u64::MAX / 2)
                    .collect::<Vec<_>>()
            );
        });
        assert_eq!(got, ARENA, "u64, n = {n}");
        let ints: Vec<i32> = (0..n as i32).map(|i| i - 500).collect();
        let got = path_of(&pool, || {
            assert_eq!(
                pool.map(|x: i32| x * -7, ints.clone()).expect("i32"),
                ints.iter().map(|x| x * -7).collect::<Vec<_>>()
            );
        });
        assert_eq!(got, ARENA, "i32, n = {n}");
        let got = path_of(&pool, || {
            assert_eq!(
                pool.map(|x: u64| x as f64 / 3.0, 0..n).expect("f64"),
                (0..n).map(|x| x as f64 / 3.0).collect::<Vec<_>>()
            );
        });
        assert_eq!(got, ARENA, "f64, n = {n}");
        let got = path_of(&pool, || {
            assert_eq!(
                pool.map(|x: u64| x.is_multiple_of(3), 0..n).expect("bool"),
                (0..n).map(|x| x.is_multiple_of(3)).collect::<Vec<_>>()
            );
        });
        assert_eq!(got, ARENA, "bool, n = {n}");
    }
    // The other primitives, each way round.
    let chars: Vec<char> = "aé€😀z".chars().collect();
    assert_eq!(
        pool.map(|c: char| c as u32, chars.clone()).expect("char -> u32"),
        chars.iter().map(|c| *c as u32).collect::<Vec<_>>()
    );
    assert_eq!(
        pool.map(|c: u32| char::from_u32(c + 1).unwrap_or('?'), [96u32, 0x1F5FF])
            .expect("u32 -> char"),
        ['a', '😀']
    );
    assert_eq!(
        pool.map(|x: u8| i8::try_from(x).unwrap_or(-1), [1u8, 200])
            .expect("u8"),
        [1, -1]
    );
    assert_eq!(
        pool.map(|x: i16| u16::try_from(x).unwrap_or(9), [-1i16, 7])
            .expect("i16"),
        [9, 7]
    );
    assert_eq!(pool.map(|x: f32| x as i64, [2.5f32, -1.5]).expect("f32"), [2, -1]);
    assert_eq!(
        pool.map(|x: usize| x as isize - 1, [0usize, 5]).expect("usize"),
        [-1, 4]
    );
    assert_eq!(pool.map(|x: isize| x as f32, [-3isize]).expect("isize"), [-3.0]);
    assert_eq!(pool.map_paths()[ORDINARY], 0, "every map so far was plain");
}

#[test]
fn a_large_map_and_chosen_chunksizes_equal_the_serial_result() {
    bootstrap();
    let _watchdog = Watchdog::new("the maps");
    let pool = pool(StartMethod::Fork, 2);
    let got = path_of(&pool, || {
        let out = pool.map(|x: u64| x + 1, 0..100_000).expect("map");
        assert_eq!(out, (1..=100_000).collect::<Vec<u64>>());
    });
    assert_eq!(got, ARENA);
    for chunksize in [1, 3, 7, 10, 1000] {
        let out = pool
            .chunksize(chunksize)
            .expect("chunksize")
            .map(|x: i64| x * x, -50..50)
            .expect("map");
        assert_eq!(
            out,
            (-50..50i64).map(|x| x * x).collect::<Vec<_>>(),
            "chunksize {chunksize}"
        );
    }
    // Many maps in a row reuse the arena.
    for round in 0..50u64 {
        let out = pool.map(|x: u64| x ^ 0xFF, round..round + 300).expect("map");
        assert_eq!(out, (round..round + 300).map(|x| x ^ 0xFF).collect::<Vec<_>>());
    }
    pool.close();
    pool.join().expect("join");
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq)]
struct Point {
    x: f64,
    y: i32,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq)]
struct Meters(u32);

#[test]
fn plain_records_starmap_and_newtypes_take_the_fast_path() {
    bootstrap();
    let _watchdog = Watchdog::new("the maps");
    let pool = pool(StartMethod::Fork, 2);
    let pairs: Vec<(u32, i64)> = (0..100).map(|i| (i, -(i as i64))).collect();
    let got = path_of(&pool, || {
        let out = pool
            .starmap(|a: u32, b: i64| a as i64 * b, pairs.clone())
            .expect("starmap");
        assert_eq!(out, pairs.iter().map(|(a, b)| *a as i64 * b).collect::<Vec<_>>());
    });
    assert_eq!(got, ARENA, "a tuple of numbers is a record");
    let points: Vec<Point> = (0..40).map(|i| Point { x: i as f64, y: -i }).collect();
    let got = path_of(&pool, || {
        let out = pool
            .map(|p: Point| p.x * p.y as f64, points.clone())
            .expect("map");
        assert_eq!(out, points.iter().map(|p| p.x * p.y as f64).collect::<Vec<_>>());
    });
    assert_eq!(got, ARENA, "a struct of numbers is a record");
    let got = path_of(&pool, || {
        let out = pool.map(|m: Meters| m.0 * 2, (0..30).map(Meters)).expect("map");
        assert_eq!(out, (0..30).map(|m| m * 2).collect::<Vec<u32>>());
    });
    assert_eq!(got, ARENA, "a newtype of a number is a record");
    // A result that is not a primitive: its size is not known before it exists.
    let got = path_of(&pool, || {
        let out = pool
            .map(|x: u64| Point { x: x as f64, y: 1 }, 0..20)
            .expect("map");
        assert_eq!(
            out,
            (0..20).map(|x| Point { x: x as f64, y: 1 }).collect::<Vec<_>>()
        );
    });
    assert_eq!(got, ORDINARY);
}

#[test]
fn data_that_is_not_plain_takes_the_ordinary_path() {
    bootstrap();
    let _watchdog = Watchdog::new("the maps");
    let pool = pool(StartMethod::Fork, 2);
    let words: Vec<String> = ["a", "bb", "ccc"].map(String::from).to_vec();
    let got = path_of(&pool, || {
        assert_eq!(
            pool.map(|w: String| w.len(), words.clone()).expect("map"),
            [1, 2, 3]
        );
    });
    assert_eq!(got, ORDINARY, "a String argument");
    let got = path_of(&pool, || {
        assert_eq!(
            pool.map(|x: u64| x.to_string(), 0..3).expect("map"),
            ["0", "1", "2"]
        );
    });
    assert_eq!(got, ORDINARY, "a String result");
    let got = path_of(&pool, || {
        assert_eq!(
            pool.map(|x: Option<u8>| x.unwrap_or(0), [Some(1), None])
                .expect("map"),
            [1, 0]
        );
    });
    assert_eq!(got, ORDINARY, "an Option");
    let got = path_of(&pool, || {
        assert_eq!(pool.map(|x: u64| x, Vec::new()).expect("map"), Vec::<u64>::new());
    });
    assert_eq!(got, ORDINARY, "no items, no shape");
}

#[test]
fn a_second_map_while_the_first_holds_the_arena_is_right_too() {
    bootstrap();
    let _watchdog = Watchdog::new("the maps");
    let pool = pool(StartMethod::Fork, 2);
    let first = pool.map_async(|x: u64| x * 2, 0..5000).expect("submit");
    let got = path_of(&pool, || {
        let second = pool.map_async(|x: u64| x * 3, 0..5000).expect("submit");
        assert_eq!(
            second.get_timeout(BOUND).expect("second"),
            (0..5000).map(|x| x * 3).collect::<Vec<_>>()
        );
    });
    assert_eq!(got, ORDINARY, "the arena was taken");
    assert_eq!(
        first.get_timeout(BOUND).expect("first"),
        (0..5000).map(|x| x * 2).collect::<Vec<_>>()
    );
    let got = path_of(&pool, || {
        assert_eq!(
            pool.map(|x: u64| x + 7, 0..10).expect("map"),
            (7..17).collect::<Vec<_>>()
        );
    });
    assert_eq!(got, ARENA, "given back once the first map was in");
}

fn panics_at_40(x: u64) -> u64 {
    if x == 40 || x == 77 {
        panic!("task {x} refuses");
    }
    x + 1
}

#[test]
fn a_panicking_task_in_a_fast_map_is_its_error_and_the_rest_still_run() {
    bootstrap();
    let _watchdog = Watchdog::new("the maps");
    let pool = pool(StartMethod::Fork, 2);
    for chunksize in [1, 5, 100] {
        let got = path_of(&pool, || {
            match pool
                .chunksize(chunksize)
                .expect("chunksize")
                .map(panics_at_40, 0..100)
            {
                Err(PoolError::Task(TaskError::Panicked { message, .. })) => {
                    assert_eq!(message, "task 40 refuses", "the earliest failed item");
                }
                other => panic!("expected the panic, got {other:?}"),
            }
        });
        assert_eq!(got, ARENA);
    }
    // imap delivers item by item: the items around the panics are there, right.
    let items: Vec<Result<u64, PoolError>> = pool
        .chunksize(10)
        .expect("chunksize")
        .imap(panics_at_40, 0..100)
        .expect("imap")
        .collect();
    for (x, item) in items.iter().enumerate() {
        match item {
            Ok(v) => assert_eq!(*v, x as u64 + 1),
            Err(PoolError::Task(TaskError::Panicked { .. })) => assert!(x == 40 || x == 77),
            Err(e) => panic!("item {x}: {e}"),
        }
    }
    // And a map after them is right: the arena was given back.
    assert_eq!(
        pool.map(|x: u64| x, 0..1000).expect("map"),
        (0..1000).collect::<Vec<_>>()
    );
}

/// SIGKILLs its own worker on item 500: the death the parent must notice.
fn dies_at_500(x: u64) -> u64 {
    if x == 500 {
        let _ = nix::sys::signal::kill(nix::unistd::getpid(), nix::sys::signal::Signal::SIGKILL);
        std::thread::sleep(BOUND * 2);
    }
    x * 2
}

#[test]
fn a_worker_killed_mid_chunk_fails_the_fast_map_under_every_method() {
    bootstrap();
    for method in METHODS {
        let _watchdog = Watchdog::new(&format!("the {method} pool's maps"));
        let pool = pool(method, 2);
        let got = path_of(&pool, || {
            let map = pool.map_async(dies_at_500, 0..1000).expect("submit");
            // Bounded: were the death missed, this would wait for ever.
            match map.get_timeout(BOUND) {
                Err(PoolError::Task(TaskError::WorkerDied { exitcode, .. })) => {
                    assert_eq!(exitcode, -9, "{method}");
                }
                other => panic!("{method}: expected WorkerDied, got {other:?}"),
            }
        });
        assert_eq!(got, ARENA, "{method}");
        // The dead worker's half-written results are not read: the next maps are right, and
        // take the arena again (it was given back when the dead chunk was written off).
        for _ in 0..3 {
            let got = path_of(&pool, || {
                let out = pool.map_async(|x: u64| x * 5, 0..20_000).expect("submit");
                assert_eq!(
                    out.get_timeout(BOUND).expect("the pool still works"),
                    (0..20_000).map(|x| x * 5).collect::<Vec<_>>(),
                    "{method}"
                );
            });
            assert_eq!(got, ARENA, "{method}");
        }
        pool.close();
        pool.join().expect("join");
    }
}

#[test]
fn fast_maps_are_right_under_every_start_method() {
    bootstrap();
    for method in METHODS {
        let _watchdog = Watchdog::new(&format!("the {method} pool's maps"));
        let pool = pool(method, 2);
        for n in [1u64, 9, 10_000] {
            let got = path_of(&pool, || {
                let out = pool.map(|x: u64| x * x, 0..n).expect("map");
                assert_eq!(out, (0..n).map(|x| x * x).collect::<Vec<_>>(), "{method}");
            });
            assert_eq!(got, ARENA, "{method}");
        }
        let out = pool
            .starmap(|a: i32, b: f64| a as f64 + b, [(1, 0.5), (2, 0.25)])
            .expect("starmap");
        assert_eq!(out, [1.5, 2.25], "{method}");
        pool.terminate();
        pool.join().expect("join");
    }
}

/// A `u64` whose `Deserialize` refuses 15: an argument that serializes as a plain record and
/// does not decode in the worker.
#[derive(Debug, Clone, Copy)]
struct Picky(u64);

impl Serialize for Picky {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(self.0)
    }
}

impl<'de> Deserialize<'de> for Picky {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Picky, D::Error> {
        match u64::deserialize(d)? {
            15 => Err(serde::de::Error::custom("15 is refused")),
            x => Ok(Picky(x)),
        }
    }
}

fn panics_at_12(p: Picky) -> u64 {
    if p.0 == 12 {
        panic!("task 12 ran");
    }
    p.0
}

#[test]
fn a_fast_chunk_whose_arguments_do_not_decode_runs_none_of_its_tasks() {
    bootstrap();
    let _watchdog = Watchdog::new("the maps");
    let pool = pool(StartMethod::Fork, 2);
    let got = path_of(&pool, || {
        // Chunk 10..20 holds 15, which does not decode: had its task 12 run, the map's error
        // would be that panic (the earliest failed item's).
        match pool
            .chunksize(10)
            .expect("chunksize")
            .map(panics_at_12, (0..30).map(Picky))
        {
            Err(PoolError::Task(TaskError::ArgsNotDecodable(message))) => {
                assert!(message.contains("15 is refused"), "{message}");
            }
            other => panic!("expected ArgsNotDecodable, got {other:?}"),
        }
    });
    assert_eq!(got, ARENA);
    assert_eq!(
        pool.map(|x: u64| x, 0..1000).expect("map"),
        (0..1000).collect::<Vec<_>>()
    );
}
