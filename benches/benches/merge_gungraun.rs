//! Instruction counts of merging node search responses (bytes in → bytes out), under callgrind:
//! stable on a noisy shared machine where wall-clock numbers drift.

mod merge_data;

use std::hint::black_box;

use gungraun::{library_benchmark, library_benchmark_group, main};
use merge_data::{node_bodies, request, Shape};
use miroir_merge::{merge_search, MergeRequest};

type Input = (MergeRequest<'static>, Vec<Vec<u8>>, Vec<u8>);

/// Built before callgrind starts counting (setup is outside the measured function).
fn setup(shape: Shape, per_node: usize) -> Input {
    (
        request(per_node, shape),
        node_bodies(3, per_node, shape),
        Vec::with_capacity(1 << 20),
    )
}

// Returns the input so freeing it happens outside the measured function.
#[library_benchmark]
#[bench::details_3x20(args = (Shape::Details, 20), setup = setup)]
#[bench::details_3x1000(args = (Shape::Details, 1000), setup = setup)]
#[bench::score_3x20(args = (Shape::Score, 20), setup = setup)]
#[bench::score_3x1000(args = (Shape::Score, 1000), setup = setup)]
fn merge_3_nodes(input: Input) -> (usize, Input) {
    let (req, bodies, mut out) = input;
    let refs: Vec<&[u8]> = bodies.iter().map(Vec::as_slice).collect();
    let hits = merge_search(&req, &refs, &mut out).map_or(0, |s| s.hits);
    drop(refs);
    (black_box(hits), (req, bodies, out))
}

library_benchmark_group!(name = merge, benchmarks = [merge_3_nodes]);
main!(library_benchmark_groups = merge);
