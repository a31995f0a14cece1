// wrong: every rank gets items / ranks, so the remainder is never handed out
let ranks = ranks.max(1);
vec![items / ranks; ranks]
