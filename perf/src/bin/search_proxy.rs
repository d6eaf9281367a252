//! Search through a proxy, side by side in one run: direct to a fast
//! upstream, nginx as a keep-alive reverse proxy, Miroir in front of one node
//! (S=1), and Miroir in front of three nodes (fan-out + merge). The upstream
//! answers every search with the same realistic 10-hit response, so what is
//! measured is the proxy. Load comes from wrk (Debian package `wrk`) on
//! loopback; nginx from the `nginx` package.
//!
//! cargo build --release -p miroir -p miroir-perf
//! target/release/search_proxy [SECONDS] [CONNECTIONS] [ROUNDS] [BUDGET]
//!
//! The four targets are measured in turn, ROUNDS times (default 3), and the
//! summary gives per-target medians: the machine is shared and noisy, and
//! interleaving keeps slow phases from landing on one target only.
//!
//! Without BUDGET the proxies share the cores with wrk and the upstream, so a
//! run measures the whole system: a proxy's own cost is diluted by theirs.
//! With BUDGET (CPUs, e.g. 0.5), each proxy is capped at that much CPU (a
//! cgroup CFS quota over the shortest period the kernel allows, 2 ms for half
//! a CPU; needs root), so the proxy is the
//! bottleneck and its throughput is its capacity for that CPU: the lines show
//! each proxy's CPU use, which should sit at the budget.

use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use miroir_perf::upstream::start_upstream;
use miroir_perf::{
    children, free_port, median, shards_spanning, wait_until, CpuBudget, CpuTime, MiroirProcess,
};

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
                    .map(|v| v.split_whitespace().next().unwrap_or("").to_string())
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

/// TCP segments this network namespace has sent (`OutSegs` in /proc/net/snmp): on loopback every
/// segment is also received, so its growth per request counts the proxy's data segments plus any
/// pure ACK or window update it causes (4 at best: client read and write, node write and read).
fn tcp_out_segments() -> u64 {
    let snmp = std::fs::read_to_string("/proc/net/snmp").unwrap_or_default();
    let mut tcp = snmp.lines().filter(|l| l.starts_with("Tcp:"));
    let (Some(names), Some(values)) = (tcp.next(), tcp.next()) else {
        return 0;
    };
    names
        .split_whitespace()
        .zip(values.split_whitespace())
        .find(|(name, _)| *name == "OutSegs")
        .and_then(|(_, value)| value.parse().ok())
        .unwrap_or(0)
}

