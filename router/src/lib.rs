//! Pure routing for Miroir: primary key → shard → nodes.
//!
//! `shard = xxh3_64(pk) % S`; inside each replica group a shard lives on the top-RF nodes by
//! rendezvous (HRW) score. Everything is precomputed into an immutable [`RoutingSnapshot`] so the
//! request path is a hash plus an index computation, with no locks, I/O or allocation.
//!
//! The hash functions here are part of the on-disk contract: changing [`shard_for_key`],
//! [`node_seed`] or [`hrw_score`] reshuffles every existing index, so tests pin their outputs.

pub mod batch;
pub mod filter;

use std::fmt;
use std::sync::Arc;

use xxhash_rust::xxh3::xxh3_64;

/// Index into [`Topology::nodes`]; `u16` keeps the routing tables small and cache-friendly.
pub type NodeIdx = u16;

/// Membership state of a node, as set by config/admin. Health is tracked separately.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NodeState {
    Joining,
    Active,
    Draining,
    Failed,
    Removed,
}

impl NodeState {
    /// Stable lowercase name, used in admin output and config.
    pub fn as_str(self) -> &'static str {
        match self {
            NodeState::Joining => "joining",
            NodeState::Active => "active",
            NodeState::Draining => "draining",
            NodeState::Failed => "failed",
            NodeState::Removed => "removed",
        }
    }

    /// Whether a node in this state is assigned shards. Joining nodes are not assigned yet (the
    /// rebalancer fills them first), removed nodes never are; draining nodes still hold data.
    fn holds_shards(self) -> bool {
        !matches!(self, NodeState::Joining | NodeState::Removed)
    }
}

/// Lifecycle of a replica group; only `Active` groups serve reads, all receive writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GroupState {
    Initializing,
    Syncing,
    SyncComplete,
    Active,
}

impl GroupState {
    /// Stable snake_case name, used in admin output and config.
    pub fn as_str(self) -> &'static str {
        match self {
            GroupState::Initializing => "initializing",
            GroupState::Syncing => "syncing",
            GroupState::SyncComplete => "sync_complete",
            GroupState::Active => "active",
        }
    }
}

/// One node as configured. `state` is membership only (`Failed` is never stored here; health is
/// the separate vector given to [`RoutingSnapshot::build`]).
#[derive(Clone, Debug)]
pub struct NodeSpec {
    pub id: String,
    pub group: u32,
    pub state: NodeState,
}

/// One replica group as configured.
#[derive(Clone, Debug)]
pub struct GroupSpec {
    pub id: u32,
    pub state: GroupState,
}

/// The configured cluster shape: shard count, copies per group, nodes and groups.
#[derive(Clone, Debug)]
pub struct Topology {
    pub shards: u32,
    pub replication_factor: usize,
    pub nodes: Vec<NodeSpec>,
    pub groups: Vec<GroupSpec>,
}

impl Topology {
    /// One Active group (id 0) of Active nodes named `ids`, in that order: the simplest
    /// cluster, as tests, benches and the perf harness build it.
    pub fn one_group(
        shards: u32,
        replication_factor: usize,
        ids: impl IntoIterator<Item = String>,
    ) -> Topology {
        Topology {
            shards,
            replication_factor,
            nodes: ids
                .into_iter()
                .map(|id| NodeSpec {
                    id,
                    group: 0,
                    state: NodeState::Active,
                })
                .collect(),
            groups: vec![GroupSpec {
                id: 0,
                state: GroupState::Active,
            }],
        }
    }
}

/// Shard of a document: `xxh3_64(pk) % shards`. Returns 0 when `shards == 0` rather than
/// panicking (a validated topology always has `shards >= 1`).
#[inline]
pub fn shard_for_key(primary_key: &[u8], shards: u32) -> u32 {
    shard_of_hash(key_hash(primary_key), shards)
}

