//! The shared-memory peer: iceoryx2 publish-subscribe between two processes. The publisher
//! (a child) loans a sample in shared memory, writes `len` bytes into it and publishes it; the
//! parent's subscriber reads it in place — zero-copy, no encoding, and it polls (iceoryx2's
//! subscriber has no blocking receive; a blocking wait needs its separate event service), where
//! forkway's `get` encodes, copies out and sleeps on a futex. The publisher blocks when the
//! subscriber's buffer is full (`UnableToDeliverStrategy::Block`), as a producer on a queue
//! that the consumer drains.

use super::*;
use iceoryx2::port::subscriber::Subscriber;
use iceoryx2::prelude::*;

pub struct IceProducer {
    // Dropped first: the child sees EOF, drops its iceoryx2 ports and exits; then joined.
    cmd: Connection<u64>,
    child: Process,
    subscriber: Subscriber<ipc::Service, [u8], ()>,
    _node: Node<ipc::Service>,
    len: usize,
}

impl IceProducer {
    /// `None` (with the reason) when iceoryx2 cannot set up here.
    pub fn start(len: usize, buffer: usize) -> Option<IceProducer> {
        match Self::try_start(len, buffer) {
            Ok(p) => Some(p),
            Err(e) => {
                eprintln!("iceoryx2 peer skipped: {e}");
                None
            }
        }
    }

    fn try_start(len: usize, buffer: usize) -> Result<IceProducer, Box<dyn std::error::Error>> {
        set_log_level(LogLevel::Error);
        let name = format!("forkway-bench/{}/{len}", std::process::id());
        let node = NodeBuilder::new().create::<ipc::Service>()?;
        let service = node
            .service_builder(&name.as_str().try_into()?)
            .publish_subscribe::<[u8]>()
            .subscriber_max_buffer_size(buffer)
            .history_size(0)
            .enable_safe_overflow(false)
            .max_publishers(1)
            .max_subscribers(1)
            .create()?;
        let subscriber = service.subscriber_builder().buffer_size(buffer).create()?;
        let (mut child_cmd, mut cmd) = simplex::<u64>()?;
        let (mut ready, mut child_ready) = simplex::<u64>()?;
        cmd.set_close_on_fork(true);
        ready.set_close_on_fork(true);
        let mut child = Process::new(move || {
            // iceoryx2 objects are made after the fork, in the process that uses them.
            let mut run = || -> Result<(), Box<dyn std::error::Error>> {
                let node = NodeBuilder::new().create::<ipc::Service>()?;
                let service = node
                    .service_builder(&name.as_str().try_into()?)
                    .publish_subscribe::<[u8]>()
                    .open()?;
                let publisher = service
                    .publisher_builder()
                    .initial_max_slice_len(len)
                    .unable_to_deliver_strategy(UnableToDeliverStrategy::Block)
                    .create()?;
                let block = vec![7u8; len];
                child_ready.send(&0)?;
                while let Ok(n) = child_cmd.recv() {
                    for i in 0..n {
                        let sample = publisher.loan_slice_uninit(len)?;
                        let mut sample = sample.write_from_slice(&block);
                        sample.payload_mut()[0] = i as u8;
                        sample.send()?;
                    }
                }
                Ok(())
            };
            if let Err(e) = run() {
                eprintln!("iceoryx2 publisher: {e}");
                let _ = child_ready.send(&1);
            }
        });
        child.start()?;
        if ready.recv()? != 0 {
            return Err("the publisher could not start".into());
        }
        Ok(IceProducer {
            cmd,
            child,
            subscriber,
            _node: node,
            len,
        })
    }

    pub fn transfer(&mut self, n: u64) -> Duration {
        let start = Instant::now();
        self.cmd.send(&n).expect("command");
        let mut got = 0;
        while got < n {
            match self.subscriber.receive().expect("receive") {
                Some(sample) => {
                    let payload = sample.payload();
                    debug_assert_eq!(payload.len(), self.len);
                    std::hint::black_box(payload[payload.len() - 1]);
                    got += 1;
                }
                None => std::thread::yield_now(),
            }
        }
        start.elapsed()
    }
}

impl Drop for IceProducer {
    fn drop(&mut self) {
        // Closing the command connection ends the child's loop; then it is reaped.
        let (_, dead) = simplex::<u64>().expect("simplex");
        drop(std::mem::replace(&mut self.cmd, dead));
        let _ = self.child.join_timeout(Duration::from_secs(10));
    }
}
