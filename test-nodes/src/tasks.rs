//! Tasks: every write is enqueued as a task with a node-local uid and processed asynchronously,
//! in order, by one worker thread (`enqueued` → `processing` → `succeeded`/`failed`, or
//! `canceled`). Task cancelation and deletion tasks are processed first, like Meilisearch does.
//! Also the `/tasks` routes.

use std::panic::{self, AssertUnwindSafe};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Map, Value};

use crate::params::{ApiError, ApiResult, QueryParams};
use crate::server::{Ctx, Fault, Inner, Params, Reply, Request};
use crate::state::State;
use crate::util::{backticked, iso_duration, Timestamp};
use crate::{documents, indexes, settings};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Status {
    Enqueued,
    Processing,
    Succeeded,
    Failed,
    Canceled,
}

const STATUSES: &[&str] = &["enqueued", "processing", "succeeded", "failed", "canceled"];

impl Status {
    pub(crate) fn as_str(self) -> &'static str {
        STATUSES[self as usize]
    }

    fn parse(s: &str) -> Option<Status> {
        Some(match s {
            "enqueued" => Status::Enqueued,
            "processing" => Status::Processing,
            "succeeded" => Status::Succeeded,
            "failed" => Status::Failed,
            "canceled" => Status::Canceled,
            _ => return None,
        })
    }

    fn finished(self) -> bool {
        matches!(self, Status::Succeeded | Status::Failed | Status::Canceled)
    }
}

/// Task types Meilisearch knows (for `?types=` validation).
const TYPES: &[&str] = &[
    "documentAdditionOrUpdate",
    "documentEdition",
    "documentDeletion",
    "settingsUpdate",
    "indexCreation",
    "indexDeletion",
    "indexUpdate",
    "indexSwap",
    "taskCancelation",
    "taskDeletion",
    "dumpCreation",
    "snapshotCreation",
    "export",
    "upgradeDatabase",
    "indexCompaction",
    "networkTopologyChange",
];

#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Swap {
    pub(crate) indexes: (String, String),
    pub(crate) rename: bool,
}

/// What a task does (its payload until it is processed).
pub(crate) enum Kind {
    IndexCreation {
        primary_key: Option<String>,
    },
    IndexUpdate {
        primary_key: Option<String>,
        new_uid: Option<String>,
    },
    IndexDeletion,
    IndexSwap {
        swaps: Vec<Swap>,
    },
    DocumentAdd {
        docs: Vec<Map<String, Value>>,
        primary_key: Option<String>,
        merge: bool,
    },
    DocumentDeleteIds {
        ids: Vec<String>,
    },
    DocumentDeleteFilter {
        filter: Value,
    },
    DocumentClear,
    Settings {
        patch: Map<String, Value>,
    },
    TaskCancelation {
        uids: Vec<u32>,
    },
    TaskDeletion {
        uids: Vec<u32>,
    },
}

impl Kind {
    fn type_name(&self) -> &'static str {
        match self {
            Kind::IndexCreation { .. } => "indexCreation",
            Kind::IndexUpdate { .. } => "indexUpdate",
            Kind::IndexDeletion => "indexDeletion",
            Kind::IndexSwap { .. } => "indexSwap",
            Kind::DocumentAdd { .. } => "documentAdditionOrUpdate",
            Kind::DocumentDeleteIds { .. }
            | Kind::DocumentDeleteFilter { .. }
            | Kind::DocumentClear => "documentDeletion",
            Kind::Settings { .. } => "settingsUpdate",
            Kind::TaskCancelation { .. } => "taskCancelation",
            Kind::TaskDeletion { .. } => "taskDeletion",
        }
    }

    fn special(&self) -> bool {
        matches!(
            self,
            Kind::TaskCancelation { .. } | Kind::TaskDeletion { .. }
        )
    }
}

