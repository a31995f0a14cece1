//! forkway-ipc beside CPython's `multiprocessing` and a bare-libc floor, in one run.
//!
//! Every workload runs three (or four) ways in the same criterion group, with helper processes
//! started once and reused, so the figures differ only in the IPC path they measure:
//!
//! - `pipe_round_trip`: send a small integer, get it echoed back (the Rust peer ipc-channel too;
//!   two simplex pipes each way;
//!   also forkway's duplex socket pair). Floor: 8-byte `write`/`read` on two kernel pipes.
//! - `queue_small`: one producer process puts small integers, the parent gets them. Floor: a
//!   single-producer single-consumer ring of `u64` in shared memory, both sides spinning
//!   (`ring.rs`: what moving 8 bytes between processes costs with no lock, encoding or kill safety).
//! - `queue_1mib`: the same with 1 MiB byte payloads. Floor: the same bytes through a bare
//!   pipe (`write` 1 MiB, `read` 1 MiB).
//!
//! CPython runs `benches/cpython_ipc.py` as a long-lived server (start-up is never timed); without
//! python3 its rows are skipped with a message. After criterion's groups (for its HTML report),
//! each workload runs again interleaved — A B C, A B C, … — and the ratios come from those
//! medians; they are printed and written to `target/forkway-bench/ipc.json`.
//!
//! `cargo bench -p forkway-ipc --bench ipc` (add `-- --quick` for a fast smoke run).

use std::os::fd::AsFd;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput};
use forkway_ipc::{pipe, simplex, Connection, Queue};
use forkway_process::Process;
use forkway_testkit::bench::{
    full_run, measure, report_with_curves, rounds, Contender, Curve, Curves, Medians, Python, Ratio,
};
use serde_bytes::ByteBuf;

mod ice;
mod ring;

const MIB: usize = 1 << 20;

/// A child that echoes u64s on forkway connections until EOF.
fn echo_child(mut rx: Connection<u64>, mut tx: Connection<u64>) -> Process {
    let mut child = Process::new(move || {
        while let Ok(v) = rx.recv() {
            if tx.send(&v).is_err() {
                break;
            }
        }
    });
    child.set_daemon(true).expect("daemon");
    child.start().expect("start");
    child
}

/// Round trips on two simplex pipes (the same kernel objects as the floor).
struct Echo {
    _child: Process,
    tx: Connection<u64>,
    rx: Connection<u64>,
}

impl Echo {
    fn start() -> Echo {
        let (child_rx, mut tx) = simplex::<u64>().expect("simplex");
        let (mut rx, child_tx) = simplex::<u64>().expect("simplex");
        tx.set_close_on_fork(true);
        rx.set_close_on_fork(true);
        Echo {
            _child: echo_child(child_rx, child_tx),
            tx,
            rx,
        }
    }

    fn round_trips(&mut self, n: u64) -> Duration {
        let start = Instant::now();
        for i in 0..n {
            self.tx.send(&i).expect("send");
            let back = self.rx.recv().expect("recv");
            debug_assert_eq!(back, i);
        }
        start.elapsed()
    }
}

/// Round trips on one socket pair, Python's default `Pipe()`.
struct DuplexEcho {
    _child: Process,
    end: Connection<u64>,
}

impl DuplexEcho {
    fn start() -> DuplexEcho {
        let (mut end, there) = pipe::<u64>().expect("pipe");
        end.set_close_on_fork(true);
        let mut child = Process::new(move || {
            let mut there = there;
            while let Ok(v) = there.recv() {
                if there.send(&v).is_err() {
                    break;
                }
            }
        });
        child.set_daemon(true).expect("daemon");
        child.start().expect("start");
        DuplexEcho { _child: child, end }
    }

    fn round_trips(&mut self, n: u64) -> Duration {
        let start = Instant::now();
        for i in 0..n {
            self.end.send(&i).expect("send");
            let back = self.end.recv().expect("recv");
            debug_assert_eq!(back, i);
        }
        start.elapsed()
    }
}

/// The floor: two kernel pipes and 8-byte `write`/`read`, nothing else.
struct RawEcho {
    _child: Process,
    tx: std::io::PipeWriter,
    rx: std::io::PipeReader,
}

