// wrong: the whole remainder goes to the last rank instead of one more item to each of the first ranks
let ranks = ranks.max(1);
let mut counts = vec![items / ranks; ranks];
counts[ranks - 1] += items % ranks;
counts
