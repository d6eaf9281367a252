//! Search through a proxy, side by side in one run: direct to a fast
//! upstream, nginx as a keep-alive reverse proxy, Miroir in front of one node
//! (S=1), and Miroir in front of three nodes (fan-out + merge). The upstream
//! answers every search with the same realistic 10-hit response, so what is
//! measured is the proxy. Load comes from wrk (Debian package `wrk`) on
//! loopback; nginx from the `nginx` package.
//!
//! cargo build --release -p miroir -p miroir-perf
//! target/release/search_proxy [SECONDS] [CONNECTIONS]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use miroir_perf::{free_port, wait_until, MiroirProcess};
use miroir_test_nodes::http;
use serde_json::json;

/// The canned answer: 10 hits with scores, like a node asked by Miroir.
fn search_response() -> Vec<u8> {
    let hits: Vec<_> = (0..10)
        .map(|i| {
            json!({
                "id": 100 + i,
                "title": format!("Batman film number {i}"),
                "genres": ["Action", "Adventure"],
                "year": 1989 + i,
                "rating": 7.5 - i as f64 * 0.1,
                "director": "Tim Burton",
                "distributor": "Warner Bros.",
                "mpaa": "PG-13",
                "source": "Based on Comic/Graphic Novel",
                "creativeType": "Super Hero",
                "usGross": 251_188_924 - i * 1000,
                "_rankingScore": 0.99 - i as f64 * 0.01,
            })
        })
        .collect();
    serde_json::to_vec(&json!({
        "hits": hits, "query": "batman", "processingTimeMs": 0, "limit": 10, "offset": 0,
        "estimatedTotalHits": 10, "requestUid": "01a21968-ab49-7e53-b0ab-16ba21444fb0"
    }))
    .expect("json")
}

/// A fast keep-alive HTTP/1.1 upstream: searches get the canned answer,
/// writes a summarized task, `/health` and anything else a small JSON.
fn start_upstream() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    let search = search_response();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let search = search.clone();
            std::thread::spawn(move || serve(stream, &search));
        }
    });
    format!("http://{addr}")
}

