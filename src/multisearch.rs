//! `POST /multi-search` (plain and federated) and
//! `POST /indexes/{uid}/facet-search`, built on the single-index search.

use std::collections::BTreeMap;

use miroir_io::{Request, Response};
use miroir_merge::federation::{
    check_compatible, compare_hits, score_values, FederatedQuery, QueryKind, QueryRules, ScoreValue,
};
use miroir_merge::merge_facet_search;
use serde_json::{json, Map, Value};

use crate::api::{Api, IndexSettings, RequestTrace};
use crate::auth::ClientAuth;
use crate::nodes::join_in_order;
use crate::routes::{index_not_found, join_numbers, json_object, json_response, shard_unavailable};
use crate::search::{plan, with_shard_filter, Pagination};

/// A per-query error as multi-search reports it: 400, message prefixed
/// with the query's position.
fn query_error(position: usize, error: Response) -> Response {
    reworded(
        error,
        |code| code,
        |message| format!("Inside `.queries[{position}]`: {message}"),
    )
}

/// `error` (a Meilisearch-shaped error) with its code renamed and its message reworded, as a
/// multi-search reports what one of its parts answered: 4xx become 400.
fn reworded(
    error: Response,
    rename: impl FnOnce(&str) -> &str,
    reword: impl FnOnce(&str) -> String,
) -> Response {
    let value: Value = serde_json::from_slice(&error.body).unwrap_or(Value::Null);
    let message = value["message"].as_str().unwrap_or("The query failed.");
    let code = rename(value["code"].as_str().unwrap_or("internal"));
    let kind = value["type"].as_str().unwrap_or("internal");
    let status = if (400..500).contains(&error.status) {
        400
    } else {
        error.status
    };
    Response::error(status, code, kind, &reword(message))
}

/// How an index orders a facet's values (its `faceting.sortFacetValuesBy`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum FacetOrder {
    Alpha,
    Count,
}

impl FacetOrder {
    /// The order `sort_by` (a `sortFacetValuesBy` object) gives `facet`: its own entry, else
    /// `*`, else alphabetical.
    fn of(sort_by: Option<&Value>, facet: &str) -> FacetOrder {
        if sort_by.is_some_and(|s| miroir_merge::facet_values_by_count(s, facet)) {
            FacetOrder::Count
        } else {
            FacetOrder::Alpha
        }
    }

    /// As Meilisearch's messages say it.
    fn describe(self) -> &'static str {
        match self {
            FacetOrder::Alpha => "alphabetically",
            FacetOrder::Count => "by count",
        }
    }
}

/// Per facet: the first index (in uid order) that has it, and how that index orders its
/// values.
type FacetOrders = BTreeMap<String, (String, FacetOrder)>;

/// How Meilisearch's `facetsByIndex` errors end: which query uses the index, if any.
fn facets_note(uid: &str, first_query: Option<usize>) -> String {
    match first_query {
        Some(position) => format!("\n - Note: index `{uid}` used in `.queries[{position}]`"),
        None => format!("\n - Note: index `{uid}` is not used in queries"),
    }
}

/// Meilisearch's check that `mergeFacets` can merge index `uid`'s facets with those of the
/// indexes before it (`orders`, which it extends): every index orders a facet's values the
/// same way.
fn check_facet_order(
    orders: &mut FacetOrders,
    uid: &str,
    first_query: Option<usize>,
    facets: &[String],
    sort_by: Option<&Value>,
) -> Result<(), Response> {
    for facet in facets {
        let order = FacetOrder::of(sort_by, facet);
        let (previous_uid, previous) = orders
            .entry(facet.clone())
            .or_insert_with(|| (uid.to_owned(), order));
        if *previous != order {
            return Err(Response::error(
                400,
                "invalid_multi_search_facet_order",
                "invalid_request",
                &format!(
                    "Inside `.federation.facetsByIndex.{uid}`: Inconsistent order for values in facet `{facet}`: index `{previous_uid}` orders {}, but index `{uid}` orders {}.\n - Hint: Remove `federation.mergeFacets` or change `faceting.sortFacetValuesBy` to be consistent in settings.{}",
                    previous.describe(),
                    order.describe(),
                    facets_note(uid, first_query),
                ),
            ));
        }
    }
    Ok(())
}

/// An error about an index's `facetsByIndex` entry, as Meilisearch words it: the entry's path
/// first, which query uses the index last; a facet refused is `invalid_multi_search_facets`
/// there.
fn facets_error(uid: &str, first_query: Option<usize>, error: Response) -> Response {
    reworded(
        error,
        |code| match code {
            "invalid_search_facets" => "invalid_multi_search_facets",
            code => code,
        },
        |message| {
            format!(
                "Inside `.federation.facetsByIndex.{uid}`: {message}{}",
                facets_note(uid, first_query)
            )
        },
    )
}

/// Whether a node refused a search for its `facets` (what `facetsByIndex` put there).
fn is_facets_error(error: &Response) -> bool {
    serde_json::from_slice::<Value>(&error.body).is_ok_and(|v| v["code"] == "invalid_search_facets")
}

