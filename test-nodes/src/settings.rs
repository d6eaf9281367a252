//! Index settings: defaults (fixture 024), validation of updates (synchronous 400s), application
//! of a settings task, typed accessors used by search, and the settings routes.

use serde_json::{json, Map, Value};

use crate::params::{json_body, ApiError, ApiResult};
use crate::server::{Ctx, Params, Reply, Request};
use crate::state::State;
use crate::tasks::{self, Kind};
use crate::util::{backticked, describe, snake_case};

/// Fields accepted by `PATCH /indexes/{uid}/settings`, in Meilisearch's order (fixture 037).
pub(crate) const ACCEPTED_FIELDS: &[&str] = &[
    "displayedAttributes",
    "searchableAttributes",
    "filterableAttributes",
    "sortableAttributes",
    "foreignKeys",
    "rankingRules",
    "stopWords",
    "nonSeparatorTokens",
    "separatorTokens",
    "dictionary",
    "synonyms",
    "distinctAttribute",
    "proximityPrecision",
    "typoTolerance",
    "faceting",
    "pagination",
    "embedders",
    "searchCutoffMs",
    "localizedAttributes",
    "facetSearch",
    "prefixSearch",
    "chat",
];

/// Settings sub-routes: (path segment, field, update method).
pub(crate) const SUB_ROUTES: &[(&str, &str, &str)] = &[
    ("filterable-attributes", "filterableAttributes", "PUT"),
    ("sortable-attributes", "sortableAttributes", "PUT"),
    ("displayed-attributes", "displayedAttributes", "PUT"),
    ("searchable-attributes", "searchableAttributes", "PUT"),
    ("ranking-rules", "rankingRules", "PUT"),
    ("stop-words", "stopWords", "PUT"),
    ("non-separator-tokens", "nonSeparatorTokens", "PUT"),
    ("separator-tokens", "separatorTokens", "PUT"),
    ("dictionary", "dictionary", "PUT"),
    ("synonyms", "synonyms", "PUT"),
    ("distinct-attribute", "distinctAttribute", "PUT"),
    ("proximity-precision", "proximityPrecision", "PUT"),
    ("typo-tolerance", "typoTolerance", "PATCH"),
    ("faceting", "faceting", "PATCH"),
    ("pagination", "pagination", "PATCH"),
    ("embedders", "embedders", "PATCH"),
    ("search-cutoff-ms", "searchCutoffMs", "PUT"),
    ("localized-attributes", "localizedAttributes", "PUT"),
    ("facet-search", "facetSearch", "PUT"),
    ("prefix-search", "prefixSearch", "PUT"),
];

/// The v1.50 default ranking rules.
pub(crate) const DEFAULT_RANKING_RULES: &[&str] = &[
    "words",
    "typo",
    "proximity",
    "attributeRank",
    "sort",
    "wordPosition",
    "exactness",
];

const BUILTIN_RULES: &[&str] = &[
    "words",
    "typo",
    "proximity",
    "attribute",
    "attributeRank",
    "wordPosition",
    "sort",
    "exactness",
];

/// The default value of a displayed settings field (fixture 024).
fn default_of(field: &str) -> Value {
    match field {
        "displayedAttributes" | "searchableAttributes" => json!(["*"]),
        "filterableAttributes"
        | "sortableAttributes"
        | "stopWords"
        | "nonSeparatorTokens"
        | "separatorTokens"
        | "dictionary" => json!([]),
        "rankingRules" => json!(DEFAULT_RANKING_RULES),
        "synonyms" | "embedders" => json!({}),
        "proximityPrecision" => json!("byWord"),
        "typoTolerance" => json!({
            "enabled": true,
            "minWordSizeForTypos": {"oneTypo": 5, "twoTypos": 9},
            "disableOnWords": [],
            "disableOnAttributes": [],
            "disableOnNumbers": false,
        }),
        "faceting" => json!({"maxValuesPerFacet": 100, "sortFacetValuesBy": {"*": "alpha"}}),
        "pagination" => json!({"maxTotalHits": 1000}),
        "facetSearch" => json!(true),
        "prefixSearch" => json!("indexingTime"),
        // distinctAttribute, searchCutoffMs, localizedAttributes, foreignKeys, chat
        _ => Value::Null,
    }
}

