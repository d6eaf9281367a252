//! Cluster state shared by every core: the routing snapshot and the latest
//! health observations, each behind an `ArcSwap` so readers never lock.

use std::net::SocketAddr;
use std::sync::Arc;

use arc_swap::ArcSwap;
use miroir_router::{GroupSpec, GroupState, NodeSpec, NodeState, RoutingSnapshot, Topology};

use crate::config::Config;

/// What the health checker last saw of one node.
#[derive(Clone, Debug, Default)]
pub struct NodeHealth {
    pub healthy: bool,
    /// Unix time (ms) of the last successful check.
    pub last_seen_ms: Option<u64>,
    /// Why the last check failed, while the node is not healthy.
    pub error: Option<String>,
}

pub struct Cluster {
    pub config: Config,
    /// Node addresses, by node index (the order of `[[nodes]]`).
    pub node_addrs: Vec<SocketAddr>,
    pub routing: ArcSwap<RoutingSnapshot>,
    pub health: ArcSwap<Vec<NodeHealth>>,
}

impl Cluster {
    /// Every node starts unhealthy until its first successful check.
    pub fn new(config: Config, node_addrs: Vec<SocketAddr>) -> Result<Cluster, String> {
        let group_count = config.nodes.iter().map(|n| n.group + 1).max().unwrap_or(0);
        let topology = Topology {
            shards: config.cluster.shards,
            replication_factor: config.cluster.replication_factor,
            nodes: config
                .nodes
                .iter()
                .map(|n| NodeSpec {
                    id: n.id.clone(),
                    group: n.group,
                    state: NodeState::Active,
                })
                .collect(),
            groups: (0..group_count)
                .map(|id| GroupSpec {
                    id,
                    state: GroupState::Active,
                })
                .collect(),
        };
        let node_count = topology.nodes.len();
        let routing =
            RoutingSnapshot::build(topology, vec![false; node_count]).map_err(|e| e.to_string())?;
        let health = (0..node_count)
            .map(|_| NodeHealth {
                error: Some("not checked yet".into()),
                ..NodeHealth::default()
            })
            .collect();
        Ok(Cluster {
            config,
            node_addrs,
            routing: ArcSwap::from_pointee(routing),
            health: ArcSwap::from_pointee(health),
        })
    }

    pub fn shared(self) -> Arc<Cluster> {
        Arc::new(self)
    }
}
