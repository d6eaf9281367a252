//! Search routes: `/indexes/{uid}/search` (GET and POST), `/multi-search` and
//! `/indexes/{uid}/facet-search`.

use std::collections::{BTreeMap, HashMap};
use std::time::Instant;

use serde_json::{json, Map, Value};

use crate::params::{json_body, ApiError, ApiResult, Fields, QueryParams};
use crate::server::{Ctx, Params, Reply, Request};
use crate::util::uuid_v7;

use super::facets::{facet_names, facet_values, facets, ordered_values, FacetValues};
use super::{execute, Executed, Query};

// ---------------------------------------------------------------------------------------------
// Routes

fn run(ctx: &Ctx, uid: &str, query: &Query) -> ApiResult<Value> {
    let st = ctx.state();
    let index = st.index(uid)?;
    let executed = execute(index, query)?;
    let mut body = executed.response();
    body.insert("requestUid".into(), json!(uuid_v7()));
    Ok(Value::Object(body))
}

/// `POST /indexes/{uid}/search`.
pub(crate) fn post(ctx: &Ctx, req: &Request, p: &Params) -> ApiResult<Reply> {
    let body = json_body(req)?;
    let query = Query::from_json(&body, "", &[])?;
    Ok(Reply::json(200, &run(ctx, p.get("uid"), &query)?))
}

/// `GET /indexes/{uid}/search`.
pub(crate) fn get(ctx: &Ctx, req: &Request, p: &Params) -> ApiResult<Reply> {
    let query = Query::from_query_string(&QueryParams::of(req))?;
    Ok(Reply::json(200, &run(ctx, p.get("uid"), &query)?))
}