pub(crate) struct Task {
    pub(crate) uid: u32,
    pub(crate) batch_uid: Option<u32>,
    pub(crate) index_uid: Option<String>,
    pub(crate) status: Status,
    pub(crate) type_name: &'static str,
    /// The payload; taken when the task is processed or canceled.
    pub(crate) kind: Option<Kind>,
    pub(crate) canceled_by: Option<u32>,
    pub(crate) details: Map<String, Value>,
    pub(crate) error: Option<Value>,
    pub(crate) enqueued_at: Timestamp,
    pub(crate) started_at: Option<Timestamp>,
    pub(crate) finished_at: Option<Timestamp>,
    /// Accepted under [`Fault::DropWrites`]: succeeds without doing anything.
    pub(crate) dropped: bool,
}

impl Task {
    /// The full task object (`GET /tasks/{uid}`).
    pub(crate) fn to_json(&self) -> Value {
        let duration = match (self.started_at, self.finished_at) {
            (Some(s), Some(f)) => Value::String(iso_duration(s, f)),
            _ => Value::Null,
        };
        json!({
            "uid": self.uid,
            "batchUid": self.batch_uid,
            "indexUid": self.index_uid,
            "status": self.status.as_str(),
            "type": self.type_name,
            "canceledBy": self.canceled_by,
            "details": self.details,
            "error": self.error,
            "duration": duration,
            "enqueuedAt": self.enqueued_at.rfc3339(),
            "startedAt": self.started_at.map(Timestamp::rfc3339),
            "finishedAt": self.finished_at.map(Timestamp::rfc3339),
        })
    }

    /// The summarized task of a 202 (status always `enqueued`).
    pub(crate) fn summary(&self) -> Value {
        json!({
            "taskUid": self.uid,
            "indexUid": self.index_uid,
            "status": "enqueued",
            "type": self.type_name,
            "enqueuedAt": self.enqueued_at.rfc3339(),
        })
    }
}

/// Registers a task and wakes the worker; returns the summarized task.
pub(crate) fn enqueue(
    ctx: &Ctx,
    index_uid: Option<String>,
    kind: Kind,
    details: Map<String, Value>,
) -> Value {
    let dropped = !kind.special() && ctx.inner.fault() == Fault::DropWrites;
    let special = kind.special();
    let mut st = ctx.state();
    let uid = st.next_task_uid;
    st.next_task_uid += 1;
    let task = Task {
        uid,
        batch_uid: None,
        index_uid,
        status: Status::Enqueued,
        type_name: kind.type_name(),
        kind: Some(kind),
        canceled_by: None,
        details,
        error: None,
        enqueued_at: Timestamp::now(),
        started_at: None,
        finished_at: None,
        dropped,
    };
    let summary = task.summary();
    st.tasks.insert(uid, task);
    if special {
        st.special_queue.insert(uid);
    } else {
        st.queue.insert(uid);
    }
    drop(st);
    ctx.inner.notify_worker();
    summary
}

// ---------------------------------------------------------------------------------------------
// Worker

/// The task worker: runs until the node is dropped.
pub(crate) fn worker_loop(inner: Arc<Inner>) {
    let mut st = inner.lock_state();
    loop {
        if inner.is_shutting_down() {
            return;
        }
        if let Some(uid) = st.special_queue.iter().next().copied() {
            st.special_queue.remove(&uid);
            start(&mut st, uid);
            finish(&mut st, uid);
            continue;
        }
        if let Some((uid, due)) = st.processing {
            let now = Instant::now();
            if now >= due {
                st.processing = None;
                finish(&mut st, uid);
                continue;
            }
            st = inner.wait_worker(st, due - now);
            continue;
        }
        if let Some(uid) = st.queue.iter().next().copied() {
            st.queue.remove(&uid);
            start(&mut st, uid);
            let due = Instant::now() + st.task_delay;
            st.processing = Some((uid, due));
            // Let readers observe the task while it is `processing`.
            drop(st);
            std::thread::yield_now();
            st = inner.lock_state();
            continue;
        }
        st = inner.wait_worker(st, Duration::from_millis(100));
    }
}

fn start(st: &mut State, uid: u32) {
    let batch = st.next_batch_uid;
    let Some(task) = st.tasks.get_mut(&uid) else {
        return;
    };
    st.next_batch_uid += 1;
    task.status = Status::Processing;
    task.batch_uid = Some(batch);
    task.started_at = Some(Timestamp::now());
}

