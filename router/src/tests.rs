use super::*;
use proptest::prelude::*;
use std::collections::BTreeSet;

fn node(id: &str, group: u32, state: NodeState) -> NodeSpec {
    NodeSpec {
        id: id.to_string(),
        group,
        state,
    }
}

fn group(id: u32, state: GroupState) -> GroupSpec {
    GroupSpec { id, state }
}

/// One Active group (id 0) holding `ids`, all Active and healthy.
fn one_group(ids: &[&str], shards: u32, rf: usize) -> Topology {
    Topology::one_group(shards, rf, ids.iter().map(|id| id.to_string()))
}

fn build_healthy(t: Topology) -> RoutingSnapshot {
    let n = t.nodes.len();
    match RoutingSnapshot::build(t, vec![true; n]) {
        Ok(s) => s,
        Err(e) => panic!("valid topology rejected: {e}"),
    }
}

/// Per shard, the replica ids of group position `g` in HRW order. Comparing by id (not index)
/// keeps comparisons meaningful across topologies whose node lists differ.
fn owners(s: &RoutingSnapshot, g: usize) -> Vec<Vec<String>> {
    (0..s.topology().shards)
        .map(|shard| {
            s.replicas(g, shard)
                .iter()
                .map(|&n| s.topology().nodes[usize::from(n)].id.clone())
                .collect()
        })
        .collect()
}

// ---------- determinism and pinned hashes ----------

#[test]
fn shard_for_key_is_pinned() {
    // Pinned outputs: a change here silently reshuffles every existing index.
    assert_eq!(xxh3_64(b""), 0x2D06_8005_38D3_94C2); // xxh3 reference vector
    assert_eq!(shard_for_key(b"doc-0", 64), PIN_DOC0_64);
    assert_eq!(shard_for_key(b"doc-1", 64), PIN_DOC1_64);
    assert_eq!(shard_for_key(b"doc-1", 1000), PIN_DOC1_1000);
    assert_eq!(shard_for_key(b"doc-1", 1), 0);
    assert_eq!(shard_for_key(b"doc-1", 0), 0);
    for i in 0..1000 {
        let k = format!("doc-{i}");
        assert_eq!(
            shard_for_key(k.as_bytes(), 64),
            shard_for_key(k.as_bytes(), 64)
        );
        assert!(shard_for_key(k.as_bytes(), 64) < 64);
    }
}

#[test]
fn hrw_score_is_pinned() {
    assert_eq!(node_seed("meili-0"), PIN_SEED_MEILI0);
    assert_eq!(hrw_score(0, node_seed("meili-0")), PIN_HRW_0_MEILI0);
    assert_eq!(hrw_score(7, node_seed("meili-1")), PIN_HRW_7_MEILI1);
    assert_ne!(hrw_score(0, 1), hrw_score(1, 0));
}

// Computed with a standalone xxh3 program, not with this crate.
const PIN_DOC0_64: u32 = 41;
const PIN_DOC1_64: u32 = 1;
const PIN_DOC1_1000: u32 = 425;
const PIN_SEED_MEILI0: u64 = 0xF011_7C6F_7B45_B8B0;
const PIN_HRW_0_MEILI0: u64 = 0x16A6_5330_037B_E66B;
const PIN_HRW_7_MEILI1: u64 = 0xA460_2413_D5C1_D2FE;

#[test]
fn build_twice_gives_identical_tables() {
    let t = Topology {
        shards: 97,
        replication_factor: 2,
        nodes: vec![
            node("a", 1, NodeState::Active),
            node("b", 1, NodeState::Active),
            node("c", 1, NodeState::Draining),
            node("d", 2, NodeState::Active),
            node("e", 2, NodeState::Active),
            node("f", 2, NodeState::Joining),
        ],
        groups: vec![group(1, GroupState::Active), group(2, GroupState::Syncing)],
    };
    let a = build_healthy(t.clone());
    let b = build_healthy(t);
    for g in 0..a.group_count() {
        for shard in 0..97 {
            assert_eq!(a.replicas(g, shard), b.replicas(g, shard));
            assert_eq!(a.replicas(g, shard).len(), 2);
        }
    }
    for n in 0..6 {
        assert_eq!(a.shard_count(n), b.shard_count(n));
    }
}

#[test]
fn tables_do_not_depend_on_node_order() {
    let fwd = build_healthy(one_group(&["n-a", "n-b", "n-c", "n-d", "n-e"], 128, 3));
    let rev = build_healthy(one_group(&["n-e", "n-d", "n-c", "n-b", "n-a"], 128, 3));
    assert_eq!(owners(&fwd, 0), owners(&rev, 0));
}