impl RawEcho {
    fn start() -> RawEcho {
        let (child_rx, tx) = std::io::pipe().expect("pipe");
        let (rx, child_tx) = std::io::pipe().expect("pipe");
        let mut child = Process::new(move || {
            let mut word = [0u8; 8];
            while nix::unistd::read(child_rx.as_fd(), &mut word) == Ok(8) {
                if nix::unistd::write(child_tx.as_fd(), &word).is_err() {
                    break;
                }
            }
        });
        child.set_daemon(true).expect("daemon");
        child.start().expect("start");
        RawEcho {
            _child: child,
            tx,
            rx,
        }
    }

    fn round_trips(&mut self, n: u64) -> Duration {
        let mut word = [0u8; 8];
        let start = Instant::now();
        for i in 0..n {
            nix::unistd::write(self.tx.as_fd(), &i.to_le_bytes()).expect("write");
            let got = nix::unistd::read(self.rx.as_fd(), &mut word).expect("read");
            debug_assert_eq!(got, 8);
        }
        start.elapsed()
    }
}

/// A producer process putting `n` items on command; the parent gets them.
struct Producer<T> {
    _child: Process,
    cmd: Connection<u64>,
    q: Queue<T>,
}

impl<T: serde::Serialize + serde::de::DeserializeOwned + 'static> Producer<T> {
    fn start(make: impl Fn(u64) -> T + Send + 'static) -> Producer<T> {
        let q: Queue<T> = Queue::new().expect("queue");
        // The size curve goes to 64 MiB messages, past the default limit.
        q.set_max_message(256 << 20);
        let (mut child_cmd, mut cmd) = simplex::<u64>().expect("simplex");
        cmd.set_close_on_fork(true);
        let tx = q.clone();
        let mut child = Process::new(move || {
            while let Ok(n) = child_cmd.recv() {
                for i in 0..n {
                    if tx.put(make(i)).is_err() {
                        return;
                    }
                }
            }
        });
        child.set_daemon(true).expect("daemon");
        child.start().expect("start");
        Producer {
            _child: child,
            cmd,
            q,
        }
    }

    fn transfer(&mut self, n: u64) -> Duration {
        let start = Instant::now();
        self.cmd.send(&n).expect("command");
        for _ in 0..n {
            self.q.get().expect("get");
        }
        start.elapsed()
    }
}

/// The bandwidth floor: a child writes `n` MiB into a bare pipe on command; we read them.
struct RawStream {
    _child: Process,
    cmd: std::io::PipeWriter,
    data: std::io::PipeReader,
    buf: Vec<u8>,
}

impl RawStream {
    fn start() -> RawStream {
        RawStream::with_block(MIB)
    }

    /// Messages of `size` bytes: the child writes them, the parent reads them whole.
    fn with_block(size: usize) -> RawStream {
        let (child_cmd, cmd) = std::io::pipe().expect("pipe");
        let (data, child_data) = std::io::pipe().expect("pipe");
        let mut child = Process::new(move || {
            let block = vec![7u8; size];
            let mut word = [0u8; 8];
            while nix::unistd::read(child_cmd.as_fd(), &mut word) == Ok(8) {
                for _ in 0..u64::from_le_bytes(word) {
                    let mut left = &block[..];
                    while !left.is_empty() {
                        match nix::unistd::write(child_data.as_fd(), left) {
                            Ok(n) => left = &left[n..],
                            Err(_) => return,
                        }
                    }
                }
            }
        });
        child.set_daemon(true).expect("daemon");
        child.start().expect("start");
        RawStream {
            _child: child,
            cmd,
            data,
            buf: vec![0; size],
        }
    }

    fn transfer(&mut self, n: u64) -> Duration {
        let start = Instant::now();
        nix::unistd::write(self.cmd.as_fd(), &n.to_le_bytes()).expect("command");
        let size = self.buf.len();
        for _ in 0..n {
            let mut got = 0;
            while got < size {
                got += nix::unistd::read(self.data.as_fd(), &mut self.buf[got..]).expect("read");
            }
        }
        start.elapsed()
    }
}

/// A Rust peer doing the same job: ipc-channel's channels (Servo's; a Unix socket each way,
/// serde + bincode), echoed by a forked child.
struct IpcChannelEcho {
    _child: Process,
    to_child: ipc_channel::ipc::IpcSender<u64>,
    from_child: ipc_channel::ipc::IpcReceiver<u64>,
}

