//! The seeds' producer/consumer, with point-to-point messages instead of a Queue: rank 1 (the
//! cook) sends ten buns to rank 2 (the eater) and then a "done" message, Python's
//! `q.put(None)`; rank 2 reports what it ate to rank 0, the main process.
//!
//! ```text
//! cargo build -p forkway-mpi --examples
//! mpirun --oversubscribe -n 3 target/debug/examples/producer_consumer
//! ```

use forkway_ipc::codec;
use mpi::point_to_point::{Destination, Source};
use mpi::topology::Communicator;

/// The producer's rank.
pub const PRODUCER: i32 = 1;
/// The consumer's rank.
pub const CONSUMER: i32 = 2;

/// Message tags: what a message is, told apart without looking inside it.
pub mod tag {
    /// Producer → consumer: one item, its UTF-8 bytes.
    pub const ITEM: i32 = 10;
    /// Producer → consumer: no more items (empty message), Python's `q.put(None)`.
    pub const DONE: i32 = 11;
    /// Consumer → rank 0: every item it received, in order (`Vec<String>` encoded with
    /// `forkway_ipc::codec`).
    pub const REPORT: i32 = 12;
}

// ANCHOR: producer_consumer
/// Runs the producer on rank [`PRODUCER`] (sending `items`) and the consumer on rank
/// [`CONSUMER`]; returns on rank 0 what the consumer received, `None` on the other ranks.
/// Needs at least 3 ranks; ranks above 2 do nothing.
pub fn producer_consumer<C: Communicator>(world: &C, items: &[String]) -> Option<Vec<String>> {
    // ANCHOR: exercise_8_5
    match world.rank() {
        PRODUCER => {
            let consumer = world.process_at_rank(CONSUMER);
            for item in items {
                consumer.send_with_tag(item.as_bytes(), tag::ITEM);
            }
            consumer.send_with_tag(&[] as &[u8], tag::DONE);
            None
        }
        CONSUMER => {
            let producer = world.process_at_rank(PRODUCER);
            let mut received = Vec::new();
            loop {
                // Any tag: the tag says whether this is an item or the end.
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
            let (bytes, _) = world
                .process_at_rank(CONSUMER)
                .receive_vec_with_tag::<u8>(tag::REPORT);
            codec::decode(&bytes).ok()
        }
        _ => None,
    }
    // ANCHOR_END: exercise_8_5
}
// ANCHOR_END: producer_consumer

fn main() {
    let Some(universe) = mpi::initialize() else {
        eprintln!("MPI is already initialized");
        std::process::exit(1);
    };
    let world = universe.world();
    if world.size() < 3 {
        eprintln!("run me with 3 ranks: mpirun -n 3 …");
        std::process::exit(2);
    }
    let buns: Vec<String> = (0..10).map(|i| format!("包子{i}")).collect();
    if let Some(eaten) = producer_consumer(&world, &buns) {
        for bun in &eaten {
            println!("消费者 egon 拿到了 {bun}.");
        }
        println!("主进程..");
    }
}