// ---------- spread ----------

fn assert_spread(ids: &[&str]) {
    let s = build_healthy(one_group(ids, 64, 1));
    let counts: Vec<usize> = (0..3).map(|n| s.shard_count(n)).collect();
    assert_eq!(counts.iter().sum::<usize>(), 64);
    for (id, c) in ids.iter().zip(&counts) {
        assert!(
            (18..=26).contains(c),
            "{id} holds {c} of 64 shards: {counts:?}"
        );
    }
}

#[test]
fn spread_meili_names_rf1_64_shards() {
    assert_spread(&["meili-0", "meili-1", "meili-2"]);
}

#[test]
fn spread_node_names_rf1_64_shards() {
    assert_spread(&["node-1", "node-2", "node-3"]);
}

#[test]
fn shard_counts_sum_to_shards_times_rf_per_group() {
    let t = Topology {
        shards: 50,
        replication_factor: 2,
        nodes: vec![
            node("a", 0, NodeState::Active),
            node("b", 0, NodeState::Active),
            node("c", 0, NodeState::Active),
            node("d", 1, NodeState::Active),
            node("e", 1, NodeState::Active),
        ],
        groups: vec![group(0, GroupState::Active), group(1, GroupState::Active)],
    };
    let s = build_healthy(t);
    assert_eq!((0..3).map(|n| s.shard_count(n)).sum::<usize>(), 100);
    // Group 1 has exactly RF members, so both hold every shard.
    assert_eq!(s.shard_count(3), 50);
    assert_eq!(s.shard_count(4), 50);
    assert_eq!(s.shard_count(99), 0);
}

// ---------- membership states ----------

#[test]
fn joining_and_removed_nodes_hold_nothing_draining_keeps_its_shards() {
    let base = build_healthy(one_group(&["a", "b", "c"], 64, 2));
    let mut t = one_group(&["a", "b", "c", "j", "r"], 64, 2);
    t.nodes[3].state = NodeState::Joining;
    t.nodes[4].state = NodeState::Removed;
    let with_extra = build_healthy(t.clone());
    assert_eq!(owners(&base, 0), owners(&with_extra, 0));
    assert_eq!(with_extra.shard_count(3), 0);
    assert_eq!(with_extra.shard_count(4), 0);

    t.nodes[2].state = NodeState::Draining;
    let draining = build_healthy(t);
    assert_eq!(owners(&base, 0), owners(&draining, 0));
    assert!(draining.shard_count(2) > 0);
}

// ---------- minimal movement ----------

/// Replica copies that change node between two owner tables (new owner not in the old set).
fn moved_copies(old: &[Vec<String>], new: &[Vec<String>]) -> usize {
    old.iter()
        .zip(new)
        .map(|(o, n)| n.iter().filter(|id| !o.contains(id)).count())
        .sum()
}

fn distinct_ids(n: std::ops::RangeInclusive<usize>) -> impl Strategy<Value = Vec<String>> {
    prop::collection::btree_set("[a-z0-9-]{1,12}", n).prop_map(|s| s.into_iter().collect())
}

fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

