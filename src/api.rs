//! The HTTP surface one request core serves: Meilisearch routes, Miroir's
//! own endpoints and `/_miroir/*` admin routes.

use std::cell::Cell;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use miroir_io::{Handler, Method, Request, Response, UpstreamPool};

use crate::admin;
use crate::auth::{self, ClientAuth};
use crate::cluster::Cluster;
use crate::metrics::{path_template, NodeOperation, Registry, ThreadMetrics, PATH_TEMPLATES};
use crate::nodes::NodeRequest;

/// What one request did, for its log line.
pub(crate) struct RequestTrace {
    /// When the handler got the request: its latency, and the origin of its deadlines, so a
    /// search reads the clock once for all of them.
    pub(crate) started: Instant,
    /// Node requests sent.
    pub(crate) fan_out: Cell<u32>,
    /// Answered without some shard or group.
    pub(crate) degraded: Cell<bool>,
}

/// Per-core request handler. Owns this core's upstream pool and metrics.
pub struct Api {
    pub(crate) cluster: Arc<Cluster>,
    registry: Arc<Registry>,
    pub(crate) metrics: Arc<ThreadMetrics>,
    pub(crate) pool: UpstreamPool,
    /// `Authorization` value Miroir presents to nodes for master requests.
    pub(crate) node_authorization: Option<Vec<u8>>,
    pub(crate) next_node: Cell<usize>,
    /// Where [`Api::ask_one_node`] starts (its own turn, so that it does not move the
    /// searches' group rotation).
    pub(crate) settings_rotation: Cell<usize>,
    pub(crate) request_timeout: Duration,
    /// Index settings this core read for Miroir's own use (ranking rules, faceting).
    pub(crate) settings_cache: SettingsCache,
}

/// How long a request core keeps an index's settings at most.
pub(crate) const SETTINGS_KEPT_FOR: Duration = Duration::from_secs(60);

/// An index's settings (`GET /indexes/{uid}/settings` of one node) as Miroir uses them,
/// read out once (searches look them up every time).
#[derive(Debug, PartialEq)]
pub(crate) struct IndexSettings {
    /// `rankingRules`.
    ranking_rules: Vec<String>,
    /// When they were read.
    pub(crate) read_at: Instant,
    /// The ranking rules have a custom sort rule (`field:asc|desc`): `_rankingScore` does not
    /// follow it, so hits are merged by their ranking score details.
    pub(crate) sorts_by_rule: bool,
    /// `distinctAttribute`, when set.
    distinct_attribute: Option<String>,
    /// `pagination.maxTotalHits` (Meilisearch's default: 1000).
    max_total_hits: usize,
    /// `faceting.maxValuesPerFacet` (Meilisearch's default: 100).
    max_values_per_facet: usize,
    /// `faceting.sortFacetValuesBy`.
    sort_facet_values_by: Option<serde_json::Value>,
}

impl IndexSettings {
    pub(crate) fn new(value: serde_json::Value) -> IndexSettings {
        use serde_json::Value;
        let ranking_rules: Vec<String> = value
            .get("rankingRules")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect();
        let sorts_by_rule = ranking_rules
            .iter()
            .any(|r| miroir_merge::federation::is_sort_rule(r));
        let count = |section: &str, key: &str, default: usize| {
            value
                .get(section)
                .and_then(|s| s.get(key))
                .and_then(Value::as_u64)
                .map_or(default, |m| usize::try_from(m).unwrap_or(usize::MAX))
        };
        IndexSettings {
            read_at: Instant::now(),
            sorts_by_rule,
            distinct_attribute: value
                .get("distinctAttribute")
                .and_then(Value::as_str)
                .map(str::to_owned),
            max_total_hits: count("pagination", "maxTotalHits", 1000),
            max_values_per_facet: count("faceting", "maxValuesPerFacet", 100),
            sort_facet_values_by: value
                .get("faceting")
                .and_then(|f| f.get("sortFacetValuesBy"))
                .cloned(),
            ranking_rules,
        }
    }

    pub(crate) fn ranking_rules(&self) -> &[String] {
        &self.ranking_rules
    }

    pub(crate) fn sort_facet_values_by(&self) -> Option<&serde_json::Value> {
        self.sort_facet_values_by.as_ref()
    }

