//! Cluster state shared by every core: the routing snapshot and the latest
//! health observations, each behind an `ArcSwap` so readers never lock.

use std::net::SocketAddr;
use std::sync::Arc;

use arc_swap::ArcSwap;
use miroir_router::{GroupSpec, GroupState, NodeSpec, NodeState, RoutingSnapshot, Topology};
use miroir_store::{Store, StoreError, Table, WriteBatch};

use crate::config::Config;
use crate::indexes::{IndexMeta, IndexRegistry};
use crate::tasks::{Task, TaskRegistry};

/// What the health checker last saw of one node.
#[derive(Clone, Debug, Default)]
pub struct NodeHealth {
    pub healthy: bool,
    /// Unix time (ms) of the last successful check.
    pub last_seen_ms: Option<u64>,
    /// Why the last check failed, while the node is not healthy.
    pub error: Option<String>,
}

pub struct Cluster {
    pub config: Config,
    /// Node addresses, by node index (the order of `[[nodes]]`).
    pub node_addrs: Vec<SocketAddr>,
    pub routing: ArcSwap<RoutingSnapshot>,
    pub health: ArcSwap<Vec<NodeHealth>>,
    pub store: Arc<dyn Store>,
    pub tasks: TaskRegistry,
    pub indexes: IndexRegistry,
}

impl Cluster {
    /// Every node starts unhealthy until its first successful check. Tasks
    /// and indexes are loaded from the store.
    pub fn new(
        config: Config,
        node_addrs: Vec<SocketAddr>,
        store: Arc<dyn Store>,
    ) -> Result<Cluster, String> {
        let group_count = config.nodes.iter().map(|n| n.group + 1).max().unwrap_or(0);
        let topology = Topology {
            shards: config.cluster.shards,
            replication_factor: config.cluster.replication_factor,
            nodes: config
                .nodes
                .iter()
                .map(|n| NodeSpec {
                    id: n.id.clone(),
                    group: n.group,
                    state: NodeState::Active,
                })
                .collect(),
            groups: (0..group_count)
                .map(|id| GroupSpec {
                    id,
                    state: GroupState::Active,
                })
                .collect(),
        };
        let node_count = topology.nodes.len();
        let routing =
            RoutingSnapshot::build(topology, vec![false; node_count]).map_err(|e| e.to_string())?;
        let health = (0..node_count)
            .map(|_| NodeHealth {
                error: Some("not checked yet".into()),
                ..NodeHealth::default()
            })
            .collect();
        let tasks = load_records::<Task>(store.as_ref(), Table::Tasks)?;
        let indexes = load_records::<IndexMeta>(store.as_ref(), Table::Indexes)?;
        Ok(Cluster {
            config,
            node_addrs,
            routing: ArcSwap::from_pointee(routing),
            health: ArcSwap::from_pointee(health),
            store,
            tasks: TaskRegistry::new(tasks),
            indexes: IndexRegistry::new(indexes),
        })
    }

    /// Durably records a task; resolves once it is committed.
    pub async fn persist_task(&self, task: &Task) -> Result<(), StoreError> {
        self.store.submit(task_batch(task)).await.map(|_| ())
    }

    /// Records a task without waiting (status updates the poller can redo).
    pub fn persist_task_later(&self, task: &Task) {
        // The commit completes on the store thread; nobody needs to wait.
        drop(self.store.submit(task_batch(task)));
    }

    /// Removes tasks from the store, then from the registry.
    pub async fn delete_tasks(&self, uids: &[u64]) -> Result<(), StoreError> {
        let mut batch = WriteBatch::new();
        for uid in uids {
            batch.delete(Table::Tasks, uid.to_be_bytes());
        }
        self.store.submit(batch).await?;
        self.tasks.remove(uids);
        Ok(())
    }

    pub async fn persist_index(&self, meta: &IndexMeta) -> Result<(), StoreError> {
        let mut batch = WriteBatch::new();
        batch.put(
            Table::Indexes,
            meta.uid.as_bytes(),
            serde_json::to_vec(meta).unwrap_or_default(),
        );
        self.store.submit(batch).await.map(|_| ())
    }

    pub async fn forget_index(&self, uid: &str) -> Result<(), StoreError> {
        let mut batch = WriteBatch::new();
        batch.delete(Table::Indexes, uid.as_bytes());
        self.store.submit(batch).await.map(|_| ())
    }

    pub fn shared(self) -> Arc<Cluster> {
        Arc::new(self)
    }
}

fn task_batch(task: &Task) -> WriteBatch {
    let mut batch = WriteBatch::new();
    batch.put(
        Table::Tasks,
        task.uid.to_be_bytes(),
        serde_json::to_vec(task).unwrap_or_default(),
    );
    batch
}

fn load_records<T: serde::de::DeserializeOwned>(
    store: &dyn Store,
    table: Table,
) -> Result<Vec<T>, String> {
    let rows = store
        .load(table)
        .map_err(|e| format!("cannot load {table} from the store: {e}"))?;
    rows.into_iter()
        .map(|(key, value)| {
            serde_json::from_slice(&value).map_err(|e| {
                format!("the store holds an unreadable {table} record (key {key:?}): {e}")
            })
        })
        .collect()
}
