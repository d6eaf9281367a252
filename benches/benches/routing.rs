//! Wall-clock cost of routing 10k primary keys (hash + assign) with S=64 and 3 nodes.
//! Goal: <= 100 us per 10k keys.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use miroir_router::{shard_for_key, RoutingSnapshot};

/// The measured work: shard each key, then take its first replica in group 0.
fn route(snap: &RoutingSnapshot, keys: &[String]) -> u64 {
    let mut acc = 0u64;
    for k in keys {
        let shard = shard_for_key(k.as_bytes(), snap.topology().shards);
        acc = acc.wrapping_add(u64::from(snap.replicas(0, shard)[0]));
    }
    acc
}

fn routing(c: &mut Criterion) {
    let snap = miroir_benches::snapshot(64, 3);
    let keys = miroir_benches::doc_keys(10_000);
    let mut g = c.benchmark_group("routing");
    g.throughput(Throughput::Elements(keys.len() as u64));
    g.bench_function("route_10k_keys_s64_n3", |b| {
        b.iter(|| route(black_box(&snap), black_box(&keys)))
    });
    g.finish();
}

criterion_group!(benches, routing);
criterion_main!(benches);
