//! Scatter-gather search: one group's covering set (other groups fill in for
//! shards it cannot cover), every node asked for `offset + limit` hits with
//! ranking scores, failed nodes retried on another replica within the
//! deadline, and the node lists k-way merged by `miroir-merge`.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use miroir_io::{Method, Request, Response};
use miroir_merge::{merge_search, MergeRequest, Page};
use miroir_router::batch::SHARD_FIELD;
use miroir_router::{GroupState, RoutingSnapshot};
use serde_json::{Map, Value};

use crate::api::{Api, RequestTrace};
use crate::auth::ClientAuth;
use crate::config::UnavailableShardPolicy;
use crate::metrics::NodeOperation;
use crate::nodes::{NodeRequest, NodeResult};
use crate::query;
use crate::routes::index_not_found;

/// A search's parameters as a JSON object (GET query strings are turned
/// into the POST body Meilisearch would accept).
fn search_body(req: &Request<'_>) -> Result<Map<String, Value>, Response> {
    if req.method == Method::Post {
        let body = if req.body.is_empty() {
            b"{}".as_slice()
        } else {
            req.body
        };
        return match serde_json::from_slice::<Value>(body) {
            Ok(Value::Object(map)) => Ok(map),
            Ok(_) => Err(Response::error(
                400,
                "bad_request",
                "invalid_request",
                "The search parameters must be a JSON object.",
            )),
            Err(e) => Err(Response::error(
                400,
                "malformed_payload",
                "invalid_request",
                &format!("The json payload provided is malformed. `{e}`."),
            )),
        };
    }
    let mut map = Map::new();
    for (key, value) in query::pairs(req.query()) {
        let v = match key.as_str() {
            "offset" | "limit" | "page" | "hitsPerPage" | "cropLength" => value
                .parse::<u64>()
                .map(Value::from)
                .unwrap_or(Value::from(value)),
            "rankingScoreThreshold" | "semanticRatio" => value
                .parse::<f64>()
                .map(Value::from)
                .unwrap_or(Value::from(value)),
            "showRankingScore"
            | "showRankingScoreDetails"
            | "showMatchesPosition"
            | "retrieveVectors" => Value::from(value == "true"),
            "facets"
            | "sort"
            | "attributesToRetrieve"
            | "attributesToHighlight"
            | "attributesToCrop"
            | "attributesToSearchOn"
            | "locales" => Value::from(
                value
                    .split(',')
                    .map(|s| Value::from(s.trim()))
                    .collect::<Vec<_>>(),
            ),
            _ => Value::from(value),
        };
        map.insert(key, v);
    }
    Ok(map)
}

/// Shards each node answers for, and shards nobody can.
pub(crate) struct Plan {
    pub per_node: BTreeMap<usize, Vec<u32>>,
    pub uncovered: Vec<u32>,
    /// Nodes answering for only some of the shards they hold.
    pub partial_nodes: Vec<usize>,
}

/// The covering set of `group`, with shards it cannot cover taken from a
/// healthy replica in another active group.
pub(crate) fn plan(
    routing: &RoutingSnapshot,
    group: usize,
    rotation: u64,
    avoid: &[usize],
) -> Plan {
    let covering = routing.covering_set(group, rotation);
    let mut per_node: BTreeMap<usize, Vec<u32>> = BTreeMap::new();
    for (node, shards) in &covering.per_node {
        if avoid.contains(&(*node as usize)) {
            continue;
        }
        per_node
            .entry(*node as usize)
            .or_default()
            .extend(shards.iter().copied());
    }
    let mut missing: Vec<u32> = covering.uncovered.clone();
    for (node, shards) in &covering.per_node {
        if avoid.contains(&(*node as usize)) {
            missing.extend(shards.iter().copied());
        }
    }
    let mut uncovered = Vec::new();
    let mut partial_nodes = Vec::new();
    for shard in missing {
        match replacement(routing, shard, avoid) {
            Some(node) => {
                per_node.entry(node).or_default().push(shard);
                partial_nodes.push(node);
            }
            None => uncovered.push(shard),
        }
    }
    Plan {
        per_node,
        uncovered,
        partial_nodes,
    }
}

fn shard_filter(shards: &[u32]) -> String {
    let list = shards
        .iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(", ");
    format!("{SHARD_FIELD} IN [{list}]")
}

/// The filter a node gets: the client's, AND its shards when it must not
/// answer for everything it holds.
pub(crate) fn with_shard_filter(client: Option<&Value>, shards: &[u32]) -> Value {
    let shard = Value::from(shard_filter(shards));
    match client {
        None | Some(Value::Null) => shard,
        Some(Value::Array(parts)) => {
            let mut parts = parts.clone();
            parts.push(shard);
            Value::Array(parts)
        }
        Some(other) => Value::from(vec![other.clone(), shard]),
    }
}

