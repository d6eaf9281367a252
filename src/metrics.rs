//! Prometheus metrics. Every thread that serves or calls nodes owns one
//! `ThreadMetrics` and is its only writer (relaxed atomics, no contention, no
//! locks on the request path). A scrape sums all of them.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use miroir_io::Method;

use crate::cluster::Cluster;

/// Upper bounds (seconds) of the latency histograms.
const LATENCY_BOUNDS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
/// Upper bounds of the fan-out histogram (nodes per scatter).
const FAN_OUT_BOUNDS: [f64; 8] = [1.0, 2.0, 3.0, 4.0, 8.0, 16.0, 32.0, 64.0];

/// A histogram over fixed bounds: counts per bucket (not cumulative), sum, count.
pub struct Histogram {
    buckets: Box<[AtomicU64]>,
    /// Sum in millionths of the observed unit.
    sum_micros: AtomicU64,
    count: AtomicU64,
}

impl Histogram {
    fn new(bounds: usize) -> Histogram {
        Histogram {
            buckets: (0..=bounds).map(|_| AtomicU64::new(0)).collect(),
            sum_micros: AtomicU64::new(0),
            count: AtomicU64::new(0),
        }
    }

    fn observe(&self, bounds: &[f64], value: f64) {
        let i = bounds
            .iter()
            .position(|&b| value <= b)
            .unwrap_or(bounds.len());
        self.buckets[i].fetch_add(1, Relaxed);
        self.sum_micros.fetch_add((value * 1e6) as u64, Relaxed);
        self.count.fetch_add(1, Relaxed);
    }

    fn add_into(&self, totals: &mut HistogramTotals) {
        for (t, b) in totals.buckets.iter_mut().zip(self.buckets.iter()) {
            *t += b.load(Relaxed);
        }
        totals.sum_micros += self.sum_micros.load(Relaxed);
        totals.count += self.count.load(Relaxed);
    }
}

#[derive(Clone, Default)]
struct HistogramTotals {
    buckets: Vec<u64>,
    sum_micros: u64,
    count: u64,
}

impl HistogramTotals {
    fn new(bounds: usize) -> Self {
        HistogramTotals {
            buckets: vec![0; bounds + 1],
            ..Default::default()
        }
    }
}

const METHODS: [Method; 8] = [
    Method::Get,
    Method::Head,
    Method::Post,
    Method::Put,
    Method::Patch,
    Method::Delete,
    Method::Options,
    Method::Other,
];

/// Status codes with their own label; anything else is counted as "other".
const STATUSES: [u16; 26] = [
    200, 201, 202, 204, 301, 304, 400, 401, 403, 404, 405, 406, 408, 409, 410, 411, 413, 415, 422,
    429, 431, 500, 501, 502, 503, 504,
];

/// Route templates: never an index uid or document id.
pub const PATH_TEMPLATES: [&str; 33] = [
    "/health",
    "/version",
    "/stats",
    "/indexes",
    "/indexes/{uid}",
    "/indexes/{uid}/search",
    "/indexes/{uid}/similar",
    "/indexes/{uid}/facet-search",
    "/indexes/{uid}/documents",
    "/indexes/{uid}/documents/{id}",
    "/indexes/{uid}/documents/fetch",
    "/indexes/{uid}/documents/delete",
    "/indexes/{uid}/documents/delete-batch",
    "/indexes/{uid}/settings",
    "/indexes/{uid}/settings/{setting}",
    "/indexes/{uid}/stats",
    "/indexes/{uid}/{other}",
    "/multi-search",
    "/swap-indexes",
    "/tasks",
    "/tasks/cancel",
    "/tasks/{uid}",
    "/batches",
    "/batches/{uid}",
    "/keys",
    "/keys/{key}",
    "/dumps",
    "/snapshots",
    "/_miroir/ready",
    "/_miroir/topology",
    "/_miroir/shards",
    "/_miroir/metrics",
    "unmatched",
];

