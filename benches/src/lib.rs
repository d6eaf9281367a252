//! Shared setup for Miroir's benchmarks, so the criterion and gungraun benches measure the
//! same inputs.

use miroir_router::{GroupSpec, GroupState, NodeSpec, NodeState, RoutingSnapshot, Topology};

/// Primary keys `doc-0 .. doc-{n-1}`, built outside any measured section.
pub fn doc_keys(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("doc-{i}")).collect()
}

/// One Active group of nodes `meili-0..meili-{nodes-1}` (the config examples' names), RF=1, all
/// healthy.
pub fn snapshot(shards: u32, nodes: usize) -> RoutingSnapshot {
    let topology = Topology {
        shards,
        replication_factor: 1,
        nodes: (0..nodes)
            .map(|i| NodeSpec {
                id: format!("meili-{i}"),
                group: 0,
                state: NodeState::Active,
            })
            .collect(),
        groups: vec![GroupSpec {
            id: 0,
            state: GroupState::Active,
        }],
    };
    match RoutingSnapshot::build(topology, vec![true; nodes]) {
        Ok(s) => s,
        Err(e) => panic!("bench topology rejected: {e}"),
    }
}