impl IpcChannelEcho {
    fn start() -> IpcChannelEcho {
        let (to_child, child_rx) = ipc_channel::ipc::channel::<u64>().expect("ipc-channel");
        let (child_tx, from_child) = ipc_channel::ipc::channel::<u64>().expect("ipc-channel");
        let mut child = Process::new(move || {
            while let Ok(v) = child_rx.recv() {
                if child_tx.send(v).is_err() {
                    return;
                }
            }
        });
        child.set_daemon(true).expect("daemon");
        child.start().expect("start");
        IpcChannelEcho {
            _child: child,
            to_child,
            from_child,
        }
    }

    fn round_trips(&mut self, n: u64) -> Duration {
        let start = Instant::now();
        for i in 0..n {
            self.to_child.send(i).expect("send");
            assert_eq!(self.from_child.recv().expect("recv"), i);
        }
        start.elapsed()
    }
}

/// The in-process floor: the same producer as a thread, the same items on an unbounded
/// crossbeam-channel. Nothing is copied or encoded: the item itself (a pointer, for a buffer)
/// moves between threads of one address space.
struct ThreadProducer<T> {
    cmd: Option<crossbeam_channel::Sender<u64>>,
    rx: crossbeam_channel::Receiver<T>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl<T: Send + 'static> ThreadProducer<T> {
    fn start(make: impl Fn(u64) -> T + Send + 'static) -> ThreadProducer<T> {
        let (cmd, cmd_rx) = crossbeam_channel::unbounded::<u64>();
        let (tx, rx) = crossbeam_channel::unbounded::<T>();
        let thread = std::thread::spawn(move || {
            while let Ok(n) = cmd_rx.recv() {
                for i in 0..n {
                    if tx.send(make(i)).is_err() {
                        return;
                    }
                }
            }
        });
        ThreadProducer {
            cmd: Some(cmd),
            rx,
            thread: Some(thread),
        }
    }

    fn transfer(&mut self, n: u64) -> Duration {
        let start = Instant::now();
        self.cmd.as_ref().expect("open").send(n).expect("command");
        for _ in 0..n {
            std::hint::black_box(self.rx.recv().expect("recv"));
        }
        start.elapsed()
    }
}

