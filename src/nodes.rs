//! Sending requests to nodes: one, or many concurrently, with the right
//! credentials, timed and counted in the node metrics.

use std::borrow::Cow;
use std::future::Future;
use std::time::Instant;

use futures_util::future::{join, join3, join_all};
use miroir_io::{Method, Request, Response, UpstreamError, UpstreamRequest, UpstreamResponse};

use crate::api::{Api, RequestTrace};
use crate::auth::ClientAuth;
use crate::metrics::NodeOperation;

/// A request to send to a node.
pub struct NodeRequest<'a> {
    pub method: Method,
    pub target: &'a str,
    pub content_type: Option<&'a str>,
    pub body: &'a [u8],
}

pub type NodeResult = Result<UpstreamResponse, UpstreamError>;

/// Runs `make(item)` for each of `items` concurrently; outputs in input order. Up to three
/// futures are joined in place, in this future's own state: `join_all` boxes a slice of
/// futures, and one holding a monoio timer (128-byte aligned, as every node exchange does)
/// sends that allocation to `posix_memalign`, about a thousand instructions per call.
pub(crate) async fn join_in_order<'i, T, F: Future>(
    items: &'i [T],
    mut make: impl FnMut(&'i T) -> F,
) -> Vec<F::Output> {
    match items {
        [only] => vec![make(only).await],
        [a, b] => {
            let (a, b) = join(make(a), make(b)).await;
            vec![a, b]
        }
        [a, b, c] => {
            let (a, b, c) = join3(make(a), make(b), make(c)).await;
            vec![a, b, c]
        }
        _ => join_all(items.iter().map(make)).await,
    }
}

