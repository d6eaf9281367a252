//! Memory an idle keep-alive client connection costs Miroir: CONNECTIONS connections each make
//! one search (S=1, the harness's canned upstream) and stay open; the growth of Miroir's
//! resident memory is divided by their count.
//!
//! cargo build --release -p miroir -p miroir-perf
//! target/release/idle_connections [CONNECTIONS]   (default 2000; mind `ulimit -n`)

use std::net::TcpStream;
use std::time::Duration;

use miroir_perf::upstream::start_upstream;
use miroir_perf::MiroirProcess;
use miroir_test_nodes::http;

/// Resident memory of `pid` in kB (`VmRSS` in /proc/PID/status).
fn rss_kb(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// One search on `stream`, which stays open.
fn search(stream: &TcpStream, addr: &str) {
    let answer = http::request_on(
        stream,
        addr,
        "POST",
        "/indexes/movies/search",
        &[
            ("content-type", "application/json"),
            ("connection", "keep-alive"),
        ],
        Some(br#"{"q":"batman","limit":10}"#),
    )
    .expect("search");
    assert_eq!(answer.status, 200, "{}", answer.text());
}

fn main() {
    let connections: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(2000);
    let upstream = start_upstream();
    let miroir = MiroirProcess::start(std::slice::from_ref(&upstream), 1, 2);
    miroir.create_index("movies");
    let warm = TcpStream::connect(&miroir.addr).expect("connect");
    search(&warm, &miroir.addr);
    std::thread::sleep(Duration::from_millis(500));
    let before = rss_kb(miroir.pid());
    let open: Vec<TcpStream> = (0..connections)
        .map(|_| {
            let s = TcpStream::connect(&miroir.addr).expect("connect (raise ulimit -n?)");
            search(&s, &miroir.addr);
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