/// Accepted fields the double does not model: never shown, never applied.
const UNMODELLED_FIELDS: &[&str] = &["foreignKeys", "chat"];

/// Fields shown by `GET /indexes/{uid}/settings` (fixture 024 order).
fn displayed_fields() -> impl Iterator<Item = &'static str> {
    ACCEPTED_FIELDS
        .iter()
        .copied()
        .filter(|f| !UNMODELLED_FIELDS.contains(f))
}

/// The settings of one index, stored as the JSON Meilisearch shows.
#[derive(Clone, Debug)]
pub(crate) struct Settings(Map<String, Value>);

impl Default for Settings {
    fn default() -> Self {
        Settings(
            displayed_fields()
                .map(|f| (f.to_owned(), default_of(f)))
                .collect(),
        )
    }
}

impl Settings {
    /// What `GET /settings` answers.
    pub(crate) fn to_json(&self) -> Value {
        Value::Object(self.0.clone())
    }

    pub(crate) fn get(&self, field: &str) -> Value {
        self.0
            .get(field)
            .cloned()
            .unwrap_or_else(|| default_of(field))
    }

    fn string_list(&self, field: &str) -> Vec<String> {
        match self.0.get(field) {
            Some(Value::Array(a)) => a
                .iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect(),
            _ => Vec::new(),
        }
    }

    /// `None` = every attribute (`["*"]`).
    pub(crate) fn searchable(&self) -> Option<Vec<String>> {
        let list = self.string_list("searchableAttributes");
        (!list.iter().any(|a| a == "*")).then_some(list)
    }

    /// `None` = every attribute (`["*"]`).
    pub(crate) fn displayed(&self) -> Option<Vec<String>> {
        let list = self.string_list("displayedAttributes");
        (!list.iter().any(|a| a == "*")).then_some(list)
    }

    /// Filterable attribute patterns (strings, or `attributePatterns` of the object form).
    pub(crate) fn filterable(&self) -> Vec<String> {
        let mut out = Vec::new();
        if let Some(Value::Array(items)) = self.0.get("filterableAttributes") {
            for item in items {
                match item {
                    Value::String(s) => out.push(s.clone()),
                    Value::Object(o) => {
                        if let Some(Value::Array(p)) = o.get("attributePatterns") {
                            out.extend(p.iter().filter_map(|v| v.as_str().map(str::to_owned)));
                        }
                    }
                    _ => {}
                }
            }
        }
        out
    }

    pub(crate) fn is_filterable(&self, attr: &str) -> bool {
        self.filterable().iter().any(|p| attribute_matches(p, attr))
    }

    pub(crate) fn sortable(&self) -> Vec<String> {
        self.string_list("sortableAttributes")
    }

    pub(crate) fn is_sortable(&self, attr: &str) -> bool {
        self.sortable().iter().any(|p| attribute_matches(p, attr))
    }

    pub(crate) fn ranking_rules(&self) -> Vec<String> {
        self.string_list("rankingRules")
    }

    pub(crate) fn distinct(&self) -> Option<String> {
        self.0
            .get("distinctAttribute")
            .and_then(|v| v.as_str().map(str::to_owned))
    }

    pub(crate) fn stop_words(&self) -> Vec<String> {
        self.string_list("stopWords")
            .into_iter()
            .map(|w| w.to_lowercase())
            .collect()
    }

    /// Synonyms as lowercase word → lowercase alternatives.
    pub(crate) fn synonyms(&self) -> Vec<(String, Vec<String>)> {
        match self.0.get("synonyms") {
            Some(Value::Object(m)) => m
                .iter()
                .map(|(k, v)| {
                    let alts = v
                        .as_array()
                        .map(|a| {
                            a.iter()
                                .filter_map(|s| s.as_str().map(str::to_lowercase))
                                .collect()
                        })
                        .unwrap_or_default();
                    (k.to_lowercase(), alts)
                })
                .collect(),
            _ => Vec::new(),
        }
    }

