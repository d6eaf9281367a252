//! One task namespace: every Miroir task maps to the node tasks it fanned out
//! to, with an aggregated status and logical details.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Enqueued,
    Processing,
    Succeeded,
    Failed,
    Canceled,
}

impl Status {
    pub const ALL: [Status; 5] = [
        Status::Enqueued,
        Status::Processing,
        Status::Succeeded,
        Status::Failed,
        Status::Canceled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Enqueued => "enqueued",
            Status::Processing => "processing",
            Status::Succeeded => "succeeded",
            Status::Failed => "failed",
            Status::Canceled => "canceled",
        }
    }

    pub fn parse(s: &str) -> Option<Status> {
        Status::ALL.into_iter().find(|st| st.as_str() == s)
    }

    pub fn is_terminal(self) -> bool {
        matches!(self, Status::Succeeded | Status::Failed | Status::Canceled)
    }
}

/// One node's share of a task.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NodeTask {
    pub node: String,
    /// The node's task uid; None when the node refused the request.
    pub task_uid: Option<u64>,
    pub status: Status,
    pub error: Option<Value>,
    /// The node task's `details` once known (for logical aggregation).
    #[serde(default)]
    pub details: Option<Value>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Task {
    pub uid: u64,
    pub index_uid: Option<String>,
    pub kind: String,
    pub status: Status,
    pub details: Value,
    pub error: Option<Value>,
    pub canceled_by: Option<u64>,
    /// The cancelation task that asked for this one to stop; becomes
    /// `canceled_by` if it ends canceled.
    #[serde(default)]
    pub cancel_requested_by: Option<u64>,
    /// Unix time in nanoseconds.
    pub enqueued_at: i128,
    pub started_at: Option<i128>,
    pub finished_at: Option<i128>,
    pub nodes: Vec<NodeTask>,
}

pub fn now_ns() -> i128 {
    time::OffsetDateTime::now_utc().unix_timestamp_nanos()
}

/// RFC 3339 UTC with up to 9 fractional digits, trailing zeros dropped, the
/// way Meilisearch writes task dates.
pub fn format_time(ns: i128) -> String {
    let Ok(t) = time::OffsetDateTime::from_unix_timestamp_nanos(ns) else {
        return String::new();
    };
    let date = t.date();
    let nanos = t.nanosecond();
    let mut out = format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        date.year(),
        date.month() as u8,
        date.day(),
        t.hour(),
        t.minute(),
        t.second()
    );
    if nanos > 0 {
        let frac = format!("{nanos:09}");
        out.push('.');
        out.push_str(frac.trim_end_matches('0'));
    }
    out.push('Z');
    out
}

/// ISO 8601 duration like Meilisearch's `PT0.471575502S`.
pub fn format_duration(ns: i128) -> String {
    let ns = ns.max(0);
    let secs = ns / 1_000_000_000;
    let frac = ns % 1_000_000_000;
    if frac == 0 {
        format!("PT{secs}S")
    } else {
        let frac = format!("{frac:09}");
        format!("PT{secs}.{}S", frac.trim_end_matches('0'))
    }
}

impl Task {
    /// The 202 body: `{taskUid, indexUid, status, type, enqueuedAt}`.
    pub fn summary(&self) -> Value {
        json!({
            "taskUid": self.uid,
            "indexUid": self.index_uid,
            "status": self.status.as_str(),
            "type": self.kind,
            "enqueuedAt": format_time(self.enqueued_at),
        })
    }

    /// The full task object as Meilisearch shapes it, plus a `miroir` key with
    /// the per-node breakdown.
    pub fn to_json(&self) -> Value {
        let duration = match (self.started_at, self.finished_at) {
            (Some(s), Some(f)) => Value::from(format_duration(f - s)),
            _ => Value::Null,
        };
        let mut details = self.details.clone();
        if let Some(obj) = details.as_object_mut() {
            obj.retain(|k, _| !k.starts_with("miroir"));
        }
        json!({
            "uid": self.uid,
            "batchUid": self.started_at.map(|_| self.uid),
            "indexUid": self.index_uid,
            "status": self.status.as_str(),
            "type": self.kind,
            "canceledBy": self.canceled_by,
            "details": details,
            "error": self.error,
            "duration": duration,
            "enqueuedAt": format_time(self.enqueued_at),
            "startedAt": self.started_at.map(format_time),
            "finishedAt": self.finished_at.map(format_time),
            "miroir": {
                "nodes": self.nodes.iter().map(|n| json!({
                    "node": n.node,
                    "taskUid": n.task_uid,
                    "status": n.status.as_str(),
                    "error": n.error,
                })).collect::<Vec<_>>(),
            },
        })
    }