/// `POST /multi-search`: plain (`results`) or federated (`federation`: one merged list).
pub(crate) fn multi(ctx: &Ctx, req: &Request, _: &Params) -> ApiResult<Reply> {
    let body = json_body(req)?;
    let f = Fields::new(&body, "", "invalid_multi_search_")?;
    f.deny_unknown(&["queries", "federation"])?;
    let queries = match f.map.get("queries") {
        None => return Err(f.missing("queries", "missing_multi_search_queries")),
        Some(Value::Array(q)) => q,
        Some(v) => return Err(f.type_error("queries", "an array", v)),
    };
    let mut parsed = Vec::new();
    for (i, q) in queries.iter().enumerate() {
        let path = format!(".queries[{i}]");
        let query = Query::from_json(q, &path, &["indexUid", "federationOptions"])?;
        let uid = match q.get("indexUid") {
            Some(Value::String(s)) => s.clone(),
            Some(v) => {
                return Err(ApiError::new(
                    400,
                    format!(
                        "Invalid value type at `{path}.indexUid`: expected a string, but found {}",
                        crate::util::describe(v)
                    ),
                    "invalid_index_uid",
                ))
            }
            None => {
                return Err(ApiError::new(
                    400,
                    format!("Missing field `indexUid` inside `{path}`"),
                    "missing_index_uid",
                ))
            }
        };
        let weight = q
            .get("federationOptions")
            .and_then(|o| o.get("weight"))
            .and_then(Value::as_f64)
            .unwrap_or(1.0);
        let inside = format!("Inside `{path}`: ");
        crate::params::check_index_uid(&uid).map_err(|e| e.prefixed(&inside))?;
        ctx.auth
            .check_index(&uid)
            .map_err(|e| e.prefixed(&inside))?;
        parsed.push((uid, query, weight));
    }
    let request_uid = uuid_v7();
    let st = ctx.state();
    let Some(federation) = f.get("federation") else {
        let mut results = Vec::new();
        for (i, (uid, query, _)) in parsed.iter().enumerate() {
            let executed = run_one(&st, i, uid, query)?;
            let mut body = Map::new();
            body.insert("indexUid".into(), json!(uid));
            body.extend(executed.response());
            body.insert("requestUid".into(), json!(request_uid));
            results.push(Value::Object(body));
        }
        return Ok(Reply::json(200, &json!({ "results": results })));
    };

    // Federated: merge every query's hits by weighted ranking score (stable: query order,
    // then each query's own order).
    let started = Instant::now();
    let fed = Fields::new(
        federation,
        ".federation",
        "invalid_multi_search_federation_",
    )?;
    fed.deny_unknown(&[
        "offset",
        "limit",
        "page",
        "hitsPerPage",
        "facetsByIndex",
        "mergeFacets",
    ])?;
    let page_mode = fed.get("page").is_some() || fed.get("hitsPerPage").is_some();
    let (offset, limit) = if page_mode {
        let hpp = fed.usize("hitsPerPage")?.unwrap_or(20);
        match fed.usize("page")?.unwrap_or(1) {
            0 => (0, 0),
            p => ((p - 1) * hpp, hpp),
        }
    } else {
        (
            fed.usize("offset")?.unwrap_or(0),
            fed.usize("limit")?.unwrap_or(20),
        )
    };
    let mut all = Vec::new();
    let mut executed_list = Vec::new();
    for (i, (uid, query, weight)) in parsed.iter_mut().enumerate() {
        // Each query contributes at most the federation's window, fully ordered.
        query.offset = 0;
        query.limit = offset.saturating_add(limit);
        query.page = None;
        query.hits_per_page = None;
        let executed = run_one(&st, i, uid, query)?;
        for (pos, r) in executed.hits.iter().enumerate() {
            all.push((executed.score(r) * *weight, i, pos));
        }
        executed_list.push(executed);
    }
    all.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)).then(a.2.cmp(&b.2)));
    let total = all.len();
    let hits: Vec<Value> = all
        .iter()
        .skip(offset)
        .take(limit)
        .map(|(score, qi, pos)| {
            let ex = &executed_list[*qi];
            let rendered = ex.render_hit(&ex.hits[*pos]);
            // `_federation` comes before the ranking score fields (fixture 126).
            let (scores, mut hit): (Map<String, Value>, Map<String, Value>) = rendered
                .into_iter()
                .partition(|(k, _)| k.starts_with("_rankingScore"));
            hit.insert(
                "_federation".into(),
                json!({"indexUid": parsed[*qi].0, "queriesPosition": qi, "weightedRankingScore": score}),
            );
            hit.extend(scores);
            Value::Object(hit)
        })
        .collect();
    let mut out = Map::new();
    out.insert("hits".into(), Value::Array(hits));
    out.insert(
        "processingTimeMs".into(),
        json!(started.elapsed().as_millis() as u64),
    );
    if page_mode {
        let hpp = limit;
        out.insert("hitsPerPage".into(), json!(hpp));
        out.insert("page".into(), json!(fed.usize("page")?.unwrap_or(1)));
        out.insert(
            "totalPages".into(),
            json!(if hpp == 0 { 0 } else { total.div_ceil(hpp) }),
        );
        out.insert("totalHits".into(), json!(total));
    } else {
        out.insert("limit".into(), json!(limit));
        out.insert("offset".into(), json!(offset));
        out.insert("estimatedTotalHits".into(), json!(total));
    }
    if let Some(Value::Object(by_index)) = fed.get("facetsByIndex") {
        let mut per_index = Map::new();
        let mut merged_dist: BTreeMap<String, BTreeMap<String, usize>> = BTreeMap::new();
        let mut merged_stats: BTreeMap<String, (f64, f64)> = BTreeMap::new();
        for (uid, requested) in by_index {
            let requested: Vec<String> = requested
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|v| v.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default();
            let index = st.index(uid)?;
            let names = facet_names(index, &requested)?;
            let mut universe: Vec<u32> = executed_list
                .iter()
                .zip(&parsed)
                .filter(|(_, (u, _, _))| u == uid)
                .flat_map(|(e, _)| e.universe.iter().copied())
                .collect();
            universe.sort_unstable();
            universe.dedup();
            let (dist, stats) = facets(index, &universe, &names);
            for (attr, values) in &dist {
                let slot = merged_dist.entry(attr.clone()).or_default();
                for (v, c) in values.as_object().into_iter().flatten() {
                    *slot.entry(v.clone()).or_default() += c.as_u64().unwrap_or(0) as usize;
                }
            }
            for (attr, s) in &stats {
                let (min, max) = (
                    s["min"].as_f64().unwrap_or(0.0),
                    s["max"].as_f64().unwrap_or(0.0),
                );
                let e = merged_stats.entry(attr.clone()).or_insert((min, max));
                e.0 = e.0.min(min);
                e.1 = e.1.max(max);
            }
            per_index.insert(uid.clone(), json!({"distribution": dist, "stats": stats}));
        }
        if fed.get("mergeFacets").is_some() {
            out.insert("facetDistribution".into(), json!(merged_dist));
            let stats: Map<String, Value> = merged_stats
                .into_iter()
                .map(|(k, (min, max))| (k, json!({"min": min, "max": max})))
                .collect();
            out.insert("facetStats".into(), Value::Object(stats));
        } else {
            out.insert("facetsByIndex".into(), Value::Object(per_index));
        }
    }
    out.insert("requestUid".into(), json!(request_uid));
    Ok(Reply::json(200, &Value::Object(out)))
}

