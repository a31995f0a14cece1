// wrong: prints the bun with {:?}, so its name shows in quotes.
    loop {
        match q.get() {
            Ok(Bun::Bun(bun)) => println!("consumer {name} got {bun:?}."),
            Ok(Bun::Done) => break,
            Err(e) => {
                eprintln!("consumer {name}: {e}");
                break;
            }
        }
    }