fn serve(stream: TcpStream, search: &[u8]) {
    let _ = stream.set_nodelay(true);
    let Ok(write_half) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(stream);
    let mut writer = write_half;
    loop {
        let mut request_line = String::new();
        if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
            return;
        }
        let mut length = 0usize;
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            if line == "\r\n" {
                break;
            }
            if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                length = v.trim().parse().unwrap_or(0);
            }
        }
        let mut body = vec![0; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let (status, answer): (&str, &[u8]) = if request_line.contains("/search") {
            ("200 OK", search)
        } else if request_line.starts_with("GET") {
            ("200 OK", br#"{"status":"available","results":[]}"#)
        } else {
            ("202 Accepted", br#"{"taskUid":1,"indexUid":"movies","status":"enqueued","type":"indexCreation","enqueuedAt":"2026-11-26T00:00:00Z"}"#)
        };
        let head = format!(
            "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
            answer.len()
        );
        if writer
            .write_all(head.as_bytes())
            .and_then(|_| writer.write_all(answer))
            .is_err()
        {
            return;
        }
    }
}

/// nginx as a keep-alive reverse proxy in front of `upstream`, 2 workers.
fn start_nginx(upstream: &str, dir: &Path) -> (Child, String) {
    let port = free_port();
    let conf = format!(
        "daemon off;\nworker_processes 2;\npid {dir}/nginx.pid;\nerror_log {dir}/error.log warn;\nevents {{ worker_connections 4096; }}\nhttp {{\n  access_log off;\n  client_body_temp_path {dir}/body;\n  proxy_temp_path {dir}/proxy;\n  fastcgi_temp_path {dir}/fastcgi;\n  uwsgi_temp_path {dir}/uwsgi;\n  scgi_temp_path {dir}/scgi;\n  upstream node {{ server {up}; keepalive 128; }}\n  server {{\n    listen 127.0.0.1:{port};\n    location / {{ proxy_pass http://node; proxy_http_version 1.1; proxy_set_header Connection \"\"; }}\n  }}\n}}\n",
        dir = dir.display(),
        up = upstream.trim_start_matches("http://"),
    );
    let path = dir.join("nginx.conf");
    std::fs::write(&path, conf).expect("nginx conf");
    let child = Command::new("nginx")
        .arg("-c")
        .arg(&path)
        .arg("-p")
        .arg(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("nginx (apt-get install nginx)");
    let addr = format!("127.0.0.1:{port}");
    assert!(
        wait_until(Duration::from_secs(5), || TcpStream::connect(&addr).is_ok()),
        "nginx did not start"
    );
    (child, addr)
}

struct WrkResult {
    rps: f64,
    p50_ms: f64,
    p99_ms: f64,
}

fn to_ms(v: &str) -> f64 {
    let (num, unit) = v.split_at(v.find(|c: char| c.is_alphabetic()).unwrap_or(v.len()));
    let n: f64 = num.parse().unwrap_or(f64::NAN);
    match unit {
        "us" => n / 1000.0,
        "ms" => n,
        "s" => n * 1000.0,
        "m" => n * 60_000.0,
        _ => n,
    }
}

fn wrk(addr: &str, seconds: u64, connections: usize, script: &Path) -> WrkResult {
    let out = Command::new("wrk")
        .args([
            "-t2",
            &format!("-c{connections}"),
            &format!("-d{seconds}s"),
            "--latency",
            "-s",
        ])
        .arg(script)
        .arg(format!("http://{addr}/indexes/movies/search"))
        .output()
        .expect("wrk (apt-get install wrk)");
    let text = String::from_utf8_lossy(&out.stdout);
    let field = |prefix: &str| {
        text.lines()
            .find_map(|l| {
                l.trim()
                    .strip_prefix(prefix)
                    .map(|v| v.trim().split_whitespace().next().unwrap_or("").to_string())
            })
            .unwrap_or_default()
    };
    let errors = text
        .lines()
        .any(|l| l.contains("Non-2xx") || l.contains("Socket errors"));
    assert!(!errors, "wrk saw errors against {addr}:\n{text}");
    WrkResult {
        rps: field("Requests/sec:").parse().unwrap_or(0.0),
        p50_ms: to_ms(&field("50%")),
        p99_ms: to_ms(&field("99%")),
    }
}

fn main() {
    let args: Vec<u64> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let seconds = args.first().copied().unwrap_or(10);
    let connections = args.get(1).copied().unwrap_or(64) as usize;
    let dir = std::env::temp_dir().join(format!("miroir-search-proxy-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let script = dir.join("search.lua");
    std::fs::write(&script, "wrk.method = \"POST\"\nwrk.body = '{\"q\":\"batman\",\"limit\":10}'\nwrk.headers[\"Content-Type\"] = \"application/json\"\n").expect("lua");

    let upstream = start_upstream();
    let direct_addr = upstream.trim_start_matches("http://").to_string();
    let (mut nginx, nginx_addr) = start_nginx(&upstream, &dir);
    let miroir1 = MiroirProcess::start(std::slice::from_ref(&upstream), 1, 2);
    let created = http::request(
        &miroir1.addr,
        "POST",
        "/indexes",
        &[("content-type", "application/json")],
        Some(br#"{"uid":"movies","primaryKey":"id"}"#),
    )
    .expect("create");
    assert_eq!(created.status, 202, "{}", created.text());
    let uplinks: Vec<String> = (0..3).map(|_| start_upstream()).collect();
    let miroir3 = MiroirProcess::start(&uplinks, 3, 2);
    let created = http::request(
        &miroir3.addr,
        "POST",
        "/indexes",
        &[("content-type", "application/json")],
        Some(br#"{"uid":"movies","primaryKey":"id"}"#),
    )
    .expect("create");
    assert_eq!(created.status, 202, "{}", created.text());

    println!("search through a proxy: wrk -t2 -c{connections} -d{seconds}s, POST /indexes/movies/search, 10-hit answers");
    let runs = [
        ("direct to the upstream", direct_addr.as_str()),
        ("nginx keep-alive proxy", nginx_addr.as_str()),
        ("miroir, 1 node (S=1)", miroir1.addr.as_str()),
        ("miroir, 3 nodes (S=3)", miroir3.addr.as_str()),
    ];
    let mut results = Vec::new();
    for (name, addr) in runs {
        // A short warm-up fills the keep-alive pools.
        let _ = wrk(addr, 1, connections, &script);
        let r = wrk(addr, seconds, connections, &script);
        println!(
            "{name:<26} {:>10.0} req/s   p50 {:>7.3} ms   p99 {:>7.3} ms",
            r.rps, r.p50_ms, r.p99_ms
        );
        results.push(r);
    }
    let (nginx_r, m1, m3) = (&results[1], &results[2], &results[3]);
    println!(
        "miroir(1 node) / nginx: throughput {:.2}x, p99 {:.2}x | miroir 3 nodes / 1 node: throughput {:.2}x",
        m1.rps / nginx_r.rps,
        m1.p99_ms / nginx_r.p99_ms,
        m3.rps / m1.rps
    );
    let _ = nginx.kill();
    let _ = nginx.wait();
    let _ = std::fs::remove_dir_all(&dir);
}