    pub(crate) fn distinct_attribute(&self) -> Option<&str> {
        self.distinct_attribute.as_deref()
    }

    pub(crate) fn max_total_hits(&self) -> usize {
        self.max_total_hits
    }

    pub(crate) fn max_values_per_facet(&self) -> usize {
        self.max_values_per_facet
    }
}

/// Index settings read from a node, kept by one request core until a task that may change
/// settings ends, or a settings write is rolled back (the task registry's settings epoch
/// moves): then all are read again. At most [`SETTINGS_KEPT_FOR`] in any case, for what the
/// epoch cannot see (settings changed on the nodes directly, a rollback's own node tasks).
/// No lock: each core has its own.
#[derive(Default)]
pub(crate) struct SettingsCache {
    entries: std::cell::RefCell<(u64, std::collections::HashMap<String, Rc<IndexSettings>>)>,
    /// Reads in flight on this core, by index: the searches that miss meanwhile wait for them
    /// rather than each asking a node (a settings change makes every search miss at once).
    reading: std::cell::RefCell<std::collections::HashMap<String, Rc<SettingsRead>>>,
}

/// What a settings read found.
pub(crate) type ReadResult = Result<Rc<IndexSettings>, ReadError>;

/// Why a settings read found none.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum ReadError {
    /// The node's answer (status and body).
    Failed(u16, Vec<u8>),
    /// The search reading went away before the read ended.
    Abandoned,
}

/// A settings read in flight, and what it found once done.
pub(crate) struct SettingsRead {
    /// The epoch it was started at: only searches at the same epoch wait for it.
    pub(crate) epoch: u64,
    /// What it found, once done.
    done: std::cell::RefCell<Option<ReadResult>>,
    waiting: std::cell::RefCell<Vec<std::task::Waker>>,
}

impl SettingsRead {
    /// Records what the read found and wakes the searches waiting for it.
    pub(crate) fn finish(&self, result: ReadResult) {
        if self.done.borrow().is_some() {
            return;
        }
        *self.done.borrow_mut() = Some(result);
        for waker in self.waiting.borrow_mut().drain(..) {
            waker.wake();
        }
    }

    /// What the read found, once it is done.
    pub(crate) async fn wait(&self) -> ReadResult {
        std::future::poll_fn(|cx| match &*self.done.borrow() {
            Some(result) => std::task::Poll::Ready(result.clone()),
            None => {
                let mut waiting = self.waiting.borrow_mut();
                if !waiting.iter().any(|w| w.will_wake(cx.waker())) {
                    waiting.push(cx.waker().clone());
                }
                std::task::Poll::Pending
            }
        })
        .await
    }
}

/// Ends a read that its search dropped before it finished (the client went away, say): the
/// searches waiting for it then read for themselves.
pub(crate) struct ReadingGuard<'c> {
    pub(crate) cache: &'c SettingsCache,
    pub(crate) uid: String,
    pub(crate) read: Rc<SettingsRead>,
}

impl Drop for ReadingGuard<'_> {
    fn drop(&mut self) {
        self.read.finish(Err(ReadError::Abandoned));
        let mut reading = self.cache.reading.borrow_mut();
        if reading
            .get(&self.uid)
            .is_some_and(|r| Rc::ptr_eq(r, &self.read))
        {
            reading.remove(&self.uid);
        }
    }
}

impl SettingsCache {
    /// The settings of `uid` read at `epoch`, if this core has them and read them less than
    /// [`SETTINGS_KEPT_FOR`] before `now`.
    pub(crate) fn get(&self, uid: &str, epoch: u64, now: Instant) -> Option<Rc<IndexSettings>> {
        let entries = self.entries.borrow();
        if entries.0 != epoch {
            return None;
        }
        let settings = entries.1.get(uid)?;
        (now.saturating_duration_since(settings.read_at) < SETTINGS_KEPT_FOR)
            .then(|| settings.clone())
    }

