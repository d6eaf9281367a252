//! The document write path: parse once, route, splice, fan out to every
//! group, apply the two-rule quorum, persist one task, answer 202.

use std::sync::Arc;

use miroir_io::{Method, Request, Response};
use miroir_router::batch::{infer_primary_key, BatchError, Payload, PayloadFormat};
use miroir_router::RoutingSnapshot;
use serde_json::json;

use crate::api::{Api, RequestTrace};
use crate::auth::ClientAuth;
use crate::indexes::IndexMeta;
use crate::metrics::NodeOperation;
use crate::nodes::{node_error_value, task_uid, NodeRequest, NodeResult};
use crate::query;
use crate::routes::{join_numbers, store_unavailable};
use crate::tasks::{now_ns, Task};

/// Whether every shard reached quorum in at least one group.
#[derive(Debug, PartialEq, Eq)]
pub struct QuorumOutcome {
    /// Groups (ids) that missed quorum for at least one shard.
    pub degraded_groups: Vec<u32>,
    /// Shards for which no group met quorum.
    pub failed_shards: Vec<u32>,
}

/// The two-rule quorum: inside a group a shard needs floor(RF/2)+1 acks;
/// the write succeeds when every shard met that in at least one group.
pub fn quorum(snapshot: &RoutingSnapshot, shards: &[u32], acked: &[bool]) -> QuorumOutcome {
    let topo = snapshot.topology();
    let mut degraded = vec![false; snapshot.group_count()];
    let mut failed_shards = Vec::new();
    for &shard in shards {
        let mut any_group = false;
        for (g, missed) in degraded.iter_mut().enumerate() {
            let replicas = snapshot.replicas(g, shard);
            let acks = replicas
                .iter()
                .filter(|&&n| acked.get(n as usize).copied().unwrap_or(false))
                .count();
            if !replicas.is_empty() && acks > replicas.len() / 2 {
                any_group = true;
            } else {
                *missed = true;
            }
        }
        if !any_group {
            failed_shards.push(shard);
        }
    }
    QuorumOutcome {
        degraded_groups: degraded
            .iter()
            .enumerate()
            .filter(|(_, d)| **d)
            .map(|(g, _)| topo.groups[g].id)
            .collect(),
        failed_shards,
    }
}

fn batch_error(e: BatchError) -> Response {
    Response::error(400, e.code, "invalid_request", &e.message)
}

const ACCEPTED_TYPES: &str = "`application/json`, `application/x-ndjson`, `text/csv`";

fn payload_format(req: &Request<'_>) -> Result<PayloadFormat, Response> {
    let Some(ct) = req.header("content-type") else {
        return Err(Response::error(
            415,
            "missing_content_type",
            "invalid_request",
            &format!("A Content-Type header is missing. Accepted values for the Content-Type header are: {ACCEPTED_TYPES}"),
        ));
    };
    let ct = String::from_utf8_lossy(ct);
    let mime = ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    match mime.as_str() {
        "application/json" => Ok(PayloadFormat::Json),
        "application/x-ndjson" => Ok(PayloadFormat::NdJson),
        "text/csv" => {
            let delimiter = match query::get(req.query(), "csvDelimiter") {
                None => b',',
                Some(d) if d.len() == 1 && d.is_ascii() => d.as_bytes()[0],
                Some(d) => {
                    return Err(Response::error(
                        400,
                        "invalid_document_csv_delimiter",
                        "invalid_request",
                        &format!("Invalid value in parameter `csvDelimiter`: expected a string of one character, but found the following string of {} characters: `{d}`", d.chars().count()),
                    ))
                }
            };
            Ok(PayloadFormat::Csv { delimiter })
        }
        _ => Err(Response::error(
            415,
            "invalid_content_type",
            "invalid_request",
            &format!("The Content-Type `{ct}` is invalid. Accepted values for the Content-Type header are: {ACCEPTED_TYPES}"),
        )),
    }
}

