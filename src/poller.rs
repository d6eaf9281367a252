//! Task-status poller: a background thread that asks nodes, in batches,
//! about the node tasks of unfinished Miroir tasks, so request cores never
//! poll. Polls fast while tasks change and backs off while they do not.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use miroir_io::{ClientConfig, IoDriver, Method, UpstreamPool, UpstreamRequest};
use serde_json::Value;

use crate::cluster::Cluster;
use crate::metrics::{NodeOperation, ThreadMetrics};
use crate::nodes::{join_in_order, miroir_error_value};
use crate::tasks::{now_ns, Status};

const FASTEST: Duration = Duration::from_millis(20);
const SLOWEST: Duration = Duration::from_millis(1000);
/// Node task uids asked for per request.
const UIDS_PER_REQUEST: usize = 200;

/// Starts the poller thread; it runs for the life of the process.
pub fn spawn(
    cluster: Arc<Cluster>,
    metrics: Arc<ThreadMetrics>,
    driver: IoDriver,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    miroir_io::runtime::spawn_background("miroir-tasks", driver, move || run(cluster, metrics))
}

/// What one node said about one of its tasks.
struct NodeTaskState {
    status: Status,
    error: Option<Value>,
    details: Option<Value>,
}

async fn run(cluster: Arc<Cluster>, metrics: Arc<ThreadMetrics>) {
    let pool = UpstreamPool::new(
        &cluster.node_addrs,
        ClientConfig {
            connect_timeout: Duration::from_millis(cluster.config.upstream.connect_timeout_ms),
            max_idle_per_node: 2,
            max_response_bytes: 64 << 20,
        },
    );
    let authorization = (!cluster.config.auth.node_master_key.is_empty())
        .then(|| format!("Bearer {}", cluster.config.auth.node_master_key).into_bytes());
    let node_index: BTreeMap<&str, usize> = cluster
        .config
        .nodes
        .iter()
        .enumerate()
        .map(|(i, n)| (n.id.as_str(), i))
        .collect();
    let lost_after = Duration::from_millis(cluster.config.tasks.node_task_lost_after_ms);
    // (node, node task uid) → when its node last reported on it (or when we started asking).
    let mut last_heard: HashMap<(usize, u64), Instant> = HashMap::new();
    let mut pause = FASTEST;
    loop {
        monoio::time::sleep(pause).await;
        let unfinished = cluster.tasks.unfinished();
        let restores = cluster.tasks.settings_restores();
        if unfinished.is_empty() && restores.is_empty() {
            pause = FASTEST.max(pause);
            continue;
        }
        // node index → node task uids still open
        let mut wanted: BTreeMap<usize, Vec<u64>> = BTreeMap::new();
        for &(node, uid) in &restores {
            wanted.entry(node).or_default().push(uid);
        }
        for task in &unfinished {
            for nt in task.nodes.iter().filter(|nt| !nt.status.is_terminal()) {
                if let (Some(&node), Some(uid)) = (node_index.get(nt.node.as_str()), nt.task_uid) {
                    wanted.entry(node).or_default().push(uid);
                }
            }
        }
        let requests: Vec<(usize, String)> = wanted
            .iter()
            .flat_map(|(&node, uids)| {
                uids.chunks(UIDS_PER_REQUEST).map(move |chunk| {
                    let uids = chunk
                        .iter()
                        .map(u64::to_string)
                        .collect::<Vec<_>>()
                        .join(",");
                    (node, format!("/tasks?uids={uids}&limit={}", chunk.len()))
                })
            })
            .collect();
        let (pool, metrics, auth) = (&pool, &*metrics, authorization.as_deref());
        let answers = join_in_order(&requests, |(node, target)| async move {
            (*node, poll_node(pool, metrics, *node, target, auth).await)
        })
        .await;
        let mut states: BTreeMap<(usize, u64), NodeTaskState> = BTreeMap::new();
        for (node, answer) in answers {
            for (uid, state) in answer {
                states.insert((node, uid), state);
            }
        }
        declare_lost(&cluster, &wanted, &mut states, &mut last_heard, lost_after);
        let restored: Vec<(usize, u64)> = restores
            .into_iter()
            .filter(|t| states.get(t).is_some_and(|s| s.status.is_terminal()))
            .collect();
        let mut changed = !restored.is_empty();
        cluster.tasks.settings_restores_ended(&restored);
        let now = now_ns();
        for task in unfinished {
            let updated = cluster.tasks.update(task.uid, |t| {
                let mut nodes_changed = false;
                for nt in t.nodes.iter_mut() {
                    let Some(&node) = node_index.get(nt.node.as_str()) else {
                        continue;
                    };
                    let Some(uid) = nt.task_uid else { continue };
                    if let Some(state) = states.remove(&(node, uid)) {
                        nodes_changed |= nt.status != state.status;
                        nt.status = state.status;
                        nt.error = state.error;
                        nt.details = state.details;
                    }
                }
                t.aggregate(now) | nodes_changed
            });
            if let Some((true, task)) = updated {
                changed = true;
                cluster.persist_task_later(&task);
            }
        }
        pause = if changed {
            FASTEST
        } else {
            (pause * 2).min(SLOWEST)
        };
    }
}

