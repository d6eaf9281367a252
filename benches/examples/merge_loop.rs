//! Merges the `details_3x1000` bench input N times (default 2000), for a CPU profiler:
//! `cargo build --release -p miroir-benches --example merge_loop &&
//! perf record -o /tmp/merge.data target/release/examples/merge_loop 6000 &&
//! perf report -i /tmp/merge.data --no-children --stdio`.

#[path = "../benches/merge_data/mod.rs"]
mod merge_data;

use merge_data::{node_bodies, request, Shape};

fn main() {
    let rounds: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(2000);
    let bodies = node_bodies(3, 1000, Shape::Details);
    let refs: Vec<&[u8]> = bodies.iter().map(Vec::as_slice).collect();
    let req = request(1000, Shape::Details);
    let mut out = Vec::with_capacity(1 << 20);
    let mut hits = 0;
    for _ in 0..rounds {
        out.clear();
        hits += miroir_merge::merge_search(&req, &refs, &mut out).map_or(0, |s| s.hits);
    }
    println!("{hits} hits merged");
}
