//! Merges built from real Meilisearch v1.50 response bodies (copied from
//! `shared/meili-v1.50/`, see `tests/data/*.json`: `{request, response, source}`): the hits of one
//! real response are dealt to several "nodes" (each list keeping the real order, as a shard
//! would return it) and the merge must give back the single-index order and shape.

use miroir_merge::{
    merge_search, strip_reserved_fields, strip_reserved_fields_in_results, MergeRequest, Order,
    Page,
};
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::Value;

struct Fixture {
    text: String,
}

#[derive(Deserialize)]
struct Raw<'a> {
    #[serde(borrow)]
    response: &'a RawValue,
}

#[derive(Deserialize)]
struct RawResp<'a> {
    #[serde(borrow)]
    hits: Vec<&'a RawValue>,
}

impl Fixture {
    fn load(n: &str) -> Fixture {
        let path = format!("{}/tests/data/{n}.json", env!("CARGO_MANIFEST_DIR"));
        Fixture {
            text: std::fs::read_to_string(path).unwrap(),
        }
    }
    fn response_raw(&self) -> &str {
        serde_json::from_str::<Raw<'_>>(&self.text)
            .unwrap()
            .response
            .get()
    }
    fn response(&self) -> Value {
        serde_json::from_str(self.response_raw()).unwrap()
    }
    fn request(&self) -> Value {
        serde_json::from_str::<Value>(&self.text).unwrap()["request"].clone()
    }
    /// The raw hit texts, in Meilisearch's order.
    fn hits(&self) -> Vec<String> {
        serde_json::from_str::<RawResp<'_>>(self.response_raw())
            .unwrap()
            .hits
            .iter()
            .map(|h| h.get().to_owned())
            .collect()
    }
}

/// A node body holding `hits` (raw texts), with the given estimatedTotalHits.
fn node_body(hits: &[String], total: u64, node: usize) -> Vec<u8> {
    format!(
        r#"{{"hits":[{}],"query":"q","processingTimeMs":{node},"limit":20,"offset":0,"estimatedTotalHits":{total},"requestUid":"uid-{node}"}}"#,
        hits.join(",")
    )
    .into_bytes()
}

/// Deals hit `i` to node `assign(i)`, keeping Meilisearch's order inside each node.
fn deal(hits: &[String], k: usize, assign: impl Fn(usize) -> usize) -> Vec<Vec<u8>> {
    let mut lists = vec![Vec::new(); k];
    for (i, h) in hits.iter().enumerate() {
        lists[assign(i)].push(h.clone());
    }
    lists
        .iter()
        .enumerate()
        .map(|(n, l)| node_body(l, l.len() as u64, n))
        .collect()
}

fn merge(req: &MergeRequest<'_>, bodies: &[Vec<u8>]) -> (Value, miroir_merge::MergeStats, String) {
    let refs: Vec<&[u8]> = bodies.iter().map(Vec::as_slice).collect();
    let mut out = Vec::new();
    let stats = merge_search(req, &refs, &mut out).unwrap();
    let text = String::from_utf8(out).unwrap();
    (serde_json::from_str(&text).unwrap(), stats, text)
}

/// Equal hit lists, except that hits of one tie group (equal on every rule and score, which
/// the merge breaks by node index) may come in any order.
fn assert_hits_eq_up_to_ties(got: &Value, want: &Value, ties: &[&[u64]], what: &str) {
    let canon = |v: &Value| -> Vec<u64> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|h| {
                let id = h["id"].as_u64().unwrap();
                ties.iter()
                    .find(|g| g.contains(&id))
                    .map_or(id, |g| *g.iter().min().unwrap())
            })
            .collect()
    };
    assert_eq!(canon(got), canon(want), "{what}");
    let by_id = |v: &Value| -> std::collections::BTreeMap<u64, Value> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|h| (h["id"].as_u64().unwrap(), h.clone()))
            .collect()
    };
    assert_eq!(by_id(got), by_id(want), "{what}");
}

/// Ties in the fixtures: 104/105 null and missing `v` (ids 5, 6); 099 two 1998 titles with the
/// same score and no details to tell them apart (ids 2, 461).
/// 102: two 2009 titles with null ratings (ids 95, 212).
const TIES: &[&[u64]] = &[&[5, 6], &[2, 461], &[95, 212]];

fn all_flags(limit: usize) -> MergeRequest<'static> {
    let mut r = MergeRequest::new(0, limit);
    r.show_ranking_score = true;
    r.show_ranking_score_details = true;
    r
}

