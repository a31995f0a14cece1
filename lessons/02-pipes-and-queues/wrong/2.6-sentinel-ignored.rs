// wrong: treats the Done sentinel as one more item to skip, so the consumer never stops.
    loop {
        match q.get() {
            Ok(Bun::Bun(bun)) => println!("consumer {name} got {bun}."),
            Ok(Bun::Done) => continue,
            Err(e) => {
                eprintln!("consumer {name}: {e}");
                break;
            }
        }
    }
