//! Document browsing (`GET /indexes/{uid}/documents`, `POST .../fetch`):
//! one group's covering set is asked for `offset + limit` documents each,
//! and the lists are merged in one deterministic global order — by the
//! client's `sort` when given, then by primary key.

use std::cmp::Ordering;

use miroir_io::{Method, Request, Response};
use miroir_router::batch::RESERVED_PREFIX;
use serde_json::{json, Map, Value};

use crate::api::{Api, RequestTrace};
use crate::auth::ClientAuth;
use crate::query;
use crate::routes::{index_not_found, join_numbers, json_object, json_response, shard_unavailable};
use crate::search::with_shard_filter;

/// The fetch body equivalent of a `GET .../documents` query string.
fn fetch_body_from_query(query_string: &str) -> Result<Map<String, Value>, Response> {
    let mut body = Map::new();
    for (key, value) in query::pairs(query_string) {
        match key.as_str() {
            "offset" | "limit" => {
                let n: u64 = value.parse().map_err(|_| {
                    Response::error(400, &format!("invalid_document_{key}"), "invalid_request", &format!("Invalid value in parameter `{key}`: could not parse `{value}` as a positive integer"))
                })?;
                body.insert(key, Value::from(n));
            }
            "fields" | "ids" | "sort" => {
                body.insert(
                    key,
                    Value::from(
                        value
                            .split(',')
                            .map(|f| Value::from(f.trim()))
                            .collect::<Vec<_>>(),
                    ),
                );
            }
            "filter" => {
                body.insert(key, Value::from(value));
            }
            "retrieveVectors" => {
                body.insert(key, Value::from(value == "true"));
            }
            _ => {}
        }
    }
    Ok(body)
}

/// Compares two field values the way Meilisearch sorts: numbers first, then
/// strings (case-insensitive), then anything else / missing.
fn compare_values(a: Option<&Value>, b: Option<&Value>) -> Ordering {
    fn rank(v: Option<&Value>) -> u8 {
        match v {
            Some(Value::Number(_)) => 0,
            Some(Value::String(_)) => 1,
            _ => 2,
        }
    }
    match (a, b) {
        (Some(Value::Number(x)), Some(Value::Number(y))) => x
            .as_f64()
            .unwrap_or(0.0)
            .partial_cmp(&y.as_f64().unwrap_or(0.0))
            .unwrap_or(Ordering::Equal),
        (Some(Value::String(x)), Some(Value::String(y))) => x
            .to_lowercase()
            .cmp(&y.to_lowercase())
            .then_with(|| x.cmp(y)),
        _ => rank(a).cmp(&rank(b)),
    }
}

impl Api {
    pub(crate) async fn browse_documents(
        &self,
        req: &Request<'_>,
        auth: &ClientAuth<'_>,
        uid: &str,
        trace: &RequestTrace,
    ) -> Response {
        let Some(meta) = self.cluster.indexes.get(uid) else {
            return index_not_found(uid);
        };
        let body = if req.method == Method::Get {
            match fetch_body_from_query(req.query()) {
                Ok(b) => b,
                Err(r) => return r,
            }
        } else {
            match json_object(if req.body.is_empty() { b"{}" } else { req.body }) {
                Ok(map) => map,
                Err(r) => return r,
            }
        };
        if let Some(error) = crate::query::reserved_field_error(&body) {
            return error;
        }
        let offset = body.get("offset").and_then(Value::as_u64).unwrap_or(0) as usize;
        let limit = body.get("limit").and_then(Value::as_u64).unwrap_or(20) as usize;
        let sort: Vec<(String, bool)> = body
            .get("sort")
            .and_then(Value::as_array)
            .map(|rules| {
                rules
                    .iter()
                    .filter_map(Value::as_str)
                    .map(|r| match r.rsplit_once(':') {
                        Some((field, "desc")) => (field.to_string(), true),
                        Some((field, _)) => (field.to_string(), false),
                        None => (r.to_string(), false),
                    })
                    .collect()
            })
            .unwrap_or_default();
        let primary_key = meta.primary_key.clone().unwrap_or_default();
        // Fields the merge compares must come back; the client's list decides
        // what is returned.
        let client_fields: Option<Vec<String>> =
            body.get("fields").and_then(Value::as_array).map(|f| {
                f.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            });
        let routing = self.cluster.routing.load();
        let group_count = routing.group_count();
        if group_count == 0 {
            return shard_unavailable("No replica group is configured.");
        }
        let rotation = self.next_rotation() as u64;
        let group = (rotation as usize) % group_count;
        let covering = routing.covering_set(group, rotation);
        if !covering.uncovered.is_empty() {
            return shard_unavailable(&format!(
                "Shards {} have no healthy replica in group {group}.",
                join_numbers(&covering.uncovered, ", ")
            ));
        }
        let needs_shard_filter = routing.topology().replication_factor > 1;
        let node_bodies: Vec<(usize, Vec<u8>)> = covering
            .per_node
            .iter()
            .map(|(node, shards)| {
                let mut nb = body.clone();
                nb.insert("offset".into(), Value::from(0));
                nb.insert("limit".into(), Value::from(offset + limit));
                if let Some(fields) = &client_fields {
                    let mut wanted: Vec<Value> =
                        fields.iter().map(|f| Value::from(f.as_str())).collect();
                    for extra in sort
                        .iter()
                        .map(|(f, _)| f.as_str())
                        .chain(std::iter::once(primary_key.as_str()))
                    {
                        if !fields.iter().any(|f| f == extra || f == "*") {
                            wanted.push(Value::from(extra));
                        }
                    }
                    nb.insert("fields".into(), Value::from(wanted));
                }
                if needs_shard_filter {
                    let client_filter = nb.remove("filter");
                    nb.insert(
                        "filter".into(),
                        with_shard_filter(client_filter.as_ref(), shards),
                    );
                }
                (
                    *node as usize,
                    serde_json::to_vec(&Value::Object(nb)).unwrap_or_default(),
                )
            })
            .collect();
        let target = format!("/indexes/{uid}/documents/fetch");
        let pages = match self
            .gather(
                &target,
                &node_bodies,
                self.node_authorization(req, auth),
                trace,
                "A node failed while browsing documents",
            )
            .await
        {
            Ok(pages) => pages,
            Err(r) => return r,
        };
        let mut documents: Vec<Value> = Vec::new();
        let mut total = 0u64;
        for page in pages {
            let page: Value = serde_json::from_slice(&page).unwrap_or(Value::Null);
            total += page["total"].as_u64().unwrap_or(0);
            if let Some(Value::Array(results)) = page.get("results").cloned() {
                documents.extend(results);
            }
        }
        documents.sort_by(|a, b| {
            for (field, desc) in &sort {
                let ord = compare_values(a.get(field), b.get(field));
                let ord = if *desc { ord.reverse() } else { ord };
                if ord != Ordering::Equal {
                    return ord;
                }
            }
            compare_values(a.get(&primary_key), b.get(&primary_key))
        });
        let page: Vec<Value> = documents
            .into_iter()
            .skip(offset)
            .take(limit)
            .map(|mut doc| {
                if let Value::Object(map) = &mut doc {
                    map.retain(|k, _| {
                        !k.starts_with(RESERVED_PREFIX)
                            && client_fields
                                .as_ref()
                                .is_none_or(|f| f.iter().any(|x| x == k || x == "*"))
                    });
                }
                doc
            })
            .collect();
        json_response(
            200,
            &json!({"results": page, "offset": offset, "limit": limit, "total": total}),
        )
    }
}
