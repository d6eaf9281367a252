//! `/indexes`, `/indexes/{uid}`, `/indexes/{uid}/stats`, `/stats` and `/swap-indexes`, and the
//! index tasks (creation, update/rename, deletion, swap).

use std::collections::BTreeSet;

use serde_json::{json, Map, Value};

use crate::index::Index;
use crate::params::{
    check_index_uid, invalid_index_uid, json_body, valid_index_uid, ApiError, ApiResult, Fields,
    QueryParams,
};
use crate::server::{Ctx, Params, Reply, Request};
use crate::state::State;
use crate::tasks::{self, Kind, Swap};
use crate::util::{backticked, describe};

pub(crate) fn list(ctx: &Ctx, req: &Request, _: &Params) -> ApiResult<Reply> {
    let q = QueryParams::of(req);
    q.deny_unknown(&["offset", "limit"])?;
    let offset = q.usize("offset", "invalid_index_offset")?.unwrap_or(0);
    let limit = q.usize("limit", "invalid_index_limit")?.unwrap_or(20);
    let st = ctx.state();
    let visible: Vec<&Index> = st
        .indexes
        .values()
        .filter(|i| ctx.auth.allows(&i.uid))
        .collect();
    let results: Vec<Value> = visible
        .iter()
        .skip(offset)
        .take(limit)
        .map(|i| i.to_json())
        .collect();
    Ok(Reply::json(
        200,
        &json!({"results": results, "offset": offset, "limit": limit, "total": visible.len()}),
    ))
}

fn primary_key_field(f: &Fields, key: &str) -> ApiResult<Option<String>> {
    match f.get(key) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(v) => Err(ApiError::new(
            400,
            format!(
                "Invalid value type at `.{key}`: expected a string, but found {}",
                describe(v)
            ),
            "invalid_index_primary_key",
        )),
    }
}

pub(crate) fn create(ctx: &Ctx, req: &Request, _: &Params) -> ApiResult<Reply> {
    let body = json_body(req)?;
    let f = Fields::new(&body, "", "invalid_index_")?;
    f.deny_unknown(&["uid", "primaryKey"])?;
    let uid = match f.map.get("uid") {
        None => return Err(f.missing("uid", "missing_index_uid")),
        Some(Value::String(s)) if valid_index_uid(s) => s.clone(),
        Some(Value::String(s)) => return Err(invalid_index_uid(s, Some(".uid"))),
        Some(v) => return Err(f.type_error("uid", "a string", v)),
    };
    ctx.auth.check_index(&uid)?;
    let primary_key = primary_key_field(&f, "primaryKey")?;
    let mut details = Map::new();
    details.insert("primaryKey".into(), json!(primary_key));
    let summary = tasks::enqueue(ctx, Some(uid), Kind::IndexCreation { primary_key }, details);
    Ok(Reply::json(202, &summary))
}

pub(crate) fn get(ctx: &Ctx, _: &Request, p: &Params) -> ApiResult<Reply> {
    let st = ctx.state();
    Ok(Reply::json(200, &st.index(p.get("uid"))?.to_json()))
}

pub(crate) fn patch(ctx: &Ctx, req: &Request, p: &Params) -> ApiResult<Reply> {
    let uid = p.get("uid");
    check_index_uid(uid)?;
    let body = json_body(req)?;
    let f = Fields::new(&body, "", "invalid_index_")?;
    f.deny_unknown(&["primaryKey", "uid"])?;
    let primary_key = primary_key_field(&f, "primaryKey")?;
    let new_uid = match f.get("uid") {
        None => None,
        Some(Value::String(s)) if valid_index_uid(s) => Some(s.clone()),
        Some(Value::String(s)) => return Err(invalid_index_uid(s, Some(".uid"))),
        Some(v) => return Err(f.type_error("uid", "a string", v)),
    };
    let mut details = Map::new();
    details.insert("primaryKey".into(), json!(primary_key));
    if let Some(new) = &new_uid {
        details.insert("oldIndexUid".into(), json!(uid));
        details.insert("newIndexUid".into(), json!(new));
    }
    let summary = tasks::enqueue(
        ctx,
        Some(uid.to_owned()),
        Kind::IndexUpdate {
            primary_key,
            new_uid,
        },
        details,
    );
    Ok(Reply::json(202, &summary))
}