impl<T> Drop for ThreadProducer<T> {
    fn drop(&mut self) {
        self.cmd.take();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// k producer and k consumer processes on one queue (throughput curve): each producer puts
/// n/k items, each consumer gets n/k and reports.
struct Mesh {
    _procs: Vec<Process>,
    cmds: Vec<Connection<u64>>,
    done: Queue<u64>,
    k: u64,
}

impl Mesh {
    fn start(k: u64) -> Mesh {
        let q: Queue<u64> = Queue::new().expect("queue");
        let done: Queue<u64> = Queue::new().expect("queue");
        let mut procs = Vec::new();
        let mut cmds = Vec::new();
        for role in 0..2 * k {
            let (mut rx, mut tx) = simplex::<u64>().expect("simplex");
            tx.set_close_on_fork(true);
            let (q, done) = (q.clone(), done.clone());
            let mut p = Process::new(move || {
                while let Ok(n) = rx.recv() {
                    for i in 0..n {
                        let ok = if role < k {
                            q.put(i).is_ok()
                        } else {
                            q.get().is_ok()
                        };
                        if !ok {
                            return;
                        }
                    }
                    if role >= k && done.put(n).is_err() {
                        return;
                    }
                }
            });
            p.set_daemon(true).expect("daemon");
            p.start().expect("start");
            procs.push(p);
            cmds.push(tx);
        }
        Mesh {
            _procs: procs,
            cmds,
            done,
            k,
        }
    }

    fn transfer(&mut self, n: u64) -> Duration {
        let each = n / self.k;
        let start = Instant::now();
        for c in &mut self.cmds {
            c.send(&each).expect("command");
        }
        for _ in 0..self.k {
            self.done.get().expect("done");
        }
        start.elapsed()
    }
}

/// The same mesh as threads on a crossbeam channel.
struct ThreadMesh {
    cmds: Vec<crossbeam_channel::Sender<u64>>,
    done: crossbeam_channel::Receiver<u64>,
    threads: Vec<std::thread::JoinHandle<()>>,
    k: u64,
}

impl ThreadMesh {
    fn start(k: u64) -> ThreadMesh {
        let (tx, rx) = crossbeam_channel::unbounded::<u64>();
        let (done_tx, done) = crossbeam_channel::unbounded::<u64>();
        let mut cmds = Vec::new();
        let mut threads = Vec::new();
        for role in 0..2 * k {
            let (cmd, cmd_rx) = crossbeam_channel::unbounded::<u64>();
            let (tx, rx, done_tx) = (tx.clone(), rx.clone(), done_tx.clone());
            threads.push(std::thread::spawn(move || {
                while let Ok(n) = cmd_rx.recv() {
                    for i in 0..n {
                        let ok = if role < k {
                            tx.send(i).is_ok()
                        } else {
                            rx.recv().is_ok()
                        };
                        if !ok {
                            return;
                        }
                    }
                    if role >= k && done_tx.send(n).is_err() {
                        return;
                    }
                }
            }));
            cmds.push(cmd);
        }
        ThreadMesh {
            cmds,
            done,
            threads,
            k,
        }
    }

    fn transfer(&mut self, n: u64) -> Duration {
        let each = n / self.k;
        let start = Instant::now();
        for c in &self.cmds {
            c.send(each).expect("command");
        }
        for _ in 0..self.k {
            self.done.recv().expect("done");
        }
        start.elapsed()
    }
}

impl Drop for ThreadMesh {
    fn drop(&mut self) {
        self.cmds.clear();
        // Consumers may wait on the data channel: it closes when the producers end.
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

fn small(i: u64) -> u64 {
    i
}

fn one_mib(_: u64) -> ByteBuf {
    ByteBuf::from(vec![7u8; MIB])
}

fn benches(c: &mut Criterion, python: &mut Option<Python>, medians: &mut Medians, curves: &mut Curves) {
    let mut g = c.benchmark_group("pipe_round_trip");
    g.throughput(Throughput::Elements(1));
    let mut echo = Echo::start();
    g.bench_function("forkway", |b| b.iter_custom(|n| echo.round_trips(n)));
    let mut duplex = DuplexEcho::start();
    g.bench_function("forkway_duplex", |b| b.iter_custom(|n| duplex.round_trips(n)));
    let mut raw = RawEcho::start();
    g.bench_function("floor", |b| b.iter_custom(|n| raw.round_trips(n)));
    if let Some(py) = python.as_mut() {
        g.bench_function("cpython", |b| b.iter_custom(|n| py.run("pipe_round_trip", n)));
    }
    let mut peer = IpcChannelEcho::start();
    g.bench_function("peer_ipc-channel", |b| b.iter_custom(|n| peer.round_trips(n)));
    g.finish();
    let (rounds_n, iters) = rounds((15, 20_000));
    {
        let py = python.as_mut().map(std::cell::RefCell::new);
        let mut f = |n| echo.round_trips(n);
        let mut d = |n| duplex.round_trips(n);
        let mut r = |n| raw.round_trips(n);
        let mut i = |n| peer.round_trips(n);
        let mut p;
        let mut contenders: Vec<Contender<'_>> = vec![
            ("forkway", &mut f),
            ("forkway_duplex", &mut d),
            ("floor", &mut r),
            ("peer_ipc-channel", &mut i),
        ];
        if let Some(py) = py.as_ref() {
            p = move |n| py.borrow_mut().run("pipe_round_trip", n);
            contenders.push(("cpython", &mut p));
        }
        measure(medians, "pipe_round_trip", rounds_n, iters, &mut contenders);
    }
    drop((echo, duplex, raw, peer));

    let mut g = c.benchmark_group("queue_small");
    g.throughput(Throughput::Elements(1));
    let mut producer = Producer::start(small);
    g.bench_function("forkway", |b| b.iter_custom(|n| producer.transfer(n)));
    if let Some(py) = python.as_mut() {
        g.bench_function("cpython", |b| b.iter_custom(|n| py.run("queue_small", n)));
    }
    g.finish();
    let (rounds_n, iters) = rounds((15, 100_000));
    {
        let py = python.as_mut().map(std::cell::RefCell::new);
        let mut threads = ThreadProducer::start(small);
        let mut ice = ice::IceProducer::start(8, 1024);
        let mut shm = ring::ShmRing::start();
        let mut f = |n| producer.transfer(n);
        let mut t = |n| threads.transfer(n);
        let mut r = |n| shm.transfer(n);
        let mut p;
        let mut i;
        let mut contenders: Vec<Contender<'_>> = vec![
            ("forkway", &mut f),
            ("threads_crossbeam-channel", &mut t),
            ("floor", &mut r),
        ];
        if let Some(ice) = ice.as_mut() {
            i = |n| ice.transfer(n);
            contenders.push(("peer_iceoryx2", &mut i));
        }
        if let Some(py) = py.as_ref() {
            p = move |n| py.borrow_mut().run("queue_small", n);
            contenders.push(("cpython", &mut p));
        }
        measure(medians, "queue_small", rounds_n, iters, &mut contenders);
    }
    drop(producer);

    let mut g = c.benchmark_group("queue_1mib");
    g.throughput(Throughput::Bytes(MIB as u64));
    g.sample_size(20);
    let mut producer = Producer::start(one_mib);
    g.bench_function("forkway", |b| b.iter_custom(|n| producer.transfer(n)));
    let mut raw = RawStream::start();
    g.bench_function("floor", |b| b.iter_custom(|n| raw.transfer(n)));
    if let Some(py) = python.as_mut() {
        g.bench_function("cpython", |b| b.iter_custom(|n| py.run("queue_1mib", n)));
    }
    g.finish();
    let (rounds_n, iters) = rounds((15, 200));
    {
        let py = python.as_mut().map(std::cell::RefCell::new);
        let mut threads = ThreadProducer::start(one_mib);
        let mut ice = ice::IceProducer::start(MIB, 8);
        let mut f = |n| producer.transfer(n);
        let mut r = |n| raw.transfer(n);
        let mut t = |n| threads.transfer(n);
        let mut p;
        let mut i;
        let mut contenders: Vec<Contender<'_>> = vec![
            ("forkway", &mut f),
            ("floor", &mut r),
            ("threads_crossbeam-channel", &mut t),
        ];
        if let Some(ice) = ice.as_mut() {
            i = |n| ice.transfer(n);
            contenders.push(("peer_iceoryx2", &mut i));
        }
        if let Some(py) = py.as_ref() {
            p = move |n| py.borrow_mut().run("queue_1mib", n);
            contenders.push(("cpython", &mut p));
        }
        measure(medians, "queue_1mib", rounds_n, iters, &mut contenders);
    }
    drop((producer, raw));
    curves_queue(python, curves);
}

/// The size and throughput curves (a short version under `--quick`, to prove they run).
fn curves_queue(python: &mut Option<Python>, curves: &mut Curves) {
    let full = full_run();
    let sizes: Vec<usize> = if full {
        (0..9).map(|i| 8usize << (3 * i)).collect() // 8 B, 64 B, … 64 MiB
    } else {
        vec![8, 64 << 10]
    };
    let mut by_size = Curve::new(
        "Queue: time per message vs message size (1 → 1)",
        "message size (bytes)",
        "time per message (ns)",
    );
    let mut medians = Medians::new();
    for size in sizes {
        let make = move |_: u64| ByteBuf::from(vec![7u8; size]);
        let mut producer = Producer::start(make);
        let mut threads = ThreadProducer::start(make);
        let mut raw = RawStream::with_block(size);
        let iters = ((32 * MIB / size) as u64).clamp(2, 20_000);
        let (rounds_n, iters) = if full { (5, iters) } else { (2, iters.div_ceil(20)) };
        let py = python.as_mut().map(std::cell::RefCell::new);
        let mut f = |n| producer.transfer(n);
        let mut t = |n| threads.transfer(n);
        let mut r = |n| raw.transfer(n);
        let mut p;
        let mut contenders: Vec<Contender<'_>> = vec![
            ("forkway", &mut f),
            ("threads (crossbeam-channel)", &mut t),
            ("bare pipe (floor)", &mut r),
        ];
        if let Some(py) = py.as_ref() {
            p = move |n| py.borrow_mut().run(&format!("queue_bytes_{size}"), n);
            contenders.push(("CPython", &mut p));
        }
        let workload = format!("queue_size_{size}");
        measure(&mut medians, &workload, rounds_n, iters, &mut contenders);
        by_size.add_medians(&medians, &workload, size as f64, |ns| ns);
    }
    curves.insert("queue-size".to_owned(), by_size);

