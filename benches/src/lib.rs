//! Shared setup for Miroir's benchmarks, so the criterion and gungraun benches measure the
//! same inputs.

use miroir_router::{RoutingSnapshot, Topology};

/// Primary keys `doc-0 .. doc-{n-1}`, built outside any measured section.
pub fn doc_keys(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("doc-{i}")).collect()
}

/// One Active group of nodes `meili-0..meili-{nodes-1}` (the config examples' names), RF=1, all
/// healthy.
pub fn snapshot(shards: u32, nodes: usize) -> RoutingSnapshot {
    let topology = Topology::one_group(shards, 1, (0..nodes).map(|i| format!("meili-{i}")));
    match RoutingSnapshot::build(topology, vec![true; nodes]) {
        Ok(s) => s,
        Err(e) => panic!("bench topology rejected: {e}"),
    }
}

/// A JSON array of `n` movie-like documents (~200 bytes each), the payload
/// the batch-split benches route.
pub fn documents_payload(n: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(n * 220);
    out.push(b'[');
    for i in 0..n {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(
            format!(
                r#"{{"id":{i},"title":"Movie number {i}","genres":["Drama","Comedy"],"year":{},"rating":{}.5,"overview":"An overview long enough to look like a real document."}}"#,
                1950 + i % 70,
                i % 10
            )
            .as_bytes(),
        );
    }
    out.push(b']');
    out
}

/// Parse, route and split `payload` into per-node bodies; returns the
/// number of bytes produced so the work cannot be optimised away.
pub fn split_payload(payload: &[u8], snap: &RoutingSnapshot) -> usize {
    use miroir_router::batch::{Payload, PayloadFormat};
    let Ok(parsed) = Payload::parse(payload, PayloadFormat::Json) else {
        return 0;
    };
    let Ok(routed) = parsed.route("id", snap.topology().shards) else {
        return 0;
    };
    parsed
        .node_bodies(&routed, snap)
        .iter()
        .map(|b| b.body.len())
        .sum()
}
