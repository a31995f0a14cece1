// wrong: every rank gets the rounded-up share, more items than there are in all
let ranks = ranks.max(1);
vec![items.div_ceil(ranks); ranks]
