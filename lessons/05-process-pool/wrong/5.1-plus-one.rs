// wrong: adds one "to be safe", so chunks are too big and an empty input gets a chunk.
    let per_round = 4 * workers.max(1);
    items / per_round + 1