/// The hash a document's shard derives from (also used to count distinct keys).
#[inline]
pub fn key_hash(primary_key: &[u8]) -> u64 {
    xxh3_64(primary_key)
}

/// `hash % shards` (0 when there are no shards).
#[inline]
pub fn shard_of_hash(hash: u64, shards: u32) -> u32 {
    match hash.checked_rem(u64::from(shards)) {
        // The remainder is < shards <= u32::MAX, so the cast is lossless.
        Some(s) => s as u32,
        None => 0,
    }
}

/// Per-node hash of its id, computed once per snapshot so scoring a (shard, node) pair is one
/// short hash.
#[inline]
pub fn node_seed(node_id: &str) -> u64 {
    xxh3_64(node_id.as_bytes())
}

/// Rendezvous score of (shard, node): `xxh3_64(shard_le ‖ node_seed_le)` (12 bytes). Well mixed
/// in both inputs, so each shard's ranking of nodes is an independent random permutation, which
/// is what gives HRW its minimal movement on membership changes. (The seeded form
/// `xxh3_64_with_seed(shard_le, node_seed)` mixes as well but happened to give meili-0 only 15 of
/// 64 shards for the example node names; see `spread_*` tests.)
#[inline]
pub fn hrw_score(shard: u32, node_seed: u64) -> u64 {
    let mut buf = [0u8; 12];
    buf[..4].copy_from_slice(&shard.to_le_bytes());
    buf[4..].copy_from_slice(&node_seed.to_le_bytes());
    xxh3_64(&buf)
}

/// Why a [`Topology`] cannot be routed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TopologyError {
    NoShards,
    ReplicationFactorZero,
    GroupTooSmall {
        group: u32,
        members: usize,
        replication_factor: usize,
    },
    UnknownGroup {
        node: String,
        group: u32,
    },
    TooManyNodes,
}

impl fmt::Display for TopologyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TopologyError::NoShards => write!(f, "topology has 0 shards; at least 1 is required"),
            TopologyError::ReplicationFactorZero => {
                write!(f, "replication factor is 0; at least 1 is required")
            }
            TopologyError::GroupTooSmall {
                group,
                members,
                replication_factor,
            } => write!(
                f,
                "group {group} has {members} shard-holding node(s) (not joining or removed) \
                 but the replication factor is {replication_factor}"
            ),
            TopologyError::UnknownGroup { node, group } => write!(
                f,
                "node {node:?} belongs to group {group}, which is not among the topology's groups"
            ),
            TopologyError::TooManyNodes => write!(
                f,
                "topology has more than {} nodes, the most a node index can address",
                NodeIdx::MAX
            ),
        }
    }
}

impl std::error::Error for TopologyError {}

/// The precomputed, health-independent part of a snapshot; shared by every health variant.
#[derive(Debug)]
struct Tables {
    topology: Topology,
    /// Copies per (group, shard): always `replication_factor`, since validation guarantees every
    /// group has at least that many shard-holding members.
    rf: usize,
    /// `replicas[(group_pos * shards + shard) * rf ..][..rf]`, best HRW score first.
    replicas: Vec<NodeIdx>,
    /// Per group position: its shard-holding members, ascending by index (covering-set slots).
    members: Vec<Vec<NodeIdx>>,
    /// Per node: its position inside its group's `members`, or `u32::MAX` if it holds nothing.
    member_pos: Vec<u32>,
    /// Per node: how many shards it holds.
    shard_counts: Vec<usize>,
}

/// Immutable routing state: topology, shard→node tables per group, and node health.
///
/// Built once per topology change; health changes use [`RoutingSnapshot::with_health`], which
/// shares the tables. Meant to be published behind an `Arc` (e.g. arc-swap) and read lock-free.
#[derive(Debug, Clone)]
pub struct RoutingSnapshot {
    tables: Arc<Tables>,
    healthy: Vec<bool>,
}

