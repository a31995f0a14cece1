// wrong: rank 0 maps every item itself; nothing is scattered, the other ranks idle
if comm.rank() == 0 {
    Some(items.iter().map(|&x| f(x)).collect())
} else {
    None
}