/// Detail fields of a task that failed or was canceled.
fn zeroed_details(type_name: &str) -> Map<String, Value> {
    let mut m = Map::new();
    match type_name {
        "documentAdditionOrUpdate" => {
            m.insert("indexedDocuments".into(), json!(0));
        }
        "documentDeletion" | "indexDeletion" => {
            m.insert("deletedDocuments".into(), json!(0));
        }
        _ => {}
    }
    m
}

/// Details of a task accepted under `DropWrites`: what a successful task would report.
fn dropped_details(task: &Task) -> Map<String, Value> {
    let mut m = Map::new();
    match task.type_name {
        "documentAdditionOrUpdate" => {
            m.insert(
                "indexedDocuments".into(),
                task.details
                    .get("receivedDocuments")
                    .cloned()
                    .unwrap_or(json!(0)),
            );
        }
        "documentDeletion" | "indexDeletion" => {
            m.insert(
                "deletedDocuments".into(),
                task.details.get("providedIds").cloned().unwrap_or(json!(0)),
            );
        }
        _ => {}
    }
    m
}

fn finish(st: &mut State, uid: u32) {
    let Some(task) = st.tasks.get_mut(&uid) else {
        return;
    };
    if task.status != Status::Processing {
        return; // canceled meanwhile
    }
    let kind = task.kind.take();
    let index_uid = task.index_uid.clone();
    let now = Timestamp::now();
    let result = if task.dropped {
        Ok(dropped_details(task))
    } else {
        // A bug in a task must fail the task, not stop the worker.
        panic::catch_unwind(AssertUnwindSafe(|| {
            apply(st, uid, index_uid.as_deref().unwrap_or(""), kind, now)
        }))
        .unwrap_or_else(|_| {
            Err(ApiError::internal(
                "The Meilisearch test double panicked while processing this task.",
            ))
        })
    };
    let Some(task) = st.tasks.get_mut(&uid) else {
        return;
    };
    match result {
        Ok(extra) => {
            task.status = Status::Succeeded;
            task.details.extend(extra);
        }
        Err(e) => {
            task.status = Status::Failed;
            task.error = Some(e.json());
            task.details.extend(zeroed_details(task.type_name));
        }
    }
    task.finished_at = Some(now);
    st.last_update = Some(now);
}

fn apply(
    st: &mut State,
    uid: u32,
    index: &str,
    kind: Option<Kind>,
    now: Timestamp,
) -> ApiResult<Map<String, Value>> {
    match kind {
        None => Ok(Map::new()),
        Some(Kind::IndexCreation { primary_key }) => indexes::apply_create(st, index, primary_key),
        Some(Kind::IndexUpdate {
            primary_key,
            new_uid,
        }) => indexes::apply_update(st, index, primary_key, new_uid),
        Some(Kind::IndexDeletion) => indexes::apply_delete(st, index),
        Some(Kind::IndexSwap { swaps }) => indexes::apply_swap(st, &swaps),
        Some(Kind::DocumentAdd {
            docs,
            primary_key,
            merge,
        }) => documents::apply_add(st, index, docs, primary_key, merge),
        Some(Kind::DocumentDeleteIds { ids }) => documents::apply_delete_ids(st, index, &ids),
        Some(Kind::DocumentDeleteFilter { filter }) => {
            documents::apply_delete_filter(st, index, &filter)
        }
        Some(Kind::DocumentClear) => documents::apply_clear(st, index),
        Some(Kind::Settings { patch }) => settings::apply(st, index, &patch),
        Some(Kind::TaskCancelation { uids }) => apply_cancel(st, uid, &uids, now),
        Some(Kind::TaskDeletion { uids }) => apply_deletion(st, uid, &uids),
    }
}

