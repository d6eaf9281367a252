//! Read path: scatter-gather search merged into one Meilisearch answer.
//! Runs against the test double, or real Meilisearch with MEILISEARCH_BIN.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::*;
use miroir_router::batch::shard_value;
use serde_json::{json, Value};

const GENRES: [&str; 4] = ["Drama", "Comedy", "Horror", "Action"];

/// A 10-letter word unique to document `i`, far (in edit distance) from
/// every other document's, so typo tolerance cannot match two of them.
fn token(i: usize) -> String {
    let mut x = (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0xD1B5_4A32_D192_ED03;
    (0..10)
        .map(|_| {
            x ^= x >> 29;
            x = x.wrapping_mul(0xBF58_476D_1CE4_E5B9);
            x ^= x >> 32;
            (b'a' + (x % 26) as u8) as char
        })
        .collect()
}

fn doc(i: usize) -> Value {
    json!({
        "id": i,
        "title": format!("movie {i} {}", token(i)),
        "genres": [GENRES[i % 4]],
        "year": 1900 + (i * 7) % 120,
    })
}

/// Miroir over `nodes` (16 shards) with the 1000-document `movies` index loaded.
fn loaded(nodes: &[Node], rf: usize, group_of: impl Fn(usize) -> u32, extra: &str) -> Miroir {
    loaded_with_shards(nodes, 16, rf, group_of, extra)
}

/// [`loaded`] with `shards` shards.
fn loaded_with_shards(
    nodes: &[Node],
    shards: u32,
    rf: usize,
    group_of: impl Fn(usize) -> u32,
    extra: &str,
) -> Miroir {
    let rest = format!(
        "[auth]\nnode_master_key = \"{NODE_KEY}\"\n[cluster]\nshards = {shards}\nreplication_factor = {rf}\n{}{extra}{}",
        if extra.contains("[health]") { "" } else { FAST_HEALTH },
        nodes_toml(nodes, group_of)
    );
    let m = Miroir::start("", &rest);
    m.wait_ready(Duration::from_secs(10), &[]);
    wait_succeeded(&m, create_index(&m, "movies"));
    applied(
        &m,
        "PATCH",
        "/indexes/movies/settings",
        &json!({"filterableAttributes": ["genres", "year"], "sortableAttributes": ["year"]}),
    );
    applied(
        &m,
        "POST",
        "/indexes/movies/documents",
        &Value::from((0..1000).map(doc).collect::<Vec<_>>()),
    );
    m
}

/// A write through Miroir, waited for until its task succeeded.
fn applied(m: &Miroir, method: &str, path: &str, body: &Value) {
    wait_succeeded(m, accepted(&send(m, method, path, body)));
}

/// The `movies` index's ranking rules.
fn ranking_rules(m: &Miroir) -> Vec<Value> {
    send(
        m,
        "GET",
        "/indexes/movies/settings/ranking-rules",
        &json!(null),
    )
    .json()
    .as_array()
    .unwrap()
    .clone()
}

fn search(m: &Miroir, body: Value) -> Value {
    let r = send(m, "POST", "/indexes/movies/search", &body);
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(
        r.header("x-miroir-degraded").is_none(),
        "{:?}",
        r.header("x-miroir-degraded")
    );
    r.json()
}

/// A multi-search that must succeed; its answer.
fn multi_search(m: &Miroir, body: Value) -> Value {
    let r = send(m, "POST", "/multi-search", &body);
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()
}

fn years(hits: &Value) -> Vec<u64> {
    hits.as_array()
        .unwrap()
        .iter()
        .map(|h| h["year"].as_u64().unwrap())
        .collect()
}

/// The `n` latest years among the documents `i` with `keep(i)`, latest first.
fn latest_years(keep: impl Fn(usize) -> bool, n: usize) -> Vec<u64> {
    let mut all: Vec<u64> = (0..1000)
        .filter(|&i| keep(i))
        .map(|i| doc(i)["year"].as_u64().unwrap())
        .collect();
    all.sort_unstable_by(|a, b| b.cmp(a));
    all.truncate(n);
    all
}

fn ids(hits: &Value) -> Vec<u64> {
    hits.as_array()
        .unwrap()
        .iter()
        .map(|h| h["id"].as_u64().unwrap())
        .collect()
}

#[test]
fn every_document_is_found_exactly_once() {
    let nodes = start_nodes(3, NODE_KEY);
    let m = loaded(&nodes, 1, |_| 0, "");
    for i in 0..1000 {
        let r = search(&m, json!({"q": token(i)}));
        assert_eq!(ids(&r["hits"]), vec![i as u64], "{}: {r}", token(i));
        assert!(!r.to_string().contains("_miroir"), "{r}");
        assert!(
            r["hits"][0].get("_rankingScore").is_none(),
            "score shown without being asked"
        );
    }
    let get = m
        .get(
            &format!(
                "/indexes/movies/search?q={}&showRankingScore=true",
                token(7)
            ),
            &[],
        )
        .json();
    assert_eq!(ids(&get["hits"]), vec![7]);
    assert!(get["hits"][0]["_rankingScore"].as_f64().is_some());
    assert_eq!(get["query"], token(7));
}

#[test]
fn facets_pages_and_sort_are_global() {
    let nodes = start_nodes(3, NODE_KEY);
    let m = loaded(&nodes, 1, |_| 0, "");

    let r = search(&m, json!({"q": "", "facets": ["genres"], "limit": 0}));
    assert_eq!(r["estimatedTotalHits"], 1000, "{r}");
    for g in GENRES {
        assert_eq!(r["facetDistribution"]["genres"][g], 250, "{r}");
    }
    assert!(r["facetStats"].is_object());

    let all = search(&m, json!({"q": "movie", "limit": 50}));
    let all_ids = ids(&all["hits"]);
    assert_eq!(all_ids.len(), 50);
    let mut paged = Vec::new();
    for p in 0..5 {
        let r = search(&m, json!({"q": "movie", "limit": 10, "offset": p * 10}));
        assert_eq!(r["offset"], p * 10);
        assert_eq!(r["limit"], 10);
        paged.extend(ids(&r["hits"]));
    }
    assert_eq!(paged, all_ids, "5 pages of 10 differ from one page of 50");
    assert_eq!(
        paged.iter().collect::<BTreeSet<_>>().len(),
        50,
        "duplicates"
    );

    let page_mode = search(&m, json!({"q": "movie", "page": 2, "hitsPerPage": 10}));
    assert_eq!(ids(&page_mode["hits"]), all_ids[10..20].to_vec());
    assert_eq!(page_mode["totalHits"], 1000);
    assert_eq!(page_mode["totalPages"], 100);
    assert!(page_mode.get("offset").is_none());

    let sorted = search(&m, json!({"sort": ["year:desc"], "limit": 50}));
    assert_eq!(
        years(&sorted["hits"]),
        latest_years(|_| true, 50),
        "not the global year:desc order"
    );
    assert!(sorted["hits"][0].get("_rankingScoreDetails").is_none());

    let filtered = search(&m, json!({"filter": "genres = Horror", "limit": 1000}));
    assert_eq!(filtered["estimatedTotalHits"], 250);
    assert!(ids(&filtered["hits"]).iter().all(|i| i % 4 == 2));

    let bad = send(
        &m,
        "POST",
        "/indexes/movies/search",
        &json!({"filter": "title = x"}),
    );
    assert_eq!(bad.status, 400, "{}", bad.text());
    assert_eq!(bad.json()["code"], "invalid_search_filter");
    assert_eq!(
        send(&m, "POST", "/indexes/nope/search", &json!({})).json(),
        fixture_body("121")
    );
}

#[test]
fn replicas_and_groups_cover_for_dead_nodes() {
    // RF=2: one node down, nothing missing.
    let mut nodes = start_nodes(3, NODE_KEY);
    let m = loaded(&nodes, 2, |_| 0, "");
    nodes[1].stop();
    for _ in 0..4 {
        let r = search(&m, json!({"q": "movie", "limit": 5}));
        assert_eq!(r["estimatedTotalHits"], 1000, "{r}");
    }
    drop(m);

    // RG=2: a whole group down, the other answers.
    let mut nodes = start_nodes(4, NODE_KEY);
    let m = loaded(&nodes, 1, |i| (i / 2) as u32, "");
    nodes[0].stop();
    nodes[1].stop();
    for _ in 0..4 {
        let r = search(&m, json!({"q": "movie", "limit": 5}));
        assert_eq!(r["estimatedTotalHits"], 1000, "{r}");
    }
}

#[test]
fn shards_without_a_live_replica_degrade_or_fail() {
    let mut nodes = start_nodes(3, NODE_KEY);
    let m = loaded(&nodes, 1, |_| 0, "");
    let shard_map = m.get("/_miroir/shards", &[]).json();
    let lost: Vec<u64> = shard_map["shards"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["groups"][0]["nodes"][0] == "node-2")
        .map(|s| s["shard"].as_u64().unwrap())
        .collect();
    nodes[2].stop();
    wait_for(Duration::from_secs(5), || {
        (m.get("/_miroir/ready", &[]).status == 503).then_some(())
    })
    .expect("node-2 never marked failed");
    let r = send(
        &m,
        "POST",
        "/indexes/movies/search",
        &json!({"q": "movie", "limit": 5}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let header = r
        .header("x-miroir-degraded")
        .expect("degraded header")
        .to_string();
    let expected = format!(
        "shards={}",
        lost.iter()
            .map(u64::to_string)
            .collect::<Vec<_>>()
            .join(",")
    );
    assert_eq!(header, expected);
    assert!(r.json()["estimatedTotalHits"].as_u64().unwrap() < 1000);
    drop(m);

    let mut nodes = start_nodes(2, NODE_KEY);
    let m = loaded(
        &nodes,
        1,
        |_| 0,
        "[scatter]\nunavailable_shard_policy = \"error\"\n",
    );
    nodes[1].stop();
    wait_for(Duration::from_secs(5), || {
        (m.get("/_miroir/ready", &[]).status == 503).then_some(())
    })
    .expect("never marked failed");
    let r = send(&m, "POST", "/indexes/movies/search", &json!({"q": "movie"}));
    assert_eq!(r.status, 503, "{}", r.text());
    assert_eq!(r.json()["code"], "miroir_shard_unavailable");
}

#[test]
fn a_node_failing_mid_request_is_retried_on_another_replica() {
    let nodes = start_nodes(3, NODE_KEY);
    let Some(flaky) = nodes[0].double() else {
        eprintln!("skipped: making a healthy-looking node fail searches needs the test double");
        return;
    };
    // Slow health checks: the node still looks healthy while it errors.
    let m2 = loaded(
        &nodes,
        2,
        |_| 0,
        "[health]\ninterval_ms = 5000\ntimeout_ms = 500\n",
    );
    flaky.set_fault(Fault::Error(500));
    for _ in 0..3 {
        let r = search(&m2, json!({"q": "movie", "limit": 5}));
        assert_eq!(r["estimatedTotalHits"], 1000, "{r}");
    }
    let metrics = miroir_test_nodes::http::get(&m2.metrics_addr, "/metrics", &[])
        .unwrap()
        .text();
    let retries: f64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("miroir_scatter_retries_total "))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0);
    assert!(retries > 0.0, "no retry was counted:\n{metrics}");
}

#[test]
fn multi_search_and_facet_search() {
    let nodes = start_nodes(3, NODE_KEY);
    let m = loaded(&nodes, 1, |_| 0, "");
    let r = send(
        &m,
        "POST",
        "/multi-search",
        &json!({"queries": [
            {"indexUid": "movies", "q": token(5)},
            {"indexUid": "movies", "q": token(6), "attributesToRetrieve": ["id"]},
        ]}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let results = r.json()["results"].clone();
    assert_eq!(results[0]["indexUid"], "movies");
    assert_eq!(ids(&results[0]["hits"]), vec![5]);
    assert_eq!(ids(&results[1]["hits"]), vec![6]);
    assert_eq!(results[1]["hits"][0], json!({"id": 6}));
    assert_eq!(results[0]["requestUid"], results[1]["requestUid"]);

    let missing = send(
        &m,
        "POST",
        "/multi-search",
        &json!({"queries": [{"indexUid": "movies", "q": "a"}, {"indexUid": "nope", "q": "b"}]}),
    );
    assert_eq!(missing.status, 400);
    assert_eq!(missing.json(), fixture_body("129"));

    let fed = multi_search(
        &m,
        json!({
            "federation": {"limit": 5, "facetsByIndex": {"movies": ["genres"]}},
            "queries": [
                {"indexUid": "movies", "q": token(3)},
                {"indexUid": "movies", "q": token(4), "federationOptions": {"weight": 2.0}},
            ]
        }),
    );
    assert_eq!(ids(&fed["hits"]), vec![4, 3], "{fed}");
    assert_eq!(fed["hits"][0]["_federation"]["queriesPosition"], 1);
    assert_eq!(fed["hits"][0]["_federation"]["indexUid"], "movies");
    assert!(fed["hits"][0].get("_rankingScore").is_none());
    assert_eq!(fed["estimatedTotalHits"], 2);
    assert!(
        fed["facetsByIndex"]["movies"]["distribution"]["genres"].is_object(),
        "{fed}"
    );

    // A document two queries of one index find comes back once.
    let twice = multi_search(
        &m,
        json!({"federation": {}, "queries": [
            {"indexUid": "movies", "q": token(3)},
            {"indexUid": "movies", "q": format!("movie {}", token(3))},
        ]}),
    );
    let found = ids(&twice["hits"]);
    assert_eq!(found[0], 3, "{twice}");
    assert_eq!(found.iter().filter(|&&i| i == 3).count(), 1, "{twice}");
    // And counted once: 1 + 1000 found, 1000 documents.
    assert_eq!(twice["estimatedTotalHits"], 1000, "{twice}");
    // Also when the client's `attributesToRetrieve` leaves the primary key out: it is asked
    // for, to tell the documents apart, and removed again (from `_formatted` too, unless
    // highlighted: Meilisearch shows highlighted attributes there whatever is retrieved).
    let hidden_key = multi_search(
        &m,
        json!({"federation": {}, "queries": [
            {"indexUid": "movies", "q": token(3), "attributesToRetrieve": ["title"], "attributesToHighlight": ["title"]},
            {"indexUid": "movies", "q": format!("movie {}", token(3)), "attributesToRetrieve": ["title"], "attributesToHighlight": ["*"]},
        ]}),
    );
    let hits = hidden_key["hits"].as_array().unwrap();
    let title = format!("movie 3 {}", token(3));
    assert_eq!(hits[0]["title"], title.as_str(), "{hidden_key}");
    assert_eq!(
        hits.iter().filter(|h| h["title"] == title.as_str()).count(),
        1,
        "{hidden_key}"
    );
    for hit in hits {
        assert!(hit.get("id").is_none(), "{hit}");
        let highlights_all = hit["_federation"]["queriesPosition"] == 1;
        assert_eq!(
            hit["_formatted"].get("id").is_some(),
            highlights_all,
            "{hit}"
        );
    }

    // A hybrid query makes the answer count its semantic hits, after the totals (Meilisearch's
    // member order). The test nodes search keywords only, so there are none.
    let hybrid = multi_search(
        &m,
        json!({"federation": {}, "queries": [
            {"indexUid": "movies", "q": token(3), "hybrid": {"embedder": "default", "semanticRatio": 0.5}},
            {"indexUid": "movies", "q": token(4)},
        ]}),
    );
    let keys: Vec<&String> = hybrid.as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        [
            "hits",
            "processingTimeMs",
            "limit",
            "offset",
            "estimatedTotalHits",
            "semanticHitCount",
            "requestUid"
        ],
        "{hybrid}"
    );
    assert_eq!(hybrid["semanticHitCount"], 0, "{hybrid}");
    assert!(twice.get("semanticHitCount").is_none(), "{twice}");

    // A placeholder search without sort has no ranking step, so its hits come after those of
    // a keyword search whatever their scores (Meilisearch's empty federated key).
    let mixed = multi_search(
        &m,
        json!({"federation": {"limit": 2}, "queries": [
            {"indexUid": "movies", "q": ""},
            {"indexUid": "movies", "q": token(3)},
        ]}),
    );
    assert_eq!(
        mixed["hits"][0]["_federation"]["queriesPosition"], 1,
        "{mixed}"
    );
    assert_eq!(mixed["hits"][0]["id"], 3, "{mixed}");
    // So does a query of negative words only: it leaves documents out and runs as a
    // placeholder search.
    let negative = format!("-{}", token(5));
    let without_5 = search(&m, json!({"q": negative, "limit": 1000}));
    assert_eq!(without_5["estimatedTotalHits"], 999, "{without_5}");
    assert!(!ids(&without_5["hits"]).contains(&5));
    // A negative phrase leaves out the documents with its words one after the other.
    let phrase = search(&m, json!({"q": "-\"movie 3\""}));
    assert_eq!(phrase["estimatedTotalHits"], 999, "{phrase}");
    let reversed = search(&m, json!({"q": "-\"3 movie\""}));
    assert_eq!(reversed["estimatedTotalHits"], 1000, "{reversed}");
    let mixed = multi_search(
        &m,
        json!({"federation": {"limit": 2}, "queries": [
            {"indexUid": "movies", "q": negative},
            {"indexUid": "movies", "q": token(3)},
        ]}),
    );
    assert_eq!(
        mixed["hits"][0]["_federation"]["queriesPosition"], 1,
        "{mixed}"
    );
    assert_eq!(mixed["hits"][0]["id"], 3, "{mixed}");

    // Federated sort: both queries' hits merged by year, the latest first (placeholder
    // searches, so the sort is the first step).
    let fed_sorted = multi_search(
        &m,
        json!({
            "federation": {"limit": 10},
            "queries": [
                {"indexUid": "movies", "filter": "genres = Horror", "sort": ["year:desc"]},
                {"indexUid": "movies", "filter": "genres = Drama", "sort": ["year:desc"], "showRankingScoreDetails": true},
            ]
        }),
    );
    assert_eq!(
        years(&fed_sorted["hits"]),
        latest_years(|i| i % 4 == 0 || i % 4 == 2, 10),
        "{fed_sorted}"
    );
    for hit in fed_sorted["hits"].as_array().unwrap() {
        let asked = hit["_federation"]["queriesPosition"] == 1;
        assert_eq!(hit.get("_rankingScoreDetails").is_some(), asked, "{hit}");
        // `_federation` follows the document and precedes the ranking fields (fixture 126).
        let keys: Vec<&String> = hit.as_object().unwrap().keys().collect();
        let tail = if asked {
            vec!["_federation", "_rankingScoreDetails"]
        } else {
            vec!["_federation"]
        };
        assert_eq!(keys[keys.len() - tail.len()..], tail[..], "{hit}");
    }
    // mergeFacets: one facetDistribution in Meilisearch's value order, cut to maxValuesPerFacet.
    let merged = multi_search(
        &m,
        json!({
            "federation": {"limit": 1, "facetsByIndex": {"movies": ["genres"]}, "mergeFacets": {"maxValuesPerFacet": 3}},
            "queries": [{"indexUid": "movies", "q": ""}]
        }),
    );
    assert_eq!(
        merged["facetDistribution"],
        json!({"genres": {"Action": 250, "Comedy": 250, "Drama": 250}})
    );
    let genres: Vec<&String> = merged["facetDistribution"]["genres"]
        .as_object()
        .unwrap()
        .keys()
        .collect();
    assert_eq!(genres, ["Action", "Comedy", "Drama"]);
    assert_eq!(merged["facetStats"], json!({}));
    // No cut without `maxValuesPerFacet`; `"mergeFacets": null` is no merge.
    let all_values = multi_search(
        &m,
        json!({
            "federation": {"limit": 1, "facetsByIndex": {"movies": ["genres"]}, "mergeFacets": {}},
            "queries": [{"indexUid": "movies", "q": ""}]
        }),
    );
    assert_eq!(
        all_values["facetDistribution"]["genres"]
            .as_object()
            .unwrap()
            .len(),
        4
    );
    let unmerged = multi_search(
        &m,
        json!({
            "federation": {"limit": 1, "facetsByIndex": {"movies": ["genres"]}, "mergeFacets": null},
            "queries": [{"indexUid": "movies", "q": ""}]
        }),
    );
    assert!(
        unmerged["facetsByIndex"]["movies"].is_object(),
        "{unmerged}"
    );
    assert!(unmerged.get("facetDistribution").is_none(), "{unmerged}");

    // Options Meilisearch refuses where they are, with its messages.
    let misplaced = |body: Value| {
        let r = send(&m, "POST", "/multi-search", &body);
        assert_eq!(r.status, 400, "{}", r.text());
        r.json()
    };
    let paged = misplaced(json!({"federation": {}, "queries": [
        {"indexUid": "movies", "q": "a"},
        {"indexUid": "movies", "q": "b", "limit": 5},
    ]}));
    assert_eq!(paged["code"], "invalid_multi_search_query_pagination");
    assert_eq!(paged["message"], "Inside `.queries[1]`: Using pagination options is not allowed in federated queries.\n - Hint: remove `limit` from query #1 or remove `federation` from the request\n - Hint: pass `federation.limit` and `federation.offset` for pagination in federated search");
    let faceted = misplaced(json!({"federation": {}, "queries": [
        {"indexUid": "movies", "q": "a", "facets": ["genres"]},
    ]}));
    assert_eq!(faceted["code"], "invalid_multi_search_query_facets");
    assert_eq!(faceted["message"], "Inside `.queries[0]`: Using facet options is not allowed in federated queries.\n - Hint: remove `facets` from query #0 or remove `federation` from the request\n - Hint: pass `federation.facetsByIndex.movies: [\"genres\"]` for facets in federated search");
    let weighted = misplaced(json!({"queries": [
        {"indexUid": "movies", "q": "a", "federationOptions": {"weight": 2.0}},
    ]}));
    assert_eq!(weighted["code"], "invalid_multi_search_federation_options");
    // Which error wins, as in Meilisearch: a malformed later query over a misplaced option; in a
    // plain multi-search, an earlier query's own error over a later misplaced option.
    let malformed_later = misplaced(json!({"federation": {}, "queries": [
        {"indexUid": "movies", "q": "a", "limit": 5},
        {"q": "b"},
    ]}));
    assert_eq!(
        malformed_later["code"], "missing_index_uid",
        "{malformed_later}"
    );
    let earlier_fails = misplaced(json!({"queries": [
        {"indexUid": "nope", "q": "a"},
        {"indexUid": "movies", "q": "b", "federationOptions": {"weight": 2.0}},
    ]}));
    assert_eq!(earlier_fails["code"], "index_not_found", "{earlier_fails}");
    assert_eq!(weighted["message"], "Inside `.queries[0]`: Using `federationOptions` is not allowed in a non-federated search.\n - Hint: remove `federationOptions` from query #0 or add `federation` to the request.");

    // Sorts in opposite directions cannot be merged: Meilisearch's error (fixture 130).
    let refused = send(
        &m,
        "POST",
        "/multi-search",
        &json!({
            "federation": {},
            "queries": [
                {"indexUid": "movies", "sort": ["year:desc"]},
                {"indexUid": "movies", "sort": ["year:asc"]},
            ]
        }),
    );
    assert_eq!(refused.status, 400, "{}", refused.text());
    let refused = refused.json();
    assert_eq!(refused["code"], "invalid_multi_search_query_ranking_rules");
    assert_eq!(refused["type"], "invalid_request");
    let message = refused["message"].as_str().unwrap();
    assert!(
        message.starts_with("Inside `.queries[1]`: The results of queries #0 and #1 are incompatible: \n  1. `queries[0].sort[0]`, `movies.rankingRules[0]`: descending sort rule(s) on field `year`\n  2. `queries[1].sort[0]`, `movies.rankingRules[0]`: ascending sort rule(s) on field `year`\n  - cannot compare two sort rules in opposite directions\n"),
        "{message}"
    );
    // Which error wins follows Meilisearch: index by index in uid order, each index's queries
    // in input order, a query's rules conflict before its own search error.
    let first_error = |queries: Value| {
        let r = send(
            &m,
            "POST",
            "/multi-search",
            &json!({"federation": {}, "queries": queries}),
        );
        assert_eq!(r.status, 400, "{}", r.text());
        let body = r.json();
        (
            body["code"].as_str().unwrap().to_owned(),
            body["message"].as_str().unwrap().to_owned(),
        )
    };
    let (code, message) = first_error(json!([
        {"indexUid": "movies", "sort": ["year:desc"], "filter": "year >"},
        {"indexUid": "movies", "sort": ["year:asc"]},
    ]));
    assert_eq!(code, "invalid_search_filter", "{message}");
    assert!(message.starts_with("Inside `.queries[0]`: "), "{message}");
    let (code, message) = first_error(json!([
        {"indexUid": "movies", "sort": ["year:desc"]},
        {"indexUid": "movies", "sort": ["year:asc"], "filter": "year >"},
    ]));
    assert_eq!(
        code, "invalid_multi_search_query_ranking_rules",
        "{message}"
    );
    let (code, message) = first_error(json!([
        {"indexUid": "movies", "sort": ["year:desc"]},
        {"indexUid": "movies", "sort": ["year:asc"]},
        {"indexUid": "a-missing-index", "q": "x"},
    ]));
    assert_eq!(code, "index_not_found", "{message}");
    assert!(message.starts_with("Inside `.queries[2]`: "), "{message}");

    let facets = send(
        &m,
        "POST",
        "/indexes/movies/facet-search",
        &json!({"facetName": "genres", "facetQuery": "dra"}),
    );
    assert_eq!(facets.status, 200, "{}", facets.text());
    assert_eq!(
        facets.json()["facetHits"],
        json!([{"value": "Drama", "count": 250}])
    );
    assert_eq!(facets.json()["facetQuery"], "dra");
    let all = send(
        &m,
        "POST",
        "/indexes/movies/facet-search",
        &json!({"facetName": "genres"}),
    )
    .json();
    let total: u64 = all["facetHits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["count"].as_u64().unwrap())
        .sum();
    assert_eq!(total, 1000, "{all}");

    // A custom sort rule in the index's ranking rules, no `sort` in the queries: Miroir learns
    // of it from the rules and merges by it (placeholder searches: it is the only step).
    let mut rules = ranking_rules(&m);
    rules.push(json!("year:asc"));
    applied(
        &m,
        "PUT",
        "/indexes/movies/settings/ranking-rules",
        &Value::from(rules),
    );
    let by_rule = multi_search(
        &m,
        json!({
            "federation": {"limit": 10},
            "queries": [
                {"indexUid": "movies", "filter": "genres = Horror"},
                {"indexUid": "movies", "filter": "genres = Drama"},
            ]
        }),
    );
    let mut earliest = latest_years(|i| i % 4 == 0 || i % 4 == 2, 1000);
    earliest.reverse();
    earliest.truncate(10);
    assert_eq!(years(&by_rule["hits"]), earliest, "{by_rule}");
    assert!(by_rule["hits"][0].get("_rankingScoreDetails").is_none());
}

#[test]
fn merged_facets_follow_the_indexes_facet_order() {
    let nodes = start_nodes(3, NODE_KEY);
    let m = loaded(&nodes, 1, |_| 0, "");
    // `shorts` orders facet values by count; its genres have distinct counts.
    wait_succeeded(&m, create_index(&m, "shorts"));
    applied(
        &m,
        "PATCH",
        "/indexes/shorts/settings",
        &json!({"filterableAttributes": ["genres"], "faceting": {"sortFacetValuesBy": {"*": "count"}}}),
    );
    let shorts: Vec<Value> = ["Western", "Western", "Western", "Drama", "Drama", "Action"]
        .iter()
        .enumerate()
        .map(|(i, g)| json!({"id": i, "title": format!("short {i}"), "genres": [g]}))
        .collect();
    applied(
        &m,
        "POST",
        "/indexes/shorts/documents",
        &Value::from(shorts),
    );
    let merged = multi_search(
        &m,
        json!({
            "federation": {"facetsByIndex": {"shorts": ["genres"]}, "mergeFacets": {"maxValuesPerFacet": 2}},
            "queries": [{"indexUid": "shorts", "q": ""}]
        }),
    );
    let genres: Vec<(&String, &Value)> = merged["facetDistribution"]["genres"]
        .as_object()
        .unwrap()
        .iter()
        .collect();
    assert_eq!(
        genres,
        [
            (&"Western".to_string(), &json!(3)),
            (&"Drama".to_string(), &json!(2))
        ],
        "{merged}"
    );

    // A plain search lists them the same way, cut to the index's `maxValuesPerFacet`.
    applied(
        &m,
        "PATCH",
        "/indexes/shorts/settings",
        &json!({"faceting": {"maxValuesPerFacet": 2}}),
    );
    let r = send(
        &m,
        "POST",
        "/indexes/shorts/search",
        &json!({"facets": ["genres"], "limit": 0}),
    );
    assert_eq!(
        r.json()["facetDistribution"],
        json!({"genres": {"Western": 3, "Drama": 2}}),
        "{}",
        r.text()
    );

    // Facet search as well.
    let r = send(
        &m,
        "POST",
        "/indexes/shorts/facet-search",
        &json!({"facetName": "genres"}),
    );
    assert_eq!(
        r.json()["facetHits"],
        json!([{"value": "Western", "count": 3}, {"value": "Drama", "count": 2}]),
        "{}",
        r.text()
    );

    // `movies` orders them alphabetically: Meilisearch refuses to merge the two.
    let r = send(
        &m,
        "POST",
        "/multi-search",
        &json!({
            "federation": {"facetsByIndex": {"movies": ["genres"], "shorts": ["genres"]}, "mergeFacets": {}},
            "queries": [{"indexUid": "shorts", "q": ""}, {"indexUid": "movies", "q": ""}]
        }),
    );
    assert_eq!(r.status, 400, "{}", r.text());
    assert_eq!(
        r.json(),
        json!({
            "message": "Inside `.federation.facetsByIndex.shorts`: Inconsistent order for values in facet `genres`: index `movies` orders alphabetically, but index `shorts` orders by count.\n - Hint: Remove `federation.mergeFacets` or change `faceting.sortFacetValuesBy` to be consistent in settings.\n - Note: index `shorts` used in `.queries[0]`",
            "code": "invalid_multi_search_facet_order",
            "type": "invalid_request",
            "link": "https://docs.meilisearch.com/errors#invalid_multi_search_facet_order"
        })
    );
    // `facetsByIndex` errors name the entry, and the query that uses the index (Meilisearch's
    // wording); entries no query uses are checked too.
    let facets_error = |federation: Value, queries: Value| {
        let r = send(
            &m,
            "POST",
            "/multi-search",
            &json!({"federation": federation, "queries": queries}),
        );
        assert_eq!(r.status, 400, "{}", r.text());
        let body = r.json();
        (
            body["code"].as_str().unwrap().to_owned(),
            body["message"].as_str().unwrap().to_owned(),
        )
    };
    let (code, message) = facets_error(
        json!({"facetsByIndex": {"movies": ["title"]}}),
        json!([{"indexUid": "shorts"}, {"indexUid": "movies"}]),
    );
    assert_eq!(code, "invalid_multi_search_facets", "{message}");
    assert!(
        message.starts_with("Inside `.federation.facetsByIndex.movies`: "),
        "{message}"
    );
    assert!(
        message.ends_with("\n - Note: index `movies` used in `.queries[1]`"),
        "{message}"
    );
    let (code, message) = facets_error(
        json!({"facetsByIndex": {"nope": ["genres"]}}),
        json!([{"indexUid": "movies"}]),
    );
    assert_eq!(code, "index_not_found", "{message}");
    assert_eq!(
        message,
        "Inside `.federation.facetsByIndex.nope`: Index `nope` not found.\n - Note: index `nope` is not used in queries"
    );
    let (code, message) = facets_error(
        json!({"facetsByIndex": {"shorts": ["title"]}}),
        json!([{"indexUid": "movies"}]),
    );
    assert_eq!(code, "invalid_multi_search_facets", "{message}");
    assert!(
        message.starts_with("Inside `.federation.facetsByIndex.shorts`: "),
        "{message}"
    );
    assert!(
        message.ends_with("\n - Note: index `shorts` is not used in queries"),
        "{message}"
    );
    // An unused entry that is fine changes nothing.
    let unused_ok = multi_search(
        &m,
        json!({"federation": {"limit": 1, "facetsByIndex": {"shorts": ["genres"]}}, "queries": [{"indexUid": "movies"}]}),
    );
    assert!(unused_ok.get("facetsByIndex").is_none(), "{unused_ok}");

    // Without `mergeFacets` each index keeps its own order and `maxValuesPerFacet`.
    let by_index = multi_search(
        &m,
        json!({
            "federation": {"facetsByIndex": {"movies": ["genres"], "shorts": ["genres"]}},
            "queries": [{"indexUid": "shorts", "q": ""}, {"indexUid": "movies", "q": ""}]
        }),
    );
    let shorts_genres: Vec<&String> = by_index["facetsByIndex"]["shorts"]["distribution"]["genres"]
        .as_object()
        .unwrap()
        .keys()
        .collect();
    assert_eq!(shorts_genres, ["Western", "Drama"], "{by_index}");
    let uids: Vec<&String> = by_index["facetsByIndex"]
        .as_object()
        .unwrap()
        .keys()
        .collect();
    assert_eq!(
        uids,
        ["movies", "shorts"],
        "by uid, as Meilisearch lists them"
    );
}

/// Settings reads Miroir has sent to nodes (`operation="admin"`), all nodes summed.
fn admin_reads(m: &Miroir) -> f64 {
    miroir_test_nodes::http::get(&m.metrics_addr, "/metrics", &[])
        .unwrap()
        .text()
        .lines()
        .filter(|l| {
            l.starts_with("miroir_node_request_duration_seconds_count{")
                && l.contains("operation=\"admin\"")
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[test]
fn federated_searches_read_index_settings_once_per_core_until_settings_change() {
    let nodes = start_nodes(3, NODE_KEY);
    let m = loaded(&nodes, 1, |_| 0, "");
    let federated = json!({"federation": {"limit": 3}, "queries": [
        {"indexUid": "movies", "q": token(3)},
        {"indexUid": "movies", "q": token(4)},
    ]});
    let before = admin_reads(&m);
    for _ in 0..10 {
        multi_search(&m, federated.clone());
    }
    // At most one read per request core (two here), not one per search.
    let reads = admin_reads(&m) - before;
    assert!((1.0..=2.0).contains(&reads), "{reads} settings reads");

    // A settings task that ends makes every core read them again: a new custom sort rule
    // orders the next federated search.
    let mut rules = ranking_rules(&m);
    rules.insert(0, json!("year:desc"));
    applied(
        &m,
        "PUT",
        "/indexes/movies/settings/ranking-rules",
        &Value::from(rules),
    );
    let by_year = multi_search(
        &m,
        json!({"federation": {"limit": 5}, "queries": [
            {"indexUid": "movies", "filter": "genres = Horror"},
            {"indexUid": "movies", "filter": "genres = Drama"},
        ]}),
    );
    assert_eq!(
        years(&by_year["hits"]),
        latest_years(|i| i % 4 == 0 || i % 4 == 2, 5),
        "{by_year}"
    );
    // The plain search too: `_rankingScore` ignores custom sort rules, so the shards' hits
    // are merged by their ranking score details.
    let single = search(&m, json!({"limit": 7}));
    assert_eq!(
        years(&single["hits"]),
        latest_years(|_| true, 7),
        "{single}"
    );
    assert!(single["hits"][0].get("_rankingScoreDetails").is_none());
}

#[test]
fn no_hit_past_max_total_hits() {
    let nodes = start_nodes(3, NODE_KEY);
    let m = loaded(&nodes, 1, |_| 0, "");
    applied(
        &m,
        "PATCH",
        "/indexes/movies/settings",
        &json!({"pagination": {"maxTotalHits": 100}}),
    );
    let first_100 = ids(&search(&m, json!({"limit": 100}))["hits"]);
    assert_eq!(first_100.len(), 100);
    // The window is cut at maxTotalHits, the totals are at most it (Meilisearch's
    // `min(candidates, maxTotalHits)`), the offset answered is the one the window starts at.
    let tail = search(&m, json!({"offset": 90, "limit": 20}));
    assert_eq!(ids(&tail["hits"]), first_100[90..], "{tail}");
    assert_eq!(
        (&tail["offset"], &tail["limit"], &tail["estimatedTotalHits"]),
        (&json!(90), &json!(20), &json!(100))
    );
    let past = search(&m, json!({"offset": 150, "limit": 5}));
    assert_eq!(past["hits"], json!([]), "{past}");
    assert_eq!(past["offset"], 100, "{past}");
    let page = search(&m, json!({"hitsPerPage": 30, "page": 4}));
    assert_eq!(ids(&page["hits"]), first_100[90..], "{page}");
    assert_eq!(
        (&page["totalHits"], &page["totalPages"]),
        (&json!(100), &json!(4))
    );
    // A plain multi-search query is held to it too; a federated one is not (Meilisearch's
    // federated search has no such cut).
    let plain = multi_search(
        &m,
        json!({"queries": [{"indexUid": "movies", "offset": 95, "limit": 10}]}),
    );
    assert_eq!(ids(&plain["results"][0]["hits"]).len(), 5, "{plain}");
    let federated = multi_search(
        &m,
        json!({"federation": {"limit": 150}, "queries": [{"indexUid": "movies"}]}),
    );
    assert_eq!(ids(&federated["hits"]).len(), 150, "{federated}");
}

#[test]
fn distinct_holds_across_shards() {
    let nodes = start_nodes(3, NODE_KEY);
    let m = loaded(&nodes, 1, |_| 0, "");
    let genres = |hits: &Value| -> Vec<String> {
        hits.as_array()
            .unwrap()
            .iter()
            .map(|h| h["genres"][0].as_str().unwrap().to_owned())
            .collect()
    };
    // Every node holds every genre: each answers four hits, the merge keeps one per genre.
    let all = search(&m, json!({"distinct": "genres"}));
    let found = genres(&all["hits"]);
    assert_eq!(found.len(), 4, "{all}");
    let mut unique = found.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), 4, "{all}");
    // Meilisearch's estimate leaves out the duplicates of the hits answered: 1000 - 4 × 249.
    assert_eq!(all["estimatedTotalHits"], 4, "{all}");
    // The same page, a window of it.
    let window = search(&m, json!({"distinct": "genres", "offset": 1, "limit": 2}));
    assert_eq!(genres(&window["hits"]), found[1..3], "{window}");
    // The field is read even when the client leaves it out of what it retrieves (and it
    // stays out; of `_formatted` too, unless highlighted, which shows it there in Meilisearch).
    for (highlight, formatted_shows) in [("title", false), ("*", true)] {
        let hidden = search(
            &m,
            json!({"distinct": "genres", "attributesToRetrieve": ["id"], "attributesToHighlight": [highlight]}),
        );
        assert_eq!(
            ids(&hidden["hits"]),
            ids(&all["hits"]),
            "the same documents: {hidden}"
        );
        for hit in hidden["hits"].as_array().unwrap() {
            assert!(hit.get("genres").is_none(), "{hit}");
            assert_eq!(
                hit["_formatted"].get("genres").is_some(),
                formatted_shows,
                "{hit}"
            );
            assert!(hit["_formatted"].get("id").is_some(), "{hit}");
        }
    }
    // The index's distinct attribute, without the parameter.
    applied(
        &m,
        "PUT",
        "/indexes/movies/settings/distinct-attribute",
        &json!("genres"),
    );
    let by_setting = search(&m, json!({}));
    assert_eq!(genres(&by_setting["hits"]), found, "{by_setting}");
}

#[test]
fn a_rolled_back_settings_write_is_not_kept_past_the_nodes_restore() {
    let nodes = start_nodes(2, NODE_KEY);
    let (Some(first), Some(second)) = (nodes[0].double(), nodes[1].double()) else {
        eprintln!("skipped: delaying a node's tasks needs the test double");
        return;
    };
    // Both nodes hold every shard; a node request gives up after 1 s.
    let m = loaded(&nodes, 2, |_| 0, "[upstream]\nrequest_timeout_ms = 1000\n");
    let hits = |m: &Miroir| search(m, json!({}))["hits"].as_array().unwrap().len();
    assert_eq!(hits(&m), 20);
    // The second node too slow to take the write (marked unhealthy first, so that the read of
    // the settings to restore goes to the first); the first applies it 2 s after it arrives.
    second.set_fault(Fault::Delay(Duration::from_secs(2)));
    std::thread::sleep(Duration::from_millis(1000));
    first.set_task_delay(Duration::from_millis(2000));
    let sent = std::time::Instant::now();
    let refused = send(
        &m,
        "PATCH",
        "/indexes/movies/settings",
        &json!({"distinctAttribute": "genres"}),
    );
    assert_eq!(refused.status, 503, "{}", refused.text());
    let answered = sent.elapsed();
    assert!(answered < Duration::from_millis(1900), "{answered:?}");
    second.set_fault(Fault::Down);
    // The first node applies the write 2 s after it arrived, and the restore (sent at ~1 s)
    // after that: a search in between reads the written settings, and distinct by genre
    // leaves 4 hits.
    let written = wait_for(Duration::from_secs(10), || {
        (node_get(&nodes[0], "/indexes/movies/settings")["distinctAttribute"] == "genres")
            .then_some(())
    });
    assert!(written.is_some(), "the first node never applied the write");
    let between = wait_for(Duration::from_secs(5), || {
        let n = hits(&m);
        let restored =
            node_get(&nodes[0], "/indexes/movies/settings")["distinctAttribute"].is_null();
        (n == 4 || restored).then_some(n)
    });
    assert_eq!(
        between,
        Some(4),
        "no search read the settings between the write and its restore ({:?})",
        sent.elapsed()
    );
    let restored = wait_for(Duration::from_secs(10), || {
        node_get(&nodes[0], "/indexes/movies/settings")["distinctAttribute"]
            .is_null()
            .then_some(())
    });
    assert!(restored.is_some(), "the first node was not restored");
    // Once the node has applied the restore, no core keeps what it read before (the cache
    // would otherwise keep it for its 60 s).
    let fresh = wait_for(Duration::from_secs(5), || {
        let seen: Vec<usize> = (0..8).map(|_| hits(&m)).collect();
        seen.iter().all(|&n| n == 20).then_some(seen)
    });
    assert!(fresh.is_some(), "searches kept the rolled-back settings");
}

#[test]
fn a_slow_node_does_not_hold_a_search_past_its_deadline() {
    let nodes = start_nodes(3, NODE_KEY);
    let Some(slow) = nodes[0].double() else {
        eprintln!("skipped: slowing a healthy-looking node needs the test double");
        return;
    };
    // Health checks too rare to notice the slow node: only the deadlines protect the search.
    let m = loaded(
        &nodes,
        1,
        |_| 0,
        "[health]\ninterval_ms = 60000\ntimeout_ms = 500\n[scatter]\nnode_timeout_ms = 1000\n",
    );
    // A settings task that ends makes the next search read the index's settings again, maybe
    // from the slow node first.
    applied(
        &m,
        "PATCH",
        "/indexes/movies/settings",
        &json!({"pagination": {"maxTotalHits": 1000}}),
    );
    slow.set_fault(Fault::Delay(Duration::from_secs(5)));
    let started = std::time::Instant::now();
    let r = send(
        &m,
        "POST",
        "/indexes/movies/search",
        &json!({"q": "movie", "limit": 5}),
    );
    let took = started.elapsed();
    slow.set_fault(Fault::None);
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.header("x-miroir-degraded").is_some(), "{}", r.text());
    assert!(took < Duration::from_millis(2500), "took {took:?}");
}

#[test]
fn distinct_asks_for_more_when_a_kept_hit_covers_several_values() {
    let nodes = start_nodes(3, NODE_KEY);
    let m = loaded(&nodes, 1, |_| 0, "");
    // Primary keys on node-0 and on node-1 (16 shards, RF 1, one group).
    let shard_map = m.get("/_miroir/shards", &[]).json();
    let on = |node: &str, n: usize| -> Vec<String> {
        let shards: Vec<u32> = shard_map["shards"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|s| s["groups"][0]["nodes"][0] == node)
            .map(|s| s["shard"].as_u64().unwrap() as u32)
            .collect();
        (0..)
            .map(|i| format!("t{i}"))
            .filter(|pk| shards.contains(&miroir_router::shard_for_key(pk.as_bytes(), 16)))
            .take(n)
            .collect()
    };
    let (a, b) = (on("node-0", 3), on("node-1", 2));
    wait_succeeded(&m, create_index(&m, "tagged"));
    applied(
        &m,
        "PATCH",
        "/indexes/tagged/settings",
        &json!({"filterableAttributes": ["tags"], "sortableAttributes": ["rank"]}),
    );
    let docs = json!([
        {"id": a[0], "tags": ["x"], "rank": 8},
        {"id": a[1], "tags": ["y"], "rank": 7},
        {"id": a[2], "tags": ["w"], "rank": 6},
        {"id": b[0], "tags": ["x", "y"], "rank": 9},
        {"id": b[1], "tags": ["v"], "rank": 1},
    ]);
    wait_succeeded(
        &m,
        accepted(&send(&m, "POST", "/indexes/tagged/documents", &docs)),
    );
    // Node-0's two best hits share values with node-1's best: only its third (rank 6) shows
    // what comes second, so node-0 is asked again for more.
    let r = send(
        &m,
        "POST",
        "/indexes/tagged/search",
        &json!({"distinct": "tags", "sort": ["rank:desc"], "limit": 2}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let ranks: Vec<u64> = r.json()["hits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["rank"].as_u64().unwrap())
        .collect();
    assert_eq!(ranks, [9, 6], "{}", r.text());
}

#[test]
fn searches_that_miss_together_share_one_settings_read_per_core() {
    let nodes = start_nodes(3, NODE_KEY);
    let doubles: Vec<_> = nodes.iter().filter_map(|n| n.double()).collect();
    if doubles.len() != nodes.len() {
        eprintln!("skipped: slowing the nodes needs the test doubles");
        return;
    }
    // Health checks too rare to notice the delay (the slowed nodes answer `/health` late too).
    let m = loaded(
        &nodes,
        1,
        |_| 0,
        "[health]\ninterval_ms = 60000\ntimeout_ms = 1000\n",
    );
    // A settings task ends: every core's next search misses.
    applied(
        &m,
        "PATCH",
        "/indexes/movies/settings",
        &json!({"pagination": {"maxTotalHits": 1000}}),
    );
    // Slow nodes: the searches all miss while the first reads are in flight.
    for node in &doubles {
        node.set_fault(Fault::Delay(Duration::from_millis(200)));
    }
    let before = admin_reads(&m);
    std::thread::scope(|scope| {
        for _ in 0..16 {
            scope.spawn(|| search(&m, json!({"q": "movie", "limit": 3})));
        }
    });
    for node in &doubles {
        node.set_fault(Fault::None);
    }
    // At most one read per request core (two here).
    let reads = admin_reads(&m) - before;
    assert!((1.0..=2.0).contains(&reads), "{reads} settings reads");
}

/// A 400 answer's message, checked to have `code`.
fn error_message(r: &Response, code: &str) -> String {
    assert_eq!(r.status, 400, "{}", r.text());
    let body = r.json();
    assert_eq!(body["code"], code, "{body}");
    body["message"].as_str().expect("message").to_owned()
}

#[test]
fn miroirs_shard_field_never_shows() {
    // The nodes have `_miroir_shard` filterable (Miroir's shard filter): neither `facets: ["*"]`
    // nor the attribute lists of the nodes' errors may show it.
    let nodes = start_nodes(3, NODE_KEY);
    let m = loaded(&nodes, 1, |_| 0, "");
    let r = search(&m, json!({"facets": ["*"], "limit": 1}));
    let names: Vec<&String> = r["facetDistribution"].as_object().unwrap().keys().collect();
    assert_eq!(names, ["genres", "year"], "{r}");
    let stats: Vec<&String> = r["facetStats"].as_object().unwrap().keys().collect();
    assert_eq!(stats, ["year"], "{r}");

    // A node's error for `body`: its code, and the attribute list it shows.
    let lists = |path: &str, body: Value, code: &str, list: &str| {
        let message = error_message(&send(&m, "POST", path, &body), code);
        assert!(message.contains(list), "{path} {body}: {message}");
    };
    let listed = "Available filterable attribute patterns are: `genres`, `year`.";
    let search_path = "/indexes/movies/search";
    let filter = json!({"filter": "title = x"});
    lists(search_path, filter.clone(), "invalid_search_filter", listed);
    let comma_list = "patterns are: `genres, year`.";
    let facets = json!({"facets": ["title"]});
    lists(search_path, facets, "invalid_search_facets", comma_list);
    let facet_name = json!({"facetName": "title"});
    let facet_search = "/indexes/movies/facet-search";
    lists(
        facet_search,
        facet_name,
        "invalid_facet_search_facet_name",
        comma_list,
    );
    let fetch = "/indexes/movies/documents/fetch";
    lists(fetch, filter, "invalid_document_filter", listed);
    let deletion = wait_task(
        &m,
        accepted(&send(
            &m,
            "POST",
            "/indexes/movies/documents/delete",
            &json!({"filter": "title = x"}),
        )),
    );
    assert_eq!(deletion["status"], "failed", "{deletion}");
    let message = deletion["error"]["message"].as_str().unwrap();
    assert!(message.contains(listed), "{deletion}");

    // An index without filterable attributes of its own: Meilisearch's words for none.
    wait_succeeded(&m, create_index(&m, "bare"));
    let none = error_message(
        &send(
            &m,
            "POST",
            "/indexes/bare/search",
            &json!({"filter": "title = x"}),
        ),
        "invalid_search_filter",
    );
    assert!(
        none.contains("Attribute `title` is not filterable. This index does not have configured filterable attributes."),
        "{none}"
    );
    assert!(!none.contains("_miroir"), "{none}");

    // Named by the client where a node would take it: refused, nothing searched or deleted.
    let reserved = |method: &str, path: &str, body: Value, parameter: &str| {
        let r = send(&m, method, path, &body);
        let message = error_message(&r, "miroir_reserved_field");
        assert!(
            message.contains("`_miroir_shard` is reserved")
                && message.contains(&format!("`{parameter}`")),
            "{method} {path} {body}: {message}"
        );
    };
    reserved(
        "POST",
        search_path,
        json!({"filter": "year > 1 AND _miroir_shard = '!'"}),
        "filter",
    );
    reserved(
        "POST",
        search_path,
        json!({"filter": [["genres = Drama", "'_miroir_shard' EXISTS"]]}),
        "filter",
    );
    reserved(
        "GET",
        "/indexes/movies/search?filter=_miroir_shard%20EXISTS",
        json!(null),
        "filter",
    );
    reserved(
        "POST",
        search_path,
        json!({"facets": ["genres", "_miroir_shard"]}),
        "facets",
    );
    reserved(
        "POST",
        search_path,
        json!({"distinct": "_miroir_shard"}),
        "distinct",
    );
    reserved(
        "POST",
        "/indexes/movies/facet-search",
        json!({"facetName": "_miroir_shard"}),
        "facetName",
    );
    reserved(
        "POST",
        "/indexes/movies/facet-search",
        json!({"facetName": "genres", "filter": "_miroir_shard = '!'"}),
        "filter",
    );
    reserved(
        "POST",
        "/indexes/movies/documents/fetch",
        json!({"filter": "_miroir_shard = '!'"}),
        "filter",
    );
    reserved(
        "GET",
        "/indexes/movies/documents?filter=_miroir_shard%20EXISTS",
        json!(null),
        "filter",
    );
    reserved(
        "POST",
        "/indexes/movies/documents/delete",
        json!({"filter": "_miroir_shard EXISTS"}),
        "filter",
    );
    let multi = send(
        &m,
        "POST",
        "/multi-search",
        &json!({"queries": [{"indexUid": "movies", "filter": "_miroir_shard EXISTS"}]}),
    );
    assert!(
        error_message(&multi, "miroir_reserved_field").starts_with("Inside `.queries[0]`"),
        "{}",
        multi.text()
    );
    // As a value it is only a value.
    let r = search(
        &m,
        json!({"filter": "genres = _miroir_shard", "q": "_miroir_shard"}),
    );
    assert_eq!(r["estimatedTotalHits"], 0, "{r}");
    assert_eq!(search(&m, json!({"limit": 0}))["estimatedTotalHits"], 1000);
}

#[test]
fn a_number_query_finds_only_documents_that_show_it() {
    // Miroir's `_miroir_shard` is in every document and searchable with the default
    // `searchableAttributes: ["*"]`: its value must hold no word, or `q: "13"` would find every
    // document of shard 13.
    let nodes = start_nodes(3, NODE_KEY);
    let m = loaded(&nodes, 1, |_| 0, "");
    for q in ["13", "1", "7"] {
        let r = search(&m, json!({"q": q, "limit": 1000}));
        let hits = r["hits"].as_array().unwrap();
        assert!(!hits.is_empty(), "{q}: {r}");
        for hit in hits {
            let shown = [&hit["id"], &hit["title"], &hit["year"]]
                .iter()
                .any(|v| v.to_string().contains(q));
            assert!(shown, "{q} matched a document that does not show it: {hit}");
        }
    }
}

/// `v` without Miroir's own members (at any depth) and without what differs from one answer
/// to the next (`requestUid`, `processingTimeMs`).
fn comparable(v: &Value) -> Value {
    match v {
        Value::Object(map) => Value::Object(
            map.iter()
                .filter(|(k, _)| {
                    !k.starts_with("_miroir_") && *k != "requestUid" && *k != "processingTimeMs"
                })
                .map(|(k, v)| (k.clone(), comparable(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(comparable).collect()),
        other => other.clone(),
    }
}

#[test]
fn a_search_one_node_answers_in_full_is_relayed() {
    let queries = [
        json!({"q": "movie", "page": 3, "hitsPerPage": 7, "facets": ["*"], "showRankingScore": true}),
        json!({"offset": 990, "limit": 20, "sort": ["year:desc"], "attributesToHighlight": ["*"]}),
        json!({"q": token(5), "showRankingScoreDetails": true, "attributesToRetrieve": ["id"]}),
        json!({"distinct": "genres", "filter": "year > 1950", "facets": ["genres", "year"]}),
    ];
    // One node holding all 16 shards; then one shard on two replicas (RF 2), each search
    // going to one of them with its shard filter.
    for (node_count, shards, rf) in [(1, 16, 1), (2, 1, 2)] {
        let nodes = start_nodes(node_count, NODE_KEY);
        let m = loaded_with_shards(&nodes, shards, rf, |_| 0, "");
        for query in &queries {
            for _ in 0..node_count {
                let seen_before: Vec<usize> = nodes
                    .iter()
                    .filter_map(Node::double)
                    .map(|d| d.requests_seen("POST", "/indexes/movies/search"))
                    .collect();
                let answer = search(&m, query.clone());
                assert!(!answer.to_string().contains("_miroir"), "{answer}");
                let uid = answer["requestUid"].as_str().unwrap_or_default();
                assert_eq!(uid.len(), 36, "Miroir's own request uid: {answer}");
                // The node that answered was asked the client's own parameters.
                let asked: Vec<Value> = nodes
                    .iter()
                    .filter_map(Node::double)
                    .zip(&seen_before)
                    .filter(|(d, &n)| d.requests_seen("POST", "/indexes/movies/search") > n)
                    .filter_map(|(d, _)| d.last_body("POST", "/indexes/movies/search"))
                    .map(|b| serde_json::from_slice(&b).unwrap())
                    .collect();
                if !nodes[0].is_real() {
                    assert_eq!(asked.len(), 1, "one node asked: {asked:?}");
                    let mut expected = query.clone();
                    if rf > 1 {
                        let shard = json!(format!("_miroir_shard IN ['{}']", shard_value(0)));
                        expected["filter"] = match query.get("filter") {
                            Some(client) => json!([client, shard]),
                            None => shard,
                        };
                    }
                    assert_eq!(asked[0], expected);
                }
                // The answer is the node's own, less Miroir's fields (the nodes hold the same
                // documents).
                let direct = node_post(&nodes[0], "/indexes/movies/search", query);
                assert_ne!(direct["requestUid"], answer["requestUid"]);
                assert_eq!(comparable(&answer), comparable(&direct), "{query}");
            }
        }
        // A plain multi-search relays each query's answer the same way.
        let queries_with_uid: Vec<Value> = queries
            .iter()
            .map(|q| {
                let mut q = q.clone();
                q["indexUid"] = json!("movies");
                q
            })
            .collect();
        let multi = multi_search(&m, json!({ "queries": queries_with_uid }));
        assert!(!multi.to_string().contains("_miroir"), "{multi}");
        for (query, result) in queries.iter().zip(multi["results"].as_array().unwrap()) {
            let mut direct = node_post(&nodes[0], "/indexes/movies/search", query);
            direct["indexUid"] = json!("movies");
            assert_eq!(comparable(result), comparable(&direct), "{query}");
        }
    }
}
