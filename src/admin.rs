//! `/_miroir/*` admin endpoints: readiness, topology and the shard map.

use miroir_io::Response;
use serde_json::{json, Value};

use crate::cluster::Cluster;

fn json_response(status: u16, value: &Value) -> Response {
    Response::json(status, serde_json::to_vec(value).unwrap_or_default())
}

/// 200 when every shard has a healthy replica in an Active group.
pub fn ready(cluster: &Cluster) -> Response {
    let uncovered = cluster.routing.load().uncovered_shards();
    if uncovered.is_empty() {
        return json_response(200, &json!({"status": "ready"}));
    }
    const SHOWN: usize = 16;
    let mut list = uncovered
        .iter()
        .take(SHOWN)
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(", ");
    if uncovered.len() > SHOWN {
        list.push_str(&format!(" and {} more", uncovered.len() - SHOWN));
    }
    let message = format!(
        "Miroir is not ready: {} of {} shards have no healthy replica in an active group (shards {list}).",
        uncovered.len(),
        cluster.config.cluster.shards
    );
    Response::error(503, "miroir_not_ready", "system", &message)
}

pub fn topology(cluster: &Cluster) -> Response {
    let routing = cluster.routing.load();
    let health = cluster.health.load();
    let topo = routing.topology();
    let nodes: Vec<Value> = topo
        .nodes
        .iter()
        .enumerate()
        .map(|(i, node)| {
            let h = health.get(i).cloned().unwrap_or_default();
            let status = if h.healthy {
                node.state.as_str()
            } else {
                "failed"
            };
            json!({
                "id": node.id,
                "address": cluster.config.nodes[i].address,
                "group": node.group,
                "status": status,
                "shard_count": routing.shard_count(i as u16),
                "last_seen_ms": h.last_seen_ms,
                "error": h.error,
            })
        })
        .collect();
    let groups: Vec<Value> = topo
        .groups
        .iter()
        .map(|g| {
            let members: Vec<&str> = topo
                .nodes
                .iter()
                .filter(|n| n.group == g.id)
                .map(|n| n.id.as_str())
                .collect();
            json!({"id": g.id, "state": g.state.as_str(), "nodes": members})
        })
        .collect();
    let degraded = health.iter().filter(|h| !h.healthy).count();
    json_response(
        200,
        &json!({
            "shards": topo.shards,
            "replication_factor": topo.replication_factor,
            "replica_groups": topo.groups.len(),
            "groups": groups,
            "nodes": nodes,
            "degraded_node_count": degraded,
            "fully_covered": routing.uncovered_shards().is_empty(),
        }),
    )
}

pub fn shards(cluster: &Cluster) -> Response {
    let routing = cluster.routing.load();
    let topo = routing.topology();
    let shards: Vec<Value> = (0..topo.shards)
        .map(|shard| {
            let groups: Vec<Value> = (0..routing.group_count())
                .map(|g| {
                    let nodes: Vec<&str> = routing
                        .replicas(g, shard)
                        .iter()
                        .map(|&n| topo.nodes[n as usize].id.as_str())
                        .collect();
                    json!({"group": topo.groups[g].id, "nodes": nodes})
                })
                .collect();
            json!({"shard": shard, "groups": groups})
        })
        .collect();
    json_response(200, &json!({"shards": shards}))
}