/// `facetDistribution` and `facetStats` merged over the indexes of a federated search
/// (`by_index`: uid → `{"distribution", "stats"}`) as Meilisearch merges them: counts summed,
/// values in byte order (by decreasing count, then byte order, for the facets `orders` says
/// the indexes order by count), cut to `max_values` per facet when given; min of mins, max of
/// maxes. `None` when no index computed facets.
fn merged_facets(
    by_index: &Map<String, Value>,
    max_values: Option<usize>,
    orders: &FacetOrders,
) -> Result<Option<(Value, Value)>, miroir_merge::MergeError> {
    if by_index.is_empty() {
        return Ok(None);
    }
    let mut distribution: BTreeMap<&str, BTreeMap<&str, u64>> = BTreeMap::new();
    for dist in by_index
        .values()
        .filter_map(|f| f["distribution"].as_object())
    {
        for (facet, values) in dist {
            let merged = distribution.entry(facet).or_default();
            for (value, count) in values.as_object().into_iter().flatten() {
                *merged.entry(value).or_default() += count.as_u64().unwrap_or(0);
            }
        }
    }
    let distribution: Map<String, Value> = distribution
        .into_iter()
        .map(|(facet, values)| {
            let mut values: Vec<(&str, u64)> = values.into_iter().collect();
            if orders
                .get(facet)
                .is_some_and(|(_, o)| *o == FacetOrder::Count)
            {
                values.sort_by_key(|&(_, count)| std::cmp::Reverse(count));
            }
            let values: Map<String, Value> = values
                .into_iter()
                .take(max_values.unwrap_or(usize::MAX))
                .map(|(v, c)| (v.to_owned(), Value::from(c)))
                .collect();
            (facet.to_owned(), Value::Object(values))
        })
        .collect();
    let stats: Vec<Vec<u8>> = by_index
        .values()
        .filter_map(|f| f.get("stats").filter(|v| v.is_object()))
        .map(|v| serde_json::to_vec(v).unwrap_or_default())
        .collect();
    let stats: Vec<&[u8]> = stats.iter().map(Vec::as_slice).collect();
    let mut stats_out = Vec::new();
    miroir_merge::merge_facet_stats(&stats, &mut stats_out)?;
    let stats = serde_json::from_slice(&stats_out).unwrap_or_else(|_| json!({}));
    Ok(Some((Value::Object(distribution), stats)))
}

/// Which ranking fields the client asked a query's hits to show.
#[derive(Clone, Copy)]
struct Shown {
    score: bool,
    details: bool,
    /// The index's primary key was added to the client's `attributesToRetrieve` (federated
    /// search tells documents apart by it) and is removed from the hits again: `Some(true)`
    /// when it also goes from `_formatted` (the query neither highlights nor crops it, which
    /// would show it there in Meilisearch).
    primary_key: Option<bool>,
}

/// Adds `primary_key` to a federated query's `attributesToRetrieve` when the list leaves it
/// out, so that hits can be told apart; returns whether it did. A list with a `*` pattern is
/// left as it is (the key may be among what it retrieves).
fn retrieve_primary_key(params: &mut Map<String, Value>, primary_key: &str) -> bool {
    let Some(Value::Array(fields)) = params.get_mut("attributesToRetrieve") else {
        return false;
    };
    let leaves_out =
        crate::search::retrieve_leaves_out(fields.iter().filter_map(Value::as_str), primary_key);
    if !leaves_out || fields.iter().any(|f| !f.is_string()) {
        return false;
    }
    fields.push(Value::from(primary_key));
    true
}

/// Whether the query highlights or crops `field`, which shows it in `_formatted` whatever is
/// retrieved.
fn formatted_shows(params: &Map<String, Value>, field: &str) -> bool {
    let names = |key: &str| {
        params
            .get(key)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
    };
    crate::search::formatted_shows(
        names("attributesToHighlight"),
        names("attributesToCrop"),
        field,
    )
}

/// Removes the primary key [`retrieve_primary_key`] added from the hit, and from its
/// `_formatted` when `from_formatted`.
fn drop_primary_key(hit: &mut Value, primary_key: &str, from_formatted: bool) {
    if let Some(obj) = hit.as_object_mut() {
        obj.shift_remove(primary_key);
        if from_formatted {
            if let Some(formatted) = obj.get_mut("_formatted").and_then(Value::as_object_mut) {
                formatted.shift_remove(primary_key);
            }
        }
    }
}

/// What the queries' ranking rules say about a federated search.
#[derive(Default)]
struct FederatedRules {
    /// A sort or geo sort step is compared: hits need their ranking score details.
    sorts: bool,
    /// What Meilisearch refuses before searching a query (at that query's position): an
    /// index whose facet order `mergeFacets` cannot merge, then a query whose ranking rules
    /// cannot be compared with the others' — in that order for one position.
    refusals: Vec<(usize, Response)>,
    /// With `mergeFacets`: how the indexes order each facet's values.
    facet_orders: FacetOrders,
    /// Per query: no rule applies at all (its hits' key is empty, as in Meilisearch).
    stepless: Vec<bool>,
}

/// A hit of a federated search with its merge key.
struct FederatedHit {
    key: Vec<ScoreValue>,
    /// `_rankingScore × weight`.
    score: f64,
    hit: Value,
}

/// A query of a multi-search: its index, the parameters sent, its federation weight and what
/// the client asked to show.
type Prepared = (String, Map<String, Value>, f64, Shown);

/// Where a federated search fails first, as Meilisearch reports it (a refused key aside):
/// index by index in uid order, each index's queries in input order, what is refused before
/// a query is searched (`refused_at`) before that search's own error. An error `of_facets`
/// (the index's `facetsByIndex`, computed once its queries are searched) only once none of
/// that index's queries failed otherwise. `None`: nothing failed.
fn first_federated_error<T, E>(
    prepared: &[Prepared],
    results: &[Result<T, E>],
    refused_at: &[usize],
    of_facets: impl Fn(usize, &E) -> bool,
) -> Option<usize> {
    let mut order: Vec<(&str, usize)> = prepared
        .iter()
        .enumerate()
        .map(|(i, (uid, ..))| (uid.as_str(), i))
        .collect();
    order.sort_unstable();
    let mut index = None;
    let mut facets_failed = None;
    for (uid, i) in order {
        if index != Some(uid) {
            if facets_failed.is_some() {
                return facets_failed;
            }
            index = Some(uid);
        }
        if refused_at.contains(&i) {
            return Some(i);
        }
        match results.get(i) {
            Some(Err(e)) if of_facets(i, e) => {
                facets_failed.get_or_insert(i);
            }
            Some(Err(_)) => return Some(i),
            _ => {}
        }
    }
    facets_failed
}

/// Asks every query for its ranking score details (removed again unless the client asked).
fn ask_details(prepared: &mut [Prepared]) {
    for (_, params, ..) in prepared.iter_mut() {
        params.insert("showRankingScoreDetails".into(), Value::from(true));
    }
}

