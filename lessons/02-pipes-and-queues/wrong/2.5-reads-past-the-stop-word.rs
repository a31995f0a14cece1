// wrong: skips the producer's Done instead of stopping on it, so it waits for data that never comes.
    let mut waiting_analysis_data = Vec::new();
    while let Ok(d) = q.get() {
        if let Download::Data(data) = d {
            waiting_analysis_data.push(data);
        }
    }
    println!("{waiting_analysis_data:?}");
