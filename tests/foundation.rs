//! Foundation scenarios: readiness, topology and health, auth, limits and
//! timeouts. Each runs against the test double, or real Meilisearch when
//! MEILISEARCH_BIN is set (fault-injection-only checks say so and skip).

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;

fn topology(m: &Miroir) -> Value {
    m.get("/_miroir/topology", &[]).json()
}

fn node_status(topo: &Value, id: &str) -> String {
    topo["nodes"]
        .as_array()
        .and_then(|ns| ns.iter().find(|n| n["id"] == id))
        .map(|n| n["status"].as_str().unwrap_or("").to_string())
        .unwrap_or_default()
}

#[test]
fn ready_follows_shard_coverage() {
    let mut nodes = start_nodes(3, NODE_KEY);
    for n in &mut nodes {
        n.stop();
    }
    let rest = format!(
        "[auth]\nnode_master_key = \"{NODE_KEY}\"\n[cluster]\nshards = 16\nreplication_factor = 1\n{FAST_HEALTH}{}",
        nodes_toml(&nodes, |_| 0)
    );
    let miroir = Miroir::start("", &rest);

    let r = miroir.get("/_miroir/ready", &[]);
    assert_eq!(r.status, 503);
    let body = r.json();
    assert_eq!(body["code"], "miroir_not_ready");
    assert_eq!(body["type"], "system");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("16 of 16 shards"),
        "{body}"
    );

    for n in &mut nodes {
        n.restart();
    }
    miroir.wait_ready(Duration::from_secs(10), &[]);
    assert_eq!(miroir.get("/_miroir/ready", &[]).json()["status"], "ready");

    // RF=1: every shard of node-1 loses its last replica.
    let shards_of_node1: Vec<u64> = miroir.get("/_miroir/shards", &[]).json()["shards"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["groups"][0]["nodes"][0] == "node-1")
        .map(|s| s["shard"].as_u64().unwrap())
        .collect();
    assert!(!shards_of_node1.is_empty());
    nodes[1].stop();
    let down = wait_for(Duration::from_secs(5), || {
        let r = miroir.get("/_miroir/ready", &[]);
        (r.status == 503).then(|| r.json())
    })
    .expect("ready stays 200 after a shard lost its last replica");
    let message = down["message"].as_str().unwrap().to_string();
    assert!(
        message.contains(&format!("{} of 16 shards", shards_of_node1.len())),
        "{message}"
    );
    let first = shards_of_node1[0];
    assert!(message.contains(&format!("shards {first}")), "{message}");
}

#[test]
fn topology_reports_failure_and_recovery() {
    let mut nodes = start_nodes(3, NODE_KEY);
    let rest = format!(
        "[auth]\nnode_master_key = \"{NODE_KEY}\"\n[cluster]\nshards = 64\nreplication_factor = 2\n{FAST_HEALTH}{}",
        nodes_toml(&nodes, |_| 0)
    );
    let miroir = Miroir::start("", &rest);
    let all_active = wait_for(Duration::from_secs(5), || {
        let t = topology(&miroir);
        (t["degraded_node_count"] == 0).then_some(t)
    })
    .expect("nodes never all healthy");
    assert_eq!(all_active["shards"], 64);
    assert_eq!(all_active["replication_factor"], 2);
    assert_eq!(all_active["fully_covered"], true);
    let total: u64 = all_active["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| {
            assert_eq!(n["status"], "active");
            assert_eq!(n["group"], 0);
            assert!(n["last_seen_ms"].as_u64().is_some());
            assert!(n["error"].is_null());
            n["shard_count"].as_u64().unwrap()
        })
        .sum();
    assert_eq!(total, 128, "64 shards × RF 2");

    // interval 100 ms × threshold 2 (+ one check timeout) ≈ 300 ms; allow
    // slack for a loaded 2-core CI machine.
    let killed_at = Instant::now();
    nodes[2].stop();
    let failed = wait_for(Duration::from_secs(3), || {
        let t = topology(&miroir);
        (node_status(&t, "node-2") == "failed").then_some(t)
    })
    .expect("killed node never reported failed");
    let took = killed_at.elapsed();
    assert!(took < Duration::from_millis(1500), "took {took:?}");
    assert_eq!(failed["degraded_node_count"], 1);
    assert_eq!(
        failed["fully_covered"], true,
        "RF=2 keeps every shard covered"
    );
    let node2 = &failed["nodes"][2];
    assert!(
        node2["error"].as_str().unwrap().contains("/health"),
        "{node2}"
    );
    let seen_before = node2["last_seen_ms"].as_u64().unwrap();

    nodes[2].restart();
    let recovered = wait_for(Duration::from_secs(10), || {
        let t = topology(&miroir);
        (node_status(&t, "node-2") == "active").then_some(t)
    })
    .expect("restarted node never recovered");
    assert_eq!(recovered["degraded_node_count"], 0);
    assert!(recovered["nodes"][2]["last_seen_ms"].as_u64().unwrap() > seen_before);
    assert!(recovered["nodes"][2]["error"].is_null());
}

