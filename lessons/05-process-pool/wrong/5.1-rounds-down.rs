// wrong: divides rounding down, so the last few items make extra chunks beyond four per worker.
    let per_round = 4 * workers.max(1);
    items / per_round