proptest! {
    /// Adding a 4th node to a 3-node group moves about RF/4 of the copies (each shard's new
    /// node enters its top-RF with probability RF/4 and displaces one copy). Bound: half the
    /// copies plus slack for small S. Also only shards the new node enters may change.
    #[test]
    fn adding_fourth_node_moves_little(
        ids in distinct_ids(4..=4),
        shards in 1u32..=1024,
        rf in 1usize..=2,
    ) {
        let old = build_healthy(one_group(&strs(&ids[..3]), shards, rf));
        let new = build_healthy(one_group(&strs(&ids), shards, rf));
        let (o, n) = (owners(&old, 0), owners(&new, 0));
        let moved = moved_copies(&o, &n);
        let copies = f64::from(shards) * rf as f64;
        let bound = 0.5 * copies + 2.0 * copies.sqrt() + 2.0;
        prop_assert!(moved as f64 <= bound, "moved {moved} of {copies} copies, bound {bound}");
        for (shard, (os, ns)) in o.iter().zip(&n).enumerate() {
            if os != ns {
                prop_assert!(ns.contains(&ids[3]), "shard {shard} changed without the new node");
                prop_assert_eq!(moved_copies(std::slice::from_ref(os), std::slice::from_ref(ns)), 1);
            }
        }
    }

    /// RF=2: removing a node (state Removed, indices stable) changes only shards it held, and
    /// each of those keeps its other replica and gains exactly one node.
    #[test]
    fn rf2_removing_node_changes_only_its_shards(
        ids in distinct_ids(3..=8),
        shards in 1u32..=512,
        victim in any::<prop::sample::Index>(),
    ) {
        let victim = victim.index(ids.len());
        let old = build_healthy(one_group(&strs(&ids), shards, 2));
        let mut t = one_group(&strs(&ids), shards, 2);
        t.nodes[victim].state = NodeState::Removed;
        let new = build_healthy(t);
        prop_assert_eq!(new.shard_count(victim as NodeIdx), 0);
        let gone = &ids[victim];
        for (os, ns) in owners(&old, 0).iter().zip(&owners(&new, 0)) {
            if os.contains(gone) {
                prop_assert!(!ns.contains(gone));
                let kept: Vec<&String> = os.iter().filter(|id| *id != gone).collect();
                prop_assert!(kept.iter().all(|id| ns.contains(id)));
            } else {
                prop_assert_eq!(os, ns);
            }
        }
    }

    /// RF=2: adding a node changes only shards whose top-2 it enters, and there it displaces
    /// exactly one replica.
    #[test]
    fn rf2_adding_node_changes_only_where_it_enters(
        ids in distinct_ids(3..=8),
        shards in 1u32..=512,
    ) {
        let (newcomer, rest) = ids.split_last().unwrap_or_else(|| unreachable!());
        let old = build_healthy(one_group(&strs(rest), shards, 2));
        let new = build_healthy(one_group(&strs(&ids), shards, 2));
        for (os, ns) in owners(&old, 0).iter().zip(&owners(&new, 0)) {
            if ns.contains(newcomer) {
                prop_assert_eq!(os.iter().filter(|id| ns.contains(id)).count(), 1);
            } else {
                prop_assert_eq!(os, ns);
            }
        }
    }
}

// ---------- covering sets ----------

/// A topology of `sizes.len()` Active groups with `sizes[g]` members each.
fn multi_group(sizes: &[usize], shards: u32, rf: usize) -> Topology {
    let mut nodes = Vec::new();
    for (g, &m) in sizes.iter().enumerate() {
        for i in 0..m {
            nodes.push(node(
                &format!("g{g}-n{i}"),
                g as u32 + 10,
                NodeState::Active,
            ));
        }
    }
    Topology {
        shards,
        replication_factor: rf,
        nodes,
        groups: (0..sizes.len())
            .map(|g| group(g as u32 + 10, GroupState::Active))
            .collect(),
    }
}

proptest! {
    #[test]
    fn covering_set_covers_each_shard_once(
        rf in 1usize..=3,
        extra in prop::collection::vec(0usize..=3, 1..=3),
        shards in 1u32..=200,
        health in prop::collection::vec(any::<bool>(), 24),
        rotation in any::<u64>(),
        gsel in any::<prop::sample::Index>(),
    ) {
        let sizes: Vec<usize> = extra.iter().map(|e| rf + e).collect();
        let t = multi_group(&sizes, shards, rf);
        let n = t.nodes.len();
        let s = match RoutingSnapshot::build(t, health[..n].to_vec()) {
            Ok(s) => s,
            Err(e) => return Err(TestCaseError::fail(e.to_string())),
        };
        let g = gsel.index(sizes.len());
        let cs = s.covering_set(g, rotation);

        let mut seen = vec![0u32; shards as usize];
        let mut prev_node = None;
        for (node, list) in &cs.per_node {
            prop_assert!(prev_node < Some(*node), "per_node not strictly sorted");
            prev_node = Some(*node);
            prop_assert!(!list.is_empty());
            prop_assert!(list.windows(2).all(|w| w[0] < w[1]));
            prop_assert!(s.is_healthy(*node));
            for &shard in list {
                seen[shard as usize] += 1;
                let reps = s.replicas(g, shard);
                prop_assert!(reps.contains(node));
                // Exactly the first healthy replica going round from the rotation start.
                let start = (rotation.wrapping_add(u64::from(shard)) % reps.len() as u64) as usize;
                let expected = (0..reps.len())
                    .map(|i| reps[(start + i) % reps.len()])
                    .find(|&r| s.is_healthy(r));
                prop_assert_eq!(expected, Some(*node));
            }
        }
        prop_assert!(cs.uncovered.windows(2).all(|w| w[0] < w[1]));
        for &shard in &cs.uncovered {
            seen[shard as usize] += 1;
            prop_assert!(s.replicas(g, shard).iter().all(|&r| !s.is_healthy(r)));
        }
        prop_assert!(seen.iter().all(|&c| c == 1), "coverage counts {seen:?}");
    }
}