impl Api {
    /// The `Authorization` value for nodes: the node master key for master
    /// requests, the client's own header for API keys and tenant tokens.
    pub(crate) fn node_authorization<'a>(
        &'a self,
        req: &Request<'a>,
        auth: &ClientAuth<'a>,
    ) -> Option<&'a [u8]> {
        match auth {
            ClientAuth::Master => self.node_authorization.as_deref(),
            ClientAuth::Forward(token) => Some(req.header("authorization").unwrap_or(token)),
        }
    }

    pub(crate) async fn send_node(
        &self,
        node: usize,
        operation: NodeOperation,
        request: &NodeRequest<'_>,
        authorization: Option<&[u8]>,
    ) -> NodeResult {
        self.send_node_within(node, operation, request, authorization, None)
            .await
    }

    /// [`send_node`](Self::send_node) by `deadline` when given, and within the upstream request
    /// timeout: bounded by the pool's own timer, not a second one around it, which would also
    /// make the future larger to move (a monoio `Sleep` is 640 bytes: `perf` binary
    /// `future_sizes`). The clock read for the node's latency metric is the pool's too.
    pub(crate) async fn send_node_within(
        &self,
        node: usize,
        operation: NodeOperation,
        request: &NodeRequest<'_>,
        authorization: Option<&[u8]>,
        deadline: Option<Instant>,
    ) -> NodeResult {
        let mut headers: [(&str, &[u8]); 2] = [("", b""), ("", b"")];
        let mut count = 0;
        if let Some(value) = authorization {
            headers[count] = ("authorization", value);
            count += 1;
        }
        if let Some(ct) = request.content_type {
            headers[count] = ("content-type", ct.as_bytes());
            count += 1;
        }
        let upstream = UpstreamRequest {
            method: request.method,
            target: request.target,
            headers: &headers[..count],
            body: request.body,
        };
        let started = Instant::now();
        // Reads (searches, document fetches: POSTs included) may be sent
        // twice, so a stale pooled connection can be retried on a new one.
        let retry_safe = request.method.is_idempotent() || operation == NodeOperation::Read;
        let latest = started + self.request_timeout;
        let deadline = deadline.map_or(latest, |d| d.min(latest));
        let mut result = self
            .pool
            .send_until(node, &upstream, started, deadline, retry_safe)
            .await;
        self.metrics
            .node_request(node, operation, started.elapsed());
        match &mut result {
            Ok(resp) if resp.status >= 500 => self.metrics.node_error(node, "http_5xx"),
            // A client error may be relayed as it is: it must not show Miroir's own fields.
            Ok(resp) if resp.status >= 400 => hide_reserved_attributes(&mut resp.body),
            Ok(_) => {}
            Err(err) => self.metrics.node_error(node, err.kind()),
        }
        result
    }

    /// Sends every `(node, request)` concurrently, counted in the request's
    /// fan-out; results in input order.
    pub(crate) async fn send_nodes(
        &self,
        requests: &[(usize, NodeRequest<'_>)],
        operation: NodeOperation,
        authorization: Option<&[u8]>,
        trace: &RequestTrace,
    ) -> Vec<NodeResult> {
        trace
            .fan_out
            .set(trace.fan_out.get() + requests.len() as u32);
        join_in_order(requests, |(node, request)| {
            self.send_node(*node, operation, request, authorization)
        })
        .await
    }

    /// POSTs each `(node, body)` JSON body to `target`, concurrently.
    pub(crate) async fn post_json_each(
        &self,
        target: &str,
        bodies: &[(usize, Vec<u8>)],
        operation: NodeOperation,
        authorization: Option<&[u8]>,
        trace: &RequestTrace,
    ) -> Vec<NodeResult> {
        let requests: Vec<(usize, NodeRequest)> = bodies
            .iter()
            .map(|(node, body)| {
                (
                    *node,
                    NodeRequest {
                        method: Method::Post,
                        target,
                        content_type: Some("application/json"),
                        body,
                    },
                )
            })
            .collect();
        self.send_nodes(&requests, operation, authorization, trace)
            .await
    }

    /// A read scattered over nodes (each `(node, body)` POSTed to `target`):
    /// the nodes' answer bodies, or the client's answer when one failed (see
    /// `ok_bodies`; `failure` words a transport error).
    pub(crate) async fn gather(
        &self,
        target: &str,
        bodies: &[(usize, Vec<u8>)],
        authorization: Option<&[u8]>,
        trace: &RequestTrace,
        failure: &str,
    ) -> Result<Vec<Vec<u8>>, Response> {
        self.metrics.scatter(bodies.len(), false, 0, 0);
        let results = self
            .post_json_each(target, bodies, NodeOperation::Read, authorization, trace)
            .await;
        ok_bodies(results, "miroir_shard_unavailable", failure)
    }
}

/// `body` (a node's error) without the reserved attributes in the attribute lists its message
/// shows (`_miroir_shard` is filterable on the nodes).
fn hide_reserved_attributes(body: &mut Vec<u8>) {
    if let Ok(text) = std::str::from_utf8(body) {
        if let Cow::Owned(hidden) = miroir_merge::hide_reserved_attributes(text) {
            *body = hidden.into_bytes();
        }
    }
}

/// The bodies of `results` when every node answered 200, in order. Otherwise
/// the first failure is the answer: a node's non-200 answer as it is, or a
/// 503 `code` "`failure`: (transport error)." for a node that did not answer.
pub fn ok_bodies(
    results: Vec<NodeResult>,
    code: &str,
    failure: &str,
) -> Result<Vec<Vec<u8>>, Response> {
    results
        .into_iter()
        .map(|result| match result {
            Ok(resp) if resp.status == 200 => Ok(resp.body),
            Ok(resp) => Err(Response::json(resp.status, resp.body)),
            Err(err) => Err(Response::error(
                503,
                code,
                "system",
                &format!("{failure}: {err}."),
            )),
        })
        .collect()
}

/// The node's `taskUid` from a 202 summarized task.
pub fn task_uid(resp: &UpstreamResponse) -> Option<u64> {
    if resp.status != 202 {
        return None;
    }
    sonic_rs::get(resp.body.as_slice(), ["taskUid"])
        .ok()
        .and_then(|v| {
            use sonic_rs::JsonValueTrait;
            v.as_u64()
        })
}

/// A node's error body as a JSON value (Meilisearch-shaped when the node
/// answered), or a Miroir-shaped one for transport failures.
pub fn node_error_value(node_id: &str, result: &NodeResult) -> serde_json::Value {
    match result {
        Ok(resp) => serde_json::from_slice(&resp.body).unwrap_or_else(|_| {
            miroir_error_value(
                "miroir_node_error",
                &format!(
                    "Node `{node_id}` answered HTTP {} with a body that is not JSON.",
                    resp.status
                ),
            )
        }),
        Err(err) => miroir_error_value(
            "miroir_node_unavailable",
            &format!("Node `{node_id}` could not be reached: {err}."),
        ),
    }
}

pub fn miroir_error_value(code: &str, message: &str) -> serde_json::Value {
    serde_json::json!({
        "message": message,
        "code": code,
        "type": "system",
        "link": format!("https://docs.meilisearch.com/errors#{code}"),
    })
}

#[cfg(test)]
mod tests {
    use super::join_in_order;

    #[monoio::test(enable_timer = true)]
    async fn join_in_order_keeps_input_order_for_any_count() {
        for n in 0..5u32 {
            // Later futures finish first, so order comes from the input, not completion.
            let items: Vec<u32> = (0..n).collect();
            let joined = join_in_order(&items, |&i| async move {
                monoio::time::sleep(std::time::Duration::from_millis(u64::from(3 * (n - i)))).await;
                i
            });
            assert_eq!(joined.await, items);
        }
    }
}