/// Node tasks nobody has heard of for `lost_after` — their node unreachable all that time, or
/// answering without them — become failed (`miroir_node_task_lost`), so their Miroir task can
/// finish. Any report (even "still processing") restarts the clock.
fn declare_lost(
    cluster: &Cluster,
    wanted: &BTreeMap<usize, Vec<u64>>,
    states: &mut BTreeMap<(usize, u64), NodeTaskState>,
    last_heard: &mut HashMap<(usize, u64), Instant>,
    lost_after: Duration,
) {
    let now = Instant::now();
    let mut still_wanted: HashMap<(usize, u64), Instant> = HashMap::with_capacity(last_heard.len());
    for (&node, uids) in wanted {
        for &uid in uids {
            let key = (node, uid);
            let heard = if states.contains_key(&key) {
                now
            } else {
                last_heard.get(&key).copied().unwrap_or(now)
            };
            still_wanted.insert(key, heard);
            if now.duration_since(heard) < lost_after {
                continue;
            }
            let node_id = cluster
                .config
                .nodes
                .get(node)
                .map_or("?", |n| n.id.as_str());
            let message = format!(
                "Node `{node_id}` has not reported on its task {uid} for {:.1} s (unreachable, or the task is unknown to it); it is counted as failed.",
                lost_after.as_secs_f64()
            );
            tracing::warn!(node = node_id, node_task = uid, "node task lost");
            states.insert(
                key,
                NodeTaskState {
                    status: Status::Failed,
                    error: Some(miroir_error_value("miroir_node_task_lost", &message)),
                    details: None,
                },
            );
        }
    }
    *last_heard = still_wanted;
}

/// One `GET /tasks?uids=..` to one node; an empty answer on any failure
/// (the next round asks again).
async fn poll_node(
    pool: &UpstreamPool,
    metrics: &ThreadMetrics,
    node: usize,
    target: &str,
    authorization: Option<&[u8]>,
) -> Vec<(u64, NodeTaskState)> {
    let headers: Vec<(&str, &[u8])> = authorization
        .map(|a| ("authorization", a))
        .into_iter()
        .collect();
    let request = UpstreamRequest {
        method: Method::Get,
        target,
        headers: &headers,
        body: &[],
    };
    let started = Instant::now();
    let result = pool.send(node, &request, Duration::from_secs(10)).await;
    metrics.node_request(node, NodeOperation::TaskPoll, started.elapsed());
    let resp = match result {
        Ok(resp) if resp.status == 200 => resp,
        Ok(resp) => {
            if resp.status >= 500 {
                metrics.node_error(node, "http_5xx");
            }
            return Vec::new();
        }
        Err(err) => {
            metrics.node_error(node, err.kind());
            return Vec::new();
        }
    };
    let Ok(body) = serde_json::from_slice::<Value>(&resp.body) else {
        return Vec::new();
    };
    body["results"]
        .as_array()
        .map(|results| {
            results
                .iter()
                .filter_map(|t| {
                    let uid = t["uid"].as_u64()?;
                    let status = Status::parse(t["status"].as_str()?)?;
                    Some((
                        uid,
                        NodeTaskState {
                            status,
                            error: t.get("error").filter(|e| !e.is_null()).map(client_error),
                            details: t.get("details").cloned(),
                        },
                    ))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// A node task's error as the client sees it: its message without Miroir's reserved attributes
/// (`_miroir_shard` is filterable on the nodes, so a failed delete-by-filter lists it).
fn client_error(error: &Value) -> Value {
    let mut error = error.clone();
    if let Some(Value::String(message)) = error.get_mut("message") {
        if let std::borrow::Cow::Owned(hidden) = miroir_merge::hide_reserved_attributes(message) {
            *message = hidden;
        }
    }
    error
}
