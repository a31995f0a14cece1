//! Properties of the locks and semaphores across real processes, for random numbers of
//! processes and iterations: mutual exclusion is exact, a semaphore never admits more than its
//! permits, and RLock recursion always balances.

use forkway_testkit as support;

use forkway_process::Process;
use forkway_sync::{Lock, RLock, RawValue, Semaphore, Value};
use proptest::prelude::*;
use support::*;

/// Starts `n` processes running `body(i)` and checks they all exit with 0.
fn run_all(n: usize, body: impl Fn(usize) -> Box<dyn FnOnce() + Send>) -> Result<(), TestCaseError> {
    let mut procs: Vec<Process> = (0..n).map(|i| Process::new(body(i))).collect();
    for p in &mut procs {
        p.start().expect("start");
    }
    for p in &procs {
        prop_assert_eq!(join_bounded(p), 0);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn lock_gives_exact_counts_and_one_owner_at_a_time(procs in 1usize..=4, iters in 1u32..300) {
        let counter = Value::new(0u64).expect("value");
        let lock = Lock::new().expect("lock");
        // Raw (lock-free) cells the critical section checks: who is inside, and any overlap.
        let inside = RawValue::new(0u32).expect("raw");
        let overlaps = RawValue::new(0u32).expect("raw");
        run_all(procs, |_| {
            let (counter, lock, inside, overlaps) = (counter.clone(), lock.clone(), inside.clone(), overlaps.clone());
            Box::new(move || {
                let me = std::process::id();
                for _ in 0..iters {
                    let _g = lock.acquire().expect("acquire");
                    if inside.get() != 0 {
                        overlaps.set(overlaps.get() + 1);
                    }
                    inside.set(me);
                    counter.set(counter.get() + 1); // two separate accesses: only the lock makes it safe
                    inside.set(0);
                }
            })
        })?;
        prop_assert_eq!(overlaps.get(), 0, "two owners at once");
        prop_assert_eq!(counter.get(), procs as u64 * u64::from(iters));
    }

    #[test]
    fn semaphore_never_admits_more_than_its_permits(permits in 1u32..=3, procs in 1usize..=5, iters in 1u32..100) {
        let sem = Semaphore::new(permits).expect("semaphore");
        let occupancy = Value::new([0u32; 2]).expect("value"); // [now, most seen]
        run_all(procs, |_| {
            let (sem, occupancy) = (sem.clone(), occupancy.clone());
            Box::new(move || {
                for _ in 0..iters {
                    let _permit = sem.access();
                    {
                        let mut o = occupancy.lock().expect("lock");
                        o[0] += 1;
                        o[1] = o[1].max(o[0]);
                    }
                    occupancy.lock().expect("lock")[0] -= 1;
                }
            })
        })?;
        let [now, most] = occupancy.get();
        prop_assert_eq!(now, 0);
        prop_assert!(most <= permits, "{} inside with {} permits", most, permits);
        prop_assert_eq!(sem.value(), permits, "every permit came back");
    }

    #[test]
    fn rlock_recursion_balances(depths in prop::collection::vec(1u32..6, 1..4)) {
        let rlock = RLock::new().expect("rlock");
        let total = Value::new(0u32).expect("value");
        run_all(depths.len(), |i| {
            let (rlock, total, depth) = (rlock.clone(), total.clone(), depths[i]);
            Box::new(move || {
                for _ in 0..depth {
                    rlock.acquire().expect("acquire").leak();
                }
                assert_eq!(rlock.depth(), depth);
                *total.lock().expect("lock") += 1;
                for _ in 0..depth {
                    rlock.release().expect("release");
                }
            })
        })?;
        prop_assert_eq!(rlock.depth(), 0);
        prop_assert_eq!(total.get(), depths.len() as u32);
        prop_assert!(rlock.try_acquire().is_ok(), "free at the end");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 16, ..ProptestConfig::default() })]

    /// Barrier generations never mix: in every round, each party reads the shared round counter
    /// after the barrier, and all of them see the same round — nobody runs a round ahead.
    #[test]
    fn barrier_generations_never_mix(parties in 1u32..=4, rounds in 1u32..30) {
        let barrier = forkway_sync::Barrier::new(parties).expect("barrier");
        let arrivals = Value::new(0u64).expect("value");
        let mixed = Value::new(0u32).expect("value");
        run_all(parties as usize, |_| {
            let (barrier, arrivals, mixed) = (barrier.clone(), arrivals.clone(), mixed.clone());
            Box::new(move || {
                for round in 0..u64::from(rounds) {
                    *arrivals.lock().expect("lock") += 1;
                    barrier.wait_timeout(BOUND).expect("wait");
                    // Everyone has arrived for this round, and nobody can have arrived for the
                    // next one before we pass the second barrier.
                    if arrivals.get() != (round + 1) * u64::from(parties) {
                        *mixed.lock().expect("lock") += 1;
                    }
                    barrier.wait_timeout(BOUND).expect("wait");
                }
            })
        })?;
        prop_assert_eq!(mixed.get(), 0, "a party saw another generation's arrivals");
        prop_assert_eq!(arrivals.get(), u64::from(parties) * u64::from(rounds));
    }
}
