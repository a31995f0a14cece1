// wrong: prints each item as it arrives instead of the collected list.
    while let Ok(Download::Data(data)) = q.get() {
        println!("{data}");
    }