fn main() {
    let args: Vec<u64> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let seconds = args.first().copied().unwrap_or(10);
    let connections = args.get(1).copied().unwrap_or(64) as usize;
    let rounds = args.get(2).copied().unwrap_or(3).max(1) as usize;
    let budget: Option<f64> = std::env::args()
        .nth(4)
        .map(|a| a.parse().expect("BUDGET: CPUs per proxy, e.g. 0.5"));
    let dir = std::env::temp_dir().join(format!("miroir-search-proxy-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let script = dir.join("search.lua");
    std::fs::write(&script, "wrk.method = \"POST\"\nwrk.body = '{\"q\":\"batman\",\"limit\":10}'\nwrk.headers[\"Content-Type\"] = \"application/json\"\n").expect("lua");

    let upstream = start_upstream();
    let direct_addr = upstream.trim_start_matches("http://").to_string();
    let (mut nginx, nginx_addr) = start_nginx(&upstream, &dir);
    let miroir1 = MiroirProcess::start(std::slice::from_ref(&upstream), 1, 2);
    miroir1.create_index("movies");
    let uplinks: Vec<String> = (0..3).map(|_| start_upstream()).collect();
    let shards3 = shards_spanning(uplinks.len(), 3);
    let miroir3 = MiroirProcess::start(&uplinks, shards3, 2);
    let holding = miroir3.shard_counts();
    assert!(
        holding.len() == uplinks.len() && holding.iter().all(|&n| n > 0),
        "every node must hold a shard for a 3-way fan-out: {holding:?}"
    );
    miroir3.create_index("movies");
    let miroir3_name = format!("miroir, 3 nodes (S={shards3})");

    println!("search through a proxy: wrk -t2 -c{connections} -d{seconds}s, POST /indexes/movies/search, 10-hit answers");
    println!(
        "CPU/req: CPU time per request served during the run: the proxy's processes (user+system),"
    );
    println!("         the in-harness upstream threads, and wrk");
    let harness = std::process::id();
    let nginx_pids: Vec<u32> = std::iter::once(nginx.id())
        .chain(children(nginx.id()))
        .collect();
    // Kept until the end: each cap is lifted on drop.
    let _caps: Vec<CpuBudget> = match budget {
        None => Vec::new(),
        Some(cpus) => {
            println!("each proxy capped at {cpus} CPU (CFS quota); wrk and the upstream are not");
            [
                ("nginx", nginx_pids.clone()),
                ("miroir1", vec![miroir1.pid()]),
                ("miroir3", vec![miroir3.pid()]),
            ]
            .into_iter()
            .map(|(name, pids)| {
                CpuBudget::cap(name, &pids, cpus)
                    .unwrap_or_else(|e| panic!("cannot cap the proxies' CPU: {e}"))
            })
            .collect()
        }
    };
    let runs: [(&str, &str, Vec<u32>); 4] = [
        ("direct to the upstream", direct_addr.as_str(), vec![]),
        ("nginx keep-alive proxy", nginx_addr.as_str(), nginx_pids),
        (
            "miroir, 1 node (S=1)",
            miroir1.addr.as_str(),
            vec![miroir1.pid()],
        ),
        (
            miroir3_name.as_str(),
            miroir3.addr.as_str(),
            vec![miroir3.pid()],
        ),
    ];
    // Per target: (req/s, p99 ms, proxy CPU us/req) of each round.
    let mut results: Vec<Vec<(f64, f64, f64)>> = vec![Vec::new(); runs.len()];
    for round in 1..=rounds {
        println!("round {round}/{rounds}");
        for ((name, addr, pids), samples) in runs.iter().zip(results.iter_mut()) {
            // A short warm-up fills the keep-alive pools.
            let _ = wrk(addr, 1, connections, &script);
            let (proxy_before, harness_before) = (CpuTime::of_all(pids), CpuTime::of(harness));
            let segments_before = tcp_out_segments();
            let r = wrk(addr, seconds, connections, &script);
            let segments = tcp_out_segments().saturating_sub(segments_before) as f64;
            let proxy = CpuTime::of_all(pids).since(proxy_before);
            let harness_cpu = CpuTime::of(harness).since(harness_before);
            let per_req = |cpu: f64| cpu / (r.rps * seconds as f64).max(1.0) * 1e6;
            let proxy_us = per_req(proxy.user + proxy.system);
            println!(
                "  {name:<24} {:>7.0} req/s  p50 {:>6.3} ms  p99 {:>6.3} ms  proxy at {:.2} CPU  CPU/req: proxy {proxy_us:>5.1} us ({:>4.1} user + {:>4.1} sys), upstream {:>4.1} us, wrk {:>4.1} us  TCP segments/req {:.2}",
                r.rps,
                r.p50_ms,
                r.p99_ms,
                (proxy.user + proxy.system) / seconds as f64,
                per_req(proxy.user),
                per_req(proxy.system),
                per_req(harness_cpu.user + harness_cpu.system),
                per_req(harness_cpu.children),
                segments / (r.rps * seconds as f64).max(1.0),
            );
            samples.push((r.rps, r.p99_ms, proxy_us));
        }
    }
    let med = |target: usize, pick: fn(&(f64, f64, f64)) -> f64| {
        median(
            results
                .get(target)
                .map(|v| v.iter().map(pick).collect())
                .unwrap_or_default(),
        )
    };
    println!("medians over {rounds} rounds:");
    for (i, (name, _, _)) in runs.iter().enumerate() {
        println!(
            "  {name:<24} {:>7.0} req/s  p99 {:>6.3} ms  proxy CPU/req {:>5.1} us",
            med(i, |s| s.0),
            med(i, |s| s.1),
            med(i, |s| s.2)
        );
    }
    println!(
        "miroir(1 node) / nginx: throughput {:.2}x, p99 {:.2}x, CPU/req {:.2}x | miroir 3 nodes / 1 node: throughput {:.2}x",
        med(2, |s| s.0) / med(1, |s| s.0),
        med(2, |s| s.1) / med(1, |s| s.1),
        med(2, |s| s.2) / med(1, |s| s.2),
        med(3, |s| s.0) / med(2, |s| s.0),
    );
    // SIGTERM (not the SIGKILL of `Child::kill`) so the master stops its workers too.
    // SAFETY: plain kill(2) on our own child's pid.
    unsafe {
        libc::kill(nginx.id() as libc::pid_t, libc::SIGTERM);
    }
    let _ = nginx.wait();
    let _ = std::fs::remove_dir_all(&dir);
}
