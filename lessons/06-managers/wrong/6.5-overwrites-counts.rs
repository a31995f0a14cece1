// wrong: stores this line's count instead of adding it to the shared one.
    let mut mine: HashMap<String, u64> = HashMap::new();
    for word in line.split_whitespace() {
        *mine.entry(word.to_owned()).or_default() += 1;
    }
    // Counting locally first means one lock and one round trip per distinct word, not per
    // word. The lock makes each read-modify-write whole: without it two workers may read
    // the same old count, and one addition is lost.
    lock.acquire().expect("the manager's lock");
    for (word, n) in &mine {
        counts.insert(word, n).expect("insert");
    }
    lock.release().expect("release");
    mine.len()