/// One healthy replica per shard inside one group: what a search fans out to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CoveringSet {
    /// `(node, shards)` sorted by node, shards ascending; nodes with no shard are omitted.
    pub per_node: Vec<(NodeIdx, Vec<u32>)>,
    /// Shards with no healthy replica in the group, ascending.
    pub uncovered: Vec<u32>,
}

impl RoutingSnapshot {
    /// Builds the precomputed shard→nodes tables. Inside each group a shard goes to the top-RF
    /// members by [`hrw_score`], among members that hold shards (state neither `Joining` nor
    /// `Removed`); ties (practically impossible) break by node id so the result does not depend
    /// on node order. `healthy[i]` is node i's health; missing entries count as unhealthy.
    pub fn build(topology: Topology, healthy: Vec<bool>) -> Result<RoutingSnapshot, TopologyError> {
        if topology.shards == 0 {
            return Err(TopologyError::NoShards);
        }
        let rf = topology.replication_factor;
        if rf == 0 {
            return Err(TopologyError::ReplicationFactorZero);
        }
        if topology.nodes.len() > usize::from(NodeIdx::MAX) {
            return Err(TopologyError::TooManyNodes);
        }

        let group_count = topology.groups.len();
        let mut members: Vec<Vec<NodeIdx>> = vec![Vec::new(); group_count];
        let mut member_pos = vec![u32::MAX; topology.nodes.len()];
        for (idx, node) in topology.nodes.iter().enumerate() {
            let Some(gpos) = topology.groups.iter().position(|g| g.id == node.group) else {
                return Err(TopologyError::UnknownGroup {
                    node: node.id.clone(),
                    group: node.group,
                });
            };
            if node.state.holds_shards() {
                // idx < nodes.len() <= NodeIdx::MAX, checked above.
                let idx16 = idx as NodeIdx;
                member_pos[idx] = members[gpos].len() as u32;
                members[gpos].push(idx16);
            }
        }
        for (group, m) in topology.groups.iter().zip(&members) {
            if m.len() < rf {
                return Err(TopologyError::GroupTooSmall {
                    group: group.id,
                    members: m.len(),
                    replication_factor: rf,
                });
            }
        }

        let seeds: Vec<u64> = topology.nodes.iter().map(|n| node_seed(&n.id)).collect();
        let shards = topology.shards as usize;
        let mut replicas: Vec<NodeIdx> = Vec::with_capacity(group_count * shards * rf);
        let mut shard_counts = vec![0usize; topology.nodes.len()];
        let mut scored: Vec<(u64, NodeIdx)> = Vec::new();
        for m in &members {
            for shard in 0..topology.shards {
                scored.clear();
                scored.extend(
                    m.iter()
                        .map(|&n| (hrw_score(shard, seeds[usize::from(n)]), n)),
                );
                scored.sort_unstable_by(|a, b| {
                    b.0.cmp(&a.0).then_with(|| {
                        topology.nodes[usize::from(a.1)]
                            .id
                            .cmp(&topology.nodes[usize::from(b.1)].id)
                    })
                });
                for &(_, n) in &scored[..rf] {
                    replicas.push(n);
                    shard_counts[usize::from(n)] += 1;
                }
            }
        }

        Ok(RoutingSnapshot {
            tables: Arc::new(Tables {
                topology,
                rf,
                replicas,
                members,
                member_pos,
                shard_counts,
            }),
            healthy,
        })
    }

    /// Same tables, new health vector (cheap: tables are shared via Arc, nothing recomputed).
    pub fn with_health(&self, healthy: Vec<bool>) -> RoutingSnapshot {
        RoutingSnapshot {
            tables: Arc::clone(&self.tables),
            healthy,
        }
    }

    /// The topology this snapshot was built from.
    pub fn topology(&self) -> &Topology {
        &self.tables.topology
    }

    /// Node health; unknown indices are unhealthy.
    #[inline]
    pub fn is_healthy(&self, node: NodeIdx) -> bool {
        self.healthy
            .get(usize::from(node))
            .copied()
            .unwrap_or(false)
    }