#[test]
fn covering_set_rotation_spreads_across_replicas() {
    let s = build_healthy(one_group(&["a", "b", "c", "d"], 64, 3));
    let sets: Vec<CoveringSet> = (0..3).map(|r| s.covering_set(0, r)).collect();
    let chosen = |cs: &CoveringSet, shard: u32| {
        cs.per_node
            .iter()
            .find(|(_, l)| l.contains(&shard))
            .map(|(n, _)| *n)
    };
    for shard in 0..64 {
        let picked: BTreeSet<NodeIdx> = sets.iter().filter_map(|cs| chosen(cs, shard)).collect();
        let reps: BTreeSet<NodeIdx> = s.replicas(0, shard).iter().copied().collect();
        assert_eq!(
            picked, reps,
            "shard {shard}: rotations 0..3 must visit every replica"
        );
    }
    // Within one request the shard offset spreads load: not every shard uses its first replica.
    let firsts = (0..64)
        .filter(|&sh| chosen(&sets[0], sh) == Some(s.replicas(0, sh)[0]))
        .count();
    assert!(firsts < 40, "{firsts} of 64 shards picked replica 0");
    // Every node serves a share.
    assert_eq!(sets[0].per_node.len(), 4);
}

#[test]
fn covering_set_skips_unhealthy_and_reports_uncovered() {
    let s = build_healthy(one_group(&["a", "b", "c"], 64, 1)).with_health(vec![true, false, true]);
    let cs = s.covering_set(0, 0);
    let b_shards: Vec<u32> = (0..64).filter(|&sh| s.replicas(0, sh) == [1]).collect();
    assert!(!b_shards.is_empty());
    assert_eq!(cs.uncovered, b_shards);
    assert!(cs.per_node.iter().all(|(n, _)| *n != 1));
}

#[test]
fn out_of_range_lookups_are_empty_not_panics() {
    let s = build_healthy(one_group(&["a", "b"], 8, 1));
    assert!(s.replicas(1, 0).is_empty());
    assert!(s.replicas(0, 8).is_empty());
    assert_eq!(s.write_targets(8).count(), 0);
    let cs = s.covering_set(5, 0);
    assert!(cs.per_node.is_empty());
    assert_eq!(cs.uncovered, (0..8).collect::<Vec<_>>());
    assert!(!s.is_healthy(2));
}

// ---------- writes ----------

#[test]
fn write_targets_reach_replicas_in_every_group() {
    let mut t = multi_group(&[3, 2, 4], 32, 2);
    t.groups[1].state = GroupState::Initializing;
    t.groups[2].state = GroupState::Syncing;
    let s = build_healthy(t);
    for shard in 0..32 {
        let got: Vec<(usize, NodeIdx)> = s.write_targets(shard).collect();
        let want: Vec<(usize, NodeIdx)> = (0..3)
            .flat_map(|g| s.replicas(g, shard).iter().map(move |&n| (g, n)))
            .collect();
        assert_eq!(got.len(), 6);
        assert_eq!(got, want);
    }
}

// ---------- health and readiness ----------

#[test]
fn with_health_shares_tables_and_swaps_health() {
    let s = build_healthy(one_group(&["a", "b", "c"], 16, 2));
    let h = s.with_health(vec![false, true]);
    assert!(Arc::ptr_eq(&s.tables, &h.tables));
    assert!(!h.is_healthy(0) && h.is_healthy(1) && !h.is_healthy(2));
    assert!(s.is_healthy(0) && s.is_healthy(2));
}

#[test]
fn uncovered_shards_ignores_non_active_groups() {
    let mut t = multi_group(&[2, 2], 32, 1);
    t.groups[1].state = GroupState::SyncComplete;
    // Group 0 (Active) all down, group 1 (not Active) all up: nothing is readable.
    let s = build_healthy(t.clone()).with_health(vec![false, false, true, true]);
    assert_eq!(s.uncovered_shards(), (0..32).collect::<Vec<_>>());
    for state in [GroupState::Initializing, GroupState::Syncing] {
        t.groups[1].state = state;
        let s = build_healthy(t.clone()).with_health(vec![false, false, true, true]);
        assert_eq!(s.uncovered_shards().len(), 32, "{}", state.as_str());
    }
    // Once group 1 is Active it covers everything.
    t.groups[1].state = GroupState::Active;
    let s = build_healthy(t).with_health(vec![false, false, true, true]);
    assert!(s.uncovered_shards().is_empty());
}

