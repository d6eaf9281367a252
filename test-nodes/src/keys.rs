//! API keys (`/keys` routes) and request authorization.
//!
//! Like Meilisearch, a key's value is derived from its uid and the master key:
//! `hex(HMAC-SHA256(master_key, uid))`, so nodes sharing a master key give a key created with
//! the same `uid` the same value. The four default keys use fixed uids (those of fixture 159), so
//! their values match the fixture when the master key is the fixture's.

use serde_json::{json, Value};

use crate::params::{json_body, ApiError, ApiResult, Fields, QueryParams};
use crate::server::{Ctx, Params, Reply, Request};
use crate::util::{backticked, hex, hmac_sha256, is_uuid_v4, uuid_v4, Timestamp};

/// Every action Meilisearch v1.50 accepts (fixture 168 order).
pub(crate) const ACTIONS: &[&str] = &[
    "*",
    "search",
    "documents.*",
    "documents.add",
    "documents.get",
    "documents.delete",
    "indexes.*",
    "indexes.create",
    "indexes.get",
    "indexes.update",
    "indexes.delete",
    "indexes.swap",
    "tasks.*",
    "tasks.cancel",
    "tasks.delete",
    "tasks.get",
    "settings.*",
    "settings.get",
    "settings.update",
    "stats.*",
    "stats.get",
    "metrics.*",
    "metrics.get",
    "dumps.*",
    "dumps.create",
    "snapshots.*",
    "snapshots.create",
    "version",
    "keys.create",
    "keys.get",
    "keys.update",
    "keys.delete",
    "experimental.get",
    "experimental.update",
    "export",
    "network.get",
    "network.update",
    "chatCompletions",
    "chats.*",
    "chats.get",
    "chats.delete",
    "chatsSettings.*",
    "chatsSettings.get",
    "chatsSettings.update",
    "*.get",
    "webhooks.get",
    "webhooks.update",
    "webhooks.delete",
    "webhooks.create",
    "webhooks.*",
    "indexes.compact",
    "fields.post",
    "tasks.compact",
    "dynamicSearchRules.get",
    "dynamicSearchRules.create",
    "dynamicSearchRules.update",
    "dynamicSearchRules.delete",
    "dynamicSearchRules.*",
];

/// `hex(HMAC-SHA256(master_key, uid))`: Meilisearch's key derivation.
pub(crate) fn derive_key(master_key: &str, uid: &str) -> String {
    hex(&hmac_sha256(master_key.as_bytes(), uid.as_bytes()))
}

#[derive(Clone, Debug)]
pub(crate) struct ApiKey {
    pub(crate) name: Option<String>,
    pub(crate) description: Option<String>,
    pub(crate) key: String,
    pub(crate) uid: String,
    pub(crate) actions: Vec<String>,
    pub(crate) indexes: Vec<String>,
    pub(crate) expires_at: Option<Timestamp>,
    pub(crate) created_at: Timestamp,
    pub(crate) updated_at: Timestamp,
}

impl ApiKey {
    /// The default keys Meilisearch creates (fixture 159), newest first.
    pub(crate) fn defaults(master_key: &str) -> Vec<ApiKey> {
        let specs: [(&str, &str, &str, &[&str]); 4] = [
            (
                "Default Chat API Key",
                "Use it to chat and search from the frontend",
                "b7281c28-f2d2-48ae-8cf1-bef6dcaa6b54",
                &["chatCompletions", "search"],
            ),
            (
                "Default Read-Only Admin API Key",
                "Use it to read information across the whole database. Caution! Do not expose this key on a public frontend",
                "2bb0df3f-3a9a-48db-ac4c-7efdce4a0585",
                &["*.get", "keys.get"],
            ),
            (
                "Default Admin API Key",
                "Use it for anything that is not a search operation. Caution! Do not expose it on a public frontend",
                "81672ffe-f767-4147-a449-593170975107",
                &["*"],
            ),
            (
                "Default Search API Key",
                "Use it to search from the frontend",
                "4d48ca0c-53de-495c-a48f-6561370dd488",
                &["search"],
            ),
        ];
        let mut keys: Vec<ApiKey> = specs
            .iter()
            .map(|(name, description, uid, actions)| {
                let now = Timestamp::now();
                ApiKey {
                    name: Some((*name).to_owned()),
                    description: Some((*description).to_owned()),
                    key: derive_key(master_key, uid),
                    uid: (*uid).to_owned(),
                    actions: actions.iter().map(|a| (*a).to_owned()).collect(),
                    indexes: vec!["*".to_owned()],
                    expires_at: None,
                    created_at: now,
                    updated_at: now,
                }
            })
            .collect();
        keys.reverse();
        keys
    }