pub(crate) fn delete(ctx: &Ctx, _: &Request, p: &Params) -> ApiResult<Reply> {
    let uid = p.get("uid");
    check_index_uid(uid)?;
    let mut details = Map::new();
    details.insert("deletedDocuments".into(), Value::Null);
    let summary = tasks::enqueue(ctx, Some(uid.to_owned()), Kind::IndexDeletion, details);
    Ok(Reply::json(202, &summary))
}

pub(crate) fn stats(ctx: &Ctx, _: &Request, p: &Params) -> ApiResult<Reply> {
    let st = ctx.state();
    let uid = p.get("uid");
    let index = st.index(uid)?;
    Ok(Reply::json(200, &index.stats(st.is_indexing(uid))))
}

/// `GET /stats` (fixture 147).
pub(crate) fn global_stats(ctx: &Ctx, _: &Request, _: &Params) -> ApiResult<Reply> {
    let st = ctx.state();
    let mut indexes = Map::new();
    let mut size = 0;
    for (uid, index) in st.indexes.iter().filter(|(u, _)| ctx.auth.allows(u)) {
        indexes.insert(uid.clone(), index.stats(st.is_indexing(uid)));
        size += index.raw_size();
    }
    let used = size + 4096 * (st.indexes.len() + 1);
    Ok(Reply::json(
        200,
        &json!({
            "databaseSize": used * 2,
            "usedDatabaseSize": used,
            "lastUpdate": st.last_update.map(|t| t.rfc3339()),
            "indexes": indexes,
        }),
    ))
}

pub(crate) fn swap(ctx: &Ctx, req: &Request, _: &Params) -> ApiResult<Reply> {
    let body = json_body(req)?;
    let Value::Array(items) = &body else {
        return Err(ApiError::bad_request(format!(
            "Invalid value type: expected an array, but found {}",
            describe(&body)
        )));
    };
    let mut swaps = Vec::new();
    let mut seen = BTreeSet::new();
    for (i, item) in items.iter().enumerate() {
        let f = Fields::new(item, &format!("[{i}]"), "invalid_swap_")?;
        f.deny_unknown(&["indexes", "rename"])?;
        let list = match f.map.get("indexes") {
            None => {
                return Err(ApiError::new(
                    400,
                    format!("Missing field `indexes` inside `[{i}]`"),
                    "missing_swap_indexes",
                ))
            }
            Some(_) => f.strings("indexes")?.unwrap_or_default(),
        };
        if list.len() != 2 {
            return Err(ApiError::new(
                400,
                format!(
                    "Two indexes must be given for each swap. The list `{list:?}` contains {} indexes.",
                    list.len()
                ),
                "invalid_swap_indexes",
            ));
        }
        for (j, uid) in list.iter().enumerate() {
            if !valid_index_uid(uid) {
                return Err(invalid_index_uid(uid, Some(&format!("[{i}].indexes[{j}]"))));
            }
            ctx.auth.check_index(uid)?;
            if !seen.insert(uid.clone()) {
                return Err(ApiError::new(
                    400,
                    format!(
                        "Indexes must be declared only once during a swap. `{uid}` was specified several times."
                    ),
                    "invalid_swap_duplicate_index_found",
                ));
            }
        }
        let rename = f.bool("rename")?.unwrap_or(false);
        swaps.push(Swap {
            indexes: (list[0].clone(), list[1].clone()),
            rename,
        });
    }
    let mut details = Map::new();
    details.insert(
        "swaps".into(),
        json!(swaps
            .iter()
            .map(|s| json!({"indexes": [s.indexes.0, s.indexes.1], "rename": s.rename}))
            .collect::<Vec<_>>()),
    );
    let summary = tasks::enqueue(ctx, None, Kind::IndexSwap { swaps }, details);
    Ok(Reply::json(202, &summary))
}

