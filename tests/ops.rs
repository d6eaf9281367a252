//! Operations: metrics, request logs and graceful shutdown.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::*;
use miroir_test_nodes::http;

const METRICS: [&str; 17] = [
    "miroir_tasks_total",
    "miroir_task_registry_size",
    "miroir_store_commit_duration_seconds",
    "miroir_store_commit_batch_size",
    "miroir_request_duration_seconds",
    "miroir_requests_total",
    "miroir_requests_in_flight",
    "miroir_node_healthy",
    "miroir_node_request_duration_seconds",
    "miroir_node_errors_total",
    "miroir_shard_coverage",
    "miroir_degraded_shards_total",
    "miroir_scatter_fan_out_size",
    "miroir_scatter_partial_responses_total",
    "miroir_scatter_retries_total",
    "# TYPE miroir_request_duration_seconds histogram",
    "# TYPE miroir_node_request_duration_seconds histogram",
];

/// Miroir in front of `nodes`, ready; `auth` adds lines to `[auth]`,
/// `tables` adds whole tables.
fn started(nodes: &[Node], server: &str, auth: &str, tables: &str) -> Miroir {
    let rest = format!(
        "[auth]\nnode_master_key = \"{NODE_KEY}\"\n{auth}\n{tables}\n[cluster]\nshards = 8\n{FAST_HEALTH}{}",
        nodes_toml(nodes, |_| 0)
    );
    let miroir = Miroir::start(server, &rest);
    miroir.wait_ready(Duration::from_secs(5), &[("x-admin-key", "ops-admin-key")]);
    miroir
}

#[test]
fn metrics_are_exposed_and_pass_promtool() {
    let nodes = start_nodes(2, NODE_KEY);
    let miroir = started(&nodes, "", "", "");
    assert_eq!(miroir.get("/version", &[]).status, 200);
    assert_eq!(
        miroir
            .get("/indexes/secret-index/documents/doc-42", &[])
            .status,
        404
    );

    let scrape = http::get(&miroir.metrics_addr, "/metrics", &[]).expect("scrape");
    assert_eq!(scrape.status, 200);
    assert!(scrape
        .header("content-type")
        .unwrap()
        .starts_with("text/plain; version=0.0.4"));
    let text = scrape.text();
    for name in METRICS {
        assert!(text.contains(name), "{name} missing:\n{text}");
    }
    for line in [
        "miroir_requests_total{method=\"GET\",path_template=\"/version\",status=\"200\"} 1",
        "miroir_requests_total{method=\"GET\",path_template=\"/indexes/{uid}/documents/{id}\",status=\"404\"} 1",
        "miroir_node_healthy{node_id=\"node-0\"} 1",
        "miroir_shard_coverage 1",
    ] {
        assert!(text.contains(line), "{line} missing:\n{text}");
    }
    assert!(text.contains(
        "miroir_node_request_duration_seconds_count{node_id=\"node-1\",operation=\"health\"}"
    ));
    assert!(
        !text.contains("secret-index") && !text.contains("doc-42"),
        "ids leaked into labels"
    );

    // promtool (Debian package `prometheus`) validates the exposition.
    let mut promtool = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("promtool not found: apt-get install prometheus");
    promtool
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = promtool.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    // The admin-gated copy on the main listener.
    let admin = miroir.get("/_miroir/metrics", &[]);
    assert_eq!(admin.status, 200);
    assert!(admin.text().contains("miroir_requests_total"));
}

#[test]
fn admin_metrics_need_the_admin_key() {
    let nodes = start_nodes(1, NODE_KEY);
    let miroir = started(&nodes, "", "admin_key = \"ops-admin-key\"", "");
    assert_eq!(miroir.get("/_miroir/metrics", &[]).status, 401);
    assert_eq!(
        miroir
            .get("/_miroir/metrics", &[("x-admin-key", "wrong")])
            .status,
        403
    );
    let ok = miroir.get("/_miroir/metrics", &[("x-admin-key", "ops-admin-key")]);
    assert_eq!(ok.status, 200);
    assert!(ok
        .text()
        .contains("miroir_node_healthy{node_id=\"node-0\"} 1"));
}