    pub(crate) fn to_json(&self) -> Value {
        json!({
            "name": self.name,
            "description": self.description,
            "key": self.key,
            "uid": self.uid,
            "actions": self.actions,
            "indexes": self.indexes,
            "expiresAt": self.expires_at.map(Timestamp::rfc3339),
            "createdAt": self.created_at.rfc3339(),
            "updatedAt": self.updated_at.rfc3339(),
        })
    }

    pub(crate) fn allows_action(&self, action: &str) -> bool {
        self.actions.iter().any(|a| {
            a == "*"
                || a == action
                || (a == "*.get" && action.ends_with(".get") && action != "keys.get")
                || a.strip_suffix(".*")
                    .is_some_and(|family| action.split('.').next() == Some(family))
        })
    }

    fn expired(&self) -> bool {
        self.expires_at.is_some_and(|t| t <= Timestamp::now())
    }
}

/// Whether index pattern `pattern` (`*`, `prefix*` or a uid) covers `uid`.
fn index_pattern_matches(pattern: &str, uid: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => uid.starts_with(prefix),
        None => pattern == uid,
    }
}

/// What the caller of a request may see: every index (master key, admin keys, no auth) or
/// the index patterns of its API key.
#[derive(Clone, Debug, Default)]
pub(crate) struct Auth {
    pub(crate) indexes: Option<Vec<String>>,
}

impl Auth {
    pub(crate) fn allows(&self, uid: &str) -> bool {
        match &self.indexes {
            None => true,
            Some(patterns) => patterns.iter().any(|p| index_pattern_matches(p, uid)),
        }
    }

    /// 403 `invalid_api_key` with Meilisearch's index message (fixture 165).
    pub(crate) fn check_index(&self, uid: &str) -> ApiResult<()> {
        if self.allows(uid) {
            return Ok(());
        }
        Err(ApiError::auth(
            403,
            format!(
                "The API key cannot acces the index `{uid}`, authorized indexes are {:?}.",
                self.indexes.clone().unwrap_or_default()
            ),
            "invalid_api_key",
        ))
    }
}