    pub(crate) fn typo(&self) -> TypoSettings {
        let t = self.get("typoTolerance");
        let min = &t["minWordSizeForTypos"];
        TypoSettings {
            enabled: t["enabled"].as_bool().unwrap_or(true),
            one_typo: min["oneTypo"].as_u64().unwrap_or(5) as usize,
            two_typos: min["twoTypos"].as_u64().unwrap_or(9) as usize,
            disable_on_words: t["disableOnWords"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|s| s.as_str().map(str::to_lowercase))
                        .collect()
                })
                .unwrap_or_default(),
            disable_on_numbers: t["disableOnNumbers"].as_bool().unwrap_or(false),
        }
    }

    pub(crate) fn max_values_per_facet(&self) -> usize {
        self.get("faceting")["maxValuesPerFacet"]
            .as_u64()
            .unwrap_or(100) as usize
    }

    /// `true` = sort facet values by count, else alphabetically.
    pub(crate) fn facet_sort_by_count(&self, attr: &str) -> bool {
        let by = self.get("faceting")["sortFacetValuesBy"].clone();
        let value = by.get(attr).or_else(|| by.get("*"));
        value.and_then(Value::as_str) == Some("count")
    }

    pub(crate) fn max_total_hits(&self) -> usize {
        self.get("pagination")["maxTotalHits"]
            .as_u64()
            .unwrap_or(1000) as usize
    }

    pub(crate) fn facet_search_enabled(&self) -> bool {
        self.get("facetSearch").as_bool().unwrap_or(true)
    }

    pub(crate) fn prefix_search_enabled(&self) -> bool {
        self.get("prefixSearch").as_str() != Some("disabled")
    }

    /// Applies a validated patch (`null` resets a field). Returns whether the documents must be
    /// re-tokenized.
    pub(crate) fn apply(&mut self, patch: &Map<String, Value>) -> bool {
        let mut reindex = false;
        for (field, value) in patch {
            if !displayed_fields().any(|f| f == field) {
                continue; // accepted but not modelled
            }
            if field == "searchableAttributes" {
                reindex = true;
            }
            let new = match (field.as_str(), value) {
                (_, Value::Null) => default_of(field),
                ("typoTolerance" | "faceting" | "pagination", Value::Object(p)) => {
                    merge_object(self.get(field), p, &default_of(field))
                }
                ("embedders", Value::Object(p)) => {
                    let mut current = self.get(field);
                    if let Value::Object(cur) = &mut current {
                        for (name, conf) in p {
                            if conf.is_null() {
                                cur.remove(name);
                            } else {
                                cur.insert(name.clone(), conf.clone());
                            }
                        }
                    }
                    current
                }
                _ => value.clone(),
            };
            self.0.insert(field.clone(), new);
        }
        reindex
    }
}

/// Merges `patch` into `current`; `null` in the patch resets to `defaults`.
fn merge_object(current: Value, patch: &Map<String, Value>, defaults: &Value) -> Value {
    let mut out = match current {
        Value::Object(m) => m,
        _ => Map::new(),
    };
    for (k, v) in patch {
        let new = match v {
            Value::Null => defaults.get(k).cloned().unwrap_or(Value::Null),
            Value::Object(inner) if k != "sortFacetValuesBy" => merge_object(
                out.get(k).cloned().unwrap_or(Value::Null),
                inner,
                defaults.get(k).unwrap_or(&Value::Null),
            ),
            Value::Object(inner) => {
                let mut cur = match out.get(k) {
                    Some(Value::Object(m)) => m.clone(),
                    _ => Map::new(),
                };
                for (a, b) in inner {
                    cur.insert(a.clone(), b.clone());
                }
                Value::Object(cur)
            }
            other => other.clone(),
        };
        out.insert(k.clone(), new);
    }
    Value::Object(out)
}

pub(crate) struct TypoSettings {
    pub(crate) enabled: bool,
    pub(crate) one_typo: usize,
    pub(crate) two_typos: usize,
    pub(crate) disable_on_words: Vec<String>,
    pub(crate) disable_on_numbers: bool,
}