/// The template of a request path, as an index into `PATH_TEMPLATES`.
/// The templates it names are looked up at compile time.
pub fn path_template(path: &str) -> usize {
    let mut parts = path.trim_end_matches('/').split('/').skip(1);
    match (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) {
        (Some("indexes"), None, ..) => const { known("/indexes") },
        (Some("indexes"), Some(_), None, ..) => const { known("/indexes/{uid}") },
        (Some("indexes"), Some(_), Some(sub), None, _) => match sub {
            "search" => const { known("/indexes/{uid}/search") },
            "similar" => const { known("/indexes/{uid}/similar") },
            "facet-search" => const { known("/indexes/{uid}/facet-search") },
            "documents" => const { known("/indexes/{uid}/documents") },
            "settings" => const { known("/indexes/{uid}/settings") },
            "stats" => const { known("/indexes/{uid}/stats") },
            _ => const { known("/indexes/{uid}/{other}") },
        },
        (Some("indexes"), Some(_), Some("documents"), Some(op), None) => match op {
            "fetch" => const { known("/indexes/{uid}/documents/fetch") },
            "delete" => const { known("/indexes/{uid}/documents/delete") },
            "delete-batch" => const { known("/indexes/{uid}/documents/delete-batch") },
            _ => const { known("/indexes/{uid}/documents/{id}") },
        },
        (Some("indexes"), Some(_), Some("settings"), Some(_), None) => {
            const { known("/indexes/{uid}/settings/{setting}") }
        }
        (Some("indexes"), ..) => const { known("/indexes/{uid}/{other}") },
        (Some("tasks"), Some("cancel"), None, ..) => const { known("/tasks/cancel") },
        (Some("tasks"), Some(_), None, ..) => const { known("/tasks/{uid}") },
        (Some("batches"), Some(_), None, ..) => const { known("/batches/{uid}") },
        (Some("keys"), Some(_), None, ..) => const { known("/keys/{key}") },
        _ => template_index(path).unwrap_or(PATH_TEMPLATES.len() - 1),
    }
}

/// The index of a template `path_template` names: a typo fails the build.
const fn known(template: &str) -> usize {
    match template_index(template) {
        Some(i) => i,
        None => panic!("not in PATH_TEMPLATES"),
    }
}

/// The index of `template` in `PATH_TEMPLATES`.
const fn template_index(template: &str) -> Option<usize> {
    let wanted = template.as_bytes();
    let mut i = 0;
    'templates: while i < PATH_TEMPLATES.len() {
        let candidate = PATH_TEMPLATES[i].as_bytes();
        i += 1;
        if candidate.len() != wanted.len() {
            continue;
        }
        let mut k = 0;
        while k < wanted.len() {
            if candidate[k] != wanted[k] {
                continue 'templates;
            }
            k += 1;
        }
        return Some(i - 1);
    }
    None
}

fn method_index(m: Method) -> usize {
    METHODS
        .iter()
        .position(|&x| x == m)
        .unwrap_or(METHODS.len() - 1)
}

fn status_index(s: u16) -> usize {
    STATUSES
        .iter()
        .position(|&x| x == s)
        .unwrap_or(STATUSES.len())
}

/// What a node call was for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NodeOperation {
    Health,
    Forward,
    Write,
    Read,
    Admin,
    TaskPoll,
}

const NODE_OPERATIONS: [&str; 6] = ["health", "forward", "write", "read", "admin", "task_poll"];

/// Why a node call failed, as a label: the upstream error kinds plus HTTP 5xx.
pub const NODE_ERROR_TYPES: [&str; 6] = [
    "connect",
    "timeout",
    "io",
    "protocol",
    "unknown_node",
    "http_5xx",
];

pub struct ThreadMetrics {
    requests: Box<[OnceLock<Box<Histogram>>]>,
    in_flight: AtomicI64,
    node_requests: Box<[OnceLock<Box<Histogram>>]>,
    node_errors: Box<[AtomicU64]>,
    fan_out: Histogram,
    partial_responses: AtomicU64,
    retries: AtomicU64,
    degraded_shards: AtomicU64,
}

