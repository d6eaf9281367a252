//! Settings: read from one node, written to every node one after another,
//! rolled back when a node refuses. `_miroir_shard` stays filterable whatever
//! the client sends and never shows in answers.

use miroir_io::{Method, Request, Response};
use miroir_router::batch::{is_shard_digit_token, RESERVED_PREFIX, SHARD_DIGITS, SHARD_FIELD};
use serde_json::{json, Value};

use crate::api::{Api, RequestTrace};
use crate::auth::ClientAuth;
use crate::metrics::NodeOperation;
use crate::nodes::NodeRequest;
use crate::routes::{index_not_found, json_response, malformed_json};

const FILTERABLE: &str = "filterable-attributes";

/// `filterableAttributes` with `_miroir_shard` added (the array form, or the
/// granular-object form Meilisearch also accepts).
fn with_shard_field(list: &Value) -> Value {
    let mut items = list.as_array().cloned().unwrap_or_default();
    if !items.iter().any(|v| v.as_str() == Some(SHARD_FIELD)) {
        items.push(Value::from(SHARD_FIELD));
    }
    Value::Array(items)
}

fn without_shard_field(list: &mut Value) {
    if let Some(items) = list.as_array_mut() {
        items.retain(|v| v.as_str() != Some(SHARD_FIELD));
    }
}

impl Api {
    /// `/indexes/{uid}/settings` and `/indexes/{uid}/settings/{name}`.
    pub(crate) async fn settings(
        &self,
        req: &Request<'_>,
        auth: &ClientAuth<'_>,
        uid: &str,
        name: Option<&str>,
        trace: &RequestTrace,
    ) -> Response {
        if self.cluster.indexes.get(uid).is_none() {
            return index_not_found(uid);
        }
        let path = match name {
            Some(n) => format!("/indexes/{uid}/settings/{n}"),
            None => format!("/indexes/{uid}/settings"),
        };
        let authorization = self.node_authorization(req, auth);
        if req.method == Method::Get {
            return match self.read_settings(&path, authorization, None, trace).await {
                Ok(mut value) => {
                    match name {
                        None => without_shard_field(&mut value["filterableAttributes"]),
                        Some(FILTERABLE) => without_shard_field(&mut value),
                        Some(_) => {}
                    }
                    json_response(200, &value)
                }
                Err(r) => r,
            };
        }
        // What each node gets: the client's change, keeping `_miroir_shard`
        // filterable; a reset of the filterable list becomes "just the shard".
        let (method, body, details): (Method, Vec<u8>, Value) = match (req.method, name) {
            (Method::Delete, Some(FILTERABLE)) => (
                Method::Put,
                br#"["_miroir_shard"]"#.to_vec(),
                json!({"filterableAttributes": null}),
            ),
            (Method::Delete, _) => (Method::Delete, Vec::new(), json!({})),
            (m, _) => {
                let mut value: Value = match serde_json::from_slice(req.body) {
                    Ok(v) => v,
                    Err(e) => return malformed_json(&e),
                };
                if let Some(name) = first_reserved_name(&value) {
                    return crate::query::reserved_field(name, "index settings");
                }
                if let Some(error) = shard_digit_token_error(name, &value) {
                    return error;
                }
                let details = value.clone();
                match name {
                    Some(FILTERABLE) => value = with_shard_field(&value),
                    None if value
                        .get("filterableAttributes")
                        .is_some_and(|f| !f.is_null()) =>
                    {
                        value["filterableAttributes"] =
                            with_shard_field(&value["filterableAttributes"]);
                    }
                    _ => {}
                }
                let details = match name {
                    Some(n) => json!({ camel(n): details }),
                    None => details,
                };
                (m, serde_json::to_vec(&value).unwrap_or_default(), details)
            }
        };
        // The value to restore if a later node refuses.
        let previous = match self.read_settings(&path, authorization, None, trace).await {
            Ok(v) => v,
            Err(r) => return r,
        };
        let nodes: Vec<usize> = (0..self.cluster.node_addrs.len()).collect();
        let mut results = Vec::with_capacity(nodes.len());
        let content_type = (!body.is_empty()).then_some("application/json");
        for &node in &nodes {
            trace.fan_out.set(trace.fan_out.get() + 1);
            let request = NodeRequest {
                method,
                target: &path,
                content_type,
                body: &body,
            };
            let result = self
                .send_node(node, NodeOperation::Admin, &request, authorization)
                .await;
            let accepted = result.as_ref().is_ok_and(|r| r.status == 202);
            results.push(result);
            if !accepted {
                self.restore_settings(
                    &path,
                    name,
                    &previous,
                    &nodes[..results.len() - 1],
                    authorization,
                    trace,
                )
                .await;
                // Nodes that took the change and are now taking it back may be read meanwhile:
                // no core keeps what it read before this point.
                self.cluster.tasks.settings_changed();
                return self.refused_anywhere(&results).unwrap_or_else(|| {
                    Response::error(
                        503,
                        "miroir_node_unavailable",
                        "system",
                        "A node refused the settings update; it was rolled back.",
                    )
                });
            }
        }
        // A whole reset clears `_miroir_shard` too: make it filterable again.
        if req.method == Method::Delete && name.is_none() {
            if let Err(r) = self.protect_shard_field(uid, authorization, trace).await {
                return r;
            }
        }
        let task = self.task_from_results(Some(uid), "settingsUpdate", details, &nodes, &results);
        self.accept_task(task, &[], trace).await
    }

