//! Instruction count of routing 10k primary keys (hash + assign) with S=64 and 3 nodes, under
//! callgrind: stable on a noisy shared machine where wall-clock numbers drift.

use std::hint::black_box;

use gungraun::{library_benchmark, library_benchmark_group, main};
use miroir_router::{shard_for_key, RoutingSnapshot};

type Input = (RoutingSnapshot, Vec<String>);

/// Built before callgrind starts counting (setup is outside the measured function).
fn setup() -> Input {
    (
        miroir_benches::snapshot(64, 3),
        miroir_benches::doc_keys(10_000),
    )
}

// Returns the input so freeing the 10k keys happens outside the measured function.
#[library_benchmark]
#[bench::s64_n3(setup = setup)]
fn route_10k_keys(input: Input) -> (u64, Input) {
    let (snap, keys) = &input;
    let mut acc = 0u64;
    for k in keys {
        let shard = shard_for_key(k.as_bytes(), snap.topology().shards);
        acc = acc.wrapping_add(u64::from(snap.replicas(0, shard)[0]));
    }
    (black_box(acc), input)
}

library_benchmark_group!(name = routing, benchmarks = [route_10k_keys]);
main!(library_benchmark_groups = routing);