/// One index's merged answer, and the shards it is missing.
pub(crate) struct Searched {
    pub body: Vec<u8>,
    pub missing_shards: Vec<u32>,
}

impl Api {
    pub(crate) async fn search(
        &self,
        req: &Request<'_>,
        auth: &ClientAuth<'_>,
        uid: &str,
        trace: &RequestTrace,
    ) -> Response {
        let body = match search_body(req) {
            Ok(b) => b,
            Err(r) => return r,
        };
        let request_uid = uuid::Uuid::now_v7().to_string();
        match self
            .search_index(req, auth, uid, &body, &request_uid, trace)
            .await
        {
            Ok(searched) => {
                let mut response = Response::json(200, searched.body);
                if !searched.missing_shards.is_empty() {
                    trace.degraded.set(true);
                    let list = searched
                        .missing_shards
                        .iter()
                        .map(u32::to_string)
                        .collect::<Vec<_>>()
                        .join(",");
                    response
                        .headers
                        .push(("x-miroir-degraded", format!("shards={list}")));
                }
                response
            }
            Err(r) => r,
        }
    }

    /// Searches one index for `body` (Meilisearch search parameters).
    pub(crate) async fn search_index(
        &self,
        req: &Request<'_>,
        auth: &ClientAuth<'_>,
        uid: &str,
        body: &Map<String, Value>,
        request_uid: &str,
        trace: &RequestTrace,
    ) -> Result<Searched, Response> {
        if self.cluster.indexes.get(uid).is_none() {
            return Err(index_not_found(uid));
        }
        let uint = |k: &str| body.get(k).and_then(Value::as_u64).map(|v| v as usize);
        let page = match (uint("page"), uint("hitsPerPage")) {
            (None, None) => None,
            (p, h) => Some(Page {
                page: p.unwrap_or(1),
                hits_per_page: h.unwrap_or(20),
            }),
        };
        let offset = uint("offset").unwrap_or(0);
        let limit = uint("limit").unwrap_or(20);
        let sort: Option<Vec<String>> = body.get("sort").and_then(Value::as_array).map(|s| {
            s.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        });
        let show_score = body
            .get("showRankingScore")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let show_details = body
            .get("showRankingScoreDetails")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let query_json = body.get("q").map(|q| q.to_string());
        let merge_req = MergeRequest {
            offset,
            limit,
            page,
            sort: sort.as_deref(),
            show_ranking_score: show_score,
            show_ranking_score_details: show_details,
            query: query_json.as_deref(),
            request_uid: Some(request_uid),
            ..MergeRequest::default()
        };
        // What every node is asked: enough hits for the merged window, with
        // the scores the merge compares.
        let (_, window_end) = {
            let (skip, take) = merge_req.window();
            (skip, skip + take)
        };
        let mut node_body = body.clone();
        node_body.remove("page");
        node_body.remove("hitsPerPage");
        node_body.insert("offset".into(), Value::from(0));
        node_body.insert("limit".into(), Value::from(window_end));
        node_body.insert("showRankingScore".into(), Value::from(true));
        if sort.is_some() || show_details {
            node_body.insert("showRankingScoreDetails".into(), Value::from(true));
        }
        let client_filter = body.get("filter").cloned();

        let routing = self.cluster.routing.load();
        let active: Vec<usize> = (0..routing.group_count())
            .filter(|&g| routing.topology().groups[g].state == GroupState::Active)
            .collect();
        if active.is_empty() {
            return Err(Response::error(
                503,
                "miroir_shard_unavailable",
                "system",
                "No replica group is active.",
            ));
        }
        let rotation = self.next_node.get() as u64;
        self.next_node.set(self.next_node.get().wrapping_add(1));
        let group = active[rotation as usize % active.len()];
        let rf = routing.topology().replication_factor;
        let deadline =
            Instant::now() + Duration::from_millis(self.cluster.config.scatter.node_timeout_ms);
        let target = format!("/indexes/{uid}/search");
        let authorization = self.node_authorization(req, auth);

        let mut failed_nodes: Vec<usize> = Vec::new();
        let mut answers: Vec<Vec<u8>> = Vec::new();
        let mut retries = 0u64;
        let mut fan_out = 0usize;
        let mut uncovered: Vec<u32> = Vec::new();
        // Round 1: the plan; round 2: shards of failed nodes on other replicas.
        let mut pending = plan(&routing, group, rotation, &failed_nodes);
        for round in 0..2 {
            if pending.per_node.is_empty() {
                uncovered = pending.uncovered.clone();
                break;
            }
            let bodies: Vec<(usize, Vec<u32>, Vec<u8>)> = pending
                .per_node
                .iter()
                .map(|(&node, shards)| {
                    let mut b = node_body.clone();
                    if rf > 1 || round > 0 || pending.partial_nodes.contains(&node) {
                        b.insert(
                            "filter".into(),
                            with_shard_filter(client_filter.as_ref(), shards),
                        );
                    }
                    (
                        node,
                        shards.clone(),
                        serde_json::to_vec(&Value::Object(b)).unwrap_or_default(),
                    )
                })
                .collect();
            fan_out += bodies.len();
            trace.fan_out.set(trace.fan_out.get() + bodies.len() as u32);
            let remaining = deadline.saturating_duration_since(Instant::now());
            let results: Vec<NodeResult> = join_all(bodies.iter().map(|(node, _, b)| {
                let request = NodeRequest {
                    method: Method::Post,
                    target: &target,
                    content_type: Some("application/json"),
                    body: b,
                };
                async move {
                    match monoio::time::timeout(
                        remaining,
                        self.send_node(*node, NodeOperation::Read, &request, authorization),
                    )
                    .await
                    {
                        Ok(r) => r,
                        Err(_) => Err(miroir_io::UpstreamError::Timeout),
                    }
                }
            }))
            .await;
            let mut lost_shards: Vec<u32> = pending.uncovered.clone();
            for ((node, shards, _), result) in bodies.iter().zip(results) {
                match result {
                    Ok(resp) if resp.status == 200 => answers.push(resp.body),
                    // A client error (bad filter, unknown field…) is the answer.
                    Ok(resp) if (400..500).contains(&resp.status) => {
                        return Err(Response::json(resp.status, resp.body))
                    }
                    other => {
                        let why = match &other {
                            Ok(resp) => format!("HTTP {}", resp.status),
                            Err(err) => err.to_string(),
                        };
                        tracing::warn!(node = %self.cluster.config.nodes[*node].id, error = %why, "search node failed; retrying its shards elsewhere");
                        failed_nodes.push(*node);
                        lost_shards.extend(shards.iter().copied());
                    }
                }
            }
            if lost_shards.is_empty() || round == 1 || Instant::now() >= deadline {
                uncovered = lost_shards;
                break;
            }
            retries += lost_shards.len() as u64;
            pending = replan(&routing, &lost_shards, &failed_nodes);
        }
        uncovered.sort_unstable();
        uncovered.dedup();
        let partial = !uncovered.is_empty();
        self.metrics
            .scatter(fan_out, partial, retries, uncovered.len() as u64);
        if partial
            && self.cluster.config.scatter.unavailable_shard_policy == UnavailableShardPolicy::Error
        {
            let list = uncovered
                .iter()
                .map(u32::to_string)
                .collect::<Vec<_>>()
                .join(", ");
            return Err(Response::error(
                503,
                "miroir_shard_unavailable",
                "system",
                &format!("Shards {list} of index `{uid}` have no reachable replica."),
            ));
        }
        let bodies: Vec<&[u8]> = answers.iter().map(Vec::as_slice).collect();
        let mut out = Vec::with_capacity(answers.iter().map(Vec::len).sum::<usize>().min(1 << 20));
        if let Err(err) = merge_search(&merge_req, &bodies, &mut out) {
            return Err(Response::error(
                502,
                "miroir_node_error",
                "system",
                &format!("A node's search answer could not be merged: {err}."),
            ));
        }
        Ok(Searched {
            body: out,
            missing_shards: if partial { uncovered } else { Vec::new() },
        })
    }
}

/// A healthy replica of `shard` in any active group, not in `avoid`.
fn replacement(routing: &RoutingSnapshot, shard: u32, avoid: &[usize]) -> Option<usize> {
    let topo = routing.topology();
    (0..routing.group_count())
        .filter(|&g| topo.groups[g].state == GroupState::Active)
        .flat_map(|g| routing.replicas(g, shard).iter().map(|&n| n as usize))
        .find(|&n| routing.is_healthy(n as u16) && !avoid.contains(&n))
}

/// Healthy replicas (any active group) for shards whose node failed.
fn replan(routing: &RoutingSnapshot, shards: &[u32], avoid: &[usize]) -> Plan {
    let mut per_node: BTreeMap<usize, Vec<u32>> = BTreeMap::new();
    let mut uncovered = Vec::new();
    for &shard in shards {
        match replacement(routing, shard, avoid) {
            Some(node) => per_node.entry(node).or_default().push(shard),
            None => uncovered.push(shard),
        }
    }
    let partial_nodes = per_node.keys().copied().collect();
    Plan {
        per_node,
        uncovered,
        partial_nodes,
    }
}
