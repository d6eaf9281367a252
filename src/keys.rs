//! API keys: created through Miroir with the same uid and value on every
//! node, so a client's key (or a tenant token signed with it) is accepted by
//! whichever node serves its request.

use miroir_io::{Method, Request, Response};
use serde_json::Value;

use crate::api::{Api, RequestTrace};
use crate::auth::ClientAuth;
use crate::routes::malformed_json;

impl Api {
    pub(crate) async fn keys(
        &self,
        req: &Request<'_>,
        auth: &ClientAuth<'_>,
        key: Option<&str>,
        trace: &RequestTrace,
    ) -> Response {
        match (req.method, key) {
            (Method::Get, _) => self.forward_to_any_node(req, auth, trace).await,
            (Method::Post, None) => self.create_key(req, auth, trace).await,
            (Method::Patch | Method::Delete, Some(key)) => {
                let target = format!("/keys/{key}");
                let all: Vec<usize> = (0..self.cluster.node_addrs.len()).collect();
                let results = self
                    .broadcast(
                        &all,
                        req.method,
                        &target,
                        req.body,
                        self.node_authorization(req, auth),
                        trace,
                    )
                    .await;
                match self.refused_anywhere(&results) {
                    Some(refusal) => refusal,
                    None => match results.into_iter().next() {
                        Some(Ok(resp)) => passthrough(resp.status, resp.body),
                        _ => Response::error(
                            503,
                            "miroir_node_unavailable",
                            "system",
                            "No node is configured.",
                        ),
                    },
                }
            }
            (_, None) => Response::new(405).with_header("allow", "GET, POST".into()),
            (_, Some(_)) => Response::new(405).with_header("allow", "GET, PATCH, DELETE".into()),
        }
    }

    /// Gives the key a uid (when the client did not) so every node derives
    /// the same key value; undoes the creation if a node refuses or derives a
    /// different value (a node with another master key).
    async fn create_key(
        &self,
        req: &Request<'_>,
        auth: &ClientAuth<'_>,
        trace: &RequestTrace,
    ) -> Response {
        let mut body: Value = match serde_json::from_slice(req.body) {
            Ok(v @ Value::Object(_)) => v,
            Ok(_) => {
                return Response::error(
                    400,
                    "bad_request",
                    "invalid_request",
                    "The key must be a JSON object.",
                )
            }
            Err(e) => return malformed_json(&e),
        };
        if body.get("uid").is_none_or(Value::is_null) {
            body["uid"] = Value::from(uuid::Uuid::new_v4().to_string());
        }
        let uid = body["uid"].as_str().unwrap_or_default().to_owned();
        let bytes = serde_json::to_vec(&body).unwrap_or_default();
        let all: Vec<usize> = (0..self.cluster.node_addrs.len()).collect();
        let authorization = self.node_authorization(req, auth);
        let results = self
            .broadcast(&all, Method::Post, "/keys", &bytes, authorization, trace)
            .await;
        let created: Vec<usize> = results
            .iter()
            .enumerate()
            .filter(|(_, r)| r.as_ref().is_ok_and(|resp| resp.status == 201))
            .map(|(n, _)| n)
            .collect();
        let key_of = |i: usize| {
            results[i]
                .as_ref()
                .ok()
                .and_then(|r| serde_json::from_slice::<Value>(&r.body).ok())
                .and_then(|v| v["key"].as_str().map(str::to_owned))
        };
        let same_key = created
            .iter()
            .all(|&i| key_of(i) == created.first().and_then(|&f| key_of(f)));
        if created.len() == all.len() && same_key {
            if let Some(Ok(resp)) = results.first() {
                return passthrough(resp.status, resp.body.clone());
            }
        }
        if !created.is_empty() {
            let target = format!("/keys/{uid}");
            self.broadcast(&created, Method::Delete, &target, &[], authorization, trace)
                .await;
        }
        if !same_key {
            return Response::error(500, "miroir_key_mismatch", "system", "The nodes derived different values for the same key: they do not share one master key. Give every node the same master key.");
        }
        self.refused_anywhere(&results).unwrap_or_else(|| {
            Response::error(
                503,
                "miroir_node_unavailable",
                "system",
                "A node did not create the key; it was removed again.",
            )
        })
    }
}

fn passthrough(status: u16, body: Vec<u8>) -> Response {
    let mut out = Response::new(status);
    if !body.is_empty() {
        out.content_type = Some(miroir_io::http::JSON);
    }
    out.body = body;
    out
}