/// Query options Meilisearch refuses where they are: `federationOptions` outside a federated
/// search; pagination or `facets` inside one (they belong to `federation`). Its messages.
fn misplaced_option(
    position: usize,
    uid: &str,
    params: &Map<String, Value>,
    federated: bool,
) -> Option<Response> {
    let set = |k: &str| params.get(k).is_some_and(|v| !v.is_null());
    if !federated {
        return set("federationOptions").then(|| {
            query_error(
                position,
                Response::error(
                    400,
                    "invalid_multi_search_federation_options",
                    "invalid_request",
                    &format!("Using `federationOptions` is not allowed in a non-federated search.\n - Hint: remove `federationOptions` from query #{position} or add `federation` to the request."),
                ),
            )
        });
    }
    if let Some(field) = ["offset", "limit", "page", "hitsPerPage"]
        .into_iter()
        .find(|k| set(k))
    {
        return Some(Response::error(
            400,
            "invalid_multi_search_query_pagination",
            "invalid_request",
            &format!("Inside `.queries[{position}]`: Using pagination options is not allowed in federated queries.\n - Hint: remove `{field}` from query #{position} or remove `federation` from the request\n - Hint: pass `federation.limit` and `federation.offset` for pagination in federated search"),
        ));
    }
    let facets: Vec<String> = params
        .get("facets")
        .and_then(|f| serde_json::from_value(f.clone()).ok())
        .unwrap_or_default();
    (!facets.is_empty()).then(|| {
        Response::error(
            400,
            "invalid_multi_search_query_facets",
            "invalid_request",
            &format!("Inside `.queries[{position}]`: Using facet options is not allowed in federated queries.\n - Hint: remove `facets` from query #{position} or remove `federation` from the request\n - Hint: pass `federation.facetsByIndex.{uid}: {facets:?}` for facets in federated search"),
        )
    })
}

/// Members Meilisearch writes after a hit's document (and after `_federation`), in its order.
const AFTER_DOCUMENT: [&str; 4] = [
    "_formatted",
    "_matchesPosition",
    "_rankingScore",
    "_rankingScoreDetails",
];

/// Puts `_federation` where Meilisearch has it, after the document's fields and before the
/// members in [`AFTER_DOCUMENT`]; drops the ranking fields the client did not ask for.
fn add_federation(hit: &mut Map<String, Value>, federation: Value, shown: Shown) {
    let after: Vec<(String, Value)> = AFTER_DOCUMENT
        .iter()
        .filter_map(|k| hit.shift_remove_entry(*k))
        .filter(|(k, _)| match k.as_str() {
            "_rankingScore" => shown.score,
            "_rankingScoreDetails" => shown.details,
            _ => true,
        })
        .collect();
    hit.insert("_federation".into(), federation);
    hit.extend(after);
}

/// What kind of search a query is, for its ranking rules — Meilisearch's decision: semantic
/// only for a hybrid search with `semanticRatio` 1, or with a `vector` (or `media`) and no
/// `q`, unless the ratio is 0; keyword when `q` is not empty; placeholder otherwise.
fn query_kind(params: &Map<String, Value>) -> QueryKind {
    let q = params.get("q").and_then(Value::as_str);
    let semantic = semantic_search(params)
        && (semantic_ratio(params) == Some(1.0) || placeholder_query(params));
    if semantic {
        QueryKind::Vector
    } else if q.is_some_and(|q| !q.is_empty()) {
        QueryKind::Keyword {
            matching_all: params.get("matchingStrategy").and_then(Value::as_str) == Some("all"),
        }
    } else {
        QueryKind::Placeholder
    }
}

/// Whether a query may return semantic hits: a hybrid search whose `semanticRatio` is not 0,
/// with a `q` or a `vector` (or `media`) to search by — Meilisearch's search kinds other than
/// keyword-only, which make a federated search answer `semanticHitCount`.
fn semantic_search(params: &Map<String, Value>) -> bool {
    let set = |k: &str| params.get(k).is_some_and(|v| !v.is_null());
    semantic_ratio(params).is_some_and(|ratio| ratio != 0.0)
        && (!placeholder_query(params) || set("vector") || set("media"))
}

/// A hybrid query's `semanticRatio` (Meilisearch's default when it is not given).
fn semantic_ratio(params: &Map<String, Value>) -> Option<f64> {
    params.get("hybrid").filter(|h| !h.is_null()).map(|h| {
        h.get("semanticRatio")
            .and_then(Value::as_f64)
            .unwrap_or(DEFAULT_SEMANTIC_RATIO)
    })
}

/// No `q`, or only whitespace.
fn placeholder_query(params: &Map<String, Value>) -> bool {
    params
        .get("q")
        .and_then(Value::as_str)
        .is_none_or(|q| q.trim().is_empty())
}

/// Whether `q` has a word to find outside its negative parts (Meilisearch's: a `-` at the start
/// or after a space makes the next word, or quoted phrase, negative; negative parts only leave
/// documents out, and a query of them alone runs as a placeholder search).
fn has_word_to_find(q: &str) -> bool {
    let mut chars = q.chars().peekable();
    let mut starts = true;
    // Inside a quoted phrase a `-` is no negation.
    let mut quoted = false;
    while let Some(c) = chars.next() {
        if c == '"' {
            quoted = !quoted;
        }
        if c == '-' && starts && !quoted {
            match chars.peek() {
                Some('"') => {
                    chars.next();
                    for n in chars.by_ref() {
                        if n == '"' {
                            break;
                        }
                    }
                }
                Some(n) if n.is_alphanumeric() => {
                    while chars.next_if(|n| n.is_alphanumeric()).is_some() {}
                }
                _ => {}
            }
            starts = false;
            continue;
        }
        if c.is_alphanumeric() {
            return true;
        }
        starts = c.is_whitespace();
    }
    false
}

/// Meilisearch's `hybrid.semanticRatio` when a query does not set it.
const DEFAULT_SEMANTIC_RATIO: f64 = 0.5;