impl ThreadMetrics {
    fn new(node_count: usize) -> ThreadMetrics {
        let requests = METHODS.len() * PATH_TEMPLATES.len() * (STATUSES.len() + 1);
        ThreadMetrics {
            requests: (0..requests).map(|_| OnceLock::new()).collect(),
            in_flight: AtomicI64::new(0),
            node_requests: (0..node_count * NODE_OPERATIONS.len())
                .map(|_| OnceLock::new())
                .collect(),
            node_errors: (0..node_count * NODE_ERROR_TYPES.len())
                .map(|_| AtomicU64::new(0))
                .collect(),
            fan_out: Histogram::new(FAN_OUT_BOUNDS.len()),
            partial_responses: AtomicU64::new(0),
            retries: AtomicU64::new(0),
            degraded_shards: AtomicU64::new(0),
        }
    }

    fn request_slot(method: usize, template: usize, status: usize) -> usize {
        (method * PATH_TEMPLATES.len() + template) * (STATUSES.len() + 1) + status
    }

    pub fn request_started(&self) {
        self.in_flight.fetch_add(1, Relaxed);
    }

    pub fn request_finished(&self, method: Method, template: usize, status: u16, took: Duration) {
        self.in_flight.fetch_sub(1, Relaxed);
        let slot = Self::request_slot(method_index(method), template, status_index(status));
        if let Some(cell) = self.requests.get(slot) {
            cell.get_or_init(|| Box::new(Histogram::new(LATENCY_BOUNDS.len())))
                .observe(&LATENCY_BOUNDS, took.as_secs_f64());
        }
    }

    pub fn node_request(&self, node: usize, op: NodeOperation, took: Duration) {
        let slot = node * NODE_OPERATIONS.len() + op as usize;
        if let Some(cell) = self.node_requests.get(slot) {
            cell.get_or_init(|| Box::new(Histogram::new(LATENCY_BOUNDS.len())))
                .observe(&LATENCY_BOUNDS, took.as_secs_f64());
        }
    }

    pub fn node_error(&self, node: usize, error_type: &str) {
        let kind = NODE_ERROR_TYPES
            .iter()
            .position(|&t| t == error_type)
            .unwrap_or(0);
        if let Some(c) = self.node_errors.get(node * NODE_ERROR_TYPES.len() + kind) {
            c.fetch_add(1, Relaxed);
        }
    }

    /// A scatter over `nodes` nodes (read path).
    pub fn scatter(&self, nodes: usize, partial: bool, retries: u64, degraded_shards: u64) {
        self.fan_out.observe(&FAN_OUT_BOUNDS, nodes as f64);
        if partial {
            self.partial_responses.fetch_add(1, Relaxed);
        }
        self.retries.fetch_add(retries, Relaxed);
        self.degraded_shards.fetch_add(degraded_shards, Relaxed);
    }
}

/// All threads' metrics; fixed at start-up.
pub struct Registry {
    threads: Vec<Arc<ThreadMetrics>>,
}

impl Registry {
    /// One `ThreadMetrics` per thread that records (request cores + health).
    pub fn new(threads: usize, node_count: usize) -> Registry {
        Registry {
            threads: (0..threads)
                .map(|_| Arc::new(ThreadMetrics::new(node_count)))
                .collect(),
        }
    }

    pub fn thread(&self, i: usize) -> Arc<ThreadMetrics> {
        self.threads[i % self.threads.len()].clone()
    }

    /// Prometheus text exposition (format 0.0.4).
    pub fn render(&self, cluster: &Cluster) -> String {
        let mut out = String::with_capacity(16 * 1024);
        self.render_requests(&mut out);
        self.render_nodes(&mut out, cluster);
        self.render_scatter(&mut out, cluster);
        render_tasks(&mut out, cluster);
        render_store(&mut out, &cluster.store.stats());
        out
    }

