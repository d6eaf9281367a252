//! Meilisearch routes Miroir answers itself or by broadcast: tasks, index
//! lifecycle, single documents, deletions, settings, stats and keys.

use miroir_io::{Method, Request, Response};
use miroir_router::shard_for_key;
use serde_json::{json, Map, Value};

use crate::api::{Api, RequestTrace};
use crate::auth::ClientAuth;
use crate::indexes::{invalid_index_uid_message, valid_index_uid, IndexMeta};
use crate::metrics::NodeOperation;
use crate::nodes::{NodeRequest, NodeResult};
use crate::query;
use crate::tasks::{now_ns, NodeTask, Status, Task, TaskFilter};

pub fn json_response(status: u16, value: &Value) -> Response {
    Response::json(status, serde_json::to_vec(value).unwrap_or_default())
}

/// 400 `malformed_payload` for a JSON body that does not parse.
pub fn malformed_json(e: &serde_json::Error) -> Response {
    Response::error(
        400,
        "malformed_payload",
        "invalid_request",
        &format!("The json payload provided is malformed. `{e}`."),
    )
}

/// A body that must be a JSON object, or the 400 saying why it is not.
pub fn json_object(body: &[u8]) -> Result<Map<String, Value>, Response> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(Response::error(
            400,
            "bad_request",
            "invalid_request",
            "The body must be a JSON object.",
        )),
        Err(e) => Err(malformed_json(&e)),
    }
}

/// 503 `miroir_shard_unavailable`: some shard has no replica to answer.
pub fn shard_unavailable(message: &str) -> Response {
    Response::error(503, "miroir_shard_unavailable", "system", message)
}

/// 500 `miroir_store_unavailable`: Miroir's own state could not be made durable.
pub fn store_unavailable(message: &str) -> Response {
    Response::error(500, "miroir_store_unavailable", "system", message)
}

/// Shard, group or task numbers joined by `separator`, for messages and headers.
pub fn join_numbers<T: ToString>(numbers: &[T], separator: &str) -> String {
    numbers
        .iter()
        .map(T::to_string)
        .collect::<Vec<_>>()
        .join(separator)
}

pub fn index_not_found(uid: &str) -> Response {
    Response::error(
        404,
        "index_not_found",
        "invalid_request",
        &format!("Index `{uid}` not found."),
    )
}

fn bad_param(code: &str, message: String) -> Response {
    Response::error(400, code, "invalid_request", &message)
}

/// A body that must be a JSON array, or the 400 `code` with `message`.
fn json_array(body: &[u8], code: &str, message: &str) -> Result<Vec<Value>, Response> {
    match serde_json::from_slice(body) {
        Ok(Value::Array(items)) => Ok(items),
        Ok(_) => Err(bad_param(code, message.into())),
        Err(e) => Err(malformed_json(&e)),
    }
}

