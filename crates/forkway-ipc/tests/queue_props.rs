//! Properties of `Queue` across real processes, for random numbers of producer and consumer
//! processes, random message sizes (tiny, over `PIPE_BUF`, over 64 KiB) and a random bound:
//! every message is delivered exactly once and whole, each consumer sees each producer's
//! messages in order, and a bounded queue never holds more than `maxsize`.
//!
//! Cases are small (at most 3 + 3 processes, 12 messages each) so a run takes seconds and a
//! failing case shrinks to a readable one.

use forkway_testkit as support;

use std::collections::{BTreeMap, BTreeSet};

use forkway_ipc::{Queue, SimpleQueue};
use forkway_process::Process;
use proptest::prelude::*;
use serde::{Deserialize, Serialize};
use serde_bytes::ByteBuf;
use support::*;

#[derive(Debug, Serialize, Deserialize)]
enum Work {
    Item { producer: u8, seq: u32, body: ByteBuf },
    Stop,
}

/// What a consumer reports for each item: who sent it, which one, and whether it was whole.
#[derive(Debug, Serialize, Deserialize)]
struct Seen {
    consumer: u8,
    producer: u8,
    seq: u32,
    whole: bool,
    /// The largest `qsize()` this consumer observed right after its get.
    qsize: usize,
}

fn body(producer: u8, seq: u32, len: usize) -> ByteBuf {
    ByteBuf::from(vec![producer.wrapping_mul(31) ^ (seq as u8) | 1; len])
}

fn is_whole(producer: u8, seq: u32, b: &[u8]) -> bool {
    b == body(producer, seq, b.len()).as_slice()
}

/// A message size: mostly small, some over PIPE_BUF (4096), some over 64 KiB.
fn size() -> impl Strategy<Value = usize> {
    prop_oneof![
        6 => 0usize..200,
        2 => 4097usize..9000,
        1 => 65_537usize..150_000,
    ]
}

fn scenario() -> impl Strategy<Value = (Vec<Vec<usize>>, u8, Option<usize>)> {
    (
        prop::collection::vec(prop::collection::vec(size(), 0..12), 1..=3),
        1u8..=3,
        prop::option::of(1usize..=5),
    )
}

/// The two queue types under the same harness.
trait Channel: Clone + Send + 'static {
    fn send(&self, w: Work);
    fn receive(&self) -> Option<Work>;
    /// The bound to check, if the channel has one.
    fn qsize(&self) -> Option<usize>;
}

impl Channel for Queue<Work> {
    fn send(&self, w: Work) {
        self.put(w).expect("put");
    }
    fn receive(&self) -> Option<Work> {
        self.get().ok()
    }
    fn qsize(&self) -> Option<usize> {
        Some(Queue::qsize(self))
    }
}

impl Channel for SimpleQueue<Work> {
    fn send(&self, w: Work) {
        self.put(w).expect("put");
    }
    fn receive(&self) -> Option<Work> {
        self.get().ok()
    }
    fn qsize(&self) -> Option<usize> {
        None
    }
}

/// Runs one scenario: `producers[p]` lists the sizes of producer p's messages. Returns every
/// consumer's reports, after checking that every process exited cleanly.
fn run_scenario<C: Channel>(
    q: &C,
    producers: &[Vec<usize>],
    consumers: u8,
) -> Result<Vec<Seen>, TestCaseError> {
    let seen: Queue<Seen> = Queue::new().expect("results");
    let mut cons: Vec<Process> = (0..consumers)
        .map(|consumer| {
            let (q, seen) = (q.clone(), seen.clone());
            Process::new(move || {
                while let Some(Work::Item { producer, seq, body }) = q.receive() {
                    let qsize = q.qsize().unwrap_or(0);
                    let whole = is_whole(producer, seq, &body);
                    seen.put(Seen {
                        consumer,
                        producer,
                        seq,
                        whole,
                        qsize,
                    })
                    .expect("report");
                }
            })
        })
        .collect();
    for c in &mut cons {
        c.start().expect("start consumer");
    }
    let mut prods: Vec<Process> = producers
        .iter()
        .enumerate()
        .map(|(p, sizes)| {
            let (q, sizes) = (q.clone(), sizes.clone());
            Process::new(move || {
                for (seq, len) in sizes.into_iter().enumerate() {
                    let body = body(p as u8, seq as u32, len);
                    q.send(Work::Item {
                        producer: p as u8,
                        seq: seq as u32,
                        body,
                    });
                }
            })
        })
        .collect();
    for p in &mut prods {
        p.start().expect("start producer");
    }
    let total: usize = producers.iter().map(Vec::len).sum();
    let mut got = Vec::with_capacity(total);
    for _ in 0..total {
        got.push(seen.get_timeout(BOUND).expect("a report within BOUND"));
    }
    for p in &prods {
        prop_assert_eq!(join_bounded(p), 0);
    }
    for _ in 0..consumers {
        q.send(Work::Stop);
    }
    for c in &cons {
        prop_assert_eq!(join_bounded(c), 0);
    }
    prop_assert!(seen.is_empty(), "more reports than messages");

    let all: BTreeSet<(u8, u32)> = got.iter().map(|s| (s.producer, s.seq)).collect();
    prop_assert_eq!(all.len(), total, "a message arrived twice or not at all");
    let expected: BTreeSet<(u8, u32)> = producers
        .iter()
        .enumerate()
        .flat_map(|(p, sizes)| (0..sizes.len()).map(move |s| (p as u8, s as u32)))
        .collect();
    prop_assert_eq!(&all, &expected);
    prop_assert!(got.iter().all(|s| s.whole), "a torn message");
    // Reports from one consumer are in the order it got the items: per producer, rising.
    let mut last: BTreeMap<(u8, u8), u32> = BTreeMap::new();
    for s in &got {
        if let Some(prev) = last.insert((s.consumer, s.producer), s.seq) {
            prop_assert!(
                s.seq > prev,
                "consumer {} saw producer {} out of order",
                s.consumer,
                s.producer
            );
        }
    }
    Ok(got)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn queue_delivers_exactly_once_whole_in_order((producers, consumers, maxsize) in scenario()) {
        let q: Queue<Work> = match maxsize {
            Some(m) => Queue::bounded(m).expect("queue"),
            None => Queue::new().expect("queue"),
        };
        let got = run_scenario(&q, &producers, consumers)?;
        if let Some(m) = maxsize {
            prop_assert!(got.iter().all(|s| s.qsize <= m), "qsize over maxsize");
        }
    }

    #[test]
    fn simple_queue_delivers_exactly_once_whole_in_order((producers, consumers, _) in scenario()) {
        let q: SimpleQueue<Work> = SimpleQueue::new().expect("simple queue");
        run_scenario(&q, &producers, consumers)?;
    }
}
