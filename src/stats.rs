//! Logical stats: each document counted once, however many copies exist.
//! One fully healthy active group is asked; every shard has exactly RF
//! replicas in it, so its node sums divided by RF are the logical counts.

use miroir_io::{Method, Request, Response};
use miroir_router::batch::RESERVED_PREFIX;
use miroir_router::GroupState;
use serde_json::{json, Map, Value};

use crate::api::{Api, RequestTrace};
use crate::auth::ClientAuth;
use crate::nodes::ok_bodies;
use crate::routes::{index_not_found, json_response};

/// Sums node index stats and divides by the replication factor.
fn logical_index_stats(per_node: &[&Value], rf: u64) -> Value {
    let sum = |key: &str| per_node.iter().filter_map(|s| s[key].as_u64()).sum::<u64>();
    let documents = sum("numberOfDocuments") / rf;
    let raw = sum("rawDocumentDbSize") / rf;
    let mut fields: Map<String, Value> = Map::new();
    for stats in per_node {
        if let Some(dist) = stats["fieldDistribution"].as_object() {
            for (field, count) in dist {
                if field.starts_with(RESERVED_PREFIX) {
                    continue;
                }
                let total = fields.get(field).and_then(Value::as_u64).unwrap_or(0)
                    + count.as_u64().unwrap_or(0);
                fields.insert(field.clone(), Value::from(total));
            }
        }
    }
    for count in fields.values_mut() {
        *count = Value::from(count.as_u64().unwrap_or(0) / rf);
    }
    let mut sorted: Vec<(String, Value)> = fields.into_iter().collect();
    sorted.sort_by(|a, b| a.0.cmp(&b.0));
    json!({
        "numberOfDocuments": documents,
        "rawDocumentDbSize": raw,
        "avgDocumentSize": raw.checked_div(documents).unwrap_or(0),
        "isIndexing": per_node.iter().any(|s| s["isIndexing"].as_bool() == Some(true)),
        "numberOfEmbeddings": sum("numberOfEmbeddings") / rf,
        "numberOfEmbeddedDocuments": sum("numberOfEmbeddedDocuments") / rf,
        "fieldDistribution": Map::from_iter(sorted),
    })
}

impl Api {
    /// The members of one active group whose nodes are all healthy.
    fn stats_group(&self) -> Option<Vec<usize>> {
        let routing = self.cluster.routing.load();
        let topo = routing.topology();
        topo.groups
            .iter()
            .filter(|g| g.state == GroupState::Active)
            .find_map(|g| {
                let members: Vec<usize> = topo
                    .nodes
                    .iter()
                    .enumerate()
                    .filter(|(_, n)| n.group == g.id)
                    .map(|(i, _)| i)
                    .collect();
                members
                    .iter()
                    .all(|&n| routing.is_healthy(n as u16))
                    .then_some(members)
            })
    }

    async fn stats_from_group(
        &self,
        req: &Request<'_>,
        auth: &ClientAuth<'_>,
        target: &str,
        trace: &RequestTrace,
    ) -> Result<Vec<Value>, Response> {
        let Some(members) = self.stats_group() else {
            return Err(Response::error(
                503,
                "miroir_shard_unavailable",
                "system",
                "No replica group has every node healthy, so logical stats cannot be computed now.",
            ));
        };
        let results = self
            .broadcast(
                &members,
                Method::Get,
                target,
                &[],
                self.node_authorization(req, auth),
                trace,
            )
            .await;
        let bodies = ok_bodies(
            results,
            "miroir_node_unavailable",
            "A node did not answer for stats",
        )?;
        Ok(bodies
            .iter()
            .map(|body| serde_json::from_slice(body).unwrap_or(Value::Null))
            .collect())
    }

    pub(crate) async fn index_stats(
        &self,
        req: &Request<'_>,
        auth: &ClientAuth<'_>,
        uid: &str,
        trace: &RequestTrace,
    ) -> Response {
        if self.cluster.indexes.get(uid).is_none() {
            return index_not_found(uid);
        }
        let target = format!("/indexes/{uid}/stats");
        match self.stats_from_group(req, auth, &target, trace).await {
            Ok(values) => {
                let rf = self.cluster.config.cluster.replication_factor.max(1) as u64;
                json_response(
                    200,
                    &logical_index_stats(&values.iter().collect::<Vec<_>>(), rf),
                )
            }
            Err(r) => r,
        }
    }

    pub(crate) async fn global_stats(
        &self,
        req: &Request<'_>,
        auth: &ClientAuth<'_>,
        trace: &RequestTrace,
    ) -> Response {
        let values = match self.stats_from_group(req, auth, "/stats", trace).await {
            Ok(v) => v,
            Err(r) => return r,
        };
        let rf = self.cluster.config.cluster.replication_factor.max(1) as u64;
        let mut indexes = Map::new();
        for uid in self.cluster.indexes.all().keys() {
            let per_node: Vec<&Value> = values
                .iter()
                .map(|v| &v["indexes"][uid.as_str()])
                .filter(|s| s.is_object())
                .collect();
            indexes.insert(uid.clone(), logical_index_stats(&per_node, rf));
        }
        let sum = |key: &str| values.iter().filter_map(|v| v[key].as_u64()).sum::<u64>();
        let last_update = values
            .iter()
            .filter_map(|v| v["lastUpdate"].as_str())
            .max()
            .map(str::to_owned);
        json_response(
            200,
            &json!({
                "databaseSize": sum("databaseSize"),
                "usedDatabaseSize": sum("usedDatabaseSize"),
                "lastUpdate": last_update,
                "indexes": indexes,
            }),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_each_document_once_and_hides_reserved_fields() {
        let a = json!({"numberOfDocuments": 6, "rawDocumentDbSize": 600, "isIndexing": false, "fieldDistribution": {"id": 6, "title": 6, "_miroir_shard": 6}});
        let b = json!({"numberOfDocuments": 4, "rawDocumentDbSize": 400, "isIndexing": true, "fieldDistribution": {"id": 4, "year": 2, "_miroir_shard": 4}});
        let s = logical_index_stats(&[&a, &b], 2);
        assert_eq!(s["numberOfDocuments"], 5);
        assert_eq!(s["avgDocumentSize"], 100);
        assert_eq!(s["isIndexing"], true);
        assert_eq!(
            s["fieldDistribution"],
            json!({"id": 5, "title": 3, "year": 1})
        );
    }
}