fn apply_cancel(
    st: &mut State,
    cancel_uid: u32,
    uids: &[u32],
    now: Timestamp,
) -> ApiResult<Map<String, Value>> {
    let (mut batch, started) = st
        .tasks
        .get(&cancel_uid)
        .map(|t| (t.batch_uid, t.started_at))
        .unwrap_or((None, None));
    // A batch aborted by the cancelation is never recorded: its uid is reused (fixture 176:
    // the canceled tasks and the cancel task share one batch uid).
    if let (Some((p, _)), Some(b)) = (st.processing, batch) {
        let aborted = st.tasks.get(&p).and_then(|t| t.batch_uid);
        if uids.contains(&p) && b > 0 && aborted == Some(b - 1) {
            batch = Some(b - 1);
            st.next_batch_uid -= 1;
            if let Some(t) = st.tasks.get_mut(&cancel_uid) {
                t.batch_uid = batch;
            }
        }
    }
    let mut canceled = 0;
    for u in uids {
        let Some(t) = st.tasks.get_mut(u) else {
            continue;
        };
        if !matches!(t.status, Status::Enqueued | Status::Processing) {
            continue;
        }
        t.status = Status::Canceled;
        t.canceled_by = Some(cancel_uid);
        t.batch_uid = batch;
        t.started_at = started;
        t.finished_at = Some(now);
        t.kind = None;
        let zeroed = zeroed_details(t.type_name);
        t.details.extend(zeroed);
        st.queue.remove(u);
        st.special_queue.remove(u);
        if st.processing.is_some_and(|(p, _)| p == *u) {
            st.processing = None;
        }
        canceled += 1;
    }
    let mut m = Map::new();
    m.insert("canceledTasks".into(), json!(canceled));
    Ok(m)
}

fn apply_deletion(st: &mut State, del_uid: u32, uids: &[u32]) -> ApiResult<Map<String, Value>> {
    let mut deleted = 0;
    for u in uids {
        if *u != del_uid && st.tasks.get(u).is_some_and(|t| t.status.finished()) {
            st.tasks.remove(u);
            deleted += 1;
        }
    }
    let mut m = Map::new();
    m.insert("deletedTasks".into(), json!(deleted));
    Ok(m)
}

// ---------------------------------------------------------------------------------------------
// Filters

const FILTER_PARAMS: &[&str] = &[
    "uids",
    "batchUids",
    "canceledBy",
    "types",
    "statuses",
    "indexUids",
    "afterEnqueuedAt",
    "beforeEnqueuedAt",
    "afterStartedAt",
    "beforeStartedAt",
    "afterFinishedAt",
    "beforeFinishedAt",
];