/// Authorizes a request for `action`. `None` master key = no authentication.
pub(crate) fn authorize(
    ctx_master: Option<&str>,
    keys: &[ApiKey],
    req: &Request,
    action: &str,
) -> ApiResult<Auth> {
    let Some(master) = ctx_master else {
        return Ok(Auth::default());
    };
    let missing = || {
        ApiError::auth(
            401,
            "The Authorization header is missing. It must use the bearer authorization method.",
            "missing_authorization_header",
        )
    };
    let value = req.header("authorization").ok_or_else(missing)?;
    let token = match value.split_once(' ') {
        Some(("Bearer", token)) => token.trim(),
        _ => return Err(missing()),
    };
    if token == master {
        return Ok(Auth::default());
    }
    let key = keys
        .iter()
        .find(|k| k.key == token && !k.expired() && k.allows_action(action))
        .ok_or_else(ApiError::invalid_api_key)?;
    if key.indexes.iter().any(|i| i == "*") {
        Ok(Auth::default())
    } else {
        Ok(Auth {
            indexes: Some(key.indexes.clone()),
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Routes

fn require_master<'a>(ctx: &'a Ctx<'a>) -> ApiResult<&'a str> {
    ctx.inner.master_key().ok_or_else(|| {
        ApiError::auth(
            401,
            "Meilisearch is running without a master key. To access this API endpoint, you must have set a master key at launch.",
            "missing_master_key",
        )
    })
}

fn find(keys: &[ApiKey], key_or_uid: &str) -> ApiResult<usize> {
    keys.iter()
        .position(|k| k.uid == key_or_uid || k.key == key_or_uid)
        .ok_or_else(|| {
            ApiError::new(
                404,
                format!("API key `{key_or_uid}` not found."),
                "api_key_not_found",
            )
        })
}

pub(crate) fn list(ctx: &Ctx, req: &Request, _: &Params) -> ApiResult<Reply> {
    require_master(ctx)?;
    let q = QueryParams::of(req);
    q.deny_unknown(&["offset", "limit"])?;
    let offset = q.usize("offset", "invalid_api_key_offset")?.unwrap_or(0);
    let limit = q.usize("limit", "invalid_api_key_limit")?.unwrap_or(20);
    let st = ctx.state();
    let mut keys: Vec<&ApiKey> = st.keys.iter().collect();
    keys.sort_by_key(|k| std::cmp::Reverse(k.created_at));
    let results: Vec<Value> = keys
        .iter()
        .skip(offset)
        .take(limit)
        .map(|k| k.to_json())
        .collect();
    Ok(Reply::json(
        200,
        &json!({"results": results, "offset": offset, "limit": limit, "total": keys.len()}),
    ))
}

pub(crate) fn get(ctx: &Ctx, _: &Request, p: &Params) -> ApiResult<Reply> {
    require_master(ctx)?;
    let st = ctx.state();
    let i = find(&st.keys, p.get("key"))?;
    Ok(Reply::json(200, &st.keys[i].to_json()))
}

pub(crate) fn create(ctx: &Ctx, req: &Request, _: &Params) -> ApiResult<Reply> {
    let master = require_master(ctx)?.to_owned();
    let body = json_body(req)?;
    let f = Fields::new(&body, "", "invalid_api_key_")?;
    f.deny_unknown(&[
        "description",
        "name",
        "uid",
        "actions",
        "indexes",
        "expiresAt",
    ])?;
    let description = f.string("description")?;
    let name = f.string("name")?;
    let uid = match f.get("uid") {
        None => uuid_v4(),
        Some(Value::String(s)) if is_uuid_v4(&s.to_ascii_lowercase()) => s.to_ascii_lowercase(),
        Some(v) => {
            return Err(ApiError::new(
                400,
                format!(
                    "Invalid value at `.uid`: `{}` is not a valid UUID v4.",
                    v.as_str()
                        .map(str::to_owned)
                        .unwrap_or_else(|| v.to_string())
                ),
                "invalid_api_key_uid",
            ))
        }
    };
    let actions = match f.map.get("actions") {
        None => return Err(f.missing("actions", "missing_api_key_actions")),
        Some(_) => f.strings("actions")?.unwrap_or_default(),
    };
    for (i, a) in actions.iter().enumerate() {
        if !ACTIONS.contains(&a.as_str()) {
            return Err(ApiError::new(
                400,
                format!(
                    "Unknown value `{a}` at `.actions[{i}]`: expected one of {}",
                    backticked(ACTIONS)
                ),
                "invalid_api_key_actions",
            ));
        }
    }
    let indexes = match f.map.get("indexes") {
        None => return Err(f.missing("indexes", "missing_api_key_indexes")),
        Some(_) => f.strings("indexes")?.unwrap_or_default(),
    };
    for (i, idx) in indexes.iter().enumerate() {
        let base = idx.strip_suffix('*').unwrap_or(idx);
        if !(idx == "*" || base.is_empty() || crate::params::valid_index_uid(base)) {
            return Err(
                crate::params::invalid_index_uid(idx, Some(&format!(".indexes[{i}]")))
                    .with_code("invalid_api_key_indexes"),
            );
        }
    }
    let expires_at = match f.map.get("expiresAt") {
        None => return Err(f.missing("expiresAt", "missing_api_key_expires_at")),
        Some(Value::Null) => None,
        Some(v) => {
            let parsed = v.as_str().and_then(Timestamp::parse);
            match parsed {
                Some(t) if t > Timestamp::now() => Some(t),
                _ => {
                    return Err(ApiError::new(
                        400,
                        format!(
                            "`{}` is not a valid date. It should follow the RFC 3339 format to represents a date or datetime in the future or specified as a null value. e.g. 'YYYY-MM-DD' or 'YYYY-MM-DD HH:MM:SS'.",
                            v.as_str().map(str::to_owned).unwrap_or_else(|| v.to_string())
                        ),
                        "invalid_api_key_expires_at",
                    ))
                }
            }
        }
    };
    let mut st = ctx.state();
    if st.keys.iter().any(|k| k.uid == uid) {
        return Err(ApiError::new(
            409,
            format!("`uid` field value `{uid}` is already an existing API key."),
            "api_key_already_exists",
        ));
    }
    let now = Timestamp::now();
    let key = ApiKey {
        name,
        description,
        key: derive_key(&master, &uid),
        uid,
        actions,
        indexes,
        expires_at,
        created_at: now,
        updated_at: now,
    };
    let out = key.to_json();
    st.keys.push(key);
    Ok(Reply::json(201, &out))
}

pub(crate) fn patch(ctx: &Ctx, req: &Request, p: &Params) -> ApiResult<Reply> {
    require_master(ctx)?;
    let body = json_body(req)?;
    let f = Fields::new(&body, "", "invalid_api_key_")?;
    for immutable in [
        "uid",
        "actions",
        "indexes",
        "expiresAt",
        "createdAt",
        "updatedAt",
        "key",
    ] {
        if f.map.contains_key(immutable) {
            return Err(ApiError::new(
                400,
                format!("Immutable field `{immutable}`: expected one of `description`, `name`"),
                format!("immutable_api_key_{}", crate::util::snake_case(immutable)),
            ));
        }
    }
    f.deny_unknown(&["description", "name"])?;
    let name = f.map.get("name").map(|_| f.string("name")).transpose()?;
    let description = f
        .map
        .get("description")
        .map(|_| f.string("description"))
        .transpose()?;
    let mut st = ctx.state();
    let i = find(&st.keys, p.get("key"))?;
    let key = &mut st.keys[i];
    if let Some(n) = name {
        key.name = n;
    }
    if let Some(d) = description {
        key.description = d;
    }
    key.updated_at = Timestamp::now();
    Ok(Reply::json(200, &key.to_json()))
}

pub(crate) fn delete(ctx: &Ctx, _: &Request, p: &Params) -> ApiResult<Reply> {
    require_master(ctx)?;
    let mut st = ctx.state();
    let i = find(&st.keys, p.get("key"))?;
    st.keys.remove(i);
    Ok(Reply::empty(204))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derivation_matches_meilisearch() {
        // fixtures 159/160: master key fixturesMasterKey0123456789
        assert_eq!(
            derive_key(
                "fixturesMasterKey0123456789",
                "dffacdbd-f163-4f68-bd0a-5123b72048dc"
            ),
            "4e53a8c7b547aa69512e67203da8fdab658eac0177f06505aaf56bfef883f000"
        );
        let defaults = ApiKey::defaults("fixturesMasterKey0123456789");
        assert_eq!(
            defaults[0].key,
            "eaafd88fe87df2b21a7ff437336bb96002954e7a752da6c1d35673b500cdc475"
        );
        assert!(defaults[0].created_at > defaults[1].created_at);
    }

    #[test]
    fn action_and_index_matching() {
        let mut k = ApiKey::defaults("m")[2].clone(); // read-only admin
        assert!(k.allows_action("indexes.get"));
        assert!(k.allows_action("keys.get"));
        assert!(!k.allows_action("search"));
        k.actions = vec!["documents.*".into()];
        assert!(k.allows_action("documents.add"));
        assert!(!k.allows_action("indexes.get"));
        assert!(index_pattern_matches("mov*", "movies"));
        assert!(!index_pattern_matches("movies", "movies_more"));
    }
}