/// Whether attribute pattern `pattern` (a name, `*`, `prefix*`, `*suffix`) covers `attr`;
/// a pattern also covers the nested fields of the attribute it names (`a` covers `a.b`).
pub(crate) fn attribute_matches(pattern: &str, attr: &str) -> bool {
    if pattern == "*" || pattern == attr {
        return true;
    }
    if attr.len() > pattern.len()
        && attr.starts_with(pattern)
        && attr.as_bytes()[pattern.len()] == b'.'
    {
        return true;
    }
    match (pattern.strip_prefix('*'), pattern.strip_suffix('*')) {
        (Some(rest), _) if rest.ends_with('*') && rest.len() > 1 => {
            attr.contains(&rest[..rest.len() - 1])
        }
        (Some(suffix), _) => attr.ends_with(suffix),
        (None, Some(prefix)) => attr.starts_with(prefix),
        (None, None) => false,
    }
}

// ---------------------------------------------------------------------------------------------
// Validation

fn field_error(path: &str, field: &str, expected: &str, found: &Value) -> ApiError {
    let at = if path.is_empty() {
        String::new()
    } else {
        format!(" at `{path}`")
    };
    ApiError::new(
        400,
        format!(
            "Invalid value type{at}: expected {expected}, but found {}",
            describe(found)
        ),
        format!("invalid_settings_{}", snake_case(field)),
    )
}

fn strings_of(v: &Value, path: &str, field: &str) -> ApiResult<Vec<String>> {
    let Value::Array(items) = v else {
        return Err(field_error(path, field, "an array", v));
    };
    items
        .iter()
        .enumerate()
        .map(|(i, item)| match item {
            Value::String(s) => Ok(s.clone()),
            other => Err(field_error(
                &format!("{path}[{i}]"),
                field,
                "a string",
                other,
            )),
        })
        .collect()
}

fn sorted_set(mut items: Vec<String>) -> Value {
    items.sort();
    items.dedup();
    json!(items)
}

fn unknown_value(path: &str, field: &str, value: &str, expected: &[&str]) -> ApiError {
    ApiError::new(
        400,
        format!(
            "Unknown value `{value}` at `{path}`: expected one of {}",
            backticked(expected)
        ),
        format!("invalid_settings_{}", snake_case(field)),
    )
}

fn check_object_fields(
    v: &Map<String, Value>,
    path: &str,
    field: &str,
    allowed: &[&str],
) -> ApiResult<()> {
    if let Some(k) = v.keys().find(|k| !allowed.contains(&k.as_str())) {
        return Err(ApiError::new(
            400,
            format!(
                "Unknown field `{k}` inside `{path}`: expected one of {}",
                backticked(allowed)
            ),
            format!("invalid_settings_{}", snake_case(field)),
        ));
    }
    Ok(())
}