#[test]
fn shard_map_lists_rf_distinct_nodes_per_group() {
    let nodes = start_nodes(4, NODE_KEY);
    let rest = format!(
        "[auth]\nnode_master_key = \"{NODE_KEY}\"\n[cluster]\nshards = 8\nreplication_factor = 2\n{}",
        nodes_toml(&nodes, |i| (i / 2) as u32)
    );
    let miroir = Miroir::start("", &rest);
    let map = miroir.get("/_miroir/shards", &[]).json();
    let shards = map["shards"].as_array().unwrap();
    assert_eq!(shards.len(), 8);
    for (i, s) in shards.iter().enumerate() {
        assert_eq!(s["shard"], i);
        let groups = s["groups"].as_array().unwrap();
        assert_eq!(groups.len(), 2);
        for (g, group) in groups.iter().enumerate() {
            assert_eq!(group["group"], g);
            let mut ids: Vec<&str> = group["nodes"]
                .as_array()
                .unwrap()
                .iter()
                .map(|n| n.as_str().unwrap())
                .collect();
            ids.sort();
            let expected = [format!("node-{}", 2 * g), format!("node-{}", 2 * g + 1)];
            assert_eq!(ids, expected.iter().map(String::as_str).collect::<Vec<_>>());
        }
    }
    let topo = topology(&miroir);
    assert_eq!(topo["replica_groups"], 2);
    assert_eq!(
        topo["groups"][1]["nodes"],
        serde_json::json!(["node-2", "node-3"])
    );
}

#[test]
fn auth_matches_meilisearch_shapes() {
    let nodes = start_nodes(1, NODE_KEY);
    let rest = format!(
        "[auth]\nmaster_key = \"miroir-master-key\"\nadmin_key = \"miroir-admin-key\"\nnode_master_key = \"{NODE_KEY}\"\n[cluster]\nshards = 4\n{FAST_HEALTH}{}",
        nodes_toml(&nodes, |_| 0)
    );
    // The epoll driver, so both drivers run a whole scenario.
    let miroir = Miroir::start("io = \"epoll\"", &rest);
    miroir.wait_ready(
        Duration::from_secs(5),
        &[("x-admin-key", "miroir-admin-key")],
    );

    let missing = miroir.get("/version", &[]);
    assert_eq!(missing.status, 401);
    assert_eq!(missing.json(), fixture_body("003"));

    // A key other than the master key goes to the nodes, which reject it.
    let wrong = miroir.get("/version", &[("authorization", "Bearer not-a-key")]);
    assert_eq!(wrong.status, 403);
    assert_eq!(wrong.json(), fixture_body("004"));

    let ok = miroir.get("/version", &[("authorization", "Bearer miroir-master-key")]);
    assert_eq!(ok.status, 200, "{}", ok.text());
    assert_eq!(ok.header("content-type"), Some("application/json"));
    assert!(ok.json()["pkgVersion"].as_str().is_some());

    // /health is open and ignores a wrong key.
    for headers in [vec![], vec![("authorization", "Bearer nope")]] {
        let h = miroir.get("/health", &headers);
        assert_eq!(h.status, 200);
        assert_eq!(h.json(), fixture_body("001"));
    }

    // Admin routes: admin key only (Bearer or X-Admin-Key), not the master key.
    let r = miroir.get("/_miroir/topology", &[]);
    assert_eq!(
        (r.status, r.json()["code"].clone()),
        (401, "missing_authorization_header".into())
    );
    for headers in [
        [("authorization", "Bearer miroir-master-key")],
        [("x-admin-key", "wrong")],
    ] {
        let r = miroir.get("/_miroir/topology", &headers);
        assert_eq!(r.status, 403);
        assert_eq!(r.json(), fixture_body("004"));
    }
    assert_eq!(
        miroir
            .get(
                "/_miroir/topology",
                &[("authorization", "Bearer miroir-admin-key")]
            )
            .status,
        200
    );
    assert_eq!(
        miroir
            .get("/_miroir/topology", &[("x-admin-key", "miroir-admin-key")])
            .status,
        200
    );

    // Unknown routes: 404 with an empty body, like Meilisearch (fixture 006).
    let r = miroir.get(
        "/no-such-route",
        &[("authorization", "Bearer miroir-master-key")],
    );
    assert_eq!(r.status, 404);
    assert!(r.body.is_empty());
    // Wrong method: 405 with an allow header.
    let r = miroir.request("POST", "/health", &[], Some(b"{}"));
    assert_eq!(r.status, 405);
    assert_eq!(r.header("allow"), Some("GET"));
}

