//! The HTTP surface one request core serves: Meilisearch routes, Miroir's
//! own endpoints and `/_miroir/*` admin routes.

use std::cell::Cell;
use std::sync::Arc;
use std::time::Duration;

use miroir_io::{Handler, Method, Request, Response, UpstreamPool, UpstreamRequest};

use crate::admin;
use crate::auth::{self, ClientAuth};
use crate::cluster::Cluster;

/// Per-core request handler. Owns this core's upstream pool.
pub struct Api {
    cluster: Arc<Cluster>,
    pool: UpstreamPool,
    /// `Authorization` value Miroir presents to nodes for master requests.
    node_authorization: Option<Vec<u8>>,
    next_node: Cell<usize>,
    request_timeout: Duration,
}

/// Meilisearch routes that a later Miroir capability will serve; until then
/// they get a clear error rather than a bare 404.
const PENDING_PREFIXES: &[&str] = &[
    "/indexes",
    "/tasks",
    "/batches",
    "/keys",
    "/multi-search",
    "/stats",
    "/swap-indexes",
    "/dumps",
    "/snapshots",
    "/experimental-features",
    "/network",
    "/webhooks",
    "/chats",
    "/export",
    "/metrics",
    "/logs",
];

impl Api {
    pub fn new(cluster: Arc<Cluster>, pool: UpstreamPool) -> Api {
        let key = &cluster.config.auth.node_master_key;
        let node_authorization = (!key.is_empty()).then(|| format!("Bearer {key}").into_bytes());
        let request_timeout = Duration::from_millis(cluster.config.upstream.request_timeout_ms);
        Api {
            cluster,
            pool,
            node_authorization,
            next_node: Cell::new(0),
            request_timeout,
        }
    }

    async fn client_route(&self, req: &Request<'_>) -> Response {
        let auth = match auth::client(req, &self.cluster.config.auth.master_key) {
            Ok(a) => a,
            Err(resp) => return resp,
        };
        let path = req.path();
        match path {
            "/version" => match req.method {
                Method::Get => self.forward_to_any_node(req, &auth).await,
                _ => method_not_allowed("GET"),
            },
            _ if PENDING_PREFIXES.iter().any(|p| {
                path == *p || path.strip_prefix(p).is_some_and(|r| r.starts_with('/'))
            }) =>
            {
                Response::error(
                    501,
                    "miroir_not_supported",
                    "invalid_request",
                    &format!(
                        "`{} {path}` is not served through this Miroir version yet.",
                        req.method.as_str()
                    ),
                )
            }
            _ => Response::new(404),
        }
    }

    /// Sends the request to one healthy node (round-robin), trying the next
    /// healthy node if that one fails, and passes its answer through.
    async fn forward_to_any_node(&self, req: &Request<'_>, auth: &ClientAuth<'_>) -> Response {
        let forwarded;
        let headers: &[(&str, &[u8])] = match (auth, &self.node_authorization) {
            (ClientAuth::Master, Some(value)) => {
                forwarded = [("authorization", value.as_slice())];
                &forwarded
            }
            (ClientAuth::Master, None) => &[],
            (ClientAuth::Forward(token), _) => {
                forwarded = [(
                    "authorization",
                    req.header("authorization").unwrap_or(token),
                )];
                &forwarded
            }
        };
        let upstream = UpstreamRequest {
            method: req.method,
            target: req.target(),
            headers,
            body: req.body,
        };
        let routing = self.cluster.routing.load();
        let node_count = self.cluster.node_addrs.len();
        let start = self.next_node.get();
        self.next_node.set(start.wrapping_add(1));
        let mut last_error = None;
        let healthy = (0..node_count)
            .map(|i| (start + i) % node_count)
            .filter(|&n| routing.is_healthy(n as u16))
            .take(2);
        for node in healthy {
            match self.pool.send(node, &upstream, self.request_timeout).await {
                Ok(resp) => {
                    let mut out = Response::new(resp.status);
                    out.content_type = resp.content_type.as_deref().map(|_| miroir_io::http::JSON);
                    out.body = resp.body;
                    return out;
                }
                Err(err) => {
                    tracing::warn!(node = %self.cluster.config.nodes[node].id, error = %err, "node request failed");
                    last_error = Some(err);
                }
            }
        }
        let message = match last_error {
            Some(err) => format!("No node could answer: the last one failed with: {err}."),
            None => "No healthy Meilisearch node is available.".to_string(),
        };
        Response::error(503, "miroir_node_unavailable", "system", &message)
    }

    fn admin_route(&self, req: &Request<'_>, route: &str) -> Response {
        if let Err(resp) = auth::admin(req, self.cluster.config.effective_admin_key()) {
            return resp;
        }
        let handler: fn(&Cluster) -> Response = match route {
            "ready" => admin::ready,
            "topology" => admin::topology,
            "shards" => admin::shards,
            _ => return Response::new(404),
        };
        if req.method != Method::Get {
            return method_not_allowed("GET");
        }
        handler(&self.cluster)
    }
}

fn method_not_allowed(allow: &'static str) -> Response {
    Response::new(405).with_header("allow", allow.to_string())
}

impl Handler for Api {
    async fn handle(&self, req: Request<'_>) -> Response {
        let path = req.path();
        if path == "/health" {
            // Miroir's own liveness, open like Meilisearch's.
            return match req.method {
                Method::Get => Response::json(200, br#"{"status":"available"}"#.to_vec()),
                _ => method_not_allowed("GET"),
            };
        }
        if let Some(route) = path.strip_prefix("/_miroir/") {
            return self.admin_route(&req, route);
        }
        self.client_route(&req).await
    }
}
