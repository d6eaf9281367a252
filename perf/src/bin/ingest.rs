//! Ingest throughput: the same document batches sent directly to one node
//! and through Miroir to three nodes, in one run. Nodes are the project's
//! Meilisearch test doubles on loopback (they index nothing), so this prices
//! what Miroir adds: parsing, routing, splicing, fan-out, quorum, durable
//! task records.
//!
//! cargo build --release -p miroir -p miroir-perf
//! target/release/ingest [BATCHES] [DOCS_PER_BATCH] [CLIENTS] [ROUNDS]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use miroir_perf::{median, wait_until, MiroirProcess, NODE_KEY};
use miroir_test_nodes::{http, TestNode};
use serde_json::{json, Value};

fn batch(b: usize, size: usize) -> Vec<u8> {
    let docs: Vec<Value> = (0..size)
        .map(|i| {
            let id = b * size + i;
            json!({
                "id": id,
                "title": format!("Movie number {id}"),
                "overview": "A long enough overview text to look like a real document in a search index.",
                "genres": ["Drama", "Comedy"],
                "year": 1950 + id % 70,
                "rating": (id % 100) as f64 / 10.0,
            })
        })
        .collect();
    serde_json::to_vec(&docs).expect("json")
}

/// Sends every batch with `clients` threads; returns seconds until all 202s.
fn send_all(addr: &str, auth: &str, batches: &Arc<Vec<Vec<u8>>>, clients: usize) -> f64 {
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let workers: Vec<_> = (0..clients)
        .map(|_| {
            let (addr, auth, batches, next) = (
                addr.to_string(),
                auth.to_string(),
                batches.clone(),
                next.clone(),
            );
            std::thread::spawn(move || loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(body) = batches.get(i) else { break };
                let headers = [
                    ("content-type", "application/json"),
                    ("authorization", auth.as_str()),
                ];
                let r = http::request(
                    &addr,
                    "POST",
                    "/indexes/perf/documents",
                    &headers,
                    Some(body),
                )
                .expect("send");
                assert_eq!(r.status, 202, "{}", r.text());
            })
        })
        .collect();
    for w in workers {
        w.join().expect("client thread");
    }
    started.elapsed().as_secs_f64()
}

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let batches_n = args.first().copied().unwrap_or(100);
    let size = args.get(1).copied().unwrap_or(1000);
    let clients = args.get(2).copied().unwrap_or(4);
    let rounds = args.get(3).copied().unwrap_or(3);
    let batches = Arc::new((0..batches_n).map(|b| batch(b, size)).collect::<Vec<_>>());
    let bytes: usize = batches.iter().map(Vec::len).sum();
    let docs = (batches_n * size) as f64;
    println!(
        "ingest: {batches_n} batches x {size} docs ({:.1} MB), {clients} clients, {rounds} rounds",
        bytes as f64 / 1e6
    );
    let auth = format!("Bearer {NODE_KEY}");

    let mut direct = Vec::new();
    let mut through = Vec::new();
    for round in 0..rounds {
        // Direct: one node.
        let node = TestNode::start(Some(NODE_KEY));
        let secs = send_all(&node.addr().to_string(), &auth, &batches, clients);
        assert!(node.wait_idle(Duration::from_secs(60)));
        direct.push(docs / secs);

        // Through Miroir: three nodes, S=64, RF=1.
        let nodes: Vec<TestNode> = (0..3).map(|_| TestNode::start(Some(NODE_KEY))).collect();
        let urls: Vec<String> = nodes.iter().map(TestNode::url).collect();
        let miroir = MiroirProcess::start(&urls, 64, 2);
        miroir.create_index("perf");
        let secs = send_all(&miroir.addr, "", &batches, clients);
        through.push(docs / secs);
        assert!(wait_until(Duration::from_secs(60), || nodes
            .iter()
            .all(|n| n.wait_idle(Duration::from_millis(1)))));
        let held: usize = nodes.iter().map(|n| n.document_count("perf")).sum();
        assert_eq!(held, batches_n * size, "documents lost");
        println!(
            "round {round}: direct {:.0} docs/s, miroir->3 {:.0} docs/s",
            direct[round], through[round]
        );
    }
    let (d, t) = (median(direct), median(through));
    println!(
        "median: direct 1 node {d:.0} docs/s | miroir -> 3 nodes {t:.0} docs/s | ratio {:.2}x",
        t / d
    );
}