/// Validates and normalizes the value of one settings field. `path` is where the value sits in
/// the request (`.rankingRules` in a PATCH body, empty on a sub-route).
pub(crate) fn validate_field(field: &str, v: &Value, path: &str) -> ApiResult<Value> {
    if v.is_null() {
        return Ok(Value::Null);
    }
    let code = format!("invalid_settings_{}", snake_case(field));
    match field {
        "displayedAttributes" | "searchableAttributes" => {
            let list = strings_of(v, path, field)?;
            if list.iter().any(|a| a == "*") {
                Ok(json!(["*"]))
            } else {
                Ok(json!(list))
            }
        }
        "sortableAttributes" | "stopWords" | "nonSeparatorTokens" | "separatorTokens"
        | "dictionary" => Ok(sorted_set(strings_of(v, path, field)?)),
        "filterableAttributes" => {
            let Value::Array(items) = v else {
                return Err(field_error(path, field, "an array", v));
            };
            for (i, item) in items.iter().enumerate() {
                match item {
                    Value::String(_) => {}
                    Value::Object(o) => {
                        let p = format!("{path}[{i}]");
                        check_object_fields(o, &p, field, &["attributePatterns", "features"])?;
                        match o.get("attributePatterns") {
                            Some(ap) => {
                                strings_of(ap, &format!("{p}.attributePatterns"), field)?;
                            }
                            None => {
                                return Err(ApiError::new(
                                    400,
                                    format!("Missing field `attributePatterns` inside `{p}`"),
                                    code,
                                ))
                            }
                        }
                    }
                    other => {
                        return Err(field_error(
                            &format!("{path}[{i}]"),
                            field,
                            "a string or an object",
                            other,
                        ))
                    }
                }
            }
            Ok(v.clone())
        }
        "rankingRules" => {
            let list = strings_of(v, path, field)?;
            for (i, rule) in list.iter().enumerate() {
                let custom = rule
                    .rsplit_once(':')
                    .is_some_and(|(f, dir)| !f.is_empty() && (dir == "asc" || dir == "desc"));
                if !(BUILTIN_RULES.contains(&rule.as_str()) || custom) {
                    return Err(ApiError::new(
                        400,
                        format!(
                            "Invalid value at `{path}[{i}]`: `{rule}` ranking rule is invalid. Valid ranking rules are words, typo, sort, proximity, attribute, exactness and custom ranking rules."
                        ),
                        code,
                    ));
                }
            }
            Ok(json!(list))
        }
        "synonyms" => {
            let Value::Object(m) = v else {
                return Err(field_error(path, field, "a map", v));
            };
            let mut out = Map::new();
            for (k, alts) in m {
                let mut list = strings_of(alts, &format!("{path}.{k}"), field)?;
                list.dedup();
                out.insert(k.clone(), json!(list));
            }
            Ok(Value::Object(out))
        }
        "distinctAttribute" => match v {
            Value::String(_) => Ok(v.clone()),
            other => Err(field_error(path, field, "a string", other)),
        },
        "proximityPrecision" => match v.as_str() {
            Some("byWord" | "byAttribute") => Ok(v.clone()),
            Some(s) => Err(unknown_value(path, field, s, &["byWord", "byAttribute"])),
            None => Err(field_error(path, field, "a string", v)),
        },
        "prefixSearch" => match v.as_str() {
            Some("indexingTime" | "disabled") => Ok(v.clone()),
            Some(s) => Err(unknown_value(path, field, s, &["indexingTime", "disabled"])),
            None => Err(field_error(path, field, "a string", v)),
        },
        "facetSearch" => match v {
            Value::Bool(_) => Ok(v.clone()),
            other => Err(field_error(path, field, "a boolean", other)),
        },
        "searchCutoffMs" => match v {
            Value::Number(n) if n.is_u64() => Ok(v.clone()),
            other => Err(field_error(path, field, "a positive integer", other)),
        },
        "typoTolerance" => {
            let Value::Object(o) = v else {
                return Err(field_error(path, field, "a map", v));
            };
            check_object_fields(
                o,
                path,
                field,
                &[
                    "enabled",
                    "minWordSizeForTypos",
                    "disableOnWords",
                    "disableOnAttributes",
                    "disableOnNumbers",
                ],
            )?;
            for key in ["enabled", "disableOnNumbers"] {
                if let Some(b) = o.get(key).filter(|b| !b.is_null() && !b.is_boolean()) {
                    return Err(field_error(&format!("{path}.{key}"), field, "a boolean", b));
                }
            }
            for key in ["disableOnWords", "disableOnAttributes"] {
                if let Some(list) = o.get(key).filter(|l| !l.is_null()) {
                    strings_of(list, &format!("{path}.{key}"), field)?;
                }
            }
            if let Some(min) = o.get("minWordSizeForTypos").filter(|m| !m.is_null()) {
                let p = format!("{path}.minWordSizeForTypos");
                let Value::Object(m) = min else {
                    return Err(field_error(&p, field, "a map", min));
                };
                check_object_fields(m, &p, field, &["oneTypo", "twoTypos"])?;
                for (k, n) in m {
                    if !(n.is_null() || n.as_u64().is_some_and(|x| x <= 255)) {
                        return Err(field_error(
                            &format!("{p}.{k}"),
                            field,
                            "a positive integer",
                            n,
                        ));
                    }
                }
            }
            Ok(v.clone())
        }
        "faceting" => {
            let Value::Object(o) = v else {
                return Err(field_error(path, field, "a map", v));
            };
            check_object_fields(o, path, field, &["maxValuesPerFacet", "sortFacetValuesBy"])?;
            if let Some(n) = o.get("maxValuesPerFacet").filter(|n| !n.is_null()) {
                if !n.is_u64() {
                    return Err(field_error(
                        &format!("{path}.maxValuesPerFacet"),
                        field,
                        "a positive integer",
                        n,
                    ));
                }
            }
            if let Some(by) = o.get("sortFacetValuesBy").filter(|n| !n.is_null()) {
                let p = format!("{path}.sortFacetValuesBy");
                let Value::Object(m) = by else {
                    return Err(field_error(&p, field, "a map", by));
                };
                for (k, order) in m {
                    match order.as_str() {
                        Some("alpha" | "count") => {}
                        Some(s) => {
                            return Err(unknown_value(
                                &format!("{p}.{k}"),
                                field,
                                s,
                                &["alpha", "count"],
                            ))
                        }
                        None => {
                            return Err(field_error(&format!("{p}.{k}"), field, "a string", order))
                        }
                    }
                }
            }
            Ok(v.clone())
        }
        "pagination" => {
            let Value::Object(o) = v else {
                return Err(field_error(path, field, "a map", v));
            };
            check_object_fields(o, path, field, &["maxTotalHits"])?;
            if let Some(n) = o.get("maxTotalHits").filter(|n| !n.is_null()) {
                if !n.is_u64() {
                    return Err(field_error(
                        &format!("{path}.maxTotalHits"),
                        field,
                        "a positive integer",
                        n,
                    ));
                }
            }
            Ok(v.clone())
        }
        "embedders" => match v {
            Value::Object(_) => Ok(v.clone()),
            other => Err(field_error(path, field, "a map", other)),
        },
        "localizedAttributes" => match v {
            Value::Array(_) => Ok(v.clone()),
            other => Err(field_error(path, field, "an array", other)),
        },
        // foreignKeys, chat: accepted as is.
        _ => Ok(v.clone()),
    }
}