    let mut throughput = Curve::new(
        "Queue: throughput with k producers → k consumers (small messages)",
        "k (producers = consumers)",
        "messages per second",
    );
    for k in if full { vec![1u64, 2, 4] } else { vec![1, 2] } {
        let mut mesh = Mesh::start(k);
        let mut threads = ThreadMesh::start(k);
        let (rounds_n, iters) = if full { (5, 100_000) } else { (2, 1_000) };
        let py = python.as_mut().map(std::cell::RefCell::new);
        let mut f = |n| mesh.transfer(n);
        let mut t = |n| threads.transfer(n);
        let mut p;
        let mut contenders: Vec<Contender<'_>> =
            vec![("forkway", &mut f), ("threads (crossbeam-channel)", &mut t)];
        if let Some(py) = py.as_ref() {
            p = move |n| py.borrow_mut().run(&format!("queue_mesh_{k}"), n);
            contenders.push(("CPython", &mut p));
        }
        let workload = format!("queue_mesh_{k}");
        measure(&mut medians, &workload, rounds_n, iters, &mut contenders);
        throughput.add_medians(&medians, &workload, k as f64, |ns| 1e9 / ns);
    }
    curves.insert("queue-throughput".to_owned(), throughput);
}

fn main() {
    let mut python = Python::start(&PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("benches/cpython_ipc.py"));
    let mut c = Criterion::default().configure_from_args();
    let mut medians = Medians::new();
    let mut curves = Curves::new();
    benches(&mut c, &mut python, &mut medians, &mut curves);
    drop(python);
    c.final_summary();
    report_with_curves(
        "ipc",
        &medians,
        &[
            Ratio {
                label: "pipe round trip: forkway / libc floor (time)",
                num: ("pipe_round_trip", "forkway"),
                den: ("pipe_round_trip", "floor"),
                target: Some(("<= 1.1", |r| r <= 1.1)),
            },
            Ratio {
                label: "pipe round trip: duplex / libc floor (time)",
                num: ("pipe_round_trip", "forkway_duplex"),
                den: ("pipe_round_trip", "floor"),
                target: None,
            },
            Ratio {
                label: "pipe round trip: forkway speed-up over CPython",
                num: ("pipe_round_trip", "cpython"),
                den: ("pipe_round_trip", "forkway"),
                target: None,
            },
            Ratio {
                label: "pipe round trip: Rust peer ipc-channel / forkway (time)",
                num: ("pipe_round_trip", "peer_ipc-channel"),
                den: ("pipe_round_trip", "forkway"),
                target: None,
            },
            Ratio {
                label: "queue small msgs/s: forkway / CPython",
                num: ("queue_small", "cpython"),
                den: ("queue_small", "forkway"),
                target: Some((">= 20", |r| r >= 20.0)),
            },
            Ratio {
                label: "queue small: forkway / shared-memory ring floor (time)",
                num: ("queue_small", "forkway"),
                den: ("queue_small", "floor"),
                target: None,
            },
            Ratio {
                label: "queue small: shared-memory ring floor / crossbeam threads (time)",
                num: ("queue_small", "floor"),
                den: ("queue_small", "threads_crossbeam-channel"),
                target: None,
            },
            Ratio {
                label: "queue small: forkway / crossbeam threads (time)",
                num: ("queue_small", "forkway"),
                den: ("queue_small", "threads_crossbeam-channel"),
                target: Some(("<= 3", |r| r <= 3.0)),
            },
            Ratio {
                label: "queue small: peer iceoryx2 / forkway (time)",
                num: ("queue_small", "peer_iceoryx2"),
                den: ("queue_small", "forkway"),
                target: None,
            },
            Ratio {
                label: "queue 1 MiB bytes/s: forkway / CPython",
                num: ("queue_1mib", "cpython"),
                den: ("queue_1mib", "forkway"),
                target: Some((">= 8", |r| r >= 8.0)),
            },
            Ratio {
                label: "queue 1 MiB bytes/s: forkway / bare pipe",
                num: ("queue_1mib", "floor"),
                den: ("queue_1mib", "forkway"),
                target: Some((">= 2.5", |r| r >= 2.5)),
            },
            Ratio {
                label: "queue 1 MiB: forkway / crossbeam threads (time)",
                num: ("queue_1mib", "forkway"),
                den: ("queue_1mib", "threads_crossbeam-channel"),
                target: None,
            },
            Ratio {
                label: "queue 1 MiB: peer iceoryx2 / forkway (time)",
                num: ("queue_1mib", "peer_iceoryx2"),
                den: ("queue_1mib", "forkway"),
                target: None,
            },
        ],
        &curves,
    );
}
