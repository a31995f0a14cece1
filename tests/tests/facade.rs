//! The facade crate works as a library user sees it: one dependency, one `use`.

use forkway::prelude::*;

#[test]
fn a_library_user_starts_and_joins_through_the_facade() {
    let mut p = Process::new(|| forkway::exit(5)).with_name("via-facade");
    p.start().expect("start");
    assert!(
        p.join_timeout(std::time::Duration::from_secs(20)).expect("join"),
        "still running"
    );
    assert_eq!(p.exitcode(), Some(5));
    assert_eq!(p.name(), "via-facade");
    assert_eq!(current_process().name, "MainProcess");
    assert!(parent_process().is_none());
    assert!(active_children().iter().all(|c| Some(c.pid()) != p.pid()));
}

#[test]
fn queues_locks_and_shared_values_through_the_facade() {
    // Workers add their numbers to a shared total under its lock and report through a queue:
    // lessons 1 to 3 through one `use`.
    let results: Queue<(u32, u64)> = Queue::new().expect("queue");
    let total = forkway::Value::new(0u64).expect("value");
    let mut workers: Vec<Process> = (1..=3u32)
        .map(|id| {
            let (results, total) = (results.clone(), total.clone());
            Process::new(move || {
                let square = u64::from(id * id);
                *total.lock().expect("lock") += square;
                results.put((id, square)).expect("put");
            })
        })
        .collect();
    for w in &mut workers {
        w.start().expect("start");
    }
    let mut got: Vec<(u32, u64)> = (0..3)
        .map(|_| {
            results
                .get_timeout(std::time::Duration::from_secs(20))
                .expect("get")
        })
        .collect();
    got.sort_unstable();
    assert_eq!(got, [(1, 1), (2, 4), (3, 9)]);
    for w in &workers {
        w.join().expect("join");
        assert_eq!(w.exitcode(), Some(0));
    }
    assert_eq!(total.get(), 14);
    assert!(matches!(results.get_nowait(), Err(GetError::Empty)));
}

#[test]
fn a_pool_through_the_facade() {
    fn cube(x: i64) -> i64 {
        x * x * x
    }
    let pool = Pool::new(2).expect("pool");
    assert_eq!(pool.map(cube, 1..=4).expect("map"), [1, 8, 27, 64]);
    let r: Result<i64, PoolError> = pool.apply(|x: i64| x / (x - x), 3);
    assert!(matches!(
        r,
        Err(PoolError::Task(forkway::TaskError::Panicked { .. }))
    ));
    pool.close();
    pool.join().expect("join");
}

#[test]
fn a_manager_through_the_facade() {
    fn add_one(counter: forkway::ValueProxy<u32>) {
        // A round trip each: fine for one worker at a time (apply waits), racy for many.
        let n = counter.get().expect("get");
        counter.set(&(n + 1)).expect("set");
    }
    let manager = Manager::start().expect("manager");
    let counter = manager.value(&41u32).expect("value");
    let pool = Pool::new(1).expect("pool");
    pool.apply(add_one, counter.clone()).expect("apply");
    assert_eq!(counter.get().expect("get"), 42);
    drop(pool);
    let err: ManagerError = forkway::manager::Manager::connect(manager.address(), b"wrong").unwrap_err();
    assert!(matches!(err, ManagerError::Auth(_)), "{err:?}");
}