impl Api {
    /// `POST` (replace) and `PUT` (update) `/indexes/{uid}/documents`.
    pub(crate) async fn add_documents(
        &self,
        req: &Request<'_>,
        auth: &ClientAuth<'_>,
        index_uid: &str,
        trace: &RequestTrace,
    ) -> Response {
        let format = match payload_format(req) {
            Ok(f) => f,
            Err(r) => return r,
        };
        let payload = match Payload::parse(req.body, format) {
            Ok(p) => p,
            Err(e) => return batch_error(e),
        };
        let requested_pk = query::get(req.query(), "primaryKey").filter(|p| !p.is_empty());
        let existing = self.cluster.indexes.get(index_uid);
        let primary_key = match (
            existing.as_ref().and_then(|m| m.primary_key.clone()),
            &requested_pk,
        ) {
            (Some(pk), Some(requested)) if pk != *requested => {
                return Response::error(
                    400,
                    "index_primary_key_already_exists",
                    "invalid_request",
                    &format!("Index `{index_uid}`: Index already has a primary key: `{pk}`."),
                )
            }
            (Some(pk), _) => pk,
            (None, Some(requested)) => requested.clone(),
            (None, None) if payload.is_empty() => String::new(),
            (None, None) => match infer_primary_key(&payload.first_document_fields()) {
                Ok(pk) => pk,
                Err(e) => return batch_error(e),
            },
        };
        let shards = existing
            .as_ref()
            .map_or(self.cluster.config.cluster.shards, |m| m.shards);
        // Every document is checked before anything is sent anywhere.
        let routed = match payload.route(&primary_key, shards) {
            Ok(r) => r,
            Err(e) => return batch_error(e),
        };
        let meta = match self
            .ensure_index(req, auth, index_uid, &primary_key, existing, trace)
            .await
        {
            Ok(m) => m,
            Err(r) => return r,
        };

        let snapshot = self.cluster.routing.load();
        let bodies = payload.node_bodies(&routed, &snapshot);
        let content_type = match format {
            PayloadFormat::Json => "application/json",
            PayloadFormat::NdJson => "application/x-ndjson",
            PayloadFormat::Csv { .. } => "text/csv",
        };
        let mut target = format!(
            "/indexes/{index_uid}/documents?primaryKey={}",
            query::encode(&primary_key)
        );
        if let PayloadFormat::Csv { delimiter } = format {
            target.push_str(&format!(
                "&csvDelimiter={}",
                query::encode(&(delimiter as char).to_string())
            ));
        }
        let requests: Vec<(usize, NodeRequest)> = bodies
            .iter()
            .map(|b| {
                (
                    b.node as usize,
                    NodeRequest {
                        method: req.method,
                        target: &target,
                        content_type: Some(content_type),
                        body: &b.body,
                    },
                )
            })
            .collect();
        let authorization = self.node_authorization(req, auth);
        let results = self
            .send_nodes(&requests, NodeOperation::Write, authorization, trace)
            .await;

        let mut shards_written: Vec<u32> = routed.iter().map(|r| r.shard).collect();
        shards_written.sort_unstable();
        shards_written.dedup();
        let details = json!({
            "receivedDocuments": payload.len(),
            "indexedDocuments": null,
            "miroirDistinctDocuments": distinct_documents(&routed),
        });
        let nodes: Vec<usize> = requests.iter().map(|(n, _)| *n).collect();
        self.finish_write(
            &snapshot,
            Some(&meta.uid),
            "documentAdditionOrUpdate",
            details,
            &nodes,
            &results,
            &shards_written,
            trace,
        )
        .await
    }

