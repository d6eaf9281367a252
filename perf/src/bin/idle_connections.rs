//! Memory an idle keep-alive client connection costs Miroir: CONNECTIONS connections each make
//! one search (S=1, the harness's canned upstream) and stay open; the growth of Miroir's
//! resident memory is divided by their count.
//!
//! cargo build --release -p miroir -p miroir-perf
//! target/release/idle_connections [CONNECTIONS]   (default 2000; mind `ulimit -n`)

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use miroir_perf::upstream::start_upstream;
use miroir_perf::MiroirProcess;

/// Resident memory of `pid` in kB (`VmRSS` in /proc/PID/status).
fn rss_kb(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// Sends one search on `stream` and reads its whole answer (head and Content-Length body).
fn search(stream: &mut TcpStream) {
    let body = br#"{"q":"batman","limit":10}"#;
    let head = format!(
        "POST /indexes/movies/search HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).expect("write");
    stream.write_all(body).expect("write");
    let mut got = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    loop {
        let n = stream.read(&mut chunk).expect("read");
        assert!(n > 0, "connection closed mid-answer");
        got.extend_from_slice(&chunk[..n]);
        let Some(end) = got.windows(4).position(|w| w == b"\r\n\r\n") else {
            continue;
        };
        let text = String::from_utf8_lossy(&got[..end]).to_ascii_lowercase();
        assert!(text.starts_with("http/1.1 200"), "{text}");
        let length: usize = text
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .and_then(|v| v.trim().parse().ok())
            .expect("content-length");
        if got.len() >= end + 4 + length {
            return;
        }
    }
}

fn main() {
    let connections: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(2000);
    let upstream = start_upstream();
    let miroir = MiroirProcess::start(std::slice::from_ref(&upstream), 1, 2);
    miroir.create_index("movies");
    let mut warm = TcpStream::connect(&miroir.addr).expect("connect");
    search(&mut warm);
    std::thread::sleep(Duration::from_millis(500));
    let before = rss_kb(miroir.pid());
    let open: Vec<TcpStream> = (0..connections)
        .map(|_| {
            let mut s = TcpStream::connect(&miroir.addr).expect("connect (raise ulimit -n?)");
            search(&mut s);
            s
        })
        .collect();
    std::thread::sleep(Duration::from_secs(1));
    let after = rss_kb(miroir.pid());
    println!(
        "{} idle keep-alive connections after one search each: Miroir's RSS {before} kB -> {after} kB, {:.1} kB per connection",
        open.len(),
        after.saturating_sub(before) as f64 / open.len().max(1) as f64
    );
}
