//! The data of one test-double node (behind `Inner::state`'s mutex): indexes, the task queue,
//! API keys and request counters.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::{Duration, Instant};

use crate::index::Index;
use crate::keys::ApiKey;
use crate::params::{ApiError, ApiResult};
use crate::tasks::Task;
use crate::util::Timestamp;

pub(crate) struct State {
    /// (method, path without query) → number of requests received.
    pub(crate) seen: HashMap<(String, String), usize>,
    /// (method, path without query) → the body of the last such request.
    pub(crate) last_bodies: HashMap<(String, String), Vec<u8>>,
    /// By uid (so `GET /indexes` lists them sorted, like Meilisearch).
    pub(crate) indexes: BTreeMap<String, Index>,
    pub(crate) tasks: BTreeMap<u32, Task>,
    /// Uids of enqueued tasks, in order.
    pub(crate) queue: BTreeSet<u32>,
    /// Uids of enqueued task cancelation / deletion tasks (processed first).
    pub(crate) special_queue: BTreeSet<u32>,
    pub(crate) next_task_uid: u32,
    pub(crate) next_batch_uid: u32,
    /// How long a task stays `processing` before it is applied.
    pub(crate) task_delay: Duration,
    /// The task being processed and when it is due.
    pub(crate) processing: Option<(u32, Instant)>,
    pub(crate) keys: Vec<ApiKey>,
    pub(crate) last_update: Option<Timestamp>,
}

impl State {
    pub(crate) fn new(master_key: Option<&str>) -> State {
        State {
            seen: HashMap::new(),
            last_bodies: HashMap::new(),
            indexes: BTreeMap::new(),
            tasks: BTreeMap::new(),
            queue: BTreeSet::new(),
            special_queue: BTreeSet::new(),
            next_task_uid: 0,
            next_batch_uid: 0,
            task_delay: Duration::ZERO,
            processing: None,
            keys: master_key.map(ApiKey::defaults).unwrap_or_default(),
            last_update: None,
        }
    }

    /// The index, or 404 `index_not_found`.
    pub(crate) fn index(&self, uid: &str) -> ApiResult<&Index> {
        self.indexes
            .get(uid)
            .ok_or_else(|| ApiError::index_not_found(uid))
    }

    pub(crate) fn index_mut(&mut self, uid: &str) -> ApiResult<&mut Index> {
        self.indexes
            .get_mut(uid)
            .ok_or_else(|| ApiError::index_not_found(uid))
    }

    /// The index, created (without primary key) if missing.
    pub(crate) fn index_or_create(&mut self, uid: &str) -> &mut Index {
        self.indexes
            .entry(uid.to_owned())
            .or_insert_with(|| Index::new(uid, None))
    }

    /// Whether the index has enqueued or processing tasks.
    pub(crate) fn is_indexing(&self, uid: &str) -> bool {
        self.queue
            .iter()
            .chain(self.processing.as_ref().map(|(u, _)| u))
            .filter_map(|u| self.tasks.get(u))
            .any(|t| t.index_uid.as_deref() == Some(uid))
    }
}