    /// An index's settings as Miroir itself uses them (read with its own node key), from this
    /// core's cache while no settings-changing task has ended since they were read. A read
    /// takes at most half of `scatter.node_timeout_ms`, so that a slow node leaves a search
    /// time for itself.
    pub(crate) async fn index_settings(
        &self,
        uid: &str,
        trace: &RequestTrace,
    ) -> Result<std::rc::Rc<crate::api::IndexSettings>, Response> {
        // The request's arrival stands for now: the cache's freshness and the read's deadline
        // count from it (no clock read for a cache hit).
        let mut now = trace.started;
        let limit =
            std::time::Duration::from_millis(self.cluster.config.scatter.node_timeout_ms) / 2;
        let deadline = now + limit;
        // This core's cache, else the read of the index in flight on this core, else a read
        // (which the searches that miss meanwhile wait for; if the search reading goes away
        // before it ends, they read themselves), all within `limit`.
        let (epoch, guard) = loop {
            let epoch = self.cluster.tasks.settings_epoch();
            if let Some(settings) = self.settings_cache.get(uid, epoch, now) {
                return Ok(settings);
            }
            match self.settings_cache.join_or_start(uid, epoch) {
                Ok(read) => {
                    let left = deadline.saturating_duration_since(std::time::Instant::now());
                    match monoio::time::timeout(left, read.wait()).await {
                        Ok(Ok(settings)) => return Ok(settings),
                        Ok(Err(crate::api::ReadError::Abandoned)) => {
                            now = std::time::Instant::now();
                            continue;
                        }
                        Ok(Err(crate::api::ReadError::Failed(status, body))) => {
                            return Err(Response::json(status, body))
                        }
                        Err(_) => return Err(settings_too_late(uid)),
                    }
                }
                Err(guard) => break (epoch, guard),
            }
        };
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        let result = self.read_index_settings(uid, epoch, left, trace).await;
        guard.read.finish(match &result {
            Ok(settings) => Ok(settings.clone()),
            Err(error) => Err(crate::api::ReadError::Failed(
                error.status,
                error.body.clone(),
            )),
        });
        result
    }

    /// [`Api::index_settings`]' read from a node, kept when no settings-changing task ended
    /// during it.
    async fn read_index_settings(
        &self,
        uid: &str,
        epoch: u64,
        limit: std::time::Duration,
        trace: &RequestTrace,
    ) -> Result<std::rc::Rc<crate::api::IndexSettings>, Response> {
        let path = format!("/indexes/{uid}/settings");
        let authorization = self.node_authorization.as_deref();
        let read = self.read_settings(&path, authorization, Some(limit / 2), trace);
        let settings = match monoio::time::timeout(limit, read).await {
            Ok(settings) => settings?,
            Err(_) => return Err(settings_too_late(uid)),
        };
        let settings = std::rc::Rc::new(crate::api::IndexSettings::new(settings));
        // Read at `epoch` only if no such task ended during the read.
        if self.cluster.tasks.settings_epoch() == epoch {
            self.settings_cache.put(uid, epoch, settings.clone());
        }
        Ok(settings)
    }

    /// Settings from one healthy node ([`Api::ask_one_node`]).
    pub(crate) async fn read_settings(
        &self,
        path: &str,
        authorization: Option<&[u8]>,
        per_node: Option<std::time::Duration>,
        trace: &RequestTrace,
    ) -> Result<Value, Response> {
        let request = NodeRequest {
            method: Method::Get,
            target: path,
            content_type: None,
            body: &[],
        };
        let body = self
            .ask_one_node(&request, authorization, per_node, trace)
            .await?;
        serde_json::from_slice(&body).map_err(|_| {
            Response::error(
                502,
                "miroir_node_error",
                "system",
                "A node answered settings that are not JSON.",
            )
        })
    }