/// Miroir in front of one node, with `server` lines in its `[server]` table (the node must
/// outlive the test's requests).
fn in_front_of_one_node(server: &str) -> (Vec<Node>, Miroir) {
    let nodes = start_nodes(1, NODE_KEY);
    let rest = format!(
        "[auth]\nnode_master_key = \"{NODE_KEY}\"\n{}",
        nodes_toml(&nodes, |_| 0)
    );
    let miroir = Miroir::start(server, &rest);
    (nodes, miroir)
}

#[test]
fn oversize_bodies_get_413() {
    let (_nodes, miroir) = in_front_of_one_node("max_body_bytes = 1000");
    let expected = fixture_body("191");

    let big = vec![b' '; 5000];
    let r = miroir.request(
        "POST",
        "/indexes/tiny/documents",
        &[("content-type", "application/json")],
        Some(&big),
    );
    assert_eq!(r.status, 413);
    assert_eq!(r.json(), expected);

    // Chunked: the limit applies to the decoded size as it arrives.
    let mut s = TcpStream::connect(&miroir.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(
        b"POST /indexes/tiny/documents HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n",
    )
    .unwrap();
    for _ in 0..3 {
        // Miroir may answer (and stop reading) before the last chunk.
        let _ = s.write_all(b"190\r\n");
        let _ = s.write_all(&[b' '; 0x190]);
        let _ = s.write_all(b"\r\n");
    }
    let text = read_until_close(&mut s);
    assert!(text.starts_with("HTTP/1.1 413"), "{text}");
    assert!(text.contains("\"code\":\"payload_too_large\""), "{text}");

    // Expect: 100-continue with an oversize length: 413 without reading the body.
    let mut s = TcpStream::connect(&miroir.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(b"POST /indexes/tiny/documents HTTP/1.1\r\nhost: x\r\ncontent-length: 5000\r\nexpect: 100-continue\r\n\r\n").unwrap();
    let text = read_until_close(&mut s);
    assert!(text.starts_with("HTTP/1.1 413"), "{text}");
    assert!(!text.contains("100 Continue"), "{text}");
}

fn read_until_close(s: &mut TcpStream) -> String {
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

/// Reads one response with a Content-Length body from a keep-alive socket.
fn read_response(s: &mut TcpStream) -> String {
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    while !buf.ends_with(b"\r\n\r\n") {
        assert_eq!(
            s.read(&mut byte).unwrap(),
            1,
            "connection closed mid-head: {}",
            String::from_utf8_lossy(&buf)
        );
        buf.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&buf).to_string();
    let len: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length: "))
        .map(|v| v.trim().parse().unwrap())
        .unwrap_or(0);
    let mut body = vec![0u8; len];
    s.read_exact(&mut body).unwrap();
    head + &String::from_utf8_lossy(&body)
}

#[test]
fn http_framing_keep_alive_pipelining_continue_and_chunked() {
    let (_nodes, miroir) = in_front_of_one_node("");
    let mut s = TcpStream::connect(&miroir.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();

    // Two pipelined requests in one write, on a keep-alive connection.
    s.write_all(b"GET /health HTTP/1.1\r\nhost: x\r\n\r\nGET /health HTTP/1.1\r\nhost: x\r\n\r\n")
        .unwrap();
    for _ in 0..2 {
        let r = read_response(&mut s);
        assert!(r.starts_with("HTTP/1.1 200 OK\r\n"), "{r}");
        assert!(r.ends_with(r#"{"status":"available"}"#), "{r}");
    }
    // A chunked body is consumed so the next request on the connection parses.
    s.write_all(b"POST /health HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n").unwrap();
    assert!(read_response(&mut s).starts_with("HTTP/1.1 405"));
    // Expect: 100-continue: interim response, then the final one.
    s.write_all(
        b"POST /health HTTP/1.1\r\nhost: x\r\ncontent-length: 2\r\nexpect: 100-continue\r\n\r\n",
    )
    .unwrap();
    let mut interim = [0u8; 25];
    s.read_exact(&mut interim).unwrap();
    assert_eq!(&interim, b"HTTP/1.1 100 Continue\r\n\r\n");
    s.write_all(b"{}").unwrap();
    assert!(read_response(&mut s).starts_with("HTTP/1.1 405"));
    // Connection: close is honoured.
    s.write_all(b"GET /health HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
        .unwrap();
    let rest = read_until_close(&mut s);
    assert!(rest.contains("connection: close"), "{rest}");
    // Garbage gets a 400 and a closed connection.
    let mut s = TcpStream::connect(&miroir.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(b"NOT HTTP AT ALL\r\n\r\n").unwrap();
    assert!(read_until_close(&mut s).starts_with("HTTP/1.1 400"));
}

#[test]
fn stalled_clients_are_dropped_without_slowing_others() {
    let (_nodes, miroir) =
        in_front_of_one_node("cores = 1\nheader_timeout_ms = 500\nbody_timeout_ms = 500");

    // Many half-sent heads and bodies on the single request core.
    let mut stalled = Vec::new();
    for i in 0..50 {
        let mut s = TcpStream::connect(&miroir.addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        if i % 2 == 0 {
            s.write_all(b"GET /health HTTP/1.1\r\nhost: x\r\n").unwrap();
        } else {
            s.write_all(b"POST /indexes/a/documents HTTP/1.1\r\nhost: x\r\ncontent-length: 100\r\n\r\n[{\"id\":").unwrap();
        }
        stalled.push(s);
    }
    let started = Instant::now();

    // Meanwhile other clients are served promptly.
    for _ in 0..20 {
        let t = Instant::now();
        let r = miroir.get("/health", &[]);
        assert_eq!(r.status, 200);
        assert!(
            t.elapsed() < Duration::from_millis(250),
            "a healthy client waited {:?}",
            t.elapsed()
        );
    }

    // Each stalled connection is closed after its timeout.
    for mut s in stalled {
        let mut buf = [0u8; 64];
        match s.read(&mut buf) {
            Ok(0) => {}
            Ok(n) => panic!(
                "expected a close, got {:?}",
                String::from_utf8_lossy(&buf[..n])
            ),
            Err(e) => panic!("the stalled connection was not closed: {e}"),
        }
    }
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(400),
        "closed too early: {took:?}"
    );
    assert!(
        took < Duration::from_millis(2500),
        "closed too late: {took:?}"
    );
}

#[test]
fn an_idle_keep_alive_connection_closes_after_its_timeout_counted_from_its_last_answer() {
    let (_nodes, miroir) = in_front_of_one_node("cores = 1\nkeepalive_timeout_ms = 400");
    let mut s = TcpStream::connect(&miroir.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    // Requests 200 ms apart keep it open well past one timeout: each answer moves the deadline.
    let started = Instant::now();
    for _ in 0..5 {
        s.write_all(b"GET /health HTTP/1.1\r\nhost: x\r\n\r\n")
            .unwrap();
        assert!(read_response(&mut s).starts_with("HTTP/1.1 200 OK\r\n"));
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(started.elapsed() >= Duration::from_millis(1000));
    // Then idle: closed one timeout after the last answer, not before.
    s.write_all(b"GET /health HTTP/1.1\r\nhost: x\r\n\r\n")
        .unwrap();
    assert!(read_response(&mut s).starts_with("HTTP/1.1 200 OK\r\n"));
    let answered = Instant::now();
    assert_eq!(read_until_close(&mut s), "");
    let idle = answered.elapsed();
    assert!(
        idle >= Duration::from_millis(350) && idle < Duration::from_millis(2000),
        "closed after {idle:?} idle"
    );
}

#[test]
fn stale_pooled_connections_are_replaced() {
    let mut nodes = start_nodes(1, NODE_KEY);
    // Slow health checks, so the node stays "healthy" across its restart.
    let rest = format!(
        "[auth]\nnode_master_key = \"{NODE_KEY}\"\n[health]\ninterval_ms = 5000\ntimeout_ms = 500\nunhealthy_threshold = 3\n{}",
        nodes_toml(&nodes, |_| 0)
    );
    let miroir = Miroir::start("cores = 1", &rest);
    miroir.wait_ready(Duration::from_secs(5), &[]);
    for _ in 0..3 {
        assert_eq!(miroir.get("/version", &[]).status, 200);
    }
    // The restart closes the node's side of every pooled connection.
    nodes[0].stop();
    nodes[0].restart();
    for _ in 0..3 {
        let r = miroir.get("/version", &[]);
        assert_eq!(r.status, 200, "{}\n{}", r.text(), miroir.log());
    }
}

#[test]
fn config_check_reports_precise_problems() {
    let dir = std::env::temp_dir().join(format!("miroir-config-check-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bad = dir.join("bad.toml");
    std::fs::write(
        &bad,
        "[cluster]\nreplication_factor = 2\n[[nodes]]\nid = \"a\"\naddress = \"http://0.0.0.0:7701\"\n[[nodes]]\nid = \"a\"\naddress = \"http://127.0.0.1:7702\"\ngroup = 1\n",
    )
    .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_miroir"))
        .args(["config", "check"])
        .arg(&bad)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    for expected in [
        "nodes[0] (a): address \"http://0.0.0.0:7701\" is not reachable: 0.0.0.0 is the unspecified address",
        "nodes[1]: duplicate node id \"a\" (first used by nodes[0])",
        "cluster.replication_factor = 2 is larger than group 0, which has 1 node (a)",
        "cluster.replication_factor = 2 is larger than group 1, which has 1 node (a)",
    ] {
        assert!(err.contains(expected), "missing {expected:?} in:\n{err}");
    }

    let out = std::process::Command::new(env!("CARGO_BIN_EXE_miroir"))
        .args([
            "config",
            "check",
            concat!(env!("CARGO_MANIFEST_DIR"), "/examples/miroir.toml"),
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout)
        .contains("ok (3 nodes in 1 group, 64 shards, replication factor 1)"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_slow_node_times_out_and_the_next_healthy_node_answers() {
    let nodes = start_nodes(2, NODE_KEY);
    let Some(slow) = nodes[0].double() else {
        eprintln!("skipped: delaying a node needs the test double");
        return;
    };
    let rest = format!(
        "[auth]\nnode_master_key = \"{NODE_KEY}\"\n[upstream]\nrequest_timeout_ms = 300\n[health]\ninterval_ms = 5000\ntimeout_ms = 1000\n{}",
        nodes_toml(&nodes, |_| 0)
    );
    let miroir = Miroir::start("cores = 1", &rest);
    miroir.wait_ready(Duration::from_secs(5), &[]);
    slow.set_fault(Fault::Delay(Duration::from_secs(3)));
    // Round-robin start alternates; every request still succeeds within
    // one timeout plus the fast node's answer.
    for _ in 0..4 {
        let t = Instant::now();
        let r = miroir.get("/version", &[]);
        assert_eq!(r.status, 200, "{}", r.text());
        assert!(
            t.elapsed() < Duration::from_millis(1500),
            "took {:?}",
            t.elapsed()
        );
    }
    // With both nodes slow the client gets a Meilisearch-shaped 503.
    nodes[1]
        .double()
        .unwrap()
        .set_fault(Fault::Delay(Duration::from_secs(3)));
    let r = miroir.get("/version", &[]);
    assert_eq!(r.status, 503);
    assert_eq!(r.json()["code"], "miroir_node_unavailable");
    assert!(
        r.json()["message"].as_str().unwrap().contains("timed out"),
        "{}",
        r.text()
    );
}