    /// The read of `uid` in flight at `epoch` (`Ok`), or a new one registered (`Err`), which the
    /// caller performs and ends through the returned guard.
    pub(crate) fn join_or_start(
        &self,
        uid: &str,
        epoch: u64,
    ) -> Result<Rc<SettingsRead>, ReadingGuard<'_>> {
        let mut reading = self.reading.borrow_mut();
        if let Some(read) = reading.get(uid).filter(|r| r.epoch == epoch) {
            return Ok(read.clone());
        }
        let read = Rc::new(SettingsRead {
            epoch,
            done: Default::default(),
            waiting: Default::default(),
        });
        reading.insert(uid.to_owned(), read.clone());
        Err(ReadingGuard {
            cache: self,
            uid: uid.to_owned(),
            read,
        })
    }

    /// Keeps `settings`, read from a node that was asked at `epoch`; a newer epoch drops
    /// everything kept before it, an older one (a task ended during the read) keeps nothing.
    pub(crate) fn put(&self, uid: &str, epoch: u64, settings: Rc<IndexSettings>) {
        let mut entries = self.entries.borrow_mut();
        if epoch > entries.0 {
            *entries = (epoch, Default::default());
        }
        if epoch == entries.0 {
            entries.1.insert(uid.to_owned(), settings);
        }
    }
}

/// Meilisearch routes that a later Miroir capability will serve; until then
/// they get a clear error rather than a bare 404.
const PENDING: &[&str] = &[
    "similar",
    "batches",
    "dumps",
    "snapshots",
    "experimental-features",
    "network",
    "webhooks",
    "chats",
    "export",
    "metrics",
    "logs",
];

impl Api {
    pub fn new(
        cluster: Arc<Cluster>,
        pool: UpstreamPool,
        registry: Arc<Registry>,
        core: usize,
    ) -> Api {
        let key = &cluster.config.auth.node_master_key;
        let node_authorization = (!key.is_empty()).then(|| format!("Bearer {key}").into_bytes());
        let request_timeout = Duration::from_millis(cluster.config.upstream.request_timeout_ms);
        Api {
            cluster,
            metrics: registry.thread(core),
            registry,
            pool,
            node_authorization,
            next_node: Cell::new(0),
            settings_rotation: Cell::new(0),
            request_timeout,
            settings_cache: SettingsCache::default(),
        }
    }

    /// This request's round-robin position; the next request gets the next.
    pub(crate) fn next_rotation(&self) -> usize {
        let rotation = self.next_node.get();
        self.next_node.set(rotation.wrapping_add(1));
        rotation
    }

