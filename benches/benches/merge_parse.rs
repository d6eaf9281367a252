//! sonic-rs vs serde_json on one node search response (the parser choice for `miroir-merge`):
//! a DOM parse, the borrowed parse a merge needs (hits as raw slices + the top-level numbers),
//! a validate-only pass — and, for comparison, miroir-merge's own validating walker.

mod merge_data;

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use merge_data::{node_bodies, Shape};
use miroir_merge::{merge_search, MergeRequest};
use serde::de::IgnoredAny;
use serde::Deserialize;

#[derive(Deserialize)]
struct SerdeJsonBorrowed<'a> {
    #[serde(borrow)]
    hits: Vec<&'a serde_json::value::RawValue>,
    #[serde(rename = "estimatedTotalHits")]
    total: Option<u64>,
    #[serde(rename = "processingTimeMs")]
    time: Option<u64>,
}

#[derive(Deserialize)]
struct SonicBorrowed<'a> {
    #[serde(borrow)]
    hits: Vec<sonic_rs::LazyValue<'a>>,
    #[serde(rename = "estimatedTotalHits")]
    total: Option<u64>,
    #[serde(rename = "processingTimeMs")]
    time: Option<u64>,
}

fn parse(c: &mut Criterion) {
    let mut g = c.benchmark_group("merge_parse");
    for per_node in [20usize, 1000] {
        let body = node_bodies(1, per_node, Shape::Details).remove(0);
        let b = body.as_slice();
        g.throughput(Throughput::Bytes(b.len() as u64));
        let name = |what: &str| format!("{what}_{per_node}hits_{}B", b.len());

        g.bench_function(name("dom_serde_json"), |x| {
            x.iter(|| serde_json::from_slice::<serde_json::Value>(black_box(b)).is_ok())
        });
        g.bench_function(name("dom_sonic_rs"), |x| {
            x.iter(|| sonic_rs::from_slice::<sonic_rs::Value>(black_box(b)).is_ok())
        });
        g.bench_function(name("borrowed_serde_json"), |x| {
            x.iter(|| {
                serde_json::from_slice::<SerdeJsonBorrowed<'_>>(black_box(b))
                    .map(|r| r.hits.len() as u64 + r.total.unwrap_or(0) + r.time.unwrap_or(0))
                    .ok()
            })
        });
        g.bench_function(name("borrowed_sonic_rs"), |x| {
            x.iter(|| {
                sonic_rs::from_slice::<SonicBorrowed<'_>>(black_box(b))
                    .map(|r| r.hits.len() as u64 + r.total.unwrap_or(0) + r.time.unwrap_or(0))
                    .ok()
            })
        });
        g.bench_function(name("validate_serde_json"), |x| {
            x.iter(|| serde_json::from_slice::<IgnoredAny>(black_box(b)).is_ok())
        });
        g.bench_function(name("validate_sonic_rs"), |x| {
            x.iter(|| sonic_rs::from_slice::<IgnoredAny>(black_box(b)).is_ok())
        });
        // What miroir-merge does instead: its own validating walker over the whole body
        // (a one-node merge with limit 0: every byte validated, one hit's layout read).
        let req = MergeRequest::new(0, 0);
        let mut out = Vec::with_capacity(4096);
        g.bench_function(name("walk_miroir_merge"), |x| {
            x.iter(|| {
                out.clear();
                merge_search(black_box(&req), &[black_box(b)], &mut out).is_ok()
            })
        });
    }
    g.finish();
}

criterion_group!(benches, parse);
criterion_main!(benches);