#[derive(Default)]
struct TaskFilter {
    uids: Option<Vec<u32>>,
    batch_uids: Option<Vec<u32>>,
    canceled_by: Option<Vec<u32>>,
    types: Option<Vec<String>>,
    statuses: Option<Vec<Status>>,
    index_uids: Option<Vec<String>>,
    /// (param name, limit): `before*` = strictly before, `after*` = strictly after.
    dates: Vec<(&'static str, Timestamp)>,
    /// Whether any filter parameter was given.
    any: bool,
}

/// A comma list; `None` when absent or containing `*`.
fn star_list(q: &QueryParams, name: &str) -> Option<Vec<String>> {
    q.list(name).filter(|l| !l.iter().any(|x| x == "*"))
}

fn u32_list(q: &QueryParams, name: &str, code: &str) -> ApiResult<Option<Vec<u32>>> {
    star_list(q, name)
        .map(|l| {
            l.iter()
                .map(|x| {
                    x.parse::<u32>().map_err(|_| {
                        ApiError::new(
                            400,
                            format!(
                                "Invalid value in parameter `{name}`: could not parse `{x}` as a positive integer"
                            ),
                            code,
                        )
                    })
                })
                .collect()
        })
        .transpose()
}

impl TaskFilter {
    fn parse(q: &QueryParams) -> ApiResult<TaskFilter> {
        let mut f = TaskFilter {
            any: FILTER_PARAMS.iter().any(|p| q.has(p)),
            uids: u32_list(q, "uids", "invalid_task_uids")?,
            batch_uids: u32_list(q, "batchUids", "invalid_task_batch_uids")?,
            canceled_by: u32_list(q, "canceledBy", "invalid_task_canceled_by")?,
            ..TaskFilter::default()
        };
        if let Some(types) = star_list(q, "types") {
            if let Some(bad) = types.iter().find(|t| !TYPES.contains(&t.as_str())) {
                return Err(ApiError::new(
                    400,
                    format!(
                        "Invalid value in parameter `types`: `{bad}` is not a valid task type. Available types are {}.",
                        backticked(TYPES)
                    ),
                    "invalid_task_types",
                ));
            }
            f.types = Some(types);
        }
        if let Some(statuses) = star_list(q, "statuses") {
            let mut parsed = Vec::new();
            for s in &statuses {
                parsed.push(Status::parse(s).ok_or_else(|| {
                    ApiError::new(
                        400,
                        format!(
                            "Invalid value in parameter `statuses`: `{s}` is not a valid task status. Available statuses are {}.",
                            backticked(STATUSES)
                        ),
                        "invalid_task_statuses",
                    )
                })?);
            }
            f.statuses = Some(parsed);
        }
        if let Some(uids) = star_list(q, "indexUids") {
            if let Some(bad) = uids.iter().find(|u| !crate::params::valid_index_uid(u)) {
                return Err(ApiError::new(
                    400,
                    format!(
                        "Invalid value in parameter `indexUids`: `{bad}` is not a valid index uid. Index uid can be an integer or a string containing only alphanumeric characters, hyphens (-) and underscores (_), and can not be more than 512 bytes."
                    ),
                    "invalid_task_index_uids",
                ));
            }
            f.index_uids = Some(uids);
        }
        for name in &FILTER_PARAMS[6..] {
            if let Some(v) = q.get(name) {
                let mut t = Timestamp::parse(v).ok_or_else(|| {
                    ApiError::new(
                        400,
                        format!(
                            "Invalid value in parameter `{name}`: `{v}` is an invalid date-time. It should follow the YYYY-MM-DD or RFC 3339 date-time format."
                        ),
                        format!("invalid_task_{}", crate::util::snake_case(name)),
                    )
                })?;
                if name.starts_with("after") && v.trim().len() == 10 {
                    t = Timestamp(t.0 + 86_400 * 1_000_000_000 - 1);
                }
                f.dates.push((name, t));
            }
        }
        Ok(f)
    }