#[test]
fn uncovered_shards_are_exactly_the_dead_nodes_shards() {
    let s = build_healthy(one_group(&["a", "b", "c"], 64, 1));
    assert!(s.uncovered_shards().is_empty());
    let s = s.with_health(vec![true, true, false]);
    let want: Vec<u32> = (0..64).filter(|&sh| s.replicas(0, sh) == [2]).collect();
    assert_eq!(s.uncovered_shards(), want);
    assert_eq!(want.len(), s.shard_count(2));
    // No Active group at all: nothing is covered.
    let mut t = one_group(&["a"], 4, 1);
    t.groups[0].state = GroupState::Syncing;
    assert_eq!(build_healthy(t).uncovered_shards(), vec![0, 1, 2, 3]);
}

// ---------- validation ----------

fn build_err(t: Topology) -> TopologyError {
    match RoutingSnapshot::build(t, Vec::new()) {
        Ok(_) => panic!("invalid topology accepted"),
        Err(e) => e,
    }
}

#[test]
fn validation_rejects_bad_topologies() {
    assert_eq!(build_err(one_group(&["a"], 0, 1)), TopologyError::NoShards);
    assert_eq!(
        build_err(one_group(&["a"], 4, 0)),
        TopologyError::ReplicationFactorZero
    );

    let mut t = one_group(&["a", "b"], 4, 1);
    t.nodes[1].group = 7;
    assert_eq!(
        build_err(t),
        TopologyError::UnknownGroup {
            node: "b".into(),
            group: 7
        }
    );

    let mut t = one_group(&["a", "b", "c"], 4, 2);
    t.nodes[1].state = NodeState::Joining;
    t.nodes[2].state = NodeState::Removed;
    assert_eq!(
        build_err(t),
        TopologyError::GroupTooSmall {
            group: 0,
            members: 1,
            replication_factor: 2
        }
    );
    // An empty group is too small too.
    let mut t = one_group(&["a"], 4, 1);
    t.groups.push(group(3, GroupState::Initializing));
    assert_eq!(
        build_err(t),
        TopologyError::GroupTooSmall {
            group: 3,
            members: 0,
            replication_factor: 1
        }
    );

    let t = Topology {
        shards: 1,
        replication_factor: 1,
        nodes: vec![node("x", 0, NodeState::Active); usize::from(NodeIdx::MAX) + 1],
        groups: vec![group(0, GroupState::Active)],
    };
    assert_eq!(build_err(t), TopologyError::TooManyNodes);
}

#[test]
fn error_messages_are_precise() {
    let e = TopologyError::GroupTooSmall {
        group: 2,
        members: 1,
        replication_factor: 3,
    };
    assert_eq!(
        e.to_string(),
        "group 2 has 1 shard-holding node(s) (not joining or removed) but the replication factor is 3"
    );
    assert_eq!(
        TopologyError::UnknownGroup {
            node: "n1".into(),
            group: 9
        }
        .to_string(),
        "node \"n1\" belongs to group 9, which is not among the topology's groups"
    );
    assert_eq!(
        TopologyError::TooManyNodes.to_string(),
        "topology has more than 65535 nodes, the most a node index can address"
    );
    let _: &dyn std::error::Error = &TopologyError::NoShards;
}

#[test]
fn state_names() {
    let n: Vec<&str> = [
        NodeState::Joining,
        NodeState::Active,
        NodeState::Draining,
        NodeState::Failed,
        NodeState::Removed,
    ]
    .into_iter()
    .map(NodeState::as_str)
    .collect();
    assert_eq!(n, ["joining", "active", "draining", "failed", "removed"]);
    let g: Vec<&str> = [
        GroupState::Initializing,
        GroupState::Syncing,
        GroupState::SyncComplete,
        GroupState::Active,
    ]
    .into_iter()
    .map(GroupState::as_str)
    .collect();
    assert_eq!(g, ["initializing", "syncing", "sync_complete", "active"]);
}

#[test]
fn snapshot_is_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<RoutingSnapshot>();
    check::<Arc<RoutingSnapshot>>();
}