fn parse_list<T>(value: &str, parse: impl Fn(&str) -> Option<T>) -> Result<Option<Vec<T>>, String> {
    if value == "*" {
        return Ok(None);
    }
    value
        .split(',')
        .map(|v| parse(v.trim()).ok_or_else(|| v.trim().to_string()))
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

fn parse_date(value: &str) -> Option<i128> {
    time::OffsetDateTime::parse(value, &time::format_description::well_known::Rfc3339)
        .ok()
        .map(|t| t.unix_timestamp_nanos())
}

/// Meilisearch's task filters from a query string.
pub fn task_filter(query_string: &str) -> Result<TaskFilter, Response> {
    let mut f = TaskFilter::default();
    for (key, value) in query::pairs(query_string) {
        let uint_list = |code: &str, name: &str| {
            parse_list(&value, |v| v.parse::<u64>().ok()).map_err(|bad| {
                bad_param(code, format!("Invalid value in parameter `{name}`: could not parse `{bad}` as a positive integer"))
            })
        };
        match key.as_str() {
            "uids" => f.uids = uint_list("invalid_task_uids", "uids")?,
            "canceledBy" => f.canceled_by = uint_list("invalid_task_canceled_by", "canceledBy")?,
            "statuses" => {
                f.statuses = parse_list(&value, Status::parse).map_err(|bad| {
                    bad_param("invalid_task_statuses", format!("Invalid value in parameter `statuses`: `{bad}` is not a valid task status. Available statuses are `enqueued`, `processing`, `succeeded`, `failed`, `canceled`."))
                })?
            }
            "types" => f.types = parse_list(&value, |v| TASK_TYPES.contains(&v).then(|| v.to_string())).map_err(|bad| {
                bad_param("invalid_task_types", format!("Invalid value in parameter `types`: `{bad}` is not a valid task type. Available types are {}.", TASK_TYPES.iter().map(|t| format!("`{t}`")).collect::<Vec<_>>().join(", ")))
            })?,
            "indexUids" => f.index_uids = parse_list(&value, |v| valid_index_uid(v).then(|| v.to_string())).map_err(|bad| {
                bad_param("invalid_index_uid", format!("Invalid value in parameter `indexUids`: `{bad}` is not a valid index uid. Index uid can be an integer or a string containing only alphanumeric characters, hyphens (-) and underscores (_), and can not be more than 512 bytes."))
            })?,
            "beforeEnqueuedAt" | "afterEnqueuedAt" | "beforeStartedAt" | "afterStartedAt" | "beforeFinishedAt" | "afterFinishedAt" => {
                let date = parse_date(&value).ok_or_else(|| {
                    let code = format!("invalid_task_{}", snake(&key));
                    Response::error(400, &code, "invalid_request", &format!("Invalid value in parameter `{key}`: `{value}` is an invalid date-time. It should follow the YYYY-MM-DD or RFC 3339 date-time format."))
                })?;
                let slot = match key.as_str() {
                    "beforeEnqueuedAt" => &mut f.before_enqueued_at,
                    "afterEnqueuedAt" => &mut f.after_enqueued_at,
                    "beforeStartedAt" => &mut f.before_started_at,
                    "afterStartedAt" => &mut f.after_started_at,
                    "beforeFinishedAt" => &mut f.before_finished_at,
                    _ => &mut f.after_finished_at,
                };
                *slot = Some(date);
            }
            _ => {}
        }
    }
    Ok(f)
}

fn snake(camel: &str) -> String {
    let mut out = String::new();
    for c in camel.chars() {
        if c.is_ascii_uppercase() {
            out.push('_');
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

pub const TASK_TYPES: [&str; 13] = [
    "documentAdditionOrUpdate",
    "documentEdition",
    "documentDeletion",
    "settingsUpdate",
    "indexCreation",
    "indexDeletion",
    "indexUpdate",
    "indexSwap",
    "taskCancelation",
    "taskDeletion",
    "dumpCreation",
    "snapshotCreation",
    "upgradeDatabase",
];

impl Api {
    /// Routes Miroir answers from its own state still honour API keys: the
    /// client's key is checked against a node with a cheap request.
    async fn check_forwarded_key(
        &self,
        req: &Request<'_>,
        auth: &ClientAuth<'_>,
        probe: &str,
    ) -> Result<(), Response> {
        let ClientAuth::Forward(_) = auth else {
            return Ok(());
        };
        let routing = self.cluster.routing.load();
        let Some(node) = (0..self.cluster.node_addrs.len()).find(|&n| routing.is_healthy(n as u16))
        else {
            return Err(Response::error(
                503,
                "miroir_node_unavailable",
                "system",
                "No healthy node can check this API key.",
            ));
        };
        let request = NodeRequest {
            method: Method::Get,
            target: probe,
            content_type: None,
            body: &[],
        };
        match self
            .send_node(
                node,
                NodeOperation::Read,
                &request,
                self.node_authorization(req, auth),
            )
            .await
        {
            Ok(resp) if resp.status < 300 => Ok(()),
            Ok(resp) => Err(Response::json(resp.status, resp.body)),
            Err(err) => Err(Response::error(
                503,
                "miroir_node_unavailable",
                "system",
                &format!("The node checking this API key failed: {err}."),
            )),
        }
    }

    pub(crate) async fn list_tasks(&self, req: &Request<'_>, auth: &ClientAuth<'_>) -> Response {
        if let Err(r) = self.check_forwarded_key(req, auth, "/tasks?limit=0").await {
            return r;
        }
        let filter = match task_filter(req.query()) {
            Ok(f) => f,
            Err(r) => return r,
        };
        let q = req.query();
        let limit = match query::get(q, "limit").map(|v| v.parse::<usize>()) {
            None => 20,
            Some(Ok(l)) => l,
            Some(Err(_)) => return bad_param("invalid_task_limit", "Invalid value in parameter `limit`: could not parse the value as a positive integer".into()),
        };
        let from = match query::get(q, "from").map(|v| v.parse::<u64>()) {
            None => None,
            Some(Ok(f)) => Some(f),
            Some(Err(_)) => return bad_param("invalid_task_from", "Invalid value in parameter `from`: could not parse the value as a positive integer".into()),
        };
        let reverse = query::get(q, "reverse").is_some_and(|v| v == "true");
        let (page, total, next) = self.cluster.tasks.list(&filter, from, limit, reverse);
        json_response(
            200,
            &json!({
                "results": page.iter().map(Task::to_json).collect::<Vec<_>>(),
                "total": total,
                "limit": limit,
                "from": page.first().map(|t| t.uid),
                "next": next,
            }),
        )
    }

    pub(crate) async fn get_task(
        &self,
        req: &Request<'_>,
        auth: &ClientAuth<'_>,
        uid: &str,
    ) -> Response {
        if let Err(r) = self.check_forwarded_key(req, auth, "/tasks?limit=0").await {
            return r;
        }
        let Ok(uid) = uid.parse::<u64>() else {
            return bad_param("invalid_task_uids", format!("Invalid value in parameter `taskUid`: could not parse `{uid}` as a positive integer"));
        };
        match self.cluster.tasks.get(uid) {
            Some(task) => json_response(200, &task.to_json()),
            None => Response::error(
                404,
                "task_not_found",
                "invalid_request",
                &format!("Task `{uid}` not found."),
            ),
        }
    }

    pub(crate) async fn list_indexes(&self, req: &Request<'_>, auth: &ClientAuth<'_>) -> Response {
        if let Err(r) = self
            .check_forwarded_key(req, auth, "/indexes?limit=0")
            .await
        {
            return r;
        }
        let q = req.query();
        let offset = query::get(q, "offset")
            .and_then(|v| v.parse::<usize>().ok())
            .unwrap_or(0);
        let limit = query::get(q, "limit")
            .and_then(|v| v.parse::<usize>().ok())
            .unwrap_or(20);
        let all = self.cluster.indexes.all();
        let results: Vec<Value> = all
            .values()
            .skip(offset)
            .take(limit)
            .map(|m| m.to_json())
            .collect();
        json_response(
            200,
            &json!({"results": results, "offset": offset, "limit": limit, "total": all.len()}),
        )
    }

    pub(crate) async fn get_index(
        &self,
        req: &Request<'_>,
        auth: &ClientAuth<'_>,
        uid: &str,
    ) -> Response {
        if let Err(r) = self
            .check_forwarded_key(req, auth, &format!("/indexes/{uid}"))
            .await
        {
            return r;
        }
        match self.cluster.indexes.get(uid) {
            Some(meta) => json_response(200, &meta.to_json()),
            None => index_not_found(uid),
        }
    }

    /// `POST /indexes`: on every node of every group, rolled back when some
    /// node refuses.
    pub(crate) async fn create_index(
        &self,
        req: &Request<'_>,
        auth: &ClientAuth<'_>,
        trace: &RequestTrace,
    ) -> Response {
        let body: Value = match serde_json::from_slice(req.body) {
            Ok(v) => v,
            Err(e) => return malformed_json(&e),
        };
        let Some(uid) = body.get("uid").and_then(Value::as_str) else {
            return bad_param("missing_index_uid", "Missing field `uid`".into());
        };
        if !valid_index_uid(uid) {
            return bad_param("invalid_index_uid", invalid_index_uid_message(uid));
        }
        let primary_key = body
            .get("primaryKey")
            .and_then(Value::as_str)
            .map(str::to_owned);
        let details = json!({"primaryKey": primary_key});
        if self.cluster.indexes.get(uid).is_some() {
            let mut task = self.new_task(Some(uid), "indexCreation", details);
            let now = now_ns();
            task.status = Status::Failed;
            task.started_at = Some(now);
            task.finished_at = Some(now);
            task.error = Some(
                json!({"message": format!("Index `{uid}` already exists."), "code": "index_already_exists", "type": "invalid_request", "link": "https://docs.meilisearch.com/errors#index_already_exists"}),
            );
            return self.accept_task(task, &[], trace).await;
        }
        let authorization = self.node_authorization(req, auth);
        let all: Vec<usize> = (0..self.cluster.node_addrs.len()).collect();
        let results = self
            .broadcast(
                &all,
                Method::Post,
                "/indexes",
                req.body,
                authorization,
                trace,
            )
            .await;
        if let Some(refusal) = self.refused_anywhere(&results) {
            self.roll_back_index_creation(uid, &results, authorization, trace)
                .await;
            return refusal;
        }
        if let Err(refusal) = self.protect_shard_field(uid, authorization, trace).await {
            self.roll_back_index_creation(uid, &results, authorization, trace)
                .await;
            return refusal;
        }
        let now = now_ns();
        let meta = IndexMeta {
            uid: uid.to_owned(),
            primary_key,
            shards: self.cluster.config.cluster.shards,
            created_at: now,
            updated_at: now,
        };
        if let Err(r) = self.record_index(meta).await {
            return r;
        }
        let task = self.task_from_results(Some(uid), "indexCreation", details, &all, &results);
        self.accept_task(task, &[], trace).await
    }

    async fn roll_back_index_creation(
        &self,
        uid: &str,
        results: &[NodeResult],
        authorization: Option<&[u8]>,
        trace: &RequestTrace,
    ) {
        let accepted: Vec<usize> = results
            .iter()
            .enumerate()
            .filter(|(_, r)| r.as_ref().is_ok_and(|resp| resp.status < 300))
            .map(|(n, _)| n)
            .collect();
        if accepted.is_empty() {
            return;
        }
        tracing::warn!(
            index = uid,
            nodes = accepted.len(),
            "index creation refused by some node: rolling back"
        );
        let target = format!("/indexes/{uid}");
        self.broadcast(
            &accepted,
            Method::Delete,
            &target,
            &[],
            authorization,
            trace,
        )
        .await;
    }

    pub(crate) fn new_task(&self, index_uid: Option<&str>, kind: &str, details: Value) -> Task {
        Task {
            uid: self.cluster.tasks.allocate_uid(),
            index_uid: index_uid.map(str::to_owned),
            kind: kind.to_owned(),
            status: Status::Enqueued,
            details,
            error: None,
            canceled_by: None,
            cancel_requested_by: None,
            enqueued_at: now_ns(),
            started_at: None,
            finished_at: None,
            nodes: Vec::new(),
        }
    }

    /// A task whose node tasks are the 202 answers in `results`.
    pub(crate) fn task_from_results(
        &self,
        index_uid: Option<&str>,
        kind: &str,
        details: Value,
        nodes: &[usize],
        results: &[NodeResult],
    ) -> Task {
        let mut task = self.new_task(index_uid, kind, details);
        for (&node, result) in nodes.iter().zip(results) {
            let id = &self.cluster.config.nodes[node].id;
            let uid = result.as_ref().ok().and_then(crate::nodes::task_uid);
            task.nodes.push(NodeTask {
                node: id.clone(),
                task_uid: uid,
                status: if uid.is_some() {
                    Status::Enqueued
                } else {
                    Status::Failed
                },
                error: uid
                    .is_none()
                    .then(|| crate::nodes::node_error_value(id, result)),
                details: None,
            });
        }
        task
    }

    /// The same request to every node in `nodes`, concurrently.
    pub(crate) async fn broadcast(
        &self,
        nodes: &[usize],
        method: Method,
        target: &str,
        body: &[u8],
        authorization: Option<&[u8]>,
        trace: &RequestTrace,
    ) -> Vec<NodeResult> {
        let content_type = (!body.is_empty()).then_some("application/json");
        let requests: Vec<(usize, NodeRequest)> = nodes
            .iter()
            .map(|&n| {
                (
                    n,
                    NodeRequest {
                        method,
                        target,
                        content_type,
                        body,
                    },
                )
            })
            .collect();
        self.send_nodes(&requests, NodeOperation::Admin, authorization, trace)
            .await
    }

    /// A write every node takes (deletions by filter, index updates): the
    /// same quorum rule as document writes, over all shards.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn broadcast_write(
        &self,
        req: &Request<'_>,
        auth: &ClientAuth<'_>,
        index_uid: Option<&str>,
        kind: &str,
        details: Value,
        method: Method,
        target: &str,
        body: &[u8],
        trace: &RequestTrace,
    ) -> Response {
        let snapshot = self.cluster.routing.load();
        let all: Vec<usize> = (0..self.cluster.node_addrs.len()).collect();
        let results = self
            .broadcast(
                &all,
                method,
                target,
                body,
                self.node_authorization(req, auth),
                trace,
            )
            .await;
        let shards: Vec<u32> = (0..snapshot.topology().shards).collect();
        self.finish_write(
            &snapshot, index_uid, kind, details, &all, &results, &shards, trace,
        )
        .await
    }

    fn copies(&self) -> usize {
        let routing = self.cluster.routing.load();
        routing.topology().replication_factor * routing.group_count()
    }

    pub(crate) async fn update_index(
        &self,
        req: &Request<'_>,
        auth: &ClientAuth<'_>,
        uid: &str,
        trace: &RequestTrace,
    ) -> Response {
        let Some(meta) = self.cluster.indexes.get(uid) else {
            return index_not_found(uid);
        };
        let body: Value = match serde_json::from_slice(req.body) {
            Ok(v) => v,
            Err(e) => return malformed_json(&e),
        };
        if body.get("uid").is_some() {
            return Response::error(
                501,
                "miroir_not_supported",
                "invalid_request",
                "Renaming an index is not supported through Miroir yet.",
            );
        }
        let primary_key = body
            .get("primaryKey")
            .and_then(Value::as_str)
            .map(str::to_owned);
        let target = format!("/indexes/{uid}");
        let response = self
            .broadcast_write(
                req,
                auth,
                Some(uid),
                "indexUpdate",
                json!({"primaryKey": primary_key}),
                Method::Patch,
                &target,
                req.body,
                trace,
            )
            .await;
        if response.status == 202 && meta.primary_key.is_none() && primary_key.is_some() {
            let updated = IndexMeta {
                primary_key,
                updated_at: now_ns(),
                ..(*meta).clone()
            };
            if self.cluster.persist_index(&updated).await.is_ok() {
                self.cluster.indexes.put(updated);
            }
        }
        response
    }

    pub(crate) async fn delete_index(
        &self,
        req: &Request<'_>,
        auth: &ClientAuth<'_>,
        uid: &str,
        trace: &RequestTrace,
    ) -> Response {
        let target = format!("/indexes/{uid}");
        let details = json!({"deletedDocuments": 0, "miroirCopies": self.copies()});
        let response = self
            .broadcast_write(
                req,
                auth,
                Some(uid),
                "indexDeletion",
                details,
                Method::Delete,
                &target,
                &[],
                trace,
            )
            .await;
        if response.status == 202 && self.cluster.forget_index(uid).await.is_ok() {
            self.cluster.indexes.remove(uid);
        }
        response
    }

    /// `GET /indexes/{uid}/documents/{id}`: one replica of the owning shard,
    /// another replica or group when that one fails.
    pub(crate) async fn get_document(
        &self,
        req: &Request<'_>,
        auth: &ClientAuth<'_>,
        uid: &str,
        id: &str,
        trace: &RequestTrace,
    ) -> Response {
        let Some(meta) = self.cluster.indexes.get(uid) else {
            return index_not_found(uid);
        };
        let id = query::decode(id);
        let shard = shard_for_key(id.as_bytes(), meta.shards);
        let routing = self.cluster.routing.load();
        let mut candidates: Vec<usize> = Vec::new();
        let start = self.next_rotation();
        for g in 0..routing.group_count() {
            let g = (start + g) % routing.group_count();
            for &n in routing.replicas(g, shard) {
                if routing.is_healthy(n) {
                    candidates.push(n as usize);
                }
            }
        }
        let request = NodeRequest {
            method: Method::Get,
            target: req.target(),
            content_type: None,
            body: &[],
        };
        let authorization = self.node_authorization(req, auth);
        let mut last = None;
        for node in candidates {
            trace.fan_out.set(trace.fan_out.get() + 1);
            match self
                .send_node(node, NodeOperation::Read, &request, authorization)
                .await
            {
                Ok(resp) if resp.status < 500 => {
                    let body = if resp.status == 200 {
                        strip_reserved(&resp.body)
                    } else {
                        resp.body
                    };
                    return Response::json(resp.status, body);
                }
                other => last = Some(other),
            }
        }
        let detail = match last {
            Some(Ok(resp)) => format!("the last replica answered HTTP {}", resp.status),
            Some(Err(err)) => format!("the last replica failed: {err}"),
            None => "no replica is healthy".into(),
        };
        shard_unavailable(&format!(
            "Shard {shard} of index `{uid}` is unavailable: {detail}."
        ))
    }

    pub(crate) async fn delete_document(
        &self,
        req: &Request<'_>,
        auth: &ClientAuth<'_>,
        uid: &str,
        id: &str,
        trace: &RequestTrace,
    ) -> Response {
        let id = query::decode(id);
        self.delete_ids(req, auth, uid, vec![Value::from(id)], trace)
            .await
    }

    /// `POST .../documents/delete-batch`: each id goes to its shard's nodes only.
    pub(crate) async fn delete_batch(
        &self,
        req: &Request<'_>,
        auth: &ClientAuth<'_>,
        uid: &str,
        trace: &RequestTrace,
    ) -> Response {
        if self.cluster.indexes.get(uid).is_none() {
            return index_not_found(uid);
        }
        let ids = match json_array(
            req.body,
            "invalid_document_ids",
            "Invalid value type: expected an array of document ids",
        ) {
            Ok(ids) => ids,
            Err(r) => return r,
        };
        self.delete_ids(req, auth, uid, ids, trace).await
    }

    async fn delete_ids(
        &self,
        req: &Request<'_>,
        auth: &ClientAuth<'_>,
        uid: &str,
        ids: Vec<Value>,
        trace: &RequestTrace,
    ) -> Response {
        let Some(meta) = self.cluster.indexes.get(uid) else {
            return index_not_found(uid);
        };
        let snapshot = self.cluster.routing.load();
        let mut per_node: Vec<Vec<&Value>> = vec![Vec::new(); self.cluster.node_addrs.len()];
        let mut shards = Vec::new();
        for id in &ids {
            let key = match id {
                Value::String(s) => s.clone(),
                Value::Number(n) if n.is_u64() || n.is_i64() => n.to_string(),
                other => return bad_param("invalid_document_id", format!("Document identifier `{other}` is invalid. A document identifier can be of type integer or string, only composed of alphanumeric characters (a-z A-Z 0-9), hyphens (-) and underscores (_), and can not be more than 511 bytes.")),
            };
            let shard = shard_for_key(key.as_bytes(), meta.shards);
            shards.push(shard);
            for (_, node) in snapshot.write_targets(shard) {
                per_node[node as usize].push(id);
            }
        }
        shards.sort_unstable();
        shards.dedup();
        let target = format!("/indexes/{uid}/documents/delete-batch");
        let bodies: Vec<(usize, Vec<u8>)> = per_node
            .iter()
            .enumerate()
            .filter(|(_, ids)| !ids.is_empty())
            .map(|(n, ids)| (n, serde_json::to_vec(ids).unwrap_or_default()))
            .collect();
        let results = self
            .post_json_each(
                &target,
                &bodies,
                NodeOperation::Write,
                self.node_authorization(req, auth),
                trace,
            )
            .await;
        let nodes: Vec<usize> = bodies.iter().map(|(n, _)| *n).collect();
        let details = json!({"providedIds": ids.len(), "deletedDocuments": 0, "originalFilter": null, "miroirCopies": self.copies()});
        self.finish_write(
            &snapshot,
            Some(uid),
            "documentDeletion",
            details,
            &nodes,
            &results,
            &shards,
            trace,
        )
        .await
    }

    /// `DELETE .../documents` (every document) and `POST .../documents/delete`
    /// (by filter): every node deletes, under the write quorum.
    pub(crate) async fn delete_documents(
        &self,
        req: &Request<'_>,
        auth: &ClientAuth<'_>,
        uid: &str,
        by_filter: bool,
        trace: &RequestTrace,
    ) -> Response {
        if self.cluster.indexes.get(uid).is_none() {
            return index_not_found(uid);
        }
        let (details, method, target, body) = if by_filter {
            let params = serde_json::from_slice::<Value>(req.body).ok();
            if let Some(error) = params
                .as_ref()
                .and_then(Value::as_object)
                .and_then(crate::query::reserved_field_error)
            {
                return error;
            }
            let filter = params.and_then(|b| b.get("filter").cloned());
            (
                json!({"providedIds": 0, "deletedDocuments": 0, "originalFilter": filter.map(|f| f.to_string()), "miroirCopies": self.copies()}),
                Method::Post,
                format!("/indexes/{uid}/documents/delete"),
                req.body,
            )
        } else {
            (
                json!({"deletedDocuments": 0, "miroirCopies": self.copies()}),
                Method::Delete,
                format!("/indexes/{uid}/documents"),
                &[][..],
            )
        };
        self.broadcast_write(
            req,
            auth,
            Some(uid),
            "documentDeletion",
            details,
            method,
            &target,
            body,
            trace,
        )
        .await
    }
}

/// A document without its `_miroir_*` fields, cut out of the node's bytes.
pub fn strip_reserved(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len());
    match miroir_merge::strip_reserved_fields(body, &mut out) {
        Ok(()) => out,
        Err(_) => body.to_vec(),
    }
}

const TASK_FILTER_NAMES: &str = "`uids`, `indexUids`, `statuses`, `types`, `canceledBy`, `beforeEnqueuedAt`, `afterEnqueuedAt`, `beforeStartedAt`, `afterStartedAt`, `beforeFinishedAt`, `afterFinishedAt`";

impl Api {
    /// `POST /tasks/cancel` and `DELETE /tasks`: the Miroir tasks matching
    /// the filters, fanned out as node task uids to the nodes holding them.
    pub(crate) async fn cancel_or_delete_tasks(
        &self,
        req: &Request<'_>,
        auth: &ClientAuth<'_>,
        delete: bool,
        trace: &RequestTrace,
    ) -> Response {
        if let Err(r) = self.check_forwarded_key(req, auth, "/tasks?limit=0").await {
            return r;
        }
        let filter = match task_filter(req.query()) {
            Ok(f) => f,
            Err(r) => return r,
        };
        let has_filter =
            query::pairs(req.query()).any(|(k, _)| TASK_FILTER_NAMES.contains(&format!("`{k}`")));
        if !has_filter {
            let action = if delete { "delete" } else { "cancel" };
            return bad_param(
                "missing_task_filters",
                format!("Query parameters to filter the tasks to {action} are missing. Available query parameters are: {TASK_FILTER_NAMES}."),
            );
        }
        let (matched, _, _) = self.cluster.tasks.list(&filter, None, usize::MAX, false);
        // Canceling applies to unfinished tasks, deleting to finished ones.
        let targets: Vec<&Task> = matched
            .iter()
            .filter(|t| t.status.is_terminal() == delete)
            .collect();
        let node_index = |id: &str| self.cluster.config.nodes.iter().position(|n| n.id == id);
        let mut per_node: Vec<Vec<u64>> = vec![Vec::new(); self.cluster.node_addrs.len()];
        for task in &targets {
            for nt in &task.nodes {
                if let (Some(node), Some(uid)) = (node_index(&nt.node), nt.task_uid) {
                    per_node[node].push(uid);
                }
            }
        }
        let original_filter = format!("?{}", req.query());
        let kind = if delete {
            "taskDeletion"
        } else {
            "taskCancelation"
        };
        let details = if delete {
            json!({"matchedTasks": targets.len(), "deletedTasks": targets.len(), "originalFilter": original_filter})
        } else {
            json!({"matchedTasks": targets.len(), "canceledTasks": targets.len(), "originalFilter": original_filter})
        };
        let targets_by_node: Vec<(usize, String)> = per_node
            .iter()
            .enumerate()
            .filter(|(_, uids)| !uids.is_empty())
            .map(|(n, uids)| {
                (
                    n,
                    format!(
                        "/tasks{}?uids={}",
                        if delete { "" } else { "/cancel" },
                        join_numbers(uids, ",")
                    ),
                )
            })
            .collect();
        let method = if delete { Method::Delete } else { Method::Post };
        let requests: Vec<(usize, NodeRequest)> = targets_by_node
            .iter()
            .map(|(n, target)| {
                (
                    *n,
                    NodeRequest {
                        method,
                        target,
                        content_type: None,
                        body: &[],
                    },
                )
            })
            .collect();
        let results = self
            .send_nodes(
                &requests,
                NodeOperation::Admin,
                self.node_authorization(req, auth),
                trace,
            )
            .await;
        let nodes: Vec<usize> = requests.iter().map(|(n, _)| *n).collect();
        // Node task endpoints answer 200 with a summarized task.
        let results: Vec<NodeResult> = results
            .into_iter()
            .map(|r| {
                r.map(|mut resp| {
                    if resp.status == 200 {
                        resp.status = 202;
                    }
                    resp
                })
            })
            .collect();
        let task = self.task_from_results(None, kind, details, &nodes, &results);
        let cancel_uid = task.uid;
        if delete {
            let uids: Vec<u64> = targets.iter().map(|t| t.uid).collect();
            if let Err(err) = self.cluster.delete_tasks(&uids).await {
                return store_unavailable(&format!(
                    "The tasks could not be deleted durably: {err}."
                ));
            }
        } else {
            for t in &targets {
                self.cluster
                    .tasks
                    .update(t.uid, |t| t.cancel_requested_by = Some(cancel_uid));
            }
        }
        let mut response = self.accept_task(task, &[], trace).await;
        if response.status == 202 {
            response.status = 200;
        }
        response
    }
}

impl Api {
    /// `POST /swap-indexes`: every node swaps (or renames); Miroir swaps its
    /// own index records the same way once the nodes accepted.
    pub(crate) async fn swap_indexes(
        &self,
        req: &Request<'_>,
        auth: &ClientAuth<'_>,
        trace: &RequestTrace,
    ) -> Response {
        let swaps = match json_array(
            req.body,
            "invalid_swap_indexes",
            "Invalid value type: expected an array of swaps",
        ) {
            Ok(swaps) => swaps,
            Err(r) => return r,
        };
        let mut pairs = Vec::with_capacity(swaps.len());
        for swap in &swaps {
            let names: Vec<&str> = swap["indexes"]
                .as_array()
                .map(|a| a.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            let [a, b] = names.as_slice() else {
                return bad_param(
                    "invalid_swap_indexes",
                    "Invalid value at `.indexes`: each swap names exactly two indexes".into(),
                );
            };
            pairs.push((
                (*a).to_owned(),
                (*b).to_owned(),
                swap["rename"].as_bool().unwrap_or(false),
            ));
        }
        let details = json!({"swaps": pairs.iter().map(|(a, b, rename)| json!({"indexes": [a, b], "rename": rename})).collect::<Vec<_>>()});
        let response = self
            .broadcast_write(
                req,
                auth,
                None,
                "indexSwap",
                details,
                Method::Post,
                "/swap-indexes",
                req.body,
                trace,
            )
            .await;
        if response.status != 202 {
            return response;
        }
        for (a, b, rename) in pairs {
            let (meta_a, meta_b) = (self.cluster.indexes.get(&a), self.cluster.indexes.get(&b));
            let now = now_ns();
            let moved = |meta: &IndexMeta, uid: &str| IndexMeta {
                uid: uid.to_owned(),
                updated_at: now,
                ..meta.clone()
            };
            match (meta_a, meta_b, rename) {
                (Some(ma), None, true) => {
                    let renamed = moved(&ma, &b);
                    if self.cluster.persist_index(&renamed).await.is_ok()
                        && self.cluster.forget_index(&a).await.is_ok()
                    {
                        self.cluster.indexes.remove(&a);
                        self.cluster.indexes.put(renamed);
                    }
                }
                (Some(ma), Some(mb), false) => {
                    let (na, nb) = (moved(&mb, &a), moved(&ma, &b));
                    if self.cluster.persist_index(&na).await.is_ok()
                        && self.cluster.persist_index(&nb).await.is_ok()
                    {
                        self.cluster.indexes.put(na);
                        self.cluster.indexes.put(nb);
                    }
                }
                // Unknown indexes: the nodes' tasks fail and say so.
                _ => {}
            }
        }
        response
    }
}