    /// Recomputes status, error, timestamps and logical details from the node
    /// tasks. Returns true when anything a client can see changed.
    pub fn aggregate(&mut self, now: i128) -> bool {
        if self.status.is_terminal() {
            return false;
        }
        let before = (self.status, self.error.clone(), self.details.clone());
        // Nodes that never took the request (a group that missed quorum) do
        // not hold the task back; they show in the breakdown only.
        let statuses: Vec<Status> = self
            .nodes
            .iter()
            .filter(|n| n.task_uid.is_some())
            .map(|n| n.status)
            .collect();
        let status = aggregate_status(&statuses);
        if status != Status::Enqueued && self.started_at.is_none() {
            self.started_at = Some(now);
        }
        if status.is_terminal() {
            self.finished_at = Some(now);
            if status == Status::Canceled {
                self.canceled_by = self.cancel_requested_by;
            }
            if status == Status::Failed {
                self.error = self
                    .nodes
                    .iter()
                    .find(|n| n.status == Status::Failed)
                    .and_then(|n| n.error.clone());
            }
            finish_details(&self.kind, &mut self.details, status, &self.nodes);
        }
        self.status = status;
        before != (self.status, self.error.clone(), self.details.clone())
    }
}

/// enqueued: all enqueued; processing: any still running (or a mix);
/// failed: all done and any failed; canceled: all done, none failed, any
/// canceled; succeeded: all succeeded.
pub fn aggregate_status(nodes: &[Status]) -> Status {
    if nodes.is_empty() {
        return Status::Succeeded;
    }
    if nodes.iter().all(|s| *s == Status::Enqueued) {
        return Status::Enqueued;
    }
    if nodes.iter().any(|s| !s.is_terminal()) {
        return Status::Processing;
    }
    if nodes.contains(&Status::Failed) {
        Status::Failed
    } else if nodes.contains(&Status::Canceled) {
        Status::Canceled
    } else {
        Status::Succeeded
    }
}

/// Logical details once a task is done: counts of distinct documents, never
/// multiplied by the copies written.
fn finish_details(kind: &str, details: &mut Value, status: Status, nodes: &[NodeTask]) {
    let Some(obj) = details.as_object_mut() else {
        return;
    };
    if kind == "documentAdditionOrUpdate" {
        let indexed = if status == Status::Succeeded {
            obj.get("miroirDistinctDocuments")
                .cloned()
                .unwrap_or(Value::from(0))
        } else {
            Value::from(0)
        };
        obj.insert("indexedDocuments".into(), indexed);
    }
    if obj.contains_key("deletedDocuments") {
        // Each document was deleted once per copy; report it once.
        let copies = obj
            .get("miroirCopies")
            .and_then(Value::as_u64)
            .unwrap_or(1)
            .max(1);
        let sum: u64 = nodes
            .iter()
            .filter(|n| n.status == Status::Succeeded)
            .filter_map(|n| n.details.as_ref()?.get("deletedDocuments")?.as_u64())
            .sum();
        let deleted = if status == Status::Succeeded {
            sum.div_ceil(copies)
        } else {
            0
        };
        obj.insert("deletedDocuments".into(), Value::from(deleted));
    }
    obj.remove("miroirDistinctDocuments");
    obj.remove("miroirCopies");
}

/// All tasks, by uid. Reads and writes hold the lock only to copy a task in
/// or out; node I/O never happens under it.
pub struct TaskRegistry {
    next_uid: AtomicU64,
    tasks: Mutex<BTreeMap<u64, Task>>,
    /// Tasks that entered each status since start (a Prometheus counter).
    entered: [AtomicU64; 5],
    /// Moves whenever a task that may change an index's settings ends: what the request
    /// cores' settings caches are checked against.
    settings_epoch: AtomicU64,
    /// Node tasks that put settings back after a rolled-back write, as (node index, node task
    /// uid): a core may read a node between the rollback's answer and the node applying it,
    /// so the epoch moves again when each ends (the task poller watches them).
    settings_restores: Mutex<Vec<(usize, u64)>>,
}

/// Whether a task of this kind may change an index's settings (or which index a uid names)
/// when it ends.
fn may_change_settings(kind: &str) -> bool {
    matches!(
        kind,
        "settingsUpdate" | "indexCreation" | "indexDeletion" | "indexUpdate" | "indexSwap"
    )
}