    fn render_requests(&self, out: &mut String) {
        header(
            out,
            "miroir_request_duration_seconds",
            "histogram",
            "Client request latency.",
        );
        let mut counts = Vec::new();
        for (m, method) in METHODS.iter().enumerate() {
            for (t, template) in PATH_TEMPLATES.iter().enumerate() {
                for s in 0..=STATUSES.len() {
                    let slot = ThreadMetrics::request_slot(m, t, s);
                    let Some(totals) =
                        self.sum_histograms(LATENCY_BOUNDS.len(), |tm| tm.requests[slot].get())
                    else {
                        continue;
                    };
                    let status = STATUSES.get(s).map_or("other".to_string(), u16::to_string);
                    let labels = format!(
                        "method=\"{}\",path_template=\"{}\",status=\"{status}\"",
                        method.as_str(),
                        template
                    );
                    write_histogram(
                        out,
                        "miroir_request_duration_seconds",
                        &labels,
                        &LATENCY_BOUNDS,
                        &totals,
                    );
                    counts.push((labels, totals.count));
                }
            }
        }
        header(
            out,
            "miroir_requests_total",
            "counter",
            "Client requests answered.",
        );
        for (labels, count) in counts {
            let _ = writeln!(out, "miroir_requests_total{{{labels}}} {count}");
        }
        header(
            out,
            "miroir_requests_in_flight",
            "gauge",
            "Client requests being served.",
        );
        let in_flight: i64 = self.threads.iter().map(|t| t.in_flight.load(Relaxed)).sum();
        let _ = writeln!(out, "miroir_requests_in_flight {in_flight}");
    }

    fn render_nodes(&self, out: &mut String, cluster: &Cluster) {
        let health = cluster.health.load();
        let ids: Vec<&str> = cluster.config.nodes.iter().map(|n| n.id.as_str()).collect();
        header(
            out,
            "miroir_node_healthy",
            "gauge",
            "1 when the node passes health checks.",
        );
        for (i, id) in ids.iter().enumerate() {
            let healthy = health.get(i).is_some_and(|h| h.healthy);
            let _ = writeln!(
                out,
                "miroir_node_healthy{{node_id=\"{id}\"}} {}",
                u8::from(healthy)
            );
        }
        header(
            out,
            "miroir_node_request_duration_seconds",
            "histogram",
            "Latency of requests Miroir sends to nodes.",
        );
        for (n, id) in ids.iter().enumerate() {
            for (o, op) in NODE_OPERATIONS.iter().enumerate() {
                let slot = n * NODE_OPERATIONS.len() + o;
                if let Some(totals) = self.sum_histograms(LATENCY_BOUNDS.len(), |tm| {
                    tm.node_requests.get(slot).and_then(OnceLock::get)
                }) {
                    let labels = format!("node_id=\"{id}\",operation=\"{op}\"");
                    write_histogram(
                        out,
                        "miroir_node_request_duration_seconds",
                        &labels,
                        &LATENCY_BOUNDS,
                        &totals,
                    );
                }
            }
        }
        header(
            out,
            "miroir_node_errors_total",
            "counter",
            "Failed requests to nodes, by error type.",
        );
        for (n, id) in ids.iter().enumerate() {
            for (k, kind) in NODE_ERROR_TYPES.iter().enumerate() {
                let slot = n * NODE_ERROR_TYPES.len() + k;
                let total: u64 = self
                    .threads
                    .iter()
                    .map(|t| t.node_errors[slot].load(Relaxed))
                    .sum();
                let _ = writeln!(
                    out,
                    "miroir_node_errors_total{{node_id=\"{id}\",error_type=\"{kind}\"}} {total}"
                );
            }
        }
    }

