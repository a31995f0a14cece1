//! Seed: "应用实例:并发连接" — a TCP echo server that serves each connection in its own process
//! and answers in upper case.
//!
//! ```python
//! def talk(conn, addr):
//!     while True:
//!         msg = conn.recv(1024)
//!         if not msg: break
//!         conn.send(msg.upper())
//!
//! if __name__ == '__main__':
//!     while True:
//!         conn, addr = server.accept()
//!         p = Process(target=talk, args=(conn, addr))
//!         p.start()
//! ```
//! The seed warns: "one process per request, without a limit, will bring the machine down".
//! This version keeps at most `max_live` connection processes; the next client waits in the
//! listen backlog until one finishes. Run it, then talk to it with `nc 127.0.0.1 8080`:
//! `cargo run -p forkway-process --example echo_server -- 127.0.0.1:8080 4`

use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};

use forkway_process::Process;

// ANCHOR: talk
/// Serves one connection: echo every chunk back in upper case until the client hangs up.
pub fn talk(mut conn: TcpStream) -> io::Result<()> {
    let mut buf = [0u8; 1024];
    loop {
        let n = conn.read(&mut buf)?;
        if n == 0 {
            return Ok(()); // the client closed its end
        }
        conn.write_all(&buf[..n].to_ascii_uppercase())?;
    }
}
// ANCHOR_END: talk

// ANCHOR: serve
/// Accepts connections forever, each served by its own process, never more than `max_live`
/// at once. Returns only on an accept or fork error.
pub fn serve(listener: TcpListener, max_live: usize) -> io::Result<()> {
    let mut live: Vec<Process> = Vec::new();
    loop {
        // ANCHOR: exercise_1_9
        // At the limit, wait until a connection process exits, and reap it. Without this, a
        // flood of clients would fork without bound (and leave zombies behind).
        while live.len() >= max_live.max(1) {
            let handles: Vec<&Process> = live.iter().collect();
            let finished = forkway_process::wait(&handles, None).map_err(io::Error::other)?;
            let mut index = 0;
            live.retain(|_| {
                let keep = !finished.contains(&index);
                index += 1;
                keep
            });
        }
        // ANCHOR_END: exercise_1_9
        let (conn, _addr) = listener.accept()?;
        // The child serves the connection; the parent's copy of `conn` is closed by `start`,
        // so the client sees EOF as soon as the child is done with it.
        let mut p = Process::fallible(move || talk(conn)).with_daemon(true);
        p.start().map_err(io::Error::other)?;
        live.push(p);
    }
}
// ANCHOR_END: serve

#[allow(dead_code)] // tests include this file as a module and call `serve` directly
fn main() -> io::Result<()> {
    let mut args = std::env::args().skip(1);
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:8080".to_owned());
    let max_live = args.next().and_then(|a| a.parse().ok()).unwrap_or(8);
    let listener = TcpListener::bind(&addr)?;
    println!(
        "echo server on {} (at most {max_live} connection processes)",
        listener.local_addr()?
    );
    serve(listener, max_live)
}
