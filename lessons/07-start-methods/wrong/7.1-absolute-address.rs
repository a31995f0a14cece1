// wrong: sends the entry's address, not its offset from the anchor.
    run_entry::<F, Args> as Entry as usize as i64