#[test]
fn json_logs_carry_the_request_id() {
    let nodes = start_nodes(1, NODE_KEY);
    let miroir = started(&nodes, "", "", "[log]\nformat = \"json\"\n");
    // Generated: a UUIDv7.
    let r = miroir.get("/version", &[]);
    let generated = r.header("x-request-id").expect("x-request-id").to_string();
    assert_eq!(generated.len(), 36);
    assert_eq!(&generated[14..15], "7", "not a UUIDv7: {generated}");
    // Propagated from the client.
    let r = miroir.get("/health", &[("x-request-id", "client-chosen-id-123")]);
    assert_eq!(r.header("x-request-id"), Some("client-chosen-id-123"));

    let lines = wait_for(Duration::from_secs(5), || {
        let log = miroir.log();
        (log.contains(&generated) && log.contains("client-chosen-id-123")).then_some(log)
    })
    .unwrap_or_else(|| panic!("request ids not logged:\n{}", miroir.log()));
    let mut request_lines = 0;
    for line in lines.lines() {
        let value: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        assert!(
            value["ts"].is_string() && value["level"].is_string(),
            "{line}"
        );
        if value["request_id"] == generated.as_str() {
            request_lines += 1;
            assert_eq!(value["method"], "GET");
            assert_eq!(value["path_template"], "/version");
            assert_eq!(value["status"], 200);
            assert_eq!(value["fan_out"], 1);
            assert_eq!(value["degraded"], false);
            assert!(value["duration_ms"].as_f64().is_some(), "{line}");
            assert_eq!(value["level"], "info");
        }
    }
    assert_eq!(request_lines, 1, "one line per request");
}

#[test]
fn sigterm_drains_in_flight_requests_and_exits_zero() {
    let nodes = start_nodes(1, NODE_KEY);
    let Some(double) = nodes[0].double() else {
        eprintln!("skipped: slowing a node down needs the test double");
        return;
    };
    let mut miroir = started(&nodes, "cores = 1\nshutdown_drain_ms = 5000", "", "");
    // An idle keep-alive connection must not hold the shutdown up.
    let mut idle = TcpStream::connect(&miroir.addr).unwrap();
    idle.write_all(b"GET /health HTTP/1.1\r\nhost: x\r\n\r\n")
        .unwrap();
    let mut first = [0u8; 12];
    idle.read_exact(&mut first).unwrap();

    double.set_fault(Fault::Delay(Duration::from_millis(800)));
    let addr = miroir.addr.clone();
    let in_flight = std::thread::spawn(move || http::get(&addr, "/version", &[]));
    std::thread::sleep(Duration::from_millis(200));
    let sent_at = Instant::now();
    // SAFETY: signalling our own child process.
    unsafe { libc::kill(miroir.child.id() as i32, libc::SIGTERM) };
    std::thread::sleep(Duration::from_millis(100));

    // New connections are refused while the request finishes.
    assert!(
        TcpStream::connect(&miroir.addr).is_err(),
        "still accepting after SIGTERM"
    );
    let answer = in_flight.join().unwrap().expect("in-flight request failed");
    assert_eq!(answer.status, 200, "{}", answer.text());
    assert_eq!(answer.header("connection"), Some("close"));

    let status = wait_for(Duration::from_secs(5), || {
        miroir.child.try_wait().ok().flatten()
    })
    .expect("miroir did not exit after draining");
    assert_eq!(status.code(), Some(0), "{}", miroir.log());
    assert!(
        sent_at.elapsed() < Duration::from_secs(3),
        "drain took {:?}",
        sent_at.elapsed()
    );
}

#[test]
fn grafana_dashboard_queries_only_exported_metrics() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/dist/grafana/miroir-dashboard.json"
    ))
    .unwrap();
    let dashboard: serde_json::Value = serde_json::from_str(&text).expect("dashboard is JSON");
    let panels = dashboard["panels"].as_array().expect("panels");
    assert!(panels.len() >= 8);
    let mut queried = std::collections::BTreeSet::new();
    for panel in panels {
        for target in panel["targets"].as_array().expect("targets") {
            let expr = target["expr"].as_str().expect("expr");
            for word in expr.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
                if word.starts_with("miroir_") {
                    queried.insert(
                        word.trim_end_matches("_bucket")
                            .trim_end_matches("_sum")
                            .trim_end_matches("_count")
                            .to_string(),
                    );
                }
            }
        }
    }
    for name in &queried {
        assert!(
            METRICS.contains(&name.as_str()),
            "dashboard queries {name}, which Miroir does not export"
        );
    }
    for name in METRICS.iter().filter(|m| !m.starts_with('#')) {
        assert!(queried.contains(*name), "no panel shows {name}");
    }
}
