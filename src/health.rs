//! Health checker: a background thread with its own runtime polls every
//! node's `/health`; state changes publish a new routing snapshot.

use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use miroir_io::{ClientConfig, IoDriver, Method, UpstreamPool, UpstreamRequest};

use crate::cluster::{Cluster, NodeHealth};
use crate::metrics::{NodeOperation, ThreadMetrics};

/// Consecutive results that drive a node's healthy flag.
#[derive(Clone, Debug, Default)]
struct Tracker {
    /// Ever seen healthy: until then one success is enough (start-up).
    seen: bool,
    healthy: bool,
    failures: u32,
    successes: u32,
    last_seen_ms: Option<u64>,
    error: Option<String>,
}

impl Tracker {
    /// Records one check; returns true when the healthy flag flipped.
    fn record(
        &mut self,
        result: Result<(), String>,
        unhealthy_threshold: u32,
        recovery_threshold: u32,
    ) -> bool {
        let before = self.healthy;
        match result {
            Ok(()) => {
                self.failures = 0;
                self.successes = self.successes.saturating_add(1);
                self.last_seen_ms = Some(now_ms());
                if !self.seen || self.successes >= recovery_threshold {
                    self.healthy = true;
                    self.seen = true;
                }
                if self.healthy {
                    self.error = None;
                }
            }
            Err(error) => {
                self.successes = 0;
                self.failures = self.failures.saturating_add(1);
                if self.failures >= unhealthy_threshold {
                    self.healthy = false;
                }
                self.error = Some(error);
            }
        }
        before != self.healthy
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Starts the checker thread; it runs for the life of the process.
pub fn spawn(
    cluster: Arc<Cluster>,
    metrics: Arc<ThreadMetrics>,
    driver: IoDriver,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    miroir_io::runtime::spawn_background("miroir-health", driver, move || run(cluster, metrics))
}

async fn run(cluster: Arc<Cluster>, metrics: Arc<ThreadMetrics>) {
    let cfg = &cluster.config;
    let interval = Duration::from_millis(cfg.health.interval_ms);
    let timeout = Duration::from_millis(cfg.health.timeout_ms);
    let pool = Rc::new(UpstreamPool::new(
        &cluster.node_addrs,
        ClientConfig {
            connect_timeout: timeout,
            max_idle_per_node: 1,
            max_response_bytes: 64 * 1024,
        },
    ));
    let mut trackers = vec![Tracker::default(); cluster.node_addrs.len()];
    loop {
        let round_start = monoio::time::Instant::now();
        let checks: Vec<_> = (0..trackers.len())
            .map(|node| monoio::spawn(check(pool.clone(), metrics.clone(), node, timeout)))
            .collect();
        let mut flipped = false;
        for (node, handle) in checks.into_iter().enumerate() {
            let result = handle.await;
            let tracker = &mut trackers[node];
            if tracker.record(
                result,
                cfg.health.unhealthy_threshold,
                cfg.health.recovery_threshold,
            ) {
                flipped = true;
                let id = &cfg.nodes[node].id;
                if tracker.healthy {
                    tracing::info!(node = %id, "node is healthy");
                } else {
                    tracing::warn!(
                        node = %id,
                        failures = tracker.failures,
                        error = tracker.error.as_deref().unwrap_or(""),
                        "node marked failed"
                    );
                }
            }
        }
        publish(&cluster, &trackers, flipped);
        monoio::time::sleep_until(round_start + interval).await;
    }
}

fn publish(cluster: &Cluster, trackers: &[Tracker], flipped: bool) {
    cluster.health.store(Arc::new(
        trackers
            .iter()
            .map(|t| NodeHealth {
                healthy: t.healthy,
                last_seen_ms: t.last_seen_ms,
                error: if t.healthy { None } else { t.error.clone() },
            })
            .collect(),
    ));
    if flipped {
        let healthy = trackers.iter().map(|t| t.healthy).collect();
        let next = cluster.routing.load().with_health(healthy);
        cluster.routing.store(Arc::new(next));
        let uncovered = cluster.routing.load().uncovered_shards().len();
        if uncovered > 0 {
            tracing::warn!(
                uncovered_shards = uncovered,
                "some shards have no healthy replica"
            );
        }
    }
}

async fn check(
    pool: Rc<UpstreamPool>,
    metrics: Arc<ThreadMetrics>,
    node: usize,
    timeout: Duration,
) -> Result<(), String> {
    let req = UpstreamRequest {
        method: Method::Get,
        target: "/health",
        headers: &[],
        body: &[],
    };
    let started = std::time::Instant::now();
    let result = pool.send(node, &req, timeout).await;
    metrics.node_request(node, NodeOperation::Health, started.elapsed());
    match result {
        Ok(resp) if resp.status == 200 => Ok(()),
        Ok(resp) => {
            if resp.status >= 500 {
                metrics.node_error(node, "http_5xx");
            }
            Err(format!("GET /health answered HTTP {}", resp.status))
        }
        Err(err) => {
            metrics.node_error(node, err.kind());
            Err(format!("GET /health failed: {err}"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds_drive_the_flag() {
        let mut t = Tracker::default();
        assert!(
            t.record(Ok(()), 3, 2),
            "first success makes a new node healthy"
        );
        assert!(!t.record(Err("x".into()), 3, 2));
        assert!(!t.record(Err("x".into()), 3, 2));
        assert!(
            t.record(Err("x".into()), 3, 2),
            "third failure marks it failed"
        );
        assert!(!t.healthy);
        assert!(!t.record(Ok(()), 3, 2), "one success is not recovery");
        assert!(t.record(Ok(()), 3, 2), "second success recovers");
        assert!(t.healthy && t.error.is_none());
    }

    #[test]
    fn a_success_resets_the_failure_count() {
        let mut t = Tracker::default();
        t.record(Ok(()), 2, 1);
        t.record(Err("x".into()), 2, 1);
        t.record(Ok(()), 2, 1);
        assert!(!t.record(Err("x".into()), 2, 1));
        assert!(t.healthy);
    }
}