impl TaskRegistry {
    pub fn new(tasks: Vec<Task>) -> TaskRegistry {
        let next = tasks.iter().map(|t| t.uid + 1).max().unwrap_or(0);
        TaskRegistry {
            next_uid: AtomicU64::new(next),
            tasks: Mutex::new(tasks.into_iter().map(|t| (t.uid, t)).collect()),
            entered: Default::default(),
            settings_epoch: AtomicU64::new(0),
            settings_restores: Mutex::new(Vec::new()),
        }
    }

    pub fn allocate_uid(&self) -> u64 {
        self.next_uid.fetch_add(1, Ordering::Relaxed)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<u64, Task>> {
        // A panic while holding the lock cannot leave a task half-written
        // (inserts are whole values), so a poisoned lock is still usable.
        self.tasks.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Counts `task` entering its status; moves the settings epoch when it ended and may have
    /// changed settings. Called with the registry locked, so a client that then reads the
    /// task as finished also reads the new epoch.
    fn entered(&self, task: &Task) {
        self.entered[task.status as usize].fetch_add(1, Ordering::Relaxed);
        if task.status.is_terminal() && may_change_settings(&task.kind) {
            self.settings_epoch.fetch_add(1, Ordering::AcqRel);
        }
    }

    /// See the field: equal epochs mean no settings-changing task ended in between.
    pub fn settings_epoch(&self) -> u64 {
        self.settings_epoch.load(Ordering::Acquire)
    }

    /// Moves the settings epoch for a settings change no task records (a rolled-back write).
    pub fn settings_changed(&self) {
        self.settings_epoch.fetch_add(1, Ordering::AcqRel);
    }

    fn restores(&self) -> std::sync::MutexGuard<'_, Vec<(usize, u64)>> {
        // Whole values only are pushed or removed: a poisoned lock is still consistent.
        self.settings_restores
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    /// Watches the node task `uid` of `node` that restores settings after a rolled-back write:
    /// the epoch moves again when it ends ([`TaskRegistry::settings_restores_ended`]).
    pub fn watch_settings_restore(&self, node: usize, uid: u64) {
        self.restores().push((node, uid));
    }

    /// The restore node tasks still watched.
    pub fn settings_restores(&self) -> Vec<(usize, u64)> {
        self.restores().clone()
    }

    /// These watched node tasks ended (or were given up as lost): no longer watched, and the
    /// settings epoch moves so that no core keeps what it read before they ended.
    pub fn settings_restores_ended(&self, ended: &[(usize, u64)]) {
        if ended.is_empty() {
            return;
        }
        self.restores().retain(|t| !ended.contains(t));
        self.settings_changed();
    }

    pub fn insert(&self, task: Task) {
        let mut tasks = self.lock();
        self.entered(&task);
        tasks.insert(task.uid, task);
    }

    pub fn get(&self, uid: u64) -> Option<Task> {
        self.lock().get(&uid).cloned()
    }

    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn remove(&self, uids: &[u64]) {
        let mut tasks = self.lock();
        for uid in uids {
            tasks.remove(uid);
        }
    }

    /// Tasks not yet finished (for the poller).
    pub fn unfinished(&self) -> Vec<Task> {
        self.lock()
            .values()
            .filter(|t| !t.status.is_terminal())
            .cloned()
            .collect()
    }

    /// How many tasks entered each status since start.
    pub fn entered_by_status(&self) -> [(Status, u64); 5] {
        Status::ALL.map(|s| (s, self.entered[s as usize].load(Ordering::Relaxed)))
    }

    /// Applies `update` to task `uid` if present; returns what it returned
    /// and the updated copy.
    pub fn update<R>(&self, uid: u64, update: impl FnOnce(&mut Task) -> R) -> Option<(R, Task)> {
        let mut tasks = self.lock();
        let task = tasks.get_mut(&uid)?;
        let before = task.status;
        let r = update(task);
        if task.status != before {
            self.entered(task);
        }
        Some((r, task.clone()))
    }

    /// Newest first, filtered, from `from` (a uid) down, `limit` of them.
    pub fn list(
        &self,
        filter: &TaskFilter,
        from: Option<u64>,
        limit: usize,
        reverse: bool,
    ) -> (Vec<Task>, usize, Option<u64>) {
        let tasks = self.lock();
        let matching: Vec<&Task> = if reverse {
            tasks.values().filter(|t| filter.matches(t)).collect()
        } else {
            tasks.values().rev().filter(|t| filter.matches(t)).collect()
        };
        let total = matching.len();
        let start = match from {
            Some(from) if reverse => matching.iter().position(|t| t.uid >= from).unwrap_or(total),
            Some(from) => matching.iter().position(|t| t.uid <= from).unwrap_or(total),
            None => 0,
        };
        let page: Vec<Task> = matching
            .iter()
            .skip(start)
            .take(limit)
            .map(|t| (*t).clone())
            .collect();
        let next = matching.get(start + limit).map(|t| t.uid);
        (page, total, next)
    }
}

/// Meilisearch's task filters.
#[derive(Debug, Default)]
pub struct TaskFilter {
    pub uids: Option<Vec<u64>>,
    pub statuses: Option<Vec<Status>>,
    pub types: Option<Vec<String>>,
    pub index_uids: Option<Vec<String>>,
    pub canceled_by: Option<Vec<u64>>,
    pub before_enqueued_at: Option<i128>,
    pub after_enqueued_at: Option<i128>,
    pub before_started_at: Option<i128>,
    pub after_started_at: Option<i128>,
    pub before_finished_at: Option<i128>,
    pub after_finished_at: Option<i128>,
}

impl TaskFilter {
    pub fn matches(&self, t: &Task) -> bool {
        fn within(v: Option<i128>, before: Option<i128>, after: Option<i128>) -> bool {
            match (before, after) {
                (None, None) => true,
                _ => v.is_some_and(|v| before.is_none_or(|b| v < b) && after.is_none_or(|a| v > a)),
            }
        }
        self.uids.as_ref().is_none_or(|u| u.contains(&t.uid))
            && self.statuses.as_ref().is_none_or(|s| s.contains(&t.status))
            && self.types.as_ref().is_none_or(|k| k.contains(&t.kind))
            && self
                .index_uids
                .as_ref()
                .is_none_or(|i| t.index_uid.as_ref().is_some_and(|x| i.contains(x)))
            && self
                .canceled_by
                .as_ref()
                .is_none_or(|c| t.canceled_by.is_some_and(|x| c.contains(&x)))
            && within(
                Some(t.enqueued_at),
                self.before_enqueued_at,
                self.after_enqueued_at,
            )
            && within(t.started_at, self.before_started_at, self.after_started_at)
            && within(
                t.finished_at,
                self.before_finished_at,
                self.after_finished_at,
            )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_aggregation_rules() {
        use Status::*;
        assert_eq!(aggregate_status(&[Enqueued, Enqueued]), Enqueued);
        assert_eq!(aggregate_status(&[Enqueued, Processing]), Processing);
        assert_eq!(
            aggregate_status(&[Succeeded, Enqueued]),
            Processing,
            "a mix is processing"
        );
        assert_eq!(aggregate_status(&[Failed, Processing]), Processing);
        assert_eq!(aggregate_status(&[Failed, Succeeded]), Failed);
        assert_eq!(aggregate_status(&[Canceled, Succeeded]), Canceled);
        assert_eq!(aggregate_status(&[Succeeded, Succeeded]), Succeeded);
    }

    #[test]
    fn times_and_durations_look_like_meilisearch() {
        assert_eq!(
            format_time(1_764_186_610_793_926_066),
            "2025-11-26T19:50:10.793926066Z"
        );
        assert_eq!(
            format_time(1_764_186_610_734_109_610),
            "2025-11-26T19:50:10.73410961Z"
        );
        assert_eq!(
            format_time(1_764_186_610_000_000_000),
            "2025-11-26T19:50:10Z"
        );
        assert_eq!(format_duration(471_575_502), "PT0.471575502S");
        assert_eq!(format_duration(2_500_000_000), "PT2.5S");
    }

    fn task(uid: u64, status: Status, index: &str) -> Task {
        Task {
            uid,
            index_uid: Some(index.into()),
            kind: "documentAdditionOrUpdate".into(),
            status,
            details: json!({"receivedDocuments": 1}),
            error: None,
            canceled_by: None,
            cancel_requested_by: None,
            enqueued_at: uid as i128,
            started_at: None,
            finished_at: None,
            nodes: vec![],
        }
    }

    #[test]
    fn the_settings_epoch_moves_when_a_task_that_may_change_settings_ends() {
        let registry = TaskRegistry::new(vec![]);
        let settings = |uid, status| Task {
            kind: "settingsUpdate".into(),
            ..task(uid, status, "movies")
        };
        registry.insert(task(1, Status::Enqueued, "movies"));
        registry.insert(settings(2, Status::Enqueued));
        assert_eq!(registry.settings_epoch(), 0);
        // Documents written, tasks deleted: settings unchanged.
        registry.update(1, |t| t.status = Status::Succeeded);
        registry.insert(Task {
            kind: "taskDeletion".into(),
            ..task(4, Status::Succeeded, "movies")
        });
        assert_eq!(registry.settings_epoch(), 0);
        registry.update(2, |t| t.status = Status::Processing);
        assert_eq!(registry.settings_epoch(), 0);
        registry.update(2, |t| t.status = Status::Failed);
        assert_eq!(registry.settings_epoch(), 1);
        // Inserted already finished (every node refused it).
        registry.insert(settings(3, Status::Failed));
        assert_eq!(registry.settings_epoch(), 2);
        // A rolled-back write has no task.
        registry.settings_changed();
        assert_eq!(registry.settings_epoch(), 3);
        // Its restores on the nodes: the epoch moves again as they end.
        registry.watch_settings_restore(0, 17);
        registry.watch_settings_restore(2, 5);
        assert_eq!(registry.settings_restores(), vec![(0, 17), (2, 5)]);
        registry.settings_restores_ended(&[]);
        assert_eq!(registry.settings_epoch(), 3);
        registry.settings_restores_ended(&[(2, 5)]);
        assert_eq!(registry.settings_epoch(), 4);
        assert_eq!(registry.settings_restores(), vec![(0, 17)]);
    }

    #[test]
    fn listing_pages_newest_first() {
        let r = TaskRegistry::new(
            (0..5)
                .map(|u| task(u, Status::Succeeded, if u % 2 == 0 { "a" } else { "b" }))
                .collect(),
        );
        assert_eq!(r.allocate_uid(), 5, "uids continue after the loaded ones");
        let (page, total, next) = r.list(&TaskFilter::default(), None, 2, false);
        assert_eq!(
            (page.iter().map(|t| t.uid).collect::<Vec<_>>(), total, next),
            (vec![4, 3], 5, Some(2))
        );
        let (page, _, next) = r.list(&TaskFilter::default(), Some(2), 2, false);
        assert_eq!(
            (page.iter().map(|t| t.uid).collect::<Vec<_>>(), next),
            (vec![2, 1], Some(0))
        );
        let filter = TaskFilter {
            index_uids: Some(vec!["a".into()]),
            ..Default::default()
        };
        let (page, total, next) = r.list(&filter, None, 10, false);
        assert_eq!(
            (page.iter().map(|t| t.uid).collect::<Vec<_>>(), total, next),
            (vec![4, 2, 0], 3, None)
        );
        let (page, _, _) = r.list(&filter, None, 10, true);
        assert_eq!(
            page.iter().map(|t| t.uid).collect::<Vec<_>>(),
            vec![0, 2, 4]
        );
    }

    #[test]
    fn aggregate_fills_logical_details_and_error() {
        let mut t = task(1, Status::Enqueued, "a");
        t.details = json!({"receivedDocuments": 10, "indexedDocuments": null, "miroirDistinctDocuments": 9});
        let node = |status, error| NodeTask {
            node: "n".into(),
            task_uid: Some(1),
            status,
            error,
            details: None,
        };
        t.nodes = vec![
            node(Status::Succeeded, None),
            node(Status::Processing, None),
        ];
        assert!(t.aggregate(10));
        assert_eq!(t.status, Status::Processing);
        assert_eq!(t.started_at, Some(10));
        t.nodes[1].status = Status::Succeeded;
        assert!(t.aggregate(20));
        assert_eq!(
            t.details,
            json!({"receivedDocuments": 10, "indexedDocuments": 9})
        );
        assert_eq!(t.to_json()["duration"], "PT0.00000001S");

        let mut f = task(2, Status::Enqueued, "a");
        f.details =
            json!({"receivedDocuments": 1, "indexedDocuments": null, "miroirDistinctDocuments": 1});
        let err = json!({"message": "boom", "code": "internal", "type": "internal", "link": "x"});
        f.nodes = vec![
            node(Status::Succeeded, None),
            node(Status::Failed, Some(err.clone())),
        ];
        f.aggregate(5);
        assert_eq!(f.status, Status::Failed);
        assert_eq!(f.error, Some(err));
        assert_eq!(f.details["indexedDocuments"], 0);
        assert_eq!(f.to_json()["miroir"]["nodes"][1]["status"], "failed");
    }
}
