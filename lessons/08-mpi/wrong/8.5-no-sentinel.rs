// wrong: the producer never sends the DONE message, so the consumer waits for ever
match world.rank() {
    PRODUCER => {
        let consumer = world.process_at_rank(CONSUMER);
        for item in items {
            consumer.send_with_tag(item.as_bytes(), tag::ITEM);
        }
        None
    }
    CONSUMER => {
        let producer = world.process_at_rank(PRODUCER);
        let mut received = Vec::new();
        loop {
            let (bytes, status) = producer.receive_vec::<u8>();
            if status.tag() == tag::DONE {
                break;
            }
            received.push(String::from_utf8_lossy(&bytes).into_owned());
        }
        let report = codec::encode(&received).expect("a list of strings always encodes");
        world.process_at_rank(0).send_with_tag(&report[..], tag::REPORT);
        None
    }
    0 => {
        let (bytes, _) = world.process_at_rank(CONSUMER).receive_vec_with_tag::<u8>(tag::REPORT);
        codec::decode(&bytes).ok()
    }
    _ => None,
}