    /// The 200 body of `request` from one healthy node: the nodes in turn from a rotating
    /// start (so requests spread, and a slow node delays only some), each given at most
    /// `per_node` when set. A node's 4xx is the answer (as an error); 5xx and unreachable
    /// nodes are skipped.
    pub(crate) async fn ask_one_node(
        &self,
        request: &NodeRequest<'_>,
        authorization: Option<&[u8]>,
        per_node: Option<std::time::Duration>,
        trace: &RequestTrace,
    ) -> Result<Vec<u8>, Response> {
        let routing = self.cluster.routing.load();
        let count = self.cluster.node_addrs.len();
        let first = self.settings_rotation.get() % count.max(1);
        self.settings_rotation.set(first.wrapping_add(1));
        for node in (0..count)
            .map(|i| (first + i) % count)
            .filter(|&n| routing.is_healthy(n as u16))
        {
            trace.fan_out.set(trace.fan_out.get() + 1);
            let deadline = per_node.map(|limit| std::time::Instant::now() + limit);
            let answer = self
                .send_node_within(node, NodeOperation::Admin, request, authorization, deadline)
                .await;
            match answer {
                Ok(resp) if resp.status == 200 => return Ok(resp.body),
                Ok(resp) if resp.status < 500 => {
                    return Err(Response::json(resp.status, resp.body))
                }
                _ => continue,
            }
        }
        Err(Response::error(
            503,
            "miroir_node_unavailable",
            "system",
            "No healthy node could answer.",
        ))
    }

    async fn restore_settings(
        &self,
        path: &str,
        name: Option<&str>,
        previous: &Value,
        nodes: &[usize],
        authorization: Option<&[u8]>,
        trace: &RequestTrace,
    ) {
        if nodes.is_empty() {
            return;
        }
        tracing::warn!(
            path,
            nodes = nodes.len(),
            "a node refused a settings update: restoring the previous settings"
        );
        let method = if name.is_none() {
            Method::Patch
        } else {
            Method::Put
        };
        let body = serde_json::to_vec(previous).unwrap_or_default();
        let requests: Vec<(usize, NodeRequest)> = nodes
            .iter()
            .map(|&n| {
                (
                    n,
                    NodeRequest {
                        method,
                        target: path,
                        content_type: Some("application/json"),
                        body: &body,
                    },
                )
            })
            .collect();
        let results = self
            .send_nodes(&requests, NodeOperation::Admin, authorization, trace)
            .await;
        // The epoch moves now (the caller) and again when each node has applied its restore.
        for (&node, result) in nodes.iter().zip(&results) {
            if let Some(uid) = result.as_ref().ok().and_then(crate::nodes::task_uid) {
                self.cluster.tasks.watch_settings_restore(node, uid);
            }
        }
    }
}

/// The first string of a settings body (at any depth) starting with `_miroir_`: settings name
/// fields in many places (filterable, sortable, searchable, displayed and distinct attributes,
/// `field:asc` ranking rules, localized attributes), and a reserved one would let a client sort,
/// deduplicate or rank by Miroir's own fields.
fn first_reserved_name(value: &Value) -> Option<&str> {
    match value {
        Value::String(s) => s.starts_with(RESERVED_PREFIX).then_some(s.as_str()),
        Value::Array(items) => items.iter().find_map(first_reserved_name),
        Value::Object(members) => members.values().find_map(first_reserved_name),
        _ => None,
    }
}

/// A 400 when `nonSeparatorTokens` or `dictionary` (the whole settings body, or the one setting
/// `name`) holds a token made only of shard digits: `_miroir_shard` values would become words
/// that plain queries match.
fn shard_digit_token_error(name: Option<&str>, value: &Value) -> Option<Response> {
    const LISTS: [(&str, &str); 2] = [
        (
            "nonSeparatorTokens",
            "invalid_settings_non_separator_tokens",
        ),
        ("dictionary", "invalid_settings_dictionary"),
    ];
    LISTS.iter().find_map(|&(setting, code)| {
        let list = match name {
            Some(route) if camel(route) == setting => value,
            Some(_) => return None,
            None => value.get(setting)?,
        };
        let token = list
            .as_array()?
            .iter()
            .filter_map(Value::as_str)
            .find(|token| is_shard_digit_token(token))?;
        Some(Response::error(
            400,
            code,
            "invalid_request",
            &format!(
                "`{setting}` cannot hold `{token}`: Miroir writes its `{SHARD_FIELD}` field with the characters `{SHARD_DIGITS}`, which must stay separators so that the field adds no word to the index."
            ),
        ))
    })
}

/// `ranking-rules` → `rankingRules`.
fn camel(kebab: &str) -> String {
    let mut out = String::with_capacity(kebab.len());
    let mut upper = false;
    for c in kebab.chars() {
        if c == '-' {
            upper = true;
        } else if upper {
            out.push(c.to_ascii_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

/// No node answered an index's settings within the read's time.
fn settings_too_late(uid: &str) -> Response {
    Response::error(
        503,
        "miroir_node_unavailable",
        "system",
        &format!("No node answered the settings of index `{uid}` in time."),
    )
}