// ---------------------------------------------------------------------------------------------
// Tasks

fn already_exists(uid: &str) -> ApiError {
    ApiError::new(
        409,
        format!("Index `{uid}` already exists."),
        "index_already_exists",
    )
}

pub(crate) fn apply_create(
    st: &mut State,
    uid: &str,
    primary_key: Option<String>,
) -> ApiResult<Map<String, Value>> {
    if st.indexes.contains_key(uid) {
        return Err(already_exists(uid));
    }
    st.indexes
        .insert(uid.to_owned(), Index::new(uid, primary_key));
    Ok(Map::new())
}

pub(crate) fn apply_update(
    st: &mut State,
    uid: &str,
    primary_key: Option<String>,
    new_uid: Option<String>,
) -> ApiResult<Map<String, Value>> {
    if let Some(new) = &new_uid {
        if new != uid && st.indexes.contains_key(new) {
            st.index(uid)?;
            return Err(already_exists(new));
        }
    }
    let index = st.index_mut(uid)?;
    if let Some(pk) = primary_key {
        match &index.primary_key {
            Some(current) if index.len() > 0 && *current != pk => {
                return Err(ApiError::new(
                    400,
                    format!("Index `{uid}`: Index already has a primary key: `{current}`."),
                    "index_primary_key_already_exists",
                ));
            }
            _ => index.primary_key = Some(pk),
        }
    }
    index.touch();
    if let Some(new) = new_uid.filter(|n| n != uid) {
        if let Some(mut index) = st.indexes.remove(uid) {
            index.uid = new.clone();
            st.indexes.insert(new, index);
        }
    }
    Ok(Map::new())
}

pub(crate) fn apply_delete(st: &mut State, uid: &str) -> ApiResult<Map<String, Value>> {
    let index = st
        .indexes
        .remove(uid)
        .ok_or_else(|| ApiError::index_not_found(uid))?;
    let mut m = Map::new();
    m.insert("deletedDocuments".into(), json!(index.len()));
    Ok(m)
}

pub(crate) fn apply_swap(st: &mut State, swaps: &[Swap]) -> ApiResult<Map<String, Value>> {
    let mut missing: Vec<&str> = Vec::new();
    for s in swaps {
        let (a, b) = (&s.indexes.0, &s.indexes.1);
        if !st.indexes.contains_key(a) {
            missing.push(a);
        }
        if !s.rename && !st.indexes.contains_key(b) {
            missing.push(b);
        }
    }
    match missing.len() {
        0 => {}
        1 => return Err(ApiError::index_not_found(missing[0])),
        _ => {
            return Err(ApiError::new(
                404,
                format!("Indexes {} not found.", backticked(&missing)),
                "index_not_found",
            ))
        }
    }
    for s in swaps.iter().filter(|s| s.rename) {
        if st.indexes.contains_key(&s.indexes.1) {
            return Err(already_exists(&s.indexes.1));
        }
    }
    for s in swaps {
        let (a, b) = (&s.indexes.0, &s.indexes.1);
        let ia = st.indexes.remove(a);
        let ib = st.indexes.remove(b);
        if let Some(mut x) = ia {
            x.uid = b.clone();
            x.touch();
            st.indexes.insert(b.clone(), x);
        }
        if let Some(mut y) = ib {
            y.uid = a.clone();
            y.touch();
            st.indexes.insert(a.clone(), y);
        }
        // Meilisearch also swaps the index uids of the tasks.
        for t in st.tasks.values_mut() {
            if t.index_uid.as_deref() == Some(a) {
                t.index_uid = Some(b.clone());
            } else if !s.rename && t.index_uid.as_deref() == Some(b) {
                t.index_uid = Some(a.clone());
            }
        }
    }
    Ok(Map::new())
}