    /// Applies the quorum to node answers, records the task and answers.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn finish_write(
        &self,
        snapshot: &RoutingSnapshot,
        index_uid: Option<&str>,
        kind: &str,
        details: serde_json::Value,
        nodes: &[usize],
        results: &[NodeResult],
        shards_written: &[u32],
        trace: &RequestTrace,
    ) -> Response {
        let mut acked = vec![false; self.cluster.config.nodes.len()];
        for (&node, result) in nodes.iter().zip(results) {
            if result.as_ref().ok().and_then(task_uid).is_some() {
                acked[node] = true;
            }
        }
        let outcome = quorum(snapshot, shards_written, &acked);
        if !outcome.failed_shards.is_empty() {
            // When every node refused with the same client error, that error
            // is the answer (e.g. an API key without the right action).
            if let Some(resp) = unanimous_client_error(results) {
                return resp;
            }
            let shards = join_numbers(&outcome.failed_shards, ", ");
            return Response::error(
                503,
                "miroir_no_quorum",
                "system",
                &format!("The write reached no replica group's quorum for shards {shards}; it was not accepted. Check /_miroir/topology and retry."),
            );
        }
        // Only an accepted write takes a task uid.
        let task = self.task_from_results(index_uid, kind, details, nodes, results);
        self.accept_task(task, &outcome.degraded_groups, trace)
            .await
    }

    /// Makes the task durable, registers it, answers 202 with its summary.
    pub(crate) async fn accept_task(
        &self,
        mut task: Task,
        degraded_groups: &[u32],
        trace: &RequestTrace,
    ) -> Response {
        task.aggregate(now_ns());
        if let Err(err) = self.cluster.persist_task(&task).await {
            tracing::error!(error = %err, task = task.uid, "could not persist a task");
            return store_unavailable(&format!("The task could not be recorded durably: {err}."));
        }
        let summary = task.summary();
        self.cluster.tasks.insert(task);
        let mut response = Response::json(202, serde_json::to_vec(&summary).unwrap_or_default());
        if !degraded_groups.is_empty() {
            trace.degraded.set(true);
            let groups = join_numbers(degraded_groups, ",");
            response
                .headers
                .push(("x-miroir-degraded", format!("groups={groups}")));
        }
        response
    }

    /// The index's record, creating the index on every node first when
    /// Miroir does not know it yet (like Meilisearch does on a first write),
    /// and setting the primary key when the index has none.
    pub(crate) async fn ensure_index(
        &self,
        req: &Request<'_>,
        auth: &ClientAuth<'_>,
        index_uid: &str,
        primary_key: &str,
        existing: Option<Arc<IndexMeta>>,
        trace: &RequestTrace,
    ) -> Result<Arc<IndexMeta>, Response> {
        if let Some(meta) = &existing {
            if meta.primary_key.is_some() || primary_key.is_empty() {
                return Ok(meta.clone());
            }
        }
        let authorization = self.node_authorization(req, auth);
        let all_nodes: Vec<usize> = (0..self.cluster.node_addrs.len()).collect();
        let body;
        let target;
        let method;
        if existing.is_some() {
            body = serde_json::to_vec(&json!({"primaryKey": primary_key})).unwrap_or_default();
            target = format!("/indexes/{index_uid}");
            method = Method::Patch;
        } else {
            let pk = (!primary_key.is_empty()).then_some(primary_key);
            body = serde_json::to_vec(&json!({"uid": index_uid, "primaryKey": pk}))
                .unwrap_or_default();
            target = "/indexes".to_string();
            method = Method::Post;
        }
        let results = self
            .broadcast(&all_nodes, method, &target, &body, authorization, trace)
            .await;
        if let Some(resp) = self.refused_anywhere(&results) {
            return Err(resp);
        }
        if existing.is_none() {
            self.protect_shard_field(index_uid, authorization, trace)
                .await?;
        }
        let now = now_ns();
        let meta = IndexMeta {
            uid: index_uid.to_owned(),
            primary_key: (!primary_key.is_empty()).then(|| primary_key.to_owned()),
            shards: existing
                .as_ref()
                .map_or(self.cluster.config.cluster.shards, |m| m.shards),
            created_at: existing.as_ref().map_or(now, |m| m.created_at),
            updated_at: now,
        };
        self.record_index(meta.clone()).await?;
        Ok(Arc::new(meta))
    }

    /// Makes the index record durable, then known to every core.
    pub(crate) async fn record_index(&self, meta: IndexMeta) -> Result<(), Response> {
        if let Err(err) = self.cluster.persist_index(&meta).await {
            return Err(store_unavailable(&format!(
                "The index could not be recorded durably: {err}."
            )));
        }
        self.cluster.indexes.put(meta);
        Ok(())
    }

    /// Makes `_miroir_shard` filterable on every node of a new index, so
    /// reads can target shards.
    pub(crate) async fn protect_shard_field(
        &self,
        index_uid: &str,
        authorization: Option<&[u8]>,
        trace: &RequestTrace,
    ) -> Result<(), Response> {
        let target = format!("/indexes/{index_uid}/settings/filterable-attributes");
        let body = br#"["_miroir_shard"]"#;
        let all: Vec<usize> = (0..self.cluster.node_addrs.len()).collect();
        let results = self
            .broadcast(&all, Method::Put, &target, body, authorization, trace)
            .await;
        match self.refused_anywhere(&results) {
            Some(resp) => Err(resp),
            None => Ok(()),
        }
    }

    /// For operations every node must take (index lifecycle): the answer to
    /// give when some node did not accept, or None when all did.
    pub(crate) fn refused_anywhere(&self, results: &[NodeResult]) -> Option<Response> {
        if results
            .iter()
            .all(|r| r.as_ref().is_ok_and(|resp| resp.status < 300))
        {
            return None;
        }
        if let Some(resp) = unanimous_client_error(results) {
            return Some(resp);
        }
        let failed: Vec<String> = results
            .iter()
            .enumerate()
            .filter(|(_, r)| !r.as_ref().is_ok_and(|resp| resp.status < 300))
            .map(|(i, r)| {
                let id = &self.cluster.config.nodes[i].id;
                format!(
                    "{id} ({})",
                    node_error_value(id, r)["message"]
                        .as_str()
                        .unwrap_or("error")
                )
            })
            .collect();
        Some(Response::error(
            503,
            "miroir_node_unavailable",
            "system",
            &format!(
                "Every node must take this operation, but some did not: {}.",
                failed.join("; ")
            ),
        ))
    }
}

