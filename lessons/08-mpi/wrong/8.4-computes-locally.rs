// wrong: the squares are computed on rank 0 itself; the pool's workers never see a task
let mapped: Vec<u64> = (0..10).map(job).collect();
let one = job(2);
let each: Vec<u64> = (0..10).map(job).collect();
let _ = pool;
Ok(Squares { mapped, one, each })