impl Api {
    pub(crate) async fn multi_search(
        &self,
        req: &Request<'_>,
        auth: &ClientAuth<'_>,
        trace: &RequestTrace,
    ) -> Response {
        let body = match json_object(req.body) {
            Ok(b) => b,
            Err(r) => return r,
        };
        let Some(queries) = body.get("queries").and_then(Value::as_array) else {
            return Response::error(
                400,
                "missing_multi_search_queries",
                "invalid_request",
                "Missing field `queries`",
            );
        };
        let federation = body.get("federation").and_then(Value::as_object);
        let request_uid = uuid::Uuid::now_v7().to_string();
        // Each query's index and parameters (federated: widened windows).
        let mut prepared = Vec::with_capacity(queries.len());
        let (fed_skip, fed_take, fed_page) = match federation {
            Some(f) => {
                let uint = |k: &str| f.get(k).and_then(Value::as_u64).map(|v| v as usize);
                match (uint("page"), uint("hitsPerPage")) {
                    (None, None) => (
                        uint("offset").unwrap_or(0),
                        uint("limit").unwrap_or(20),
                        None,
                    ),
                    (p, h) => {
                        let (p, h) = (p.unwrap_or(1), h.unwrap_or(20));
                        // Page 0 has no hits (Meilisearch).
                        let take = if p == 0 { 0 } else { h };
                        (p.saturating_sub(1) * h, take, Some((p, h)))
                    }
                }
            }
            None => (0, 0, None),
        };
        // The first query with an option in the wrong place. Meilisearch reads every query
        // before it checks them, so a later malformed query is reported first; and in a plain
        // multi-search the queries before it are searched (their errors come first).
        let mut misplaced: Option<(usize, Response)> = None;
        for (i, q) in queries.iter().enumerate() {
            let Some(mut params) = q.as_object().cloned() else {
                return query_error(
                    i,
                    Response::error(
                        400,
                        "bad_request",
                        "invalid_request",
                        "A query must be a JSON object.",
                    ),
                );
            };
            let Some(uid) = params
                .remove("indexUid")
                .and_then(|u| u.as_str().map(str::to_owned))
            else {
                return query_error(
                    i,
                    Response::error(
                        400,
                        "missing_index_uid",
                        "invalid_request",
                        "Missing field `indexUid`",
                    ),
                );
            };
            if misplaced.is_none() {
                misplaced =
                    misplaced_option(i, &uid, &params, federation.is_some()).map(|e| (i, e));
            }
            let options = params.remove("federationOptions");
            let weight = options
                .as_ref()
                .and_then(|o| o["weight"].as_f64())
                .unwrap_or(1.0);
            let show = |k: &str| params.get(k).and_then(Value::as_bool).unwrap_or(false);
            let mut shown = Shown {
                score: show("showRankingScore"),
                details: show("showRankingScoreDetails"),
                primary_key: None,
            };
            if let Some(f) = federation {
                if let Some(pk) = self.primary_key(&uid) {
                    if retrieve_primary_key(&mut params, &pk) {
                        shown.primary_key = Some(!formatted_shows(&params, &pk));
                    }
                }
                params.remove("page");
                params.remove("hitsPerPage");
                params.insert("offset".into(), Value::from(0));
                params.insert("limit".into(), Value::from(fed_skip + fed_take));
                params.insert("showRankingScore".into(), Value::from(true));
                if let Some(facets) = f.get("facetsByIndex").and_then(|by| by.get(&uid)) {
                    params.insert("facets".into(), facets.clone());
                }
            }
            prepared.push((uid, params, weight, shown));
        }
        if federation.is_some() {
            if let Some((_, error)) = misplaced.take() {
                return error;
            }
        }
        let semantic = federation.is_some()
            && prepared
                .iter()
                .any(|(_, params, ..)| semantic_search(params));
        let facets_by_index = federation
            .and_then(|f| f.get("facetsByIndex"))
            .and_then(Value::as_object);
        let merge_facets = federation
            .and_then(|f| f.get("mergeFacets"))
            .is_some_and(|m| !m.is_null());
        let mut facet_orders = BTreeMap::new();
        // Federated queries whose rules have no step at all (placeholder searches without sort).
        let mut stepless: Vec<bool> = Vec::new();
        let results = if federation.is_some() {
            // The indexes' rules first (usually from this core's settings cache): hits need
            // their details when a step compares sort values (a query's `sort` or an index's
            // custom sort rule), and to tell semantic hits (a `vectorSort` step) to count them.
            let rules = self
                .federated_rules(&prepared, facets_by_index, merge_facets, trace)
                .await;
            if semantic || matches!(&rules, Ok(r) if r.sorts) {
                ask_details(&mut prepared);
            }
            let mut results = self
                .search_queries(req, auth, &prepared, true, &request_uid, trace)
                .await;
            // The client's authorization is judged first: a refused key gets its 403 (from the
            // answers below), never the compatibility error that quotes an index's rules.
            let refused = results
                .iter()
                .any(|r| matches!(r, Err(e) if e.status == 401 || e.status == 403));
            let mut rules = match rules {
                Err(_) if refused => FederatedRules::default(),
                Err(r) => return r,
                Ok(rules) => rules,
            };
            if !refused {
                let refused_at: Vec<usize> = rules.refusals.iter().map(|(at, _)| *at).collect();
                let uses_facets = |i: usize| {
                    prepared.get(i).is_some_and(|(uid, params, ..)| {
                        params.contains_key("facets")
                            && facets_by_index.is_some_and(|f| f.contains_key(uid))
                    })
                };
                let of_facets = |i: usize, e: &Response| uses_facets(i) && is_facets_error(e);
                if let Some(at) = first_federated_error(&prepared, &results, &refused_at, of_facets)
                {
                    if let Some(i) = refused_at.iter().position(|&r| r == at) {
                        return rules.refusals.swap_remove(i).1;
                    }
                    if let Some(Err(error)) = results.get_mut(at) {
                        let error = std::mem::take(error);
                        if !of_facets(at, &error) {
                            return query_error(at, error);
                        }
                        let uid = prepared.get(at).map_or("", |(uid, ..)| uid.as_str());
                        let first = prepared.iter().position(|(u, ..)| u == uid);
                        return facets_error(uid, first, error);
                    }
                }
                if let Some(error) = self
                    .check_unused_facets(
                        facets_by_index,
                        &prepared,
                        merge_facets,
                        &mut rules.facet_orders,
                        trace,
                    )
                    .await
                {
                    return error;
                }
            }
            facet_orders = std::mem::take(&mut rules.facet_orders);
            stepless = rules.stepless;
            results
        } else {
            self.search_queries(req, auth, &prepared, false, &request_uid, trace)
                .await
        };
        let mut answers = Vec::with_capacity(results.len());
        for (i, result) in results.into_iter().enumerate() {
            if misplaced.as_ref().is_some_and(|(at, _)| *at == i) {
                if let Some((_, error)) = misplaced.take() {
                    return error;
                }
            }
            match result {
                Ok(searched) => {
                    if !searched.missing_shards.is_empty() {
                        trace.degraded.set(true);
                    }
                    answers.push(searched);
                }
                // A refused key is refused for the whole request, as Meilisearch's route does.
                Err(error) if error.status == 401 || error.status == 403 => return error,
                Err(error) => return query_error(i, error),
            }
        }
        let Some(federation) = federation else {
            // Plain: each answer, with its index, in input order.
            let mut out =
                Vec::with_capacity(answers.iter().map(|a| a.body.len() + 32).sum::<usize>() + 16);
            out.extend_from_slice(b"{\"results\":[");
            for (i, (searched, (uid, ..))) in answers.iter().zip(&prepared).enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                out.extend_from_slice(b"{\"indexUid\":");
                out.extend_from_slice(&serde_json::to_vec(uid).unwrap_or_default());
                let rest = &searched.body[1..];
                if rest.first() != Some(&b'}') {
                    out.push(b',');
                }
                out.extend_from_slice(rest);
            }
            out.extend_from_slice(b"]}");
            return Response::json(200, out);
        };