    fn render_scatter(&self, out: &mut String, cluster: &Cluster) {
        let routing = cluster.routing.load();
        let shards = routing.topology().shards.max(1);
        let covered = shards as usize - routing.uncovered_shards().len();
        header(
            out,
            "miroir_shard_coverage",
            "gauge",
            "Fraction of shards with a healthy replica in an active group.",
        );
        let _ = writeln!(
            out,
            "miroir_shard_coverage {}",
            covered as f64 / shards as f64
        );
        header(
            out,
            "miroir_degraded_shards_total",
            "counter",
            "Shards missing from partial (degraded) read answers.",
        );
        let degraded: u64 = self
            .threads
            .iter()
            .map(|t| t.degraded_shards.load(Relaxed))
            .sum();
        let _ = writeln!(out, "miroir_degraded_shards_total {degraded}");
        header(
            out,
            "miroir_scatter_fan_out_size",
            "histogram",
            "Nodes queried per scatter-gather read.",
        );
        let mut fan_out = HistogramTotals::new(FAN_OUT_BOUNDS.len());
        for t in &self.threads {
            t.fan_out.add_into(&mut fan_out);
        }
        write_histogram(
            out,
            "miroir_scatter_fan_out_size",
            "",
            &FAN_OUT_BOUNDS,
            &fan_out,
        );
        header(
            out,
            "miroir_scatter_partial_responses_total",
            "counter",
            "Read answers missing at least one shard.",
        );
        let partial: u64 = self
            .threads
            .iter()
            .map(|t| t.partial_responses.load(Relaxed))
            .sum();
        let _ = writeln!(out, "miroir_scatter_partial_responses_total {partial}");
        header(
            out,
            "miroir_scatter_retries_total",
            "counter",
            "Shard requests retried on another replica.",
        );
        let retries: u64 = self.threads.iter().map(|t| t.retries.load(Relaxed)).sum();
        let _ = writeln!(out, "miroir_scatter_retries_total {retries}");
    }

    fn sum_histograms<'a>(
        &'a self,
        bounds: usize,
        pick: impl Fn(&'a ThreadMetrics) -> Option<&'a Box<Histogram>>,
    ) -> Option<HistogramTotals> {
        let mut totals: Option<HistogramTotals> = None;
        for t in &self.threads {
            if let Some(h) = pick(t) {
                h.add_into(totals.get_or_insert_with(|| HistogramTotals::new(bounds)));
            }
        }
        totals
    }
}

fn render_tasks(out: &mut String, cluster: &Cluster) {
    header(
        out,
        "miroir_tasks_total",
        "counter",
        "Miroir tasks that entered each status since start.",
    );
    for (status, count) in cluster.tasks.entered_by_status() {
        let _ = writeln!(
            out,
            "miroir_tasks_total{{status=\"{}\"}} {count}",
            status.as_str()
        );
    }
    header(
        out,
        "miroir_task_registry_size",
        "gauge",
        "Miroir tasks held in the registry.",
    );
    let _ = writeln!(out, "miroir_task_registry_size {}", cluster.tasks.len());
}

fn render_store(out: &mut String, stats: &miroir_store::StoreStats) {
    let store_histogram =
        |out: &mut String, name: &str, help: &str, h: &miroir_store::Histogram, scale: f64| {
            header(out, name, "histogram", help);
            for (bound, cumulative) in h.cumulative() {
                let le = bound.map_or("+Inf".to_string(), |b| (b as f64 / scale).to_string());
                let _ = writeln!(out, "{name}_bucket{{le=\"{le}\"}} {cumulative}");
            }
            let _ = writeln!(out, "{name}_sum {}", h.sum as f64 / scale);
            let _ = writeln!(out, "{name}_count {}", h.count);
        };
    store_histogram(
        out,
        "miroir_store_commit_duration_seconds",
        "Store commit latency (group commit, fsync included).",
        &stats.commit_latency_us,
        1e6,
    );
    store_histogram(
        out,
        "miroir_store_commit_batch_size",
        "Records written per store commit.",
        &stats.records_per_commit,
        1.0,
    );
    header(
        out,
        "miroir_store_commit_errors_total",
        "counter",
        "Store commits that failed.",
    );
    let _ = writeln!(
        out,
        "miroir_store_commit_errors_total {}",
        stats.commit_errors
    );
}

fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

fn write_histogram(
    out: &mut String,
    name: &str,
    labels: &str,
    bounds: &[f64],
    totals: &HistogramTotals,
) {
    let sep = if labels.is_empty() { "" } else { "," };
    let mut cumulative = 0;
    for (i, bound) in bounds.iter().enumerate() {
        cumulative += totals.buckets[i];
        let _ = writeln!(
            out,
            "{name}_bucket{{{labels}{sep}le=\"{bound}\"}} {cumulative}"
        );
    }
    cumulative += totals.buckets[bounds.len()];
    let _ = writeln!(
        out,
        "{name}_bucket{{{labels}{sep}le=\"+Inf\"}} {cumulative}"
    );
    let braces = if labels.is_empty() {
        String::new()
    } else {
        format!("{{{labels}}}")
    };
    let _ = writeln!(out, "{name}_sum{braces} {}", totals.sum_micros as f64 / 1e6);
    let _ = writeln!(out, "{name}_count{braces} {}", totals.count);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_never_contain_ids() {
        let cases = [
            ("/health", "/health"),
            ("/indexes", "/indexes"),
            ("/indexes/", "/indexes"),
            ("/indexes/movies", "/indexes/{uid}"),
            ("/indexes/movies/search", "/indexes/{uid}/search"),
            ("/indexes/movies/documents", "/indexes/{uid}/documents"),
            (
                "/indexes/movies/documents/42",
                "/indexes/{uid}/documents/{id}",
            ),
            (
                "/indexes/movies/documents/fetch",
                "/indexes/{uid}/documents/fetch",
            ),
            (
                "/indexes/movies/documents/delete-batch",
                "/indexes/{uid}/documents/delete-batch",
            ),
            (
                "/indexes/movies/settings/ranking-rules",
                "/indexes/{uid}/settings/{setting}",
            ),
            (
                "/indexes/movies/weird/deep/path/x",
                "/indexes/{uid}/{other}",
            ),
            ("/tasks/12", "/tasks/{uid}"),
            ("/tasks/cancel", "/tasks/cancel"),
            ("/keys/abc-def", "/keys/{key}"),
            ("/_miroir/topology", "/_miroir/topology"),
            ("/secret-doc-id-123", "unmatched"),
        ];
        for (path, template) in cases {
            assert_eq!(PATH_TEMPLATES[path_template(path)], template, "{path}");
        }
    }

    #[test]
    fn histograms_are_cumulative_and_summed_across_threads() {
        let registry = Registry::new(2, 1);
        let t = path_template("/health");
        registry.thread(0).request_started();
        registry
            .thread(0)
            .request_finished(Method::Get, t, 200, Duration::from_micros(300));
        registry.thread(1).request_started();
        registry
            .thread(1)
            .request_finished(Method::Get, t, 200, Duration::from_millis(7));
        let mut out = String::new();
        registry.render_requests(&mut out);
        let labels = "method=\"GET\",path_template=\"/health\",status=\"200\"";
        assert!(
            out.contains(&format!(
                "miroir_request_duration_seconds_bucket{{{labels},le=\"0.0005\"}} 1\n"
            )),
            "{out}"
        );
        assert!(
            out.contains(&format!(
                "miroir_request_duration_seconds_bucket{{{labels},le=\"0.01\"}} 2\n"
            )),
            "{out}"
        );
        assert!(
            out.contains(&format!(
                "miroir_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} 2\n"
            )),
            "{out}"
        );
        assert!(
            out.contains(&format!(
                "miroir_request_duration_seconds_count{{{labels}}} 2\n"
            )),
            "{out}"
        );
        assert!(
            out.contains(&format!("miroir_requests_total{{{labels}}} 2\n")),
            "{out}"
        );
        assert!(out.contains("miroir_requests_in_flight 0\n"), "{out}");
    }
}
