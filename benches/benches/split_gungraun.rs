//! Instruction count of parsing, routing and splitting a 10k-document JSON
//! batch into per-node bodies (S=64, 3 nodes).

use std::hint::black_box;

use gungraun::{library_benchmark, library_benchmark_group, main};
use miroir_router::RoutingSnapshot;

type Input = (RoutingSnapshot, Vec<u8>);

fn setup() -> Input {
    (
        miroir_benches::snapshot(64, 3),
        miroir_benches::documents_payload(10_000),
    )
}

#[library_benchmark]
#[bench::docs_10k_s64_n3(setup = setup)]
fn split_10k_docs(input: Input) -> (usize, Input) {
    let produced = miroir_benches::split_payload(&input.1, &input.0);
    (black_box(produced), input)
}

library_benchmark_group!(name = split, benchmarks = [split_10k_docs]);
main!(library_benchmark_groups = split);
