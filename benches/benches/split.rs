//! Wall-clock cost of the write hot path's CPU part: parse a 10k-document
//! JSON batch, route every document (S=64, 3 nodes) and build the per-node
//! bodies with `_miroir_shard` spliced in.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};

fn split(c: &mut Criterion) {
    let snap = miroir_benches::snapshot(64, 3);
    let payload = miroir_benches::documents_payload(10_000);
    let mut g = c.benchmark_group("split");
    g.throughput(Throughput::Bytes(payload.len() as u64));
    g.bench_function("split_10k_docs_s64_n3", |b| {
        b.iter(|| miroir_benches::split_payload(black_box(&payload), black_box(&snap)))
    });
    g.finish();
}

criterion_group!(benches, split);
criterion_main!(benches);