    /// Number of groups; group positions are `0..group_count()`, in `topology.groups` order.
    pub fn group_count(&self) -> usize {
        self.tables.topology.groups.len()
    }

    /// Nodes holding `shard` in the group at position `group_pos`, in HRW order (best first).
    /// Length is the replication factor; empty if `group_pos` or `shard` is out of range.
    #[inline]
    pub fn replicas(&self, group_pos: usize, shard: u32) -> &[NodeIdx] {
        let t = &*self.tables;
        let shards = t.topology.shards as usize;
        let shard = shard as usize;
        if group_pos >= t.topology.groups.len() || shard >= shards {
            return &[];
        }
        let start = (group_pos * shards + shard) * t.rf;
        t.replicas.get(start..start + t.rf).unwrap_or(&[])
    }

    /// Every node a write for `shard` must reach: its replicas in every group (all groups
    /// receive writes, whatever their state). No allocation.
    pub fn write_targets(&self, shard: u32) -> impl Iterator<Item = (usize, NodeIdx)> + '_ {
        (0..self.group_count())
            .flat_map(move |g| self.replicas(g, shard).iter().map(move |&n| (g, n)))
    }

    /// One healthy replica per shard inside one group. Choice rotates with `rotation` (start at
    /// `(rotation + shard) % replicas.len()`, take the first healthy one going round) so load
    /// spreads over replicas across shards and across requests. Shards with no healthy replica
    /// go to `uncovered`; an out-of-range `group_pos` leaves every shard uncovered.
    pub fn covering_set(&self, group_pos: usize, rotation: u64) -> CoveringSet {
        let t = &*self.tables;
        let Some(members) = t.members.get(group_pos) else {
            return CoveringSet {
                per_node: Vec::new(),
                uncovered: (0..t.topology.shards).collect(),
            };
        };
        let mut slots: Vec<Vec<u32>> = vec![Vec::new(); members.len()];
        let mut uncovered = Vec::new();
        for shard in 0..t.topology.shards {
            let reps = self.replicas(group_pos, shard);
            let chosen = if reps.is_empty() {
                None
            } else {
                let len = reps.len() as u64;
                let start = (rotation.wrapping_add(u64::from(shard)) % len) as usize;
                reps[start..]
                    .iter()
                    .chain(&reps[..start])
                    .copied()
                    .find(|&n| self.is_healthy(n))
            };
            let slot = chosen
                .and_then(|n| t.member_pos.get(usize::from(n)))
                .and_then(|&p| slots.get_mut(p as usize));
            match slot {
                Some(s) => s.push(shard),
                None => uncovered.push(shard),
            }
        }
        let per_node = members
            .iter()
            .zip(slots)
            .filter(|(_, s)| !s.is_empty())
            .map(|(&n, s)| (n, s))
            .collect();
        CoveringSet {
            per_node,
            uncovered,
        }
    }

    /// How many shards `node` holds as a replica in its group (0 for unknown or non-holding
    /// nodes).
    pub fn shard_count(&self, node: NodeIdx) -> usize {
        self.tables
            .shard_counts
            .get(usize::from(node))
            .copied()
            .unwrap_or(0)
    }

    /// Shards with no healthy replica in any `Active` group (empty = every shard readable).
    /// Non-active groups never count: they may not hold complete data yet.
    pub fn uncovered_shards(&self) -> Vec<u32> {
        let t = &*self.tables;
        let active: Vec<usize> = t
            .topology
            .groups
            .iter()
            .enumerate()
            .filter(|(_, g)| g.state == GroupState::Active)
            .map(|(pos, _)| pos)
            .collect();
        (0..t.topology.shards)
            .filter(|&shard| {
                !active
                    .iter()
                    .any(|&g| self.replicas(g, shard).iter().any(|&n| self.is_healthy(n)))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests;
