//! Wall-clock cost of merging node search responses (bytes in → bytes out) with `miroir-merge`.
//! Goals: 3 nodes × 1000 hits ≤ 200 µs, 3 × 20 hits ≤ 10 µs.

mod merge_data;

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use merge_data::{node_bodies, request, Shape};
use miroir_merge::merge_search;

fn merge(c: &mut Criterion) {
    let mut g = c.benchmark_group("merge");
    for (shape, name) in [(Shape::Details, "details"), (Shape::Score, "score")] {
        for per_node in [20usize, 1000] {
            let bodies = node_bodies(3, per_node, shape);
            let refs: Vec<&[u8]> = bodies.iter().map(Vec::as_slice).collect();
            let req = request(per_node, shape);
            let mut out = Vec::with_capacity(1 << 20);
            // Check the case merges before timing it.
            let stats = merge_search(&req, &refs, &mut out).expect("bench input merges");
            assert_eq!(stats.hits, per_node);
            let in_bytes: usize = refs.iter().map(|b| b.len()).sum();
            g.throughput(Throughput::Bytes(in_bytes as u64));
            g.bench_function(format!("{name}_3x{per_node}"), |b| {
                b.iter(|| {
                    out.clear();
                    merge_search(black_box(&req), black_box(&refs), &mut out).map(|s| s.hits)
                })
            });
        }
    }
    g.finish();
}

criterion_group!(benches, merge);
criterion_main!(benches);
