// wrong: adds 1 per distinct word of the line instead of how often it occurs.
    let mut mine: HashMap<String, u64> = HashMap::new();
    for word in line.split_whitespace() {
        *mine.entry(word.to_owned()).or_default() += 1;
    }
    // Counting locally first means one lock and one round trip per distinct word, not per
    // word. The lock makes each read-modify-write whole: without it two workers may read
    // the same old count, and one addition is lost.
    lock.acquire().expect("the manager's lock");
    for (word, n) in &mine {
        let old = counts.get(word).expect("get").unwrap_or(0);
        let _ = n;
        counts.insert(word, &(old + 1)).expect("insert");
    }
    lock.release().expect("release");
    mine.len()