    fn matches(&self, t: &Task) -> bool {
        let within = |list: &Option<Vec<u32>>, v: Option<u32>| {
            list.as_ref()
                .is_none_or(|l| v.is_some_and(|v| l.contains(&v)))
        };
        within(&self.uids, Some(t.uid))
            && within(&self.batch_uids, t.batch_uid)
            && within(&self.canceled_by, t.canceled_by)
            && self
                .types
                .as_ref()
                .is_none_or(|l| l.iter().any(|x| x == t.type_name))
            && self.statuses.as_ref().is_none_or(|l| l.contains(&t.status))
            && self.index_uids.as_ref().is_none_or(|l| {
                t.index_uid
                    .as_ref()
                    .is_some_and(|u| l.iter().any(|x| x == u))
            })
            && self.dates.iter().all(|(name, limit)| {
                let value = if name.ends_with("EnqueuedAt") {
                    Some(t.enqueued_at)
                } else if name.ends_with("StartedAt") {
                    t.started_at
                } else {
                    t.finished_at
                };
                value.is_some_and(|v| {
                    if name.starts_with("before") {
                        v < *limit
                    } else {
                        v > *limit
                    }
                })
            })
    }
}

fn visible(ctx: &Ctx, t: &Task) -> bool {
    match &t.index_uid {
        Some(uid) => ctx.auth.allows(uid),
        None => ctx.auth.indexes.is_none(),
    }
}

// ---------------------------------------------------------------------------------------------
// Routes

pub(crate) fn list(ctx: &Ctx, req: &Request, _: &Params) -> ApiResult<Reply> {
    let q = QueryParams::of(req);
    let mut allowed = vec!["limit", "from", "reverse"];
    allowed.extend_from_slice(FILTER_PARAMS);
    q.deny_unknown(&allowed)?;
    let limit = q.usize("limit", "invalid_task_limit")?.unwrap_or(20);
    let from = q
        .usize("from", "invalid_task_from")?
        .map(|f| f.min(u32::MAX as usize) as u32);
    let reverse = q.bool("reverse", "invalid_task_reverse")?.unwrap_or(false);
    let filter = TaskFilter::parse(&q)?;
    let st = ctx.state();
    let matching: Vec<&Task> = if reverse {
        st.tasks
            .values()
            .filter(|t| visible(ctx, t) && filter.matches(t))
            .collect()
    } else {
        st.tasks
            .values()
            .rev()
            .filter(|t| visible(ctx, t) && filter.matches(t))
            .collect()
    };
    let total = matching.len();
    let mut page = matching
        .into_iter()
        .filter(|t| match from {
            None => true,
            Some(f) if reverse => t.uid >= f,
            Some(f) => t.uid <= f,
        })
        .peekable();
    let mut results = Vec::new();
    while results.len() < limit {
        match page.next() {
            Some(t) => results.push(t),
            None => break,
        }
    }
    let next = page.peek().map(|t| t.uid);
    let body = json!({
        "results": results.iter().map(|t| t.to_json()).collect::<Vec<_>>(),
        "total": total,
        "limit": limit,
        "from": results.first().map(|t| t.uid),
        "next": next,
    });
    Ok(Reply::json(200, &body))
}

pub(crate) fn get(ctx: &Ctx, _: &Request, p: &Params) -> ApiResult<Reply> {
    let raw = p.get("taskUid");
    let uid: u32 = raw.parse().map_err(|_| {
        ApiError::new(
            400,
            format!("Invalid value in parameter `taskUid`: could not parse `{raw}` as a positive integer"),
            "invalid_task_uid",
        )
    })?;
    let st = ctx.state();
    match st.tasks.get(&uid).filter(|t| visible(ctx, t)) {
        Some(t) => Ok(Reply::json(200, &t.to_json())),
        None => Err(ApiError::new(
            404,
            format!("Task `{uid}` not found."),
            "task_not_found",
        )),
    }
}

fn matched(ctx: &Ctx, req: &Request, what: &str) -> ApiResult<Vec<u32>> {
    let q = QueryParams::of(req);
    q.deny_unknown(FILTER_PARAMS)?;
    let filter = TaskFilter::parse(&q)?;
    if !filter.any {
        return Err(ApiError::new(
            400,
            format!(
                "Query parameters to filter the tasks to {what} are missing. Available query parameters are: {}.",
                backticked(&[
                    "uids",
                    "indexUids",
                    "statuses",
                    "types",
                    "canceledBy",
                    "beforeEnqueuedAt",
                    "afterEnqueuedAt",
                    "beforeStartedAt",
                    "afterStartedAt",
                    "beforeFinishedAt",
                    "afterFinishedAt",
                ])
            ),
            "missing_task_filters",
        ));
    }
    let st = ctx.state();
    Ok(st
        .tasks
        .values()
        .filter(|t| visible(ctx, t) && filter.matches(t))
        .map(|t| t.uid)
        .collect())
}

/// `POST /tasks/cancel` → 200 with a summarized `taskCancelation` task.
pub(crate) fn cancel(ctx: &Ctx, req: &Request, _: &Params) -> ApiResult<Reply> {
    let uids = matched(ctx, req, "cancel")?;
    let mut details = Map::new();
    details.insert("matchedTasks".into(), json!(uids.len()));
    details.insert("canceledTasks".into(), Value::Null);
    details.insert("originalFilter".into(), json!(format!("?{}", req.query)));
    let summary = enqueue(ctx, None, Kind::TaskCancelation { uids }, details);
    Ok(Reply::json(200, &summary))
}

/// `DELETE /tasks` → 200 with a summarized `taskDeletion` task.
pub(crate) fn delete(ctx: &Ctx, req: &Request, _: &Params) -> ApiResult<Reply> {
    let uids = matched(ctx, req, "delete")?;
    let mut details = Map::new();
    details.insert("matchedTasks".into(), json!(uids.len()));
    details.insert("deletedTasks".into(), Value::Null);
    details.insert("originalFilter".into(), json!(format!("?{}", req.query)));
    let summary = enqueue(ctx, None, Kind::TaskDeletion { uids }, details);
    Ok(Reply::json(200, &summary))
}