        // Federated: the queries' lists merged by Meilisearch's federated key.
        let mut lists: Vec<std::collections::VecDeque<FederatedHit>> = Vec::new();
        let mut total = 0u64;
        let mut processing = 0u64;
        let mut by_index: Map<String, Value> = Map::new();
        for (position, (searched, (uid, _, weight, shown))) in
            answers.iter().zip(&prepared).enumerate()
        {
            let answer: Value = serde_json::from_slice(&searched.body).unwrap_or(Value::Null);
            total += answer["estimatedTotalHits"].as_u64().unwrap_or(0);
            processing = processing.max(answer["processingTimeMs"].as_u64().unwrap_or(0));
            if answer.get("facetDistribution").is_some() && !by_index.contains_key(uid) {
                by_index.insert(
                    uid.clone(),
                    json!({"distribution": answer["facetDistribution"], "stats": answer.get("facetStats").cloned().unwrap_or(json!({}))}),
                );
            }
            let hits = answer["hits"].as_array().cloned().unwrap_or_default();
            lists.push(
                hits.into_iter()
                    .map(|mut hit| {
                        let ranking_score = hit["_rankingScore"].as_f64().unwrap_or(0.0);
                        let score = ranking_score * weight;
                        let details = hit.get("_rankingScoreDetails");
                        let key = if details.is_none() && stepless.get(position) == Some(&true) {
                            Vec::new()
                        } else {
                            score_values(details, ranking_score, *weight)
                        };
                        if let Some(obj) = hit.as_object_mut() {
                            add_federation(
                                obj,
                                json!({"indexUid": uid, "queriesPosition": position, "weightedRankingScore": score}),
                                *shown,
                            );
                        }
                        FederatedHit { key, score, hit }
                    })
                    .collect(),
            );
        }
        // A document several queries of one index found is kept once, where it ranks best
        // (Meilisearch does the same); told by its primary key, when the hit shows it.
        let primary_keys: Vec<Option<String>> = prepared
            .iter()
            .map(|(uid, ..)| self.primary_key(uid))
            .collect();
        let mut seen: std::collections::HashSet<(&str, String)> = Default::default();
        let mut page = Vec::with_capacity(fed_take);
        let mut semantic_hits = 0u64;
        let mut n = 0usize;
        while n < fed_skip.saturating_add(fed_take) {
            // The best head; on a tie the earlier query.
            let mut best: Option<usize> = None;
            for (q, list) in lists.iter().enumerate() {
                let Some(head) = list.front() else { continue };
                let better = match best.and_then(|b| lists.get(b)).and_then(|l| l.front()) {
                    None => true,
                    Some(cur) => {
                        compare_hits(&head.key, head.score, &cur.key, cur.score)
                            == std::cmp::Ordering::Greater
                    }
                };
                if better {
                    best = Some(q);
                }
            }
            let Some((q, hit)) = best.and_then(|b| Some((b, lists.get_mut(b)?.pop_front()?)))
            else {
                break;
            };
            let (uid, added_key) = prepared.get(q).map_or(("", None), |(uid, _, _, shown)| {
                (uid.as_str(), shown.primary_key)
            });
            let primary_key = primary_keys.get(q).and_then(Option::as_deref);
            let id = primary_key
                .and_then(|pk| hit.hit.get(pk))
                .map(Value::to_string);
            if let Some(id) = id {
                if !seen.insert((uid, id)) {
                    // Counted by each query that found it; Meilisearch counts it once.
                    total = total.saturating_sub(1);
                    continue;
                }
            }
            if n >= fed_skip {
                if hit.key.iter().any(|v| matches!(v, ScoreValue::Vector(_))) {
                    semantic_hits += 1;
                }
                let mut hit = hit.hit;
                if let (Some(from_formatted), Some(pk)) = (added_key, primary_key) {
                    drop_primary_key(&mut hit, pk, from_formatted);
                }
                page.push(hit);
            }
            n += 1;
        }
        let mut out = Map::new();
        out.insert("hits".into(), Value::from(page));
        out.insert("processingTimeMs".into(), Value::from(processing));
        match fed_page {
            Some((p, h)) => {
                out.insert("hitsPerPage".into(), Value::from(h));
                out.insert("page".into(), Value::from(p));
                out.insert(
                    "totalPages".into(),
                    Value::from(if h == 0 { 0 } else { total.div_ceil(h as u64) }),
                );
                out.insert("totalHits".into(), Value::from(total));
            }
            None => {
                out.insert("limit".into(), Value::from(fed_take));
                out.insert("offset".into(), Value::from(fed_skip));
                out.insert("estimatedTotalHits".into(), Value::from(total));
            }
        }
        if semantic {
            out.insert("semanticHitCount".into(), Value::from(semantic_hits));
        }
        if federation.get("facetsByIndex").is_some() {
            if let Some(merge) = federation.get("mergeFacets").filter(|m| !m.is_null()) {
                let max_values = merge
                    .get("maxValuesPerFacet")
                    .and_then(Value::as_u64)
                    .map(|m| m as usize);
                match merged_facets(&by_index, max_values, &facet_orders) {
                    Ok(Some((dist, stats))) => {
                        out.insert("facetDistribution".into(), dist);
                        out.insert("facetStats".into(), stats);
                    }
                    Ok(None) => {}
                    Err(e) => {
                        return Response::error(
                            502,
                            "miroir_node_error",
                            "system",
                            &format!("Merging the indexes' facets failed: {e}"),
                        )
                    }
                }
            } else if !by_index.is_empty() {
                // By uid, as Meilisearch lists them.
                let mut by_uid: Vec<(String, Value)> = by_index.into_iter().collect();
                by_uid.sort_by(|a, b| a.0.cmp(&b.0));
                out.insert(
                    "facetsByIndex".into(),
                    Value::Object(by_uid.into_iter().collect()),
                );
            }
        }
        out.insert("requestUid".into(), Value::from(request_uid));
        json_response(200, &Value::Object(out))
    }

    /// Meilisearch's checks of the `facetsByIndex` entries no query uses, once the queries
    /// went through (in uid order): the index exists, its facet order merges with the others
    /// (`mergeFacets`), its facets can be computed (one node asked for them over no document).
    async fn check_unused_facets(
        &self,
        facets_by_index: Option<&Map<String, Value>>,
        prepared: &[Prepared],
        merge_facets: bool,
        facet_orders: &mut FacetOrders,
        trace: &RequestTrace,
    ) -> Option<Response> {
        let mut unused: Vec<(&String, &Value)> = facets_by_index?
            .iter()
            .filter(|(uid, _)| !prepared.iter().any(|(u, ..)| u == *uid))
            .collect();
        unused.sort_by(|a, b| a.0.cmp(b.0));
        // One search deadline for all the probes.
        let limit = std::time::Duration::from_millis(self.cluster.config.scatter.node_timeout_ms);
        let deadline = std::time::Instant::now() + limit;
        for (uid, facets) in unused {
            if self.cluster.indexes.get(uid).is_none() {
                return Some(facets_error(uid, None, index_not_found(uid)));
            }
            let facets: Vec<String> = serde_json::from_value(facets.clone()).unwrap_or_default();
            if merge_facets {
                let settings = match self.index_settings(uid, trace).await {
                    Ok(settings) => settings,
                    Err(error) => return Some(error),
                };
                let sort_by = settings.sort_facet_values_by();
                if let Err(error) = check_facet_order(facet_orders, uid, None, &facets, sort_by) {
                    return Some(error);
                }
            }
            if !facets.is_empty() {
                // One node, Miroir's key (the client's is only checked for the queries'
                // indexes, as by Meilisearch), facets counted over no document.
                let body = json!({"limit": 0, "facets": facets, "filter": "_miroir_shard = -1"});
                let body = serde_json::to_vec(&body).unwrap_or_default();
                let target = format!("/indexes/{uid}/search");
                let request = crate::nodes::NodeRequest {
                    method: miroir_io::Method::Post,
                    target: &target,
                    content_type: Some("application/json"),
                    body: &body,
                };
                let authorization = self.node_authorization.as_deref();
                // Each node given at most half the search deadline, all probes within it.
                let ask = self.ask_one_node(&request, authorization, Some(limit / 2), trace);
                let left = deadline.saturating_duration_since(std::time::Instant::now());
                let probed = monoio::time::timeout(left, ask).await;
                // A refused facet is the answer; no node answering in time leaves the entry
                // unchecked.
                match probed {
                    Ok(Err(error)) if (400..500).contains(&error.status) => {
                        return Some(facets_error(uid, None, error));
                    }
                    _ => {}
                }
            }
        }
        None
    }

    /// The index's primary key, once it has one.
    fn primary_key(&self, uid: &str) -> Option<String> {
        self.cluster.indexes.get(uid)?.primary_key.clone()
    }

    /// Every query's search, concurrently, in input order. Federated queries are not held to
    /// their index's `maxTotalHits` (Meilisearch's federated search is not).
    async fn search_queries(
        &self,
        req: &Request<'_>,
        auth: &ClientAuth<'_>,
        prepared: &[Prepared],
        federated: bool,
        request_uid: &str,
        trace: &RequestTrace,
    ) -> Vec<Result<crate::search::Searched, Response>> {
        let pagination = if federated {
            Pagination::Unbounded
        } else {
            Pagination::WithinMaxTotalHits
        };
        join_in_order(prepared, |(uid, params, _, _)| {
            self.search_index(req, auth, uid, params, pagination, request_uid, trace)
        })
        .await
    }

    /// Federated search: reads each index's ranking rules (from one node, as GET settings
    /// does) and refuses queries whose results cannot be merged (Meilisearch's
    /// `invalid_multi_search_query_ranking_rules`).
    async fn federated_rules(
        &self,
        prepared: &[Prepared],
        facets_by_index: Option<&Map<String, Value>>,
        merge_facets: bool,
        trace: &RequestTrace,
    ) -> Result<FederatedRules, Response> {
        let mut uids: Vec<&str> = prepared
            .iter()
            .map(|(uid, ..)| uid.as_str())
            .filter(|uid| self.cluster.indexes.get(uid).is_some())
            .collect();
        uids.sort_unstable();
        uids.dedup();
        // Read with Miroir's own credential (the client's key may only allow searching; the
        // rules are for Miroir's use, never shown), usually from this core's cache.
        let fetched = join_in_order(&uids, |uid| self.index_settings(uid, trace)).await;
        let mut settings_of: std::collections::HashMap<&str, std::rc::Rc<IndexSettings>> =
            Default::default();
        for (uid, settings) in uids.iter().zip(fetched) {
            settings_of.insert(uid, settings?);
        }
        let kinds: Vec<QueryKind> = prepared
            .iter()
            .map(|(_, params, ..)| query_kind(params))
            .collect();
        let rules: Vec<Option<QueryRules>> = prepared
            .iter()
            .zip(&kinds)
            .map(|((uid, params, ..), &kind)| {
                let sort: Option<Vec<String>> = params
                    .get("sort")
                    .and_then(|s| serde_json::from_value(s.clone()).ok());
                Some(QueryRules::new(
                    settings_of.get(uid.as_str())?.ranking_rules(),
                    sort.as_deref(),
                    kind,
                ))
            })
            .collect();
        let mut queries: Vec<FederatedQuery<'_>> = rules
            .iter()
            .zip(prepared.iter())
            .enumerate()
            .filter_map(|(position, (r, (uid, ..)))| {
                Some(FederatedQuery {
                    position,
                    index_uid: uid,
                    rules: r.as_ref()?,
                })
            })
            .collect();
        // Meilisearch checks index by index (by uid), each index's queries in input order.
        queries.sort_by_key(|q| q.index_uid);
        let mut refusals = Vec::new();
        let mut facet_orders = FacetOrders::new();
        if let Some(facets_by_index) = facets_by_index.filter(|_| merge_facets) {
            for &uid in &uids {
                let facets: Option<Vec<String>> = facets_by_index
                    .get(uid)
                    .and_then(|f| serde_json::from_value(f.clone()).ok());
                let first_query = prepared.iter().position(|(u, ..)| u == uid);
                if let (Some(facets), Some(position)) = (facets, first_query) {
                    let sort_by = settings_of.get(uid).and_then(|s| s.sort_facet_values_by());
                    if let Err(error) =
                        check_facet_order(&mut facet_orders, uid, first_query, &facets, sort_by)
                    {
                        refusals.push((position, error));
                        break;
                    }
                }
            }
        }
        if let Err((position, message)) = check_compatible(&queries) {
            let error = Response::error(
                400,
                "invalid_multi_search_query_ranking_rules",
                "invalid_request",
                &format!("Inside `.queries[{position}]`: {message}"),
            );
            refusals.push((position, error));
        }
        Ok(FederatedRules {
            refusals,
            facet_orders,
            sorts: rules.iter().flatten().any(QueryRules::sorts),
            // A `q` without a word to find (only spaces, or only negative words: `-word`) is a
            // keyword query to the check but runs as a placeholder search: no relevancy step
            // either.
            stepless: rules
                .iter()
                .zip(prepared)
                .zip(&kinds)
                .map(|((r, (_, params, ..)), &kind)| {
                    let no_word = params
                        .get("q")
                        .and_then(Value::as_str)
                        .is_none_or(|q| !has_word_to_find(q));
                    r.as_ref()
                        .is_some_and(|r| !r.has_steps() || (no_word && kind != QueryKind::Vector))
                })
                .collect(),
        })
    }

    /// Facet values matching a facet query, counted over every shard.
    pub(crate) async fn facet_search(
        &self,
        req: &Request<'_>,
        auth: &ClientAuth<'_>,
        uid: &str,
        trace: &RequestTrace,
    ) -> Response {
        if self.cluster.indexes.get(uid).is_none() {
            return index_not_found(uid);
        }
        let body = match json_object(req.body) {
            Ok(b) => b,
            Err(r) => return r,
        };
        if let Some(error) = crate::query::reserved_field_error(&body) {
            return error;
        }
        let routing = self.cluster.routing.load();
        let rotation = self.next_rotation() as u64;
        let group = rotation as usize % routing.group_count().max(1);
        let plan = plan(&routing, group, rotation, &[]);
        if !plan.uncovered.is_empty() {
            return shard_unavailable(&format!(
                "Shards {} of index `{uid}` have no reachable replica.",
                join_numbers(&plan.uncovered, ", ")
            ));
        }
        let rf = routing.topology().replication_factor;
        let bodies: Vec<(usize, Vec<u8>)> = plan
            .per_node
            .iter()
            .map(|(&node, shards)| {
                let mut b = body.clone();
                if rf > 1 || plan.partial_nodes.contains(&node) {
                    b.insert(
                        "filter".into(),
                        with_shard_filter(body.get("filter"), shards),
                    );
                }
                (
                    node,
                    serde_json::to_vec(&Value::Object(b)).unwrap_or_default(),
                )
            })
            .collect();
        let target = format!("/indexes/{uid}/facet-search");
        // The index's settings (usually cached) are read beside the searches.
        let (answers, settings) = futures_util::future::join(
            self.gather(
                &target,
                &bodies,
                self.node_authorization(req, auth),
                trace,
                "A node failed during the facet search",
            ),
            self.index_settings(uid, trace),
        )
        .await;
        let answers = match answers {
            Ok(answers) => answers,
            Err(r) => return r,
        };
        let bodies: Vec<&[u8]> = answers.iter().map(Vec::as_slice).collect();
        let mut out = Vec::with_capacity(answers.iter().map(Vec::len).sum());
        // The index's `maxValuesPerFacet` and order for the facet (Meilisearch's facet search
        // follows both); without its settings, its default and the order the nodes show.
        let settings = settings.ok();
        let facet = body.get("facetName").and_then(Value::as_str).unwrap_or("");
        let max_hits = settings
            .as_deref()
            .map_or(100, IndexSettings::max_values_per_facet);
        let by_count = settings.as_deref().map(|s| {
            s.sort_facet_values_by()
                .is_some_and(|by| miroir_merge::facet_values_by_count(by, facet))
        });
        match merge_facet_search(&bodies, Some(max_hits), by_count, &mut out) {
            Ok(()) => Response::json(200, out),
            Err(err) => Response::error(
                502,
                "miroir_node_error",
                "system",
                &format!("A node's facet-search answer could not be merged: {err}."),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn federated_errors_come_index_by_index() {
        let shown = Shown {
            score: false,
            details: false,
            primary_key: None,
        };
        let prepared: Vec<Prepared> = ["b", "a", "b", "a"]
            .iter()
            .map(|uid| (uid.to_string(), Map::new(), 1.0, shown))
            .collect();
        let first = |results: &[Result<(), &str>], refused_at: &[usize]| {
            first_federated_error(&prepared, results, refused_at, |_, e: &&str| *e == "facets")
        };
        // Index `a` (queries 1, 3) before `b` (0, 2), whatever the input order.
        assert_eq!(first(&[Err("x"), Ok(()), Ok(()), Err("y")], &[]), Some(3));
        assert_eq!(first(&[Ok(()), Ok(()), Err("x"), Ok(())], &[]), Some(2));
        // A refusal before its query's search, at that query's place.
        assert_eq!(first(&[Ok(()), Ok(()), Ok(()), Err("y")], &[3]), Some(3));
        assert_eq!(first(&[Ok(()), Err("y"), Ok(()), Ok(())], &[3]), Some(1));
        // An index's facets fail once its queries went through: a later query's own error of
        // the same index first, the next index's errors after.
        assert_eq!(
            first(&[Ok(()), Err("facets"), Ok(()), Err("y")], &[]),
            Some(3)
        );
        assert_eq!(
            first(&[Err("x"), Err("facets"), Ok(()), Err("facets")], &[]),
            Some(1)
        );
        assert_eq!(first(&[Ok(()), Ok(()), Ok(()), Ok(())], &[]), None);
    }

    #[test]
    fn negative_words_alone_leave_nothing_to_find() {
        assert!(has_word_to_find("batman"));
        assert!(has_word_to_find("batman -robin"));
        assert!(has_word_to_find("spider-man"));
        // Only the next word (or quoted phrase) after the `-` is negative.
        assert!(has_word_to_find("-spider-man"));
        assert!(has_word_to_find("-robin,joker"));
        assert!(!has_word_to_find("-\"bat man\""));
        assert!(has_word_to_find("-\"bat man\" robin"));
        assert!(has_word_to_find("\" -robin\""));
        assert!(has_word_to_find("\"spider -man\""));
        assert!(!has_word_to_find("-robin"));
        assert!(!has_word_to_find("  -robin -joker "));
        assert!(!has_word_to_find(" "));
        assert!(!has_word_to_find("!!"));
    }

    #[test]
    fn semantic_searches_are_hybrid_ones_with_a_semantic_ratio() {
        let semantic = |params: Value| semantic_search(params.as_object().unwrap());
        assert!(semantic(json!({"q": "a", "hybrid": {"embedder": "e"}})));
        assert!(semantic(
            json!({"q": "a", "hybrid": {"embedder": "e", "semanticRatio": 1.0}})
        ));
        assert!(semantic(
            json!({"vector": [0.5], "hybrid": {"embedder": "e"}})
        ));
        // A placeholder hybrid search without a vector is keyword-only to Meilisearch.
        assert!(!semantic(
            json!({"hybrid": {"embedder": "e", "semanticRatio": 1.0}})
        ));
        assert!(!semantic(json!({"q": " ", "hybrid": {"embedder": "e"}})));
        assert!(!semantic(
            json!({"q": "a", "hybrid": {"embedder": "e", "semanticRatio": 0.0}})
        ));
        assert!(!semantic(json!({"q": "a", "hybrid": null})));
        assert!(!semantic(json!({"q": "a"})));
    }

    #[test]
    fn the_primary_key_is_retrieved_only_when_the_list_leaves_it_out() {
        let added = |params: Value| {
            let mut params = params.as_object().unwrap().clone();
            let added = retrieve_primary_key(&mut params, "id");
            (added, params.get("attributesToRetrieve").cloned())
        };
        assert_eq!(
            added(json!({"attributesToRetrieve": ["title"]})),
            (true, Some(json!(["title", "id"])))
        );
        for kept in [
            json!({}),
            json!({"attributesToRetrieve": null}),
            json!({"attributesToRetrieve": ["id", "title"]}),
            json!({"attributesToRetrieve": ["*"]}),
            json!({"attributesToRetrieve": ["ti*"]}),
            json!({"attributesToRetrieve": ["title", 3]}),
        ] {
            let before = kept.get("attributesToRetrieve").cloned();
            assert_eq!(added(kept), (false, before));
        }
    }

    fn kind(params: Value) -> QueryKind {
        query_kind(params.as_object().unwrap())
    }

    #[test]
    fn query_kinds_follow_meilisearch() {
        let keyword = QueryKind::Keyword {
            matching_all: false,
        };
        let hybrid = |ratio: f64| json!({"embedder": "e", "semanticRatio": ratio});
        assert_eq!(kind(json!({"q": "a"})), keyword);
        assert_eq!(kind(json!({"q": "  "})), keyword);
        assert_eq!(kind(json!({"q": ""})), QueryKind::Placeholder);
        assert_eq!(kind(json!({})), QueryKind::Placeholder);
        assert_eq!(
            kind(json!({"q": "a", "matchingStrategy": "all"})),
            QueryKind::Keyword { matching_all: true }
        );
        assert_eq!(
            kind(json!({"q": "a", "hybrid": hybrid(1.0)})),
            QueryKind::Vector
        );
        assert_eq!(kind(json!({"q": "a", "hybrid": hybrid(0.5)})), keyword);
        // No `q` and no vector: a placeholder search whatever the ratio.
        assert_eq!(kind(json!({"hybrid": hybrid(1.0)})), QueryKind::Placeholder);
        // A vector without `q` is semantic unless the ratio is 0.
        assert_eq!(
            kind(json!({"vector": [0.1], "hybrid": hybrid(0.5)})),
            QueryKind::Vector
        );
        assert_eq!(
            kind(json!({"vector": [0.1], "hybrid": hybrid(0.0)})),
            QueryKind::Placeholder
        );
        assert_eq!(
            kind(json!({"vector": [0.1], "hybrid": {"embedder": "e"}})),
            QueryKind::Vector
        );
    }
}