/// Validates a `PATCH /settings` body into a normalized patch (also the task details).
pub(crate) fn validate_patch(body: &Value) -> ApiResult<Map<String, Value>> {
    let Value::Object(map) = body else {
        return Err(ApiError::bad_request(format!(
            "Invalid value type: expected an object, but found {}",
            describe(body)
        )));
    };
    if let Some(k) = map.keys().find(|k| !ACCEPTED_FIELDS.contains(&k.as_str())) {
        return Err(ApiError::bad_request(format!(
            "Unknown field `{k}`: expected one of {}",
            backticked(ACCEPTED_FIELDS)
        )));
    }
    // Validate in Meilisearch's field order so that the first error reported is the same.
    let mut out = Map::new();
    for field in ACCEPTED_FIELDS {
        if let Some(v) = map.get(*field) {
            out.insert(
                (*field).to_owned(),
                validate_field(field, v, &format!(".{field}"))?,
            );
        }
    }
    Ok(out)
}

/// Applies a `settingsUpdate` task (the index is created if missing).
pub(crate) fn apply(
    state: &mut State,
    index_uid: &str,
    patch: &Map<String, Value>,
) -> ApiResult<Map<String, Value>> {
    let index = state.index_or_create(index_uid);
    let reindex = index.settings.apply(patch);
    if reindex {
        index.reindex();
    }
    index.touch();
    Ok(Map::new())
}

// ---------------------------------------------------------------------------------------------
// Routes

pub(crate) fn get_all(ctx: &Ctx, _: &Request, p: &Params) -> ApiResult<Reply> {
    let st = ctx.state();
    let index = st.index(p.get("uid"))?;
    Ok(Reply::json(200, &index.settings.to_json()))
}

pub(crate) fn patch_all(ctx: &Ctx, req: &Request, p: &Params) -> ApiResult<Reply> {
    let uid = p.get("uid");
    crate::params::check_index_uid(uid)?;
    let body = json_body(req)?;
    let patch = validate_patch(&body)?;
    Ok(enqueue(ctx, uid, patch))
}

