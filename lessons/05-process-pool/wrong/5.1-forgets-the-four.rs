// wrong: forgets the factor 4, so each worker gets one big chunk instead of about four.
    let per_round = workers.max(1);
    items.div_ceil(per_round)