    async fn route(&self, req: &Request<'_>, trace: &RequestTrace) -> Response {
        let path = req.path();
        if path == "/health" {
            // Miroir's own liveness, open like Meilisearch's.
            return match req.method {
                Method::Get => Response::json(200, br#"{"status":"available"}"#.to_vec()),
                _ => method_not_allowed("GET"),
            };
        }
        if let Some(route) = path.strip_prefix("/_miroir/") {
            return self.admin_route(req, route);
        }
        self.client_route(req, trace).await
    }

    async fn client_route(&self, req: &Request<'_>, trace: &RequestTrace) -> Response {
        let auth = match auth::client(req, &self.cluster.config.auth.master_key) {
            Ok(a) => a,
            Err(resp) => return resp,
        };
        let path = req.path().trim_end_matches('/');
        let mut segments = [""; 5];
        let mut count = 0;
        for part in path.split('/').skip(1) {
            if count == segments.len() {
                return Response::new(404);
            }
            segments[count] = part;
            count += 1;
        }
        let a = &auth;
        use Method::*;
        match (req.method, &segments[..count]) {
            (Get, ["version"]) => self.forward_to_any_node(req, a, trace).await,
            (Get, ["tasks"]) => self.list_tasks(req, a).await,
            (Get, ["tasks", uid]) => self.get_task(req, a, uid).await,
            (Post, ["tasks", "cancel"]) => self.cancel_or_delete_tasks(req, a, false, trace).await,
            (Delete, ["tasks"]) => self.cancel_or_delete_tasks(req, a, true, trace).await,
            (Get, ["indexes"]) => self.list_indexes(req, a).await,
            (Post, ["indexes"]) => self.create_index(req, a, trace).await,
            (Get, ["indexes", uid]) => self.get_index(req, a, uid).await,
            (Patch, ["indexes", uid]) => self.update_index(req, a, uid, trace).await,
            (Delete, ["indexes", uid]) => self.delete_index(req, a, uid, trace).await,
            (Post | Put, ["indexes", uid, "documents"]) => {
                self.add_documents(req, a, uid, trace).await
            }
            (Delete, ["indexes", uid, "documents"]) => {
                self.delete_documents(req, a, uid, false, trace).await
            }
            (Post, ["indexes", uid, "documents", "delete-batch"]) => {
                self.delete_batch(req, a, uid, trace).await
            }
            (Post, ["indexes", uid, "documents", "delete"]) => {
                self.delete_documents(req, a, uid, true, trace).await
            }
            (Get, ["indexes", uid, "documents"])
            | (Post, ["indexes", uid, "documents", "fetch"]) => {
                self.browse_documents(req, a, uid, trace).await
            }
            (Get, ["indexes", _, "documents", "fetch"]) => {
                Response::new(405).with_header("allow", "POST".into())
            }
            (Get, ["indexes", uid, "documents", id]) => {
                self.get_document(req, a, uid, id, trace).await
            }
            (Delete, ["indexes", uid, "documents", id]) => {
                self.delete_document(req, a, uid, id, trace).await
            }
            (Get | Patch | Delete, ["indexes", uid, "settings"]) => {
                self.settings(req, a, uid, None, trace).await
            }
            (Get | Put | Patch | Delete, ["indexes", uid, "settings", name]) => {
                self.settings(req, a, uid, Some(name), trace).await
            }
            (Get, ["indexes", uid, "stats"]) => self.index_stats(req, a, uid, trace).await,
            (Get | Post, ["indexes", uid, "search"]) => self.search(req, a, uid, trace).await,
            (Post, ["indexes", uid, "facet-search"]) => self.facet_search(req, a, uid, trace).await,
            // Boxed: its future (≈ 27 KB, several searches' at once) would otherwise size every
            // request's, and so every connection task, idle ones included (≈ 11 KB without it).
            (Post, ["multi-search"]) => Box::pin(self.multi_search(req, a, trace)).await,
            (Get, ["stats"]) => self.global_stats(req, a, trace).await,
            (Post, ["swap-indexes"]) => self.swap_indexes(req, a, trace).await,
            (_, ["keys"]) => self.keys(req, a, None, trace).await,
            (_, ["keys", key]) => self.keys(req, a, Some(key), trace).await,
            (_, ["version"] | ["tasks"] | ["tasks", _] | ["stats"] | ["indexes", _, "stats"]) => {
                method_not_allowed("GET")
            }
            (_, ["indexes"]) => method_not_allowed("GET, POST"),
            (_, ["indexes", _]) => method_not_allowed("GET, PATCH, DELETE"),
            (_, segments) if segments.iter().any(|s| PENDING.contains(s)) => Response::error(
                501,
                "miroir_not_supported",
                "invalid_request",
                &format!(
                    "`{} {path}` is not served through this Miroir version yet.",
                    req.method.as_str()
                ),
            ),
            _ => Response::new(404),
        }
    }

    /// Sends the request to one healthy node (round-robin), trying the next
    /// healthy node if that one fails, and passes its answer through.
    pub(crate) async fn forward_to_any_node(
        &self,
        req: &Request<'_>,
        auth: &ClientAuth<'_>,
        trace: &RequestTrace,
    ) -> Response {
        let content_type = req
            .header("content-type")
            .and_then(|v| std::str::from_utf8(v).ok());
        let request = NodeRequest {
            method: req.method,
            target: req.target(),
            content_type,
            body: req.body,
        };
        let authorization = self.node_authorization(req, auth);
        let routing = self.cluster.routing.load();
        let node_count = self.cluster.node_addrs.len();
        let start = self.next_rotation();
        let mut last_error = None;
        let healthy = (0..node_count)
            .map(|i| (start + i) % node_count)
            .filter(|&n| routing.is_healthy(n as u16))
            .take(2);
        for node in healthy {
            trace.fan_out.set(trace.fan_out.get() + 1);
            match self
                .send_node(node, NodeOperation::Forward, &request, authorization)
                .await
            {
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
        if !matches!(route, "ready" | "topology" | "shards" | "metrics") {
            return Response::new(404);
        }
        if req.method != Method::Get {
            return method_not_allowed("GET");
        }
        match route {
            "ready" => admin::ready(&self.cluster),
            "topology" => admin::topology(&self.cluster),
            "shards" => admin::shards(&self.cluster),
            _ => metrics_response(&self.registry, &self.cluster),
        }
    }
}

/// Prometheus text exposition of every thread's metrics.
pub fn metrics_response(registry: &Registry, cluster: &Cluster) -> Response {
    let mut r = Response::new(200);
    r.content_type = Some("text/plain; version=0.0.4; charset=utf-8");
    r.body = registry.render(cluster).into_bytes();
    r
}

/// The client's `X-Request-Id` when it is sane, else a new UUIDv7.
fn request_id(req: &Request<'_>) -> String {
    req.header("x-request-id")
        .filter(|v| (1..=128).contains(&v.len()) && v.iter().all(|b| b.is_ascii_graphic()))
        .and_then(|v| std::str::from_utf8(v).ok())
        .map_or_else(|| new_uuid_v7().hyphenated().to_string(), str::to_owned)
}

thread_local! {
    /// wyrand state, seeded once per thread from the OS (through a v4 UUID).
    static RNG: Cell<u64> = Cell::new(uuid::Uuid::new_v4().as_u64_pair().0 | 1);
}

/// 64 pseudo-random bits from this thread's generator.
fn next_random() -> u64 {
    RNG.with(|state| {
        let s = state.get().wrapping_add(0xa076_1d64_78bd_642f);
        state.set(s);
        let t = u128::from(s) * u128::from(s ^ 0xe703_7ed1_a0b4_28db);
        ((t >> 64) as u64) ^ (t as u64)
    })
}

/// A new UUIDv7 for request ids and `requestUid` (written out by the caller, which may keep
/// the text on the stack).
///
/// `Uuid::now_v7` reads 10 random bytes from the OS (a `getrandom` syscall)
/// and takes a process-wide lock for its counter on every call, which showed
/// up at ~5 % of a search's CPU. Ids only need to be unique and
/// time-ordered at millisecond precision, so the random bits come from a
/// per-thread generator seeded from the OS once.
pub(crate) fn new_uuid_v7() -> uuid::Uuid {
    let millis = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    let (a, b) = (next_random().to_le_bytes(), next_random().to_le_bytes());
    let random = [a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], b[0], b[1]];
    uuid::Builder::from_unix_timestamp_millis(millis, &random).into_uuid()
}

pub(crate) fn method_not_allowed(allow: &'static str) -> Response {
    Response::new(405).with_header("allow", allow.to_string())
}

impl Handler for Api {
    async fn handle(&self, req: Request<'_>) -> Response {
        let trace = RequestTrace {
            started: Instant::now(),
            fan_out: Cell::new(0),
            degraded: Cell::new(false),
        };
        self.metrics.request_started();
        let request_id = request_id(&req);
        let mut response = self.route(&req, &trace).await;
        let took = trace.started.elapsed();
        let template = path_template(req.path());
        self.metrics
            .request_finished(req.method, template, response.status, took);
        tracing::info!(
            target: "miroir::request",
            request_id = %request_id,
            method = req.method.as_str(),
            path_template = PATH_TEMPLATES[template],
            status = response.status,
            duration_ms = took.as_secs_f64() * 1000.0,
            fan_out = trace.fan_out.get(),
            degraded = trace.degraded.get(),
            "request"
        );
        response.headers.push(("x-request-id", request_id));
        response
    }
}

/// The `server.metrics_listen` endpoint: `GET /metrics`, nothing else.
pub struct MetricsEndpoint {
    pub cluster: Arc<Cluster>,
    pub registry: Arc<Registry>,
}

impl Handler for MetricsEndpoint {
    async fn handle(&self, req: Request<'_>) -> Response {
        match (req.method, req.path()) {
            (Method::Get, "/metrics") => metrics_response(&self.registry, &self.cluster),
            (_, "/metrics") => method_not_allowed("GET"),
            _ => Response::new(404),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{Api, IndexSettings, RequestTrace, SettingsCache};
    use crate::auth::ClientAuth;
    use miroir_io::{Handler, Request};
    use serde_json::json;
    use std::rc::Rc;

    /// Bytes of the future `make` would return, without calling it (no `Api` or request needed).
    fn future_size<A, F: std::future::Future>(_make: impl FnOnce(A) -> F) -> usize {
        std::mem::size_of::<F>()
    }

    type Args = (
        &'static Api,
        &'static Request<'static>,
        &'static ClientAuth<'static>,
        &'static RequestTrace,
    );

    #[test]
    fn a_request_future_stays_small() {
        // Every connection task holds it inline for the connection's life, idle or not
        // (`target/release/idle_connections`): a route whose future is much larger than the
        // others' is boxed where it is routed, as multi-search is.
        let handle = future_size(|(api, req): (&'static Api, Request<'static>)| api.handle(req));
        let routes = [
            (
                "search",
                future_size(|(api, req, a, t): Args| api.search(req, a, "i", t)),
            ),
            (
                "facet search",
                future_size(|(api, req, a, t): Args| api.facet_search(req, a, "i", t)),
            ),
            (
                "multi-search (boxed where routed)",
                future_size(|(api, req, a, t): Args| api.multi_search(req, a, t)),
            ),
        ];
        println!("request future: {handle} bytes; routes: {routes:?}");
        assert!(handle <= 16 * 1024, "{handle} bytes");
    }

    #[test]
    fn custom_sort_rules_are_told_from_the_built_in_rules() {
        let sorts = |rules: serde_json::Value| {
            IndexSettings::new(json!({ "rankingRules": rules })).sorts_by_rule
        };
        assert!(sorts(json!(["words", "year:desc"])));
        assert!(sorts(json!(["release.date:asc", "words"])));
        assert!(!sorts(json!([
            "words",
            "typo",
            "proximity",
            "attribute",
            "sort",
            "exactness"
        ])));
        assert!(!sorts(json!([])));
        assert!(!IndexSettings::new(json!({})).sorts_by_rule);
    }

    #[test]
    fn a_read_in_flight_is_shared_and_a_dropped_one_released() {
        use futures_util::FutureExt;
        let cache = SettingsCache::default();
        let Err(guard) = cache.join_or_start("movies", 1) else {
            panic!("the first miss reads")
        };
        let Ok(waiting) = cache.join_or_start("movies", 1) else {
            panic!("a second miss waits for it")
        };
        assert!(waiting.wait().now_or_never().is_none());
        // Another epoch reads for itself.
        assert!(cache.join_or_start("movies", 2).is_err());
        let settings = Rc::new(IndexSettings::new(json!({})));
        guard.read.finish(Ok(settings.clone()));
        assert_eq!(waiting.wait().now_or_never(), Some(Ok(settings)));
        drop(guard);
        // Dropped before it finished: the waiting search is told to read for itself.
        let Err(guard) = cache.join_or_start("books", 1) else {
            panic!("reads")
        };
        let Ok(waiting) = cache.join_or_start("books", 1) else {
            panic!("waits")
        };
        drop(guard);
        assert_eq!(
            waiting.wait().now_or_never(),
            Some(Err(super::ReadError::Abandoned))
        );
        assert!(cache.join_or_start("books", 1).is_err());
    }

    #[test]
    fn cached_settings_last_until_the_epoch_moves() {
        let cache = SettingsCache::default();
        let settings = Rc::new(IndexSettings::new(json!({"rankingRules": ["words"]})));
        let now = settings.read_at;
        cache.put("movies", 3, settings.clone());
        assert_eq!(cache.get("movies", 3, now), Some(settings.clone()));
        assert_eq!(cache.get("books", 3, now), None);
        assert_eq!(cache.get("movies", 4, now), None);
        // Not past their time, whatever the epoch.
        assert_eq!(cache.get("movies", 3, now + super::SETTINGS_KEPT_FOR), None);
        // A read begun before the epoch moved is not kept over newer ones.
        cache.put("books", 4, settings.clone());
        cache.put("movies", 3, settings.clone());
        assert_eq!(cache.get("movies", 4, now), None);
        assert_eq!(cache.get("books", 4, now), Some(settings));
    }
}