pub(crate) fn delete_all(ctx: &Ctx, _: &Request, p: &Params) -> ApiResult<Reply> {
    let uid = p.get("uid");
    crate::params::check_index_uid(uid)?;
    ctx.state().index(uid)?;
    let patch: Map<String, Value> = displayed_fields()
        .map(|f| (f.to_owned(), Value::Null))
        .collect();
    Ok(enqueue(ctx, uid, patch))
}

/// The settings field of a sub-route request (`.../settings/filterable-attributes`).
fn sub_field(req: &Request) -> &'static str {
    let last = req.path.rsplit('/').next().unwrap_or("");
    SUB_ROUTES
        .iter()
        .find(|(seg, _, _)| *seg == last)
        .map(|(_, field, _)| *field)
        .unwrap_or("")
}

pub(crate) fn get_one(ctx: &Ctx, req: &Request, p: &Params) -> ApiResult<Reply> {
    let st = ctx.state();
    let index = st.index(p.get("uid"))?;
    Ok(Reply::json(200, &index.settings.get(sub_field(req))))
}

pub(crate) fn update_one(ctx: &Ctx, req: &Request, p: &Params) -> ApiResult<Reply> {
    let uid = p.get("uid");
    crate::params::check_index_uid(uid)?;
    let field = sub_field(req);
    let body = json_body(req)?;
    let value = validate_field(field, &body, "")?;
    let mut patch = Map::new();
    patch.insert(field.to_owned(), value);
    Ok(enqueue(ctx, uid, patch))
}

pub(crate) fn delete_one(ctx: &Ctx, req: &Request, p: &Params) -> ApiResult<Reply> {
    let uid = p.get("uid");
    crate::params::check_index_uid(uid)?;
    ctx.state().index(uid)?;
    let mut patch = Map::new();
    patch.insert(sub_field(req).to_owned(), Value::Null);
    Ok(enqueue(ctx, uid, patch))
}

fn enqueue(ctx: &Ctx, uid: &str, patch: Map<String, Value>) -> Reply {
    let details = patch.clone();
    let summary = tasks::enqueue(ctx, Some(uid.to_owned()), Kind::Settings { patch }, details);
    Reply::json(202, &summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns() {
        assert!(attribute_matches("*", "x"));
        assert!(attribute_matches("a", "a"));
        assert!(attribute_matches("a", "a.b"));
        assert!(!attribute_matches("a", "ab"));
        assert!(attribute_matches("_miroir*", "_miroir_shard"));
        assert!(attribute_matches("*_id", "user_id"));
        assert!(!attribute_matches("*_id", "user"));
    }

    #[test]
    fn patch_normalizes_and_validates() {
        let patch = validate_patch(&json!({
            "sortableAttributes": ["year", "rating", "title"],
            "synonyms": {"scifi": ["science fiction"]},
        }))
        .unwrap();
        assert_eq!(
            patch["sortableAttributes"],
            json!(["rating", "title", "year"])
        );
        let err = validate_patch(&json!({"rankingRules": ["words", "bogus"]})).unwrap_err();
        assert_eq!(err.code, "invalid_settings_ranking_rules");
        let err = validate_patch(&json!({"filterableAttributes": "x"})).unwrap_err();
        assert_eq!(err.code, "invalid_settings_filterable_attributes");
        assert!(
            err.message.contains("`.filterableAttributes`"),
            "{}",
            err.message
        );
    }

    #[test]
    fn nested_settings_merge() {
        let mut s = Settings::default();
        s.apply(
            validate_patch(&json!({"typoTolerance": {"minWordSizeForTypos": {"oneTypo": 4}}}))
                .as_ref()
                .unwrap(),
        );
        let t = s.get("typoTolerance");
        assert_eq!(
            t["minWordSizeForTypos"],
            json!({"oneTypo": 4, "twoTypos": 9})
        );
        assert_eq!(t["enabled"], true);
        s.apply(&validate_patch(&json!({"typoTolerance": null})).unwrap());
        assert_eq!(s.get("typoTolerance"), default_of("typoTolerance"));
    }
}