#[test]
fn custom_rule_ties_follow_details_not_node_order() {
    // 090: three hits with the same _rankingScore, ordered by the custom `rating:desc` rule.
    let f = Fixture::load("090");
    let hits = f.hits();
    // Deal them to nodes in reverse so that node order alone would reverse them.
    let bodies = deal(&hits, 3, |i| 2 - i);
    let (v, stats, _) = merge(&all_flags(3), &bodies);
    assert_eq!(stats.order, Order::Details);
    assert_eq!(v["hits"], f.response()["hits"]);

    // Without showRankingScore/Details the same order, with the fields cut out.
    let (v, _, text) = merge(&MergeRequest::new(0, 3), &bodies);
    let ids: Vec<u64> = v["hits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["id"].as_u64().unwrap())
        .collect();
    assert_eq!(ids, vec![77, 78, 79]);
    assert!(!text.contains("_rankingScore"));
}

#[test]
fn sort_details_restore_single_index_order() {
    for n in ["100", "104", "105", "131"] {
        let f = Fixture::load(n);
        let hits = f.hits();
        for k in 1..=3 {
            let bodies = deal(&hits, k, |i| (i * 7 + 1) % k);
            let (v, stats, _) = merge(&all_flags(hits.len()), &bodies);
            assert_eq!(stats.order, Order::Details, "fixture {n}");
            let want = f.response()["hits"].clone();
            assert_hits_eq_up_to_ties(
                &v["hits"],
                &want,
                TIES,
                &format!("fixture {n} over {k} nodes"),
            );
        }
    }
}

#[test]
fn mixed_type_sort_over_nodes_in_reverse() {
    // 104/105: every hit on its own node, node order opposite to the real order.
    for n in ["104", "105"] {
        let f = Fixture::load(n);
        let hits = f.hits();
        let k = hits.len();
        let bodies = deal(&hits, k, |i| k - 1 - i);
        let (v, _, _) = merge(&all_flags(k), &bodies);
        assert_hits_eq_up_to_ties(&v["hits"], &f.response()["hits"], TIES, n);
    }
}

#[test]
fn sort_without_details_falls_back_to_field_values() {
    // 099: sort year:desc with only _rankingScore.
    let f = Fixture::load("099");
    let hits = f.hits();
    let sort = vec!["year:desc".to_string()];
    let bodies = deal(&hits, 3, |i| 2 - (i % 3));
    let mut req = MergeRequest::new(0, 8);
    req.sort = Some(&sort);
    req.show_ranking_score = true;
    let (v, stats, _) = merge(&req, &bodies);
    assert_eq!(stats.order, Order::SortFields);
    assert_hits_eq_up_to_ties(&v["hits"], &f.response()["hits"], TIES, "099");
    // Dealt so that node order agrees with Meilisearch's: exact.
    let bodies = deal(&hits, 3, |i| i % 3);
    let (v, _, _) = merge(&req, &bodies);
    assert_eq!(v["hits"], f.response()["hits"]);

    // 102: placeholder, sort year:desc then rating:asc with null ratings after numbers.
    let f = Fixture::load("102");
    let hits = f.hits();
    let sort = vec!["year:desc".to_string(), "rating:asc".to_string()];
    let bodies = deal(&hits, 5, |i| 4 - i);
    let mut req = MergeRequest::new(0, 5);
    req.sort = Some(&sort);
    req.show_ranking_score = true;
    let (v, _, _) = merge(&req, &bodies);
    assert_hits_eq_up_to_ties(&v["hits"], &f.response()["hits"], TIES, "102");
}

#[test]
fn single_node_merge_reproduces_the_response() {
    // A one-node "merge" must give back Meilisearch's own answer, key order included.
    for n in ["092", "093", "118"] {
        let f = Fixture::load(n);
        let req_json = f.request();
        let limit = req_json["limit"].as_u64().unwrap() as usize;
        let q = serde_json::to_string(&req_json["q"]).unwrap();
        let mut req = MergeRequest::new(0, limit);
        req.query = Some(&q);
        let body = f.response_raw().as_bytes().to_vec();
        let (v, _, text) = merge(&req, &[body]);
        assert_eq!(v, f.response(), "fixture {n}");
        let order = [
            "\"hits\":",
            "\"query\":",
            "\"processingTimeMs\":",
            "\"limit\":",
            "\"offset\":",
            "\"estimatedTotalHits\":",
            "\"facetDistribution\":",
            "\"facetStats\":",
            "\"requestUid\":",
        ];
        let pos: Vec<usize> = order.iter().map(|k| text.find(k).unwrap()).collect();
        assert!(pos.windows(2).all(|w| w[0] < w[1]), "{n}: {text}");
    }
    // facetStats keeps Meilisearch's number text (1915.0, not 1915).
    let f = Fixture::load("092");
    let (v, _, text) = merge(
        &MergeRequest::new(0, 2),
        &[f.response_raw().as_bytes().to_vec()],
    );
    assert!(
        text.contains(r#""year":{"min":1915.0,"max":2010.0}"#),
        "{text}"
    );
    // Facet values in Meilisearch's order (numbers numerically: "3" < "3.2" < ... < "9.2").
    // (serde_json's `preserve_order` is on for the tests, so `keys()` is document order.)
    let want = f.response();
    for facet in ["genres", "mpaa", "rating", "year"] {
        let keys = |v: &Value| -> Vec<String> {
            v["facetDistribution"][facet]
                .as_object()
                .unwrap()
                .keys()
                .cloned()
                .collect()
        };
        assert_eq!(keys(&v), keys(&want), "{facet}");
    }
}

#[test]
fn facets_of_two_real_responses_are_summed() {
    let a = Fixture::load("092");
    let b = Fixture::load("093");
    let bodies = vec![
        a.response_raw().as_bytes().to_vec(),
        b.response_raw().as_bytes().to_vec(),
    ];
    let (v, stats, _) = merge(&MergeRequest::new(0, 3), &bodies);
    let (ra, rb) = (a.response(), b.response());
    assert_eq!(stats.total_hits, 500 + 37);
    assert_eq!(v["estimatedTotalHits"], 537);
    let fd = &v["facetDistribution"];
    // Summed where both have the value; present when only one does.
    assert_eq!(fd["genres"]["Action"], 73 + 9);
    assert_eq!(fd["mpaa"]["R"], 106 + 6);
    assert_eq!(fd["mpaa"]["G"], 6);
    assert_eq!(fd["director"], rb["facetDistribution"]["director"]);
    assert_eq!(fd["year"]["2006"], 13 + 1);
    assert_eq!(fd["year"]["1915"], 1);
    let fs = &v["facetStats"];
    assert_eq!(fs["rating"]["min"], ra["facetStats"]["rating"]["min"]);
    assert_eq!(fs["rating"]["max"], ra["facetStats"]["rating"]["max"]);
    assert_eq!(fs["year"]["min"].as_f64(), Some(1915.0));
    // Numeric facet values stay in numeric order ("3" before "3.2" before "10"-like values).
    let years: Vec<&String> = fd["year"].as_object().unwrap().keys().collect();
    assert_eq!(
        years.len(),
        ra["facetDistribution"]["year"].as_object().unwrap().len()
    );
    assert_eq!(v["processingTimeMs"], 1);
    assert_eq!(v["requestUid"], ra["requestUid"]);
}

#[test]
fn page_mode_shape() {
    // 107 answered page=2, hitsPerPage=3 with totalHits 159; as a node asked for page 1 x 3.
    let f = Fixture::load("107");
    let body = f.response_raw().as_bytes().to_vec();
    let mut req = MergeRequest::new(0, 0);
    req.page = Some(Page {
        page: 1,
        hits_per_page: 3,
    });
    let (v, stats, text) = merge(&req, &[body.clone(), body]);
    assert_eq!(stats.total_hits, 318);
    assert_eq!(v["totalHits"], 318);
    assert_eq!(v["totalPages"], 106);
    assert_eq!(v["page"], 1);
    assert_eq!(v["hitsPerPage"], 3);
    assert!(v.get("limit").is_none() && v.get("offset").is_none());
    let order = [
        "\"hitsPerPage\":",
        "\"page\":",
        "\"totalPages\":",
        "\"totalHits\":",
    ];
    let pos: Vec<usize> = order.iter().map(|k| text.find(k).unwrap()).collect();
    assert!(pos.windows(2).all(|w| w[0] < w[1]), "{text}");
    assert_eq!(v["hits"].as_array().unwrap().len(), 3);
}

#[test]
fn reserved_fields_are_cut_from_hits_and_formatted() {
    let f = Fixture::load("109");
    let hit = &f.hits()[0];
    // Put _miroir_* members first, in the middle and last, also inside _formatted.
    let tampered = hit
        .replacen('{', r#"{"_miroir_shard":12,"#, 1)
        .replacen(
            r#","year":1980"#,
            r#","_miroir_updated_at":"2026-11-26T00:00:00Z","year":1980"#,
            1,
        )
        .replacen(
            r#""_formatted":{"#,
            r#""_formatted":{"_miroir_shard":"12","#,
            1,
        );
    let tampered = format!(
        "{},\"_miroir_expires_at\":null}}",
        tampered.strip_suffix('}').unwrap()
    );
    assert_eq!(tampered.matches("_miroir_").count(), 4, "{tampered}");
    let (v, _, text) = merge(&MergeRequest::new(0, 2), &[node_body(&[tampered], 1, 0)]);
    assert!(!text.contains("_miroir_"), "{text}");
    assert_eq!(v["hits"], f.response()["hits"]);
}

#[test]
fn reserved_member_values_are_validated_whatever_their_form() {
    // `_miroir_shard`'s short string is read by a shortcut; every other value by the walker.
    let body = |value: &str| {
        format!(
            r#"{{"hits":[{{"id":1,"_miroir_shard":{value},"_rankingScore":0.5}}],"query":"","processingTimeMs":1,"limit":1,"offset":0,"estimatedTotalHits":1}}"#
        )
        .into_bytes()
    };
    for good in [
        "0",
        "7",
        "12345678",
        "123456789012",
        "-3",
        "1.5",
        "2e3",
        "\"x\"",
        "\"!(?\"",
        "\"\"",
        "\"a\\\"b\"",
        "\"0123456789abcdefghij\"",
        "{\"a\":[1]}",
        "null",
    ] {
        let mut out = Vec::new();
        merge_search(&MergeRequest::new(0, 1), &[&body(good)], &mut out)
            .unwrap_or_else(|e| panic!("{good}: {e}"));
        let text = String::from_utf8(out).unwrap();
        assert_eq!(text.find("_miroir_"), None, "{good}: {text}");
        assert!(text.starts_with(r#"{"hits":[{"id":1}],"#), "{good}: {text}");
    }
    for bad in [
        "01",
        "00",
        "1.",
        "-",
        "1e",
        "\"x",
        "tru",
        "1 2",
        "\"!(",
        "\"\u{1}\"",
        "\"a\"b\"",
    ] {
        let mut out = Vec::new();
        assert!(
            merge_search(&MergeRequest::new(0, 1), &[&body(bad)], &mut out).is_err(),
            "{bad} was taken"
        );
    }
}

#[test]
fn strip_documents() {
    let mut out = Vec::new();
    strip_reserved_fields(
        br#"{"_miroir_shard":3,"id":1,"title":"x","_miroir_updated_at":"t"}"#,
        &mut out,
    )
    .unwrap();
    assert_eq!(out, br#"{"id":1,"title":"x"}"#);

    out.clear();
    strip_reserved_fields_in_results(
        br#"{"results":[{"id":1,"_miroir_shard":0},{"_miroir_shard":1},{"id":3}],"offset":0,"limit":20,"total":3}"#,
        &mut out,
    )
    .unwrap();
    assert_eq!(
        String::from_utf8(out.clone()).unwrap(),
        r#"{"results":[{"id":1},{},{"id":3}],"offset":0,"limit":20,"total":3}"#
    );
    for bad in [b"[1]".as_slice(), b"{\"a\":", b"{\"a\":1}}"] {
        assert!(strip_reserved_fields(bad, &mut out).is_err());
    }
}

#[test]
fn facet_search_counts_are_summed() {
    // 132: one real facet-search answer; merged with itself and a second node's values.
    let f = Fixture::load("132");
    let real = f.response_raw().as_bytes().to_vec();
    let mut out = Vec::new();
    miroir_merge::merge_facet_search(&[&real], None, None, &mut out).unwrap();
    let v: Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(v, f.response());

    let other = br#"{"facetHits":[{"value":"Black Comedy","count":3},{"value":"Comedy","count":2}],"facetQuery":"com","processingTimeMs":4}"#;
    out.clear();
    miroir_merge::merge_facet_search(&[&real, other], None, None, &mut out).unwrap();
    assert_eq!(
        String::from_utf8(out.clone()).unwrap(),
        r#"{"facetHits":[{"value":"Black Comedy","count":3},{"value":"Comedy","count":87}],"facetQuery":"com","processingTimeMs":4}"#
    );
    out.clear();
    assert!(miroir_merge::merge_facet_search(
        &[&real, b"{\"facetHits\":[{\"value\":1}]}"],
        None,
        None,
        &mut out
    )
    .is_err());
    assert!(out.is_empty());
}

#[test]
fn hits_past_the_page_end_where_the_body_says() {
    // The end of `hits` is looked up from the back of the body (`],"query":`); documents and
    // tail members that contain the same bytes must not fool it, and bodies that put `query`
    // elsewhere still merge.
    let doc = |id: u32, score: &str| {
        format!(r#"{{"id":{id},"tags":[1,"]"],"query":"x","_rankingScore":{score}}}"#)
    };
    let hits = [doc(1, "0.9"), doc(2, "0.8"), doc(3, "0.7")].join(",");
    let bodies = [
        // Meilisearch's layout, a document with `],"query":` past the page.
        format!(
            r#"{{"hits":[{hits}],"query":"q","processingTimeMs":1,"limit":3,"offset":0,"estimatedTotalHits":11}}"#
        ),
        // `query` before `hits`: the last `],"query":` is inside the last hit.
        format!(
            r#"{{"query":"q","processingTimeMs":2,"limit":3,"offset":0,"estimatedTotalHits":12,"hits":[{hits}]}}"#
        ),
        // A tail member nesting `],"query":` after the real one.
        format!(
            r#"{{"hits":[{hits}],"query":"q","processingTimeMs":3,"estimatedTotalHits":13,"extra":{{"a":[1],"query":2}}}}"#
        ),
    ];
    for (n, body) in bodies.iter().enumerate() {
        let (v, stats, text) = merge(&MergeRequest::new(0, 1), &[body.clone().into_bytes()]);
        assert_eq!(stats.hits, 1, "{n}: {text}");
        assert_eq!(v["hits"][0]["id"], 1, "{n}: {text}");
        assert_eq!(v["estimatedTotalHits"], 11 + n, "{n}: {text}");
        assert_eq!(v["processingTimeMs"], 1 + n, "{n}: {text}");
        if n == 2 {
            assert_eq!(
                v["extra"],
                serde_json::json!({"a": [1], "query": 2}),
                "{text}"
            );
        }
    }
    // Without a complete tail after the guess, the body is still an error — also when the
    // guess lands in the last hit of a body cut inside `hits`.
    let truncated = format!(r#"{{"hits":[{hits}],"query":"q","processingTimeMs":1"#);
    let cut_in_hits = r#"{"hits":[{"id":1,"_rankingScore":0.9},{"id":2,"t":[1],"query":"x"}"#;
    for body in [truncated.as_str(), cut_in_hits] {
        let mut out = Vec::new();
        let r = merge_search(&MergeRequest::new(0, 1), &[body.as_bytes()], &mut out);
        assert!(r.is_err(), "{body}: {r:?}");
    }
}

/// Meilisearch's default ranking rules (fixture 024: the settings of a new index).
fn default_rules() -> Vec<String> {
    serde_json::from_value(Fixture::load("024").response()["body"]["rankingRules"].clone()).unwrap()
}

/// A query of a federated search.
fn federated<'a>(
    position: usize,
    index_uid: &'a str,
    rules: &'a miroir_merge::federation::QueryRules,
) -> miroir_merge::federation::FederatedQuery<'a> {
    miroir_merge::federation::FederatedQuery {
        position,
        index_uid,
        rules,
    }
}

#[test]
fn federated_sorts_in_opposite_directions_are_refused_like_fixture_130() {
    use miroir_merge::federation::{check_compatible, QueryKind, QueryRules};
    let f = Fixture::load("130");
    let queries = f.request()["body"]["queries"].clone();
    // `movies_more` has the custom rule `rating:asc` after the defaults (the fixture's note).
    let mut more_rules = default_rules();
    more_rules.push("rating:asc".into());
    let sort =
        |i: usize| -> Vec<String> { serde_json::from_value(queries[i]["sort"].clone()).unwrap() };
    let keyword = QueryKind::Keyword {
        matching_all: false,
    };
    let (s0, s1) = (sort(0), sort(1));
    let q0 = QueryRules::new(&default_rules(), Some(&s0), keyword);
    let q1 = QueryRules::new(&more_rules, Some(&s1), keyword);
    let err = check_compatible(&[
        federated(0, "movies", &q0),
        federated(1, "movies_more", &q1),
    ])
    .unwrap_err();
    let want = f.response();
    assert_eq!(
        format!("Inside `.queries[{}]`: {}", err.0, err.1),
        want["body"]["message"].as_str().unwrap()
    );
    // Same directions merge; so does a query without sort (its one relevancy step compares
    // with the first step of the other).
    let q1_desc = QueryRules::new(&default_rules(), Some(&s0), keyword);
    let plain = QueryRules::new(&default_rules(), None, keyword);
    for other in [&q1_desc, &plain] {
        let ok = check_compatible(&[federated(0, "movies", &q0), federated(1, "movies", other)]);
        assert!(ok.is_ok(), "{ok:?}");
    }
}

#[test]
fn max_total_hits_cuts_the_window_and_the_totals() {
    let node = |ids: &[u32], total: u64| {
        let hits: Vec<String> = ids
            .iter()
            .map(|i| {
                format!(
                    r#"{{"id":{i},"_rankingScore":{}}}"#,
                    1.0 - f64::from(*i) / 100.0
                )
            })
            .collect();
        format!(
            r#"{{"hits":[{}],"query":"","processingTimeMs":1,"limit":20,"offset":0,"estimatedTotalHits":{total}}}"#,
            hits.join(",")
        )
    };
    let (a, b) = (node(&[0, 2, 4, 6], 4), node(&[1, 3, 5, 7], 4));
    let bodies = [a.as_bytes(), b.as_bytes()];
    let mut req = MergeRequest::new(4, 3);
    req.max_total_hits = Some(5);
    assert_eq!(req.window(), (4, 1));
    assert_eq!(req.node_limit(), 5);
    let mut out = Vec::new();
    miroir_merge::merge_search(&req, &bodies, &mut out).unwrap();
    let merged: Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(merged["hits"], serde_json::json!([{"id": 4}]));
    assert_eq!(
        (
            &merged["offset"],
            &merged["limit"],
            &merged["estimatedTotalHits"]
        ),
        (&Value::from(4), &Value::from(3), &Value::from(5))
    );
    // Past it: nothing, and the offset answered is where the window was cut.
    req.offset = 9;
    assert_eq!(req.window(), (5, 0));
    out.clear();
    miroir_merge::merge_search(&req, &bodies, &mut out).unwrap();
    let merged: Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(merged["hits"], serde_json::json!([]));
    assert_eq!(merged["offset"], 5);
    // Page mode: totalHits and totalPages from the cut total.
    req.page = Some(Page {
        page: 2,
        hits_per_page: 3,
    });
    assert_eq!(req.window(), (3, 2));
    out.clear();
    miroir_merge::merge_search(&req, &bodies, &mut out).unwrap();
    let merged: Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(merged["hits"], serde_json::json!([{"id": 3}, {"id": 4}]));
    assert_eq!(
        (&merged["totalHits"], &merged["totalPages"]),
        (&Value::from(5), &Value::from(2))
    );
}

#[test]
fn distinct_keeps_the_best_hit_per_value_across_nodes() {
    // Node lists, each already one hit per value (Meilisearch's distinct on one node).
    let a = r#"{"hits":[{"_miroir_shard":1,"id":1,"tags":["x","y"],"title":"a","_rankingScore":0.9},{"_miroir_shard":1,"id":3,"tags":"Z","title":"c","_rankingScore":0.7},{"_miroir_shard":1,"id":5,"title":"e","_rankingScore":0.5}],"query":"","processingTimeMs":1,"limit":3,"offset":0,"estimatedTotalHits":3}"#;
    let b = r#"{"hits":[{"_miroir_shard":2,"id":2,"tags":"Y","title":"b","_rankingScore":0.8},{"_miroir_shard":2,"id":4,"tags":["z"],"title":"d","_rankingScore":0.6},{"_miroir_shard":2,"id":6,"tags":null,"title":"f","_rankingScore":0.4}],"query":"","processingTimeMs":1,"limit":3,"offset":0,"estimatedTotalHits":3}"#;
    let bodies = [a.as_bytes(), b.as_bytes()];
    let mut req = MergeRequest::new(0, 4);
    req.distinct = Some("tags");
    req.hidden_field = Some("tags");
    let mut out = Vec::new();
    let stats = merge_search(&req, &bodies, &mut out).unwrap();
    let merged: Value = serde_json::from_slice(&out).unwrap();
    // 2 shares `y` with 1 (case aside), 4 shares `z` with 3; 5 and 6 have no value: kept.
    assert_eq!(
        merged["hits"],
        serde_json::json!([
            {"id": 1, "title": "a"},
            {"id": 3, "title": "c"},
            {"id": 5, "title": "e"},
            {"id": 6, "title": "f"},
        ])
    );
    assert_eq!(stats.hits, 4);
    assert_eq!(
        merged["estimatedTotalHits"], 4,
        "6 answered less the 2 duplicates"
    );
}

#[test]
fn a_hidden_field_is_cut_wherever_it_sits() {
    for (hit, want) in [
        (
            r#"{"_miroir_shard":1,"f":"x","id":1,"_rankingScore":0.5}"#,
            r#"{"id":1}"#,
        ),
        (
            r#"{"id":1,"_miroir_shard":1,"f":"x","_rankingScore":0.5}"#,
            r#"{"id":1}"#,
        ),
        (
            r#"{"f":"x","_miroir_shard":1,"id":1,"_rankingScore":0.5}"#,
            r#"{"id":1}"#,
        ),
        (
            r#"{"_miroir_shard":1,"f":"x","_rankingScore":0.5}"#,
            r#"{}"#,
        ),
        (
            r#"{ "id" : 1 , "f" : [1,2] , "_formatted" : {"f":"x","id":"1"} , "_rankingScore" : 0.5 }"#,
            r#"{ "id" : 1 , "_formatted" : {"id":"1"} }"#,
        ),
    ] {
        let body = format!(
            r#"{{"hits":[{hit}],"query":"","processingTimeMs":1,"limit":1,"offset":0,"estimatedTotalHits":1}}"#
        );
        let mut req = MergeRequest::new(0, 1);
        req.hidden_field = Some("f");
        req.hidden_field_formatted = true;
        let mut out = Vec::new();
        merge_search(&req, &[body.as_bytes()], &mut out).unwrap();
        let text = String::from_utf8(out.clone()).unwrap();
        let merged: Value = serde_json::from_slice(&out).expect(&text);
        assert!(
            text.starts_with(&format!("{{\"hits\":[{want}]")),
            "{hit} → {text}"
        );
        assert!(merged["hits"][0].get("f").is_none());
    }
    // `_matchesPosition` covers every displayed field, retrieved or not: it stays there.
    let body = r#"{"hits":[{"id":1,"f":"x","_formatted":{"f":"x","id":"1"},"_matchesPosition":{"f":[{"start":0,"length":1}]}}],"estimatedTotalHits":1}"#;
    let mut req = MergeRequest::new(0, 1);
    req.hidden_field = Some("f");
    req.hidden_field_formatted = true;
    let mut out = Vec::new();
    merge_search(&req, &[body.as_bytes()], &mut out).unwrap();
    let merged: Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(
        merged["hits"][0],
        serde_json::json!({"id": 1, "_formatted": {"id": "1"}, "_matchesPosition": {"f": [{"start": 0, "length": 1}]}})
    );
    // Highlighted, it stays in `_formatted`.
    let body = r#"{"hits":[{"id":1,"f":"x","_formatted":{"f":"<em>x</em>","id":"1"}}],"estimatedTotalHits":1}"#;
    let mut req = MergeRequest::new(0, 1);
    req.hidden_field = Some("f");
    let mut out = Vec::new();
    merge_search(&req, &[body.as_bytes()], &mut out).unwrap();
    let merged: Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(
        merged["hits"][0],
        serde_json::json!({"id": 1, "_formatted": {"f": "<em>x</em>", "id": "1"}})
    );
}

#[test]
fn distinct_says_when_a_node_ran_out() {
    // limit 2, distinct on arrays: b1 covers both values of A's two hits, so A's list runs out
    // while a hit is still to be written; A held all it was asked for, so it may hold more
    // (a3, which Meilisearch would return before b2).
    let node = |hits: &[(u32, &str, f64)], limit: usize| {
        let hits: Vec<String> = hits
            .iter()
            .map(|(id, tags, score)| {
                format!(r#"{{"id":{id},"tags":{tags},"_rankingScore":{score}}}"#)
            })
            .collect();
        format!(
            r#"{{"hits":[{}],"query":"","processingTimeMs":1,"limit":{limit},"offset":0,"estimatedTotalHits":3}}"#,
            hits.join(",")
        )
    };
    let b = node(&[(10, r#"["x","y"]"#, 0.9), (11, r#"["v"]"#, 0.1)], 2);
    let mut req = MergeRequest::new(0, 2);
    req.distinct = Some("tags");
    let merge = |a: &str| {
        let mut out = Vec::new();
        let stats = merge_search(&req, &[a.as_bytes(), b.as_bytes()], &mut out).unwrap();
        let merged: Value = serde_json::from_slice(&out).unwrap();
        (stats.node_ran_out, merged["hits"].clone())
    };
    let full = node(&[(1, r#"["x"]"#, 0.8), (2, r#"["y"]"#, 0.7)], 2);
    assert!(merge(&full).0);
    // Asked for more, A shows a3: the right page, and no node ran out.
    let more = node(
        &[
            (1, r#"["x"]"#, 0.8),
            (2, r#"["y"]"#, 0.7),
            (3, r#"["w"]"#, 0.6),
        ],
        4,
    );
    assert_eq!(
        merge(&more),
        (
            false,
            serde_json::json!([{"id": 10, "tags": ["x", "y"]}, {"id": 3, "tags": ["w"]}])
        )
    );
    // A list shorter than asked is all the node has.
    let short = node(&[(1, r#"["x"]"#, 0.8)], 2);
    assert!(!merge(&short).0);
    // Empty strings are no value (both kept); `true` and "TRUE " are one value.
    let c = node(&[(20, r#""""#, 0.9), (21, r#"true"#, 0.8)], 2);
    let d = node(&[(30, r#""""#, 0.85), (31, r#""TRUE ""#, 0.7)], 2);
    let page = |limit: usize| {
        let mut req = MergeRequest::new(0, limit);
        req.distinct = Some("tags");
        let mut out = Vec::new();
        merge_search(&req, &[c.as_bytes(), d.as_bytes()], &mut out).unwrap();
        let merged: Value = serde_json::from_slice(&out).unwrap();
        merged["hits"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| h["id"].as_u64().unwrap())
            .collect::<Vec<u64>>()
    };
    assert_eq!(page(2), [20, 30]);
    assert_eq!(page(3), [20, 30, 21]);
}

#[test]
fn escaped_top_level_keys_are_read_as_their_names() {
    // Tail members are matched on their raw bytes unless escaped: an escaped
    // `estimatedTotalHits` is still summed, and an escaped member the merge does not
    // interpret is written once, decoded.
    let a = br#"{"hits":[],"query":"","processingTimeMs":1,"limit":20,"offset":0,"estimated\u0054otalHits":3,"x\u0041":1}"#;
    let b = br#"{"hits":[],"query":"","processingTimeMs":2,"limit":20,"offset":0,"estimatedTotalHits":4,"xA":2}"#;
    let (v, _, text) = merge(&MergeRequest::new(0, 20), &[a.to_vec(), b.to_vec()]);
    assert_eq!(v["estimatedTotalHits"], 7, "{text}");
    assert_eq!(v["processingTimeMs"], 2, "{text}");
    assert_eq!(v["xA"], 1, "{text}");
    assert_eq!(text.matches("\"xA\"").count(), 1, "{text}");
}

#[test]
fn facet_values_with_stats_are_ordered_as_numbers() {
    // `year` has facetStats, so its values are numbers: 2, 9, 10 (as strings, "10" would come
    // first). The stats are merged once and name the numeric facets for the distribution.
    let a = br#"{"hits":[],"query":"","processingTimeMs":1,"limit":20,"offset":0,"estimatedTotalHits":2,"facetDistribution":{"year":{"2":1,"10":1}},"facetStats":{"year":{"min":2,"max":10}}}"#;
    let b = br#"{"hits":[],"query":"","processingTimeMs":1,"limit":20,"offset":0,"estimatedTotalHits":1,"facetDistribution":{"year":{"9":1}},"facetStats":{"year":{"min":9,"max":9}}}"#;
    let (v, _, text) = merge(&MergeRequest::new(0, 20), &[a.to_vec(), b.to_vec()]);
    assert!(
        text.contains(r#""facetDistribution":{"year":{"2":1,"9":1,"10":1}}"#),
        "{text}"
    );
    assert_eq!(v["facetStats"]["year"]["min"], 2, "{text}");
    assert_eq!(v["facetStats"]["year"]["max"], 10, "{text}");
}

#[test]
fn reserved_facets_are_left_out() {
    // `_miroir_shard` is filterable on the nodes (the shard filter), so `facets: ["*"]` lists
    // its distribution and stats; neither reaches the client, here or in `mergeFacets`.
    let a = br#"{"hits":[],"query":"","processingTimeMs":1,"limit":20,"offset":0,"estimatedTotalHits":2,"facetDistribution":{"_miroir_shard":{"0":2},"genres":{"Drama":2}},"facetStats":{"_miroir_shard":{"min":0,"max":0},"year":{"min":2,"max":10}}}"#;
    let b = br#"{"hits":[],"query":"","processingTimeMs":1,"limit":20,"offset":0,"estimatedTotalHits":1,"facetDistribution":{"_miroir_shard":{"1":1},"genres":{"Drama":1}},"facetStats":{"_miroir_shard":{"min":1,"max":1}}}"#;
    let (v, _, text) = merge(&MergeRequest::new(0, 20), &[a.to_vec(), b.to_vec()]);
    assert_eq!(
        v["facetDistribution"],
        serde_json::json!({"genres": {"Drama": 3}}),
        "{text}"
    );
    assert_eq!(
        v["facetStats"],
        serde_json::json!({"year": {"min": 2, "max": 10}}),
        "{text}"
    );
    let mut stats = Vec::new();
    miroir_merge::merge_facet_stats(
        &[br#"{"_miroir_shard":{"min":0,"max":3},"year":{"min":1,"max":2}}"#],
        &mut stats,
    )
    .unwrap();
    assert_eq!(stats, br#"{"year":{"min":1,"max":2}}"#);
}