/// The shared 4xx answer when every node gave the same client error.
fn unanimous_client_error(results: &[NodeResult]) -> Option<Response> {
    let first = results.first()?.as_ref().ok()?;
    if !(400..500).contains(&first.status) {
        return None;
    }
    let code = |body: &[u8]| {
        sonic_rs::get(body, ["code"])
            .ok()
            .map(|v| v.as_raw_str().to_owned())
    };
    let first_code = code(&first.body);
    let same = results.iter().all(|r| {
        r.as_ref()
            .is_ok_and(|resp| resp.status == first.status && code(&resp.body) == first_code)
    });
    same.then(|| Response::json(first.status, first.body.clone()))
}

/// Distinct primary keys in a payload (duplicates are one document).
fn distinct_documents(routed: &[miroir_router::batch::Routed]) -> usize {
    let mut keys: Vec<u64> = routed.iter().map(|r| r.key_hash).collect();
    keys.sort_unstable();
    keys.dedup();
    keys.len()
}

#[cfg(test)]
mod tests {
    use super::*;
    use miroir_router::{GroupSpec, GroupState, NodeSpec, NodeState, Topology};

    fn snapshot(groups: u32, per_group: u32, rf: usize) -> RoutingSnapshot {
        let nodes: Vec<NodeSpec> = (0..groups * per_group)
            .map(|i| NodeSpec {
                id: format!("n{i}"),
                group: i / per_group,
                state: NodeState::Active,
            })
            .collect();
        let n = nodes.len();
        RoutingSnapshot::build(
            Topology {
                shards: 8,
                replication_factor: rf,
                nodes,
                groups: (0..groups)
                    .map(|id| GroupSpec {
                        id,
                        state: GroupState::Active,
                    })
                    .collect(),
            },
            vec![true; n],
        )
        .unwrap()
    }

    #[test]
    fn one_group_down_degrades_both_down_fails() {
        let s = snapshot(2, 1, 1);
        let all: Vec<u32> = (0..8).collect();
        assert_eq!(
            quorum(&s, &all, &[true, true]),
            QuorumOutcome {
                degraded_groups: vec![],
                failed_shards: vec![]
            }
        );
        assert_eq!(
            quorum(&s, &all, &[true, false]),
            QuorumOutcome {
                degraded_groups: vec![1],
                failed_shards: vec![]
            }
        );
        assert_eq!(quorum(&s, &all, &[false, false]).failed_shards, all);
    }

    #[test]
    fn rf3_needs_two_of_three() {
        let s = snapshot(1, 3, 3);
        let all: Vec<u32> = (0..8).collect();
        assert!(quorum(&s, &all, &[true, true, false])
            .failed_shards
            .is_empty());
        assert_eq!(quorum(&s, &all, &[true, false, false]).failed_shards, all);
    }
}