fn run_one<'a>(
    st: &'a crate::state::State,
    i: usize,
    uid: &str,
    query: &Query,
) -> ApiResult<Executed<'a>> {
    let inside = format!("Inside `.queries[{i}]`: ");
    let index = st
        .index(uid)
        .map_err(|e| e.prefixed(&inside).with_status(400))?;
    execute(index, query).map_err(|e| e.prefixed(&inside))
}

/// `POST /indexes/{uid}/facet-search`.
pub(crate) fn facet_search(ctx: &Ctx, req: &Request, p: &Params) -> ApiResult<Reply> {
    let started = Instant::now();
    let body = json_body(req)?;
    let f = Fields::new(&body, "", "invalid_facet_search_")?;
    f.deny_unknown(&[
        "facetQuery",
        "facetName",
        "q",
        "filter",
        "matchingStrategy",
        "attributesToSearchOn",
        "rankingScoreThreshold",
        "locales",
        "exhaustiveFacetCount",
    ])?;
    let Some(facet_name) = f.string("facetName")? else {
        return Err(f.missing("facetName", "missing_facet_search_facet_name"));
    };
    let facet_query = f.string("facetQuery")?;
    f.bool("exhaustiveFacetCount")?;
    let mut inner = body.clone();
    if let Value::Object(m) = &mut inner {
        for k in ["facetQuery", "facetName", "exhaustiveFacetCount"] {
            m.remove(k);
        }
    }
    let query = Query::from_json(&inner, "", &[])?;
    let st = ctx.state();
    let index = st.index(p.get("uid"))?;
    if !index.settings.facet_search_enabled() {
        return Err(ApiError::new(
            400,
            "The facet search is disabled for this index",
            "facet_search_disabled",
        ));
    }
    if !index.settings.is_filterable(&facet_name) {
        let mut f = index.settings.filterable();
        f.sort();
        return Err(ApiError::new(
            400,
            format!(
                "Attribute `{facet_name}` is not facet-searchable. Available facet-searchable attributes patterns are: `{}`. To make it facet-searchable add it to the `filterableAttributes` index settings.",
                f.join(", ")
            ),
            "invalid_facet_search_facet_name",
        ));
    }
    let executed = execute(index, &query)?;
    let fv = facet_values(index, &executed.universe, &facet_name);
    let needle = facet_query.as_deref().unwrap_or("").trim().to_lowercase();
    let hits: Vec<Value> = ordered_values(
        index,
        &facet_name,
        &FacetValues {
            counts: fv
                .counts
                .iter()
                .filter(|(key, _)| !fv.numbers.contains_key(*key))
                .filter(|(key, _)| key.starts_with(&needle))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            numbers: HashMap::new(),
            min: None,
            max: None,
        },
    )
    .into_iter()
    .map(|(value, count)| json!({"value": value, "count": count}))
    .collect();
    Ok(Reply::json(
        200,
        &json!({
            "facetHits": hits,
            "facetQuery": facet_query,
            "processingTimeMs": started.elapsed().as_millis() as u64,
        }),
    ))
}
