//! Behaviour of the test double beyond the recorded session: task timing and cancelation,
//! faults on the data routes, API keys, the ranking-order contract, federation shapes and speed.

use std::cmp::Ordering;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::tests_support::{assert_same_keys, hit_ids, movies_node, Client, KEY};
use crate::{fixture, Fault, TestNode};

fn node() -> (TestNode, Client) {
    let node = TestNode::start(Some(KEY));
    let c = Client::new(&node);
    (node, c)
}

#[test]
fn tasks_are_asynchronous_and_follow_the_delay() {
    let (node, c) = node();
    node.set_task_delay(Duration::from_millis(300));
    let t0 = Instant::now();
    let r = c.post(
        "/indexes/books/documents",
        &json!([{"id": 1, "title": "Dune"}]),
    );
    assert_eq!(r.status, 202);
    let summary = r.json();
    assert_eq!(summary["taskUid"], 0);
    assert_eq!(summary["status"], "enqueued");
    let early = c.get("/tasks/0").json();
    assert!(
        matches!(early["status"].as_str(), Some("enqueued" | "processing")),
        "{early}"
    );
    assert_eq!(node.document_count("books"), 0);
    let done = c.wait_task(0);
    assert!(t0.elapsed() >= Duration::from_millis(300));
    assert_eq!(done["status"], "succeeded");
    assert_eq!(
        done["details"],
        json!({"receivedDocuments": 1, "indexedDocuments": 1})
    );
    assert_eq!(node.document_count("books"), 1);
    assert_eq!(
        node.documents("books"),
        vec![json!({"id": 1, "title": "Dune"})]
    );
    assert!(node.wait_idle(Duration::from_secs(1)));
    assert_eq!(node.tasks().len(), 1);
    assert_eq!(node.index_uids(), ["books"]);

    // Tasks are processed in order, one at a time.
    node.set_task_delay(Duration::from_millis(50));
    for i in 0..3 {
        c.post("/indexes/books/documents", &json!({"id": 10 + i}));
    }
    c.wait_task(3);
    let tasks = c.get("/tasks?reverse=true&from=1").json();
    let starts: Vec<&str> = tasks["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["startedAt"].as_str().unwrap())
        .collect();
    let mut sorted = starts.clone();
    sorted.sort();
    assert_eq!(starts, sorted);
    let finished: Vec<&str> = tasks["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["finishedAt"].as_str().unwrap())
        .collect();
    for (f, s) in finished.iter().zip(starts.iter().skip(1)) {
        assert!(f <= s, "overlapping tasks");
    }
}

#[test]
fn canceling_a_processing_task_stops_it() {
    let (node, c) = node();
    node.set_task_delay(Duration::from_secs(3));
    c.post("/indexes/books/documents", &json!([{"id": 1}]));
    c.post("/indexes/books/documents", &json!([{"id": 2}]));
    let deadline = Instant::now() + Duration::from_secs(2);
    while c.get("/tasks/0").json()["status"] != "processing" {
        assert!(Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(2));
    }
    let t0 = Instant::now();
    let r = c.raw("POST", "/tasks/cancel?uids=0,1", None, None);
    assert_eq!(r.status, 200);
    let cancel = c.wait_task(r.json()["taskUid"].as_u64().unwrap());
    assert!(t0.elapsed() < Duration::from_secs(2));
    assert_eq!(
        cancel["details"],
        json!({"matchedTasks": 2, "canceledTasks": 2, "originalFilter": "?uids=0,1"})
    );
    for uid in [0, 1] {
        let t = c.get(&format!("/tasks/{uid}")).json();
        assert_eq!(t["status"], "canceled");
        assert_eq!(t["canceledBy"], 2);
        assert_eq!(t["details"]["indexedDocuments"], 0);
        assert_eq!(t["batchUid"], cancel["batchUid"]);
    }
    node.set_task_delay(Duration::ZERO);
    assert_eq!(node.document_count("books"), 0);
    // finished tasks can be deleted, the queue keeps working
    let r = c.delete("/tasks?statuses=canceled");
    assert_eq!(r.status, 200);
    let del = c.wait_task(r.json()["taskUid"].as_u64().unwrap());
    assert_eq!(del["details"]["deletedTasks"], 2);
    assert_eq!(c.get("/tasks/0").status, 404);
    let t = c.write(
        "POST",
        "/indexes/books/documents",
        Some(&json!([{"id": 3}])),
    );
    assert_eq!(t["status"], "succeeded");
}

#[test]
fn task_list_filters_and_pagination() {
    let (_node, c) = node();
    c.write("POST", "/indexes", Some(&json!({"uid": "a"})));
    c.write("POST", "/indexes", Some(&json!({"uid": "a"}))); // fails: exists
    c.write("POST", "/indexes/b/documents", Some(&json!([{"id": 1}])));
    c.write(
        "PATCH",
        "/indexes/a/settings",
        Some(&json!({"filterableAttributes": ["x"]})),
    );
    let list = |q: &str| -> Vec<u64> {
        c.get(&format!("/tasks{q}")).json()["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["uid"].as_u64().unwrap())
            .collect()
    };
    assert_eq!(list(""), [3, 2, 1, 0]);
    assert_eq!(list("?reverse=true"), [0, 1, 2, 3]);
    assert_eq!(list("?statuses=failed"), [1]);
    assert_eq!(list("?statuses=succeeded&indexUids=a"), [3, 0]);
    assert_eq!(
        list("?types=documentAdditionOrUpdate,settingsUpdate"),
        [3, 2]
    );
    assert_eq!(list("?uids=0,2,9"), [2, 0]);
    assert_eq!(list("?from=2&limit=1"), [2]);
    assert_eq!(
        list("?afterEnqueuedAt=2000-01-01&beforeEnqueuedAt=2999-01-01"),
        [3, 2, 1, 0]
    );
    assert_eq!(list("?afterEnqueuedAt=2999-01-01"), Vec::<u64>::new());
    let page = c.get("/tasks?limit=3").json();
    assert_eq!(
        (
            page["total"].clone(),
            page["from"].clone(),
            page["next"].clone()
        ),
        (json!(4), json!(3), json!(0))
    );
    for (q, code) in [
        ("?types=bogus", "invalid_task_types"),
        ("?uids=x", "invalid_task_uids"),
        (
            "?afterEnqueuedAt=yesterday",
            "invalid_task_after_enqueued_at",
        ),
        ("?limit=-1", "invalid_task_limit"),
        ("?nope=1", "bad_request"),
    ] {
        let r = c.get(&format!("/tasks{q}"));
        assert_eq!(
            (r.status, r.json()["code"].clone()),
            (400, json!(code)),
            "{q}"
        );
    }
    assert_eq!(c.get("/tasks/abc").json()["code"], "invalid_task_uid");
}

#[test]
fn drop_writes_accepts_and_forgets() {
    let (node, c) = node();
    c.write(
        "POST",
        "/indexes/books/documents",
        Some(&json!([{"id": 1}])),
    );
    node.set_fault(Fault::DropWrites);
    let t = c.write(
        "POST",
        "/indexes/books/documents",
        Some(&json!([{"id": 2}, {"id": 3}])),
    );
    assert_eq!(t["status"], "succeeded");
    assert_eq!(
        t["details"],
        json!({"receivedDocuments": 2, "indexedDocuments": 2})
    );
    let t = c.write("DELETE", "/indexes/books/documents/1", None);
    assert_eq!(t["status"], "succeeded");
    let t = c.write(
        "PATCH",
        "/indexes/books/settings",
        Some(&json!({"filterableAttributes": ["id"]})),
    );
    assert_eq!(t["status"], "succeeded");
    let t = c.write("POST", "/indexes", Some(&json!({"uid": "ghost"})));
    assert_eq!(t["status"], "succeeded");
    // reads still answer normally
    assert_eq!(c.get("/indexes/books/documents").json()["total"], 1);
    node.set_fault(Fault::None);
    assert_eq!(node.documents("books"), vec![json!({"id": 1})]);
    assert_eq!(
        c.get("/indexes/books/settings/filterable-attributes")
            .json(),
        json!([])
    );
    assert_eq!(c.get("/indexes/ghost").status, 404);
    c.write(
        "POST",
        "/indexes/books/documents",
        Some(&json!([{"id": 2}])),
    );
    assert_eq!(node.document_count("books"), 2);
}

#[test]
fn faults_apply_to_data_routes() {
    let (node, c) = node();
    c.write(
        "POST",
        "/indexes/books/documents",
        Some(&json!([{"id": 1}])),
    );
    node.set_fault(Fault::Error(503));
    for r in [
        c.post("/indexes/books/search", &json!({"q": ""})),
        c.get("/tasks"),
        c.post("/indexes/books/documents", &json!([{"id": 2}])),
    ] {
        assert_eq!(r.status, 503);
        assert_eq!(r.json()["code"], "internal");
    }
    node.set_fault(Fault::Delay(Duration::from_millis(150)));
    let t0 = Instant::now();
    assert_eq!(c.post("/indexes/books/search", &json!({})).status, 200);
    assert!(t0.elapsed() >= Duration::from_millis(150));
    node.set_fault(Fault::None);
    assert_eq!(node.document_count("books"), 1);
    assert!(node.requests_seen("POST", "/indexes/books/search") >= 2);
}

#[test]
fn documents_api() {
    let (node, c) = node();
    let docs = json!([
        {"id": "a", "title": "One", "_miroir_shard": 3, "tags": ["x", "y"]},
        {"id": "b", "title": "Two", "_miroir_shard": 7},
        {"id": "c", "title": "Three", "_miroir_shard": 3, "nested": {"n": 1}},
    ]);
    c.write("POST", "/indexes/books/documents", Some(&docs));
    assert_eq!(node.documents("books"), docs.as_array().unwrap().clone());
    // PUT merges, POST replaces; order of insertion is kept
    c.write(
        "PUT",
        "/indexes/books/documents",
        Some(&json!([{"id": "a", "title": "Uno"}])),
    );
    c.write(
        "POST",
        "/indexes/books/documents",
        Some(&json!([{"id": "b", "_miroir_shard": 7}])),
    );
    let all = node.documents("books");
    assert_eq!(all[0]["title"], "Uno");
    assert_eq!(all[0]["_miroir_shard"], 3);
    assert_eq!(all[1], json!({"id": "b", "_miroir_shard": 7}));
    assert_eq!(
        c.get("/indexes/books/documents/c?fields=nested.n").json(),
        json!({"nested": {"n": 1}})
    );
    // filter on a non-filterable attribute
    let r = c.get("/indexes/books/documents?filter=_miroir_shard%20%3D%203");
    assert_eq!(
        (r.status, r.json()["code"].clone()),
        (400, json!("invalid_document_filter"))
    );
    c.write(
        "PATCH",
        "/indexes/books/settings",
        Some(&json!({"filterableAttributes": ["_miroir*"], "sortableAttributes": ["title"]})),
    );
    let r = c.get("/indexes/books/documents?filter=_miroir_shard%20%3D%203&fields=id");
    assert_eq!(r.json()["results"], json!([{"id": "a"}, {"id": "c"}]));
    let r = c.post(
        "/indexes/books/documents/fetch",
        &json!({"filter": "_miroir_shard IN [3, 7]", "sort": ["title:desc"], "fields": ["id"], "limit": 2}),
    );
    assert_eq!(
        r.json(),
        json!({"results": [{"id": "a"}, {"id": "c"}], "offset": 0, "limit": 2, "total": 3})
    );
    let r = c.post(
        "/indexes/books/documents/fetch",
        &json!({"sort": ["id:asc"]}),
    );
    assert_eq!(r.json()["code"], "invalid_document_sort");
    // delete by filter, batch, all
    let t = c.write(
        "POST",
        "/indexes/books/documents/delete",
        Some(&json!({"filter": "_miroir_shard = 7"})),
    );
    assert_eq!(t["details"]["deletedDocuments"], 1);
    assert_eq!(t["details"]["originalFilter"], "\"_miroir_shard = 7\"");
    let t = c.write(
        "POST",
        "/indexes/books/documents/delete-batch",
        Some(&json!(["a", "zz"])),
    );
    assert_eq!(
        t["details"],
        json!({"providedIds": 2, "deletedDocuments": 1, "originalFilter": null})
    );
    assert_eq!(node.document_count("books"), 1);
    let t = c.write("DELETE", "/indexes/books/documents", None);
    assert_eq!(t["details"], json!({"deletedDocuments": 1}));
    assert_eq!(node.document_count("books"), 0);
    // deleting on a missing index fails in the task
    let t = c.write("DELETE", "/indexes/nope/documents/1", None);
    assert_eq!(t["error"]["code"], "index_not_found");
    assert_eq!(node.document_count("nope"), 0);
    // payload errors
    let r = c.raw(
        "POST",
        "/indexes/books/documents",
        Some("application/json"),
        Some(b"  "),
    );
    assert_eq!(r.json()["code"], "missing_payload");
    let r = c.raw(
        "POST",
        "/indexes/books/documents",
        Some("application/json"),
        Some(b"[1, 2]"),
    );
    assert_eq!(r.json()["code"], "malformed_payload");
    let r = c.raw(
        "POST",
        "/indexes/books/documents?csvDelimiter=%3B",
        Some("application/json"),
        Some(b"[]"),
    );
    assert_eq!(r.status, 415);
    let r = c.raw(
        "POST",
        "/indexes/bad%20uid/documents",
        Some("application/json"),
        Some(b"[]"),
    );
    assert_eq!(r.json()["code"], "invalid_index_uid");
    let r = c.raw(
        "POST",
        "/indexes/books/documents?bogus=1",
        Some("application/json"),
        Some(b"[]"),
    );
    assert_eq!(r.json()["code"], "bad_request");
}

#[test]
fn settings_sub_routes() {
    let (_node, c) = node();
    c.write("POST", "/indexes", Some(&json!({"uid": "s"})));
    let defaults = fixture("024")["response"]["body"].clone();
    assert_eq!(c.get("/indexes/s/settings").json(), defaults);
    let cases = [
        ("sortable-attributes", json!(["b", "a"]), json!(["a", "b"])),
        (
            "ranking-rules",
            json!(["sort", "words", "year:asc"]),
            json!(["sort", "words", "year:asc"]),
        ),
        ("stop-words", json!(["the", "a"]), json!(["a", "the"])),
        ("synonyms", json!({"x": ["y"]}), json!({"x": ["y"]})),
        ("distinct-attribute", json!("d"), json!("d")),
        (
            "proximity-precision",
            json!("byAttribute"),
            json!("byAttribute"),
        ),
        ("search-cutoff-ms", json!(150), json!(150)),
        ("facet-search", json!(false), json!(false)),
        ("prefix-search", json!("disabled"), json!("disabled")),
        ("displayed-attributes", json!(["a", "*"]), json!(["*"])),
    ];
    for (route, value, expected) in &cases {
        let t = c.write("PUT", &format!("/indexes/s/settings/{route}"), Some(value));
        assert_eq!(t["status"], "succeeded", "{route}: {t}");
        assert_eq!(
            &c.get(&format!("/indexes/s/settings/{route}")).json(),
            expected,
            "{route}"
        );
    }
    for (route, value) in [
        (
            "typo-tolerance",
            json!({"minWordSizeForTypos": {"twoTypos": 10}}),
        ),
        ("faceting", json!({"maxValuesPerFacet": 5})),
        ("pagination", json!({"maxTotalHits": 50})),
    ] {
        let t = c.write(
            "PATCH",
            &format!("/indexes/s/settings/{route}"),
            Some(&value),
        );
        assert_eq!(t["status"], "succeeded", "{route}: {t}");
        assert_eq!(t["details"].as_object().unwrap().len(), 1, "{route}: {t}");
    }
    let s = c.get("/indexes/s/settings").json();
    assert_eq!(
        s["typoTolerance"]["minWordSizeForTypos"],
        json!({"oneTypo": 5, "twoTypos": 10})
    );
    assert_eq!(s["faceting"]["maxValuesPerFacet"], 5);
    assert_eq!(s["pagination"]["maxTotalHits"], 50);
    // wrong method on a sub-route lists the right ones
    let r = c.raw(
        "PUT",
        "/indexes/s/settings/faceting",
        Some("application/json"),
        Some(b"{}"),
    );
    assert_eq!(
        (r.status, r.header("allow")),
        (405, Some("GET, PATCH, DELETE"))
    );
    assert_eq!(c.get("/indexes/s/settings/nope").status, 404);
    let r = c.send(
        "PUT",
        "/indexes/s/settings/sortable-attributes",
        &json!("x"),
    );
    assert_eq!(r.json()["code"], "invalid_settings_sortable_attributes");
    // reset everything
    c.write("DELETE", "/indexes/s/settings", None);
    assert_eq!(c.get("/indexes/s/settings").json(), defaults);
    // settings on a missing index create it
    let t = c.write(
        "PATCH",
        "/indexes/fresh/settings",
        Some(&json!({"searchableAttributes": ["t"]})),
    );
    assert_eq!(t["status"], "succeeded");
    assert_eq!(c.get("/indexes/fresh").status, 200);
}

// ---------------------------------------------------------------------------------------------
// Search contract

/// Compares two hits by their `_rankingScoreDetails` the way a merger would: rules in `order`;
/// rank rules by `score` (higher first), sort rules by `value` (numbers, then strings, then
/// null, in the rule's direction). `Less` = `a` ranks before `b`.
fn compare_details(a: &Value, b: &Value) -> Ordering {
    let entries = |v: &Value| {
        let mut e: Vec<(String, Value)> = v
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, x)| (k.clone(), x.clone()))
            .collect();
        e.sort_by_key(|(_, x)| x["order"].as_u64().unwrap());
        e
    };
    let class = |v: &Value| match v {
        Value::Number(_) => 0,
        Value::String(_) => 1,
        _ => 2,
    };
    for ((name, x), (_, y)) in entries(a).iter().zip(entries(b).iter()) {
        let o = if x.get("value").is_some() {
            let asc = name.ends_with(":asc");
            let (vx, vy) = (&x["value"], &y["value"]);
            class(vx).cmp(&class(vy)).then_with(|| {
                let o = match (vx, vy) {
                    (Value::Number(p), Value::Number(q)) => {
                        p.as_f64().unwrap().total_cmp(&q.as_f64().unwrap())
                    }
                    (Value::String(p), Value::String(q)) => p.cmp(q),
                    _ => Ordering::Equal,
                };
                if asc {
                    o
                } else {
                    o.reverse()
                }
            })
        } else {
            let (sx, sy) = (x["score"].as_f64().unwrap(), y["score"].as_f64().unwrap());
            sy.total_cmp(&sx)
        };
        if o != Ordering::Equal {
            return o;
        }
    }
    Ordering::Equal
}

#[test]
fn hits_are_ordered_as_their_ranking_score_details_say() {
    let (_node, c) = movies_node();
    let queries = [
        json!({"q": "love"}),
        json!({"q": "the", "sort": ["year:desc"]}),
        json!({"q": "back future", "sort": ["rating:asc", "year:desc"]}),
        json!({"q": "the man", "sort": ["title:asc"]}),
        json!({"q": "", "sort": ["year:desc", "rating:asc"]}),
        json!({"q": "dark"}),
        json!({"q": "godfater part"}),
        json!({"q": "star wars return", "filter": "year > 1970"}),
        json!({"q": "night"}),
    ];
    for mut q in queries {
        q["showRankingScore"] = json!(true);
        q["showRankingScoreDetails"] = json!(true);
        q["limit"] = json!(1000);
        q["attributesToRetrieve"] = json!(["id"]);
        let r = c.post("/indexes/movies/search", &q).json();
        let hits = r["hits"].as_array().unwrap();
        assert!(!hits.is_empty(), "{q}");
        let sorted = q.get("sort").is_some();
        for pair in hits.windows(2) {
            let (a, b) = (&pair[0], &pair[1]);
            let o = compare_details(&a["_rankingScoreDetails"], &b["_rankingScoreDetails"]);
            assert_ne!(o, Ordering::Greater, "{q}: {a} before {b}");
            if o == Ordering::Equal {
                // full ties keep insertion order (movies were inserted by id)
                assert!(a["id"].as_u64() < b["id"].as_u64(), "{q}: {a} {b}");
            }
            let (sa, sb) = (
                a["_rankingScore"].as_f64().unwrap(),
                b["_rankingScore"].as_f64().unwrap(),
            );
            assert!(sa > 0.0 && sa <= 1.0);
            if !sorted {
                // without a sort, only the trailing custom rule (rating:desc) follows the rank
                // rules: scores never increase down the list
                assert!(sa >= sb, "{q}: {sa} < {sb}");
            }
        }
        if q["q"] == "" {
            assert!(hits.iter().all(|h| h["_rankingScore"] == 1.0));
        }
    }
}

#[test]
fn sort_type_order_is_meilisearchs() {
    let (_node, c) = node();
    c.write(
        "PATCH",
        "/indexes/mix/settings",
        Some(&json!({"sortableAttributes": ["v"]})),
    );
    c.write(
        "POST",
        "/indexes/mix/documents",
        Some(&json!([{"id": 1, "v": 10}, {"id": 2, "v": 2.5}, {"id": 3, "v": "banana"}, {"id": 4, "v": "Apple"},
                     {"id": 5, "v": null}, {"id": 6}, {"id": 7, "v": true}, {"id": 8, "v": [3, "x"]},
                     {"id": 9, "v": -1}, {"id": 10, "v": "10"}])),
    );
    for (dir, fx) in [("asc", "104"), ("desc", "105")] {
        let r = c.post(
            "/indexes/mix/search",
            &json!({"sort": [format!("v:{dir}")], "showRankingScoreDetails": true}),
        );
        let expected = fixture(fx)["response"]["body"]["hits"].clone();
        assert_eq!(r.json()["hits"], expected, "{dir}");
        // the same order through documents/fetch
        let r = c.post(
            "/indexes/mix/documents/fetch",
            &json!({"sort": [format!("v:{dir}")], "fields": ["id"]}),
        );
        let ids: Vec<Value> = r.json()["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["id"].clone())
            .collect();
        let expected_ids: Vec<Value> = expected
            .as_array()
            .unwrap()
            .iter()
            .map(|h| h["id"].clone())
            .collect();
        assert_eq!(ids, expected_ids, "fetch {dir}");
    }
}

#[test]
fn search_features() {
    let (_node, c) = movies_node();
    // page mode keys (fixture 107)
    let r = c
        .post(
            "/indexes/movies/search",
            &json!({"q": "the", "page": 2, "hitsPerPage": 3}),
        )
        .json();
    assert_same_keys(&r, "107");
    // facets on a non-filterable attribute
    let r = c.post("/indexes/movies/search", &json!({"facets": ["title"]}));
    assert_eq!(r.json()["code"], "invalid_search_facets");
    // facetStats: {} whenever facets are given
    let r = c
        .post(
            "/indexes/movies/search",
            &json!({"q": "batman", "facets": ["genres"], "limit": 0}),
        )
        .json();
    assert_eq!(r["facetStats"], json!({}));
    assert_eq!(r["facetDistribution"], json!({"genres": {"Action": 3}}));
    // sort needs sortable attributes; bad syntax
    let r = c.post("/indexes/movies/search", &json!({"sort": ["year"]}));
    assert_eq!(r.json()["code"], "invalid_search_sort");
    // highlight: _formatted with default tags
    let r = c
        .post(
            "/indexes/movies/search",
            &json!({"q": "batman ret", "attributesToHighlight": ["title"], "limit": 1}),
        )
        .json();
    assert_eq!(
        r["hits"][0]["_formatted"]["title"],
        "<em>Batman</em> <em>Ret</em>urns"
    );
    assert_eq!(r["hits"][0]["_formatted"]["id"], "146");
    // GET search with a filter and a list
    let r = c
        .get("/indexes/movies/search?q=batman&filter=year%20%3C%201995&attributesToRetrieve=id")
        .json();
    assert_eq!(r["hits"], json!([{"id": 149}, {"id": 146}]));
    let r = c.get("/indexes/movies/search?limit=ten");
    assert_eq!(r.json()["code"], "invalid_search_limit");
    // matchingStrategy all / rankingScoreThreshold
    let r = c
        .post(
            "/indexes/movies/search",
            &json!({"q": "back future zebra", "matchingStrategy": "all"}),
        )
        .json();
    assert_eq!(r["estimatedTotalHits"], 0);
    let r = c
        .post(
            "/indexes/movies/search",
            &json!({"q": "back future", "rankingScoreThreshold": 0.9}),
        )
        .json();
    assert_eq!(hit_ids(&r), [77, 78, 79]);
    // maxTotalHits caps the window and the counts
    c.write(
        "PATCH",
        "/indexes/movies/settings",
        Some(&json!({"pagination": {"maxTotalHits": 10}})),
    );
    let r = c
        .post("/indexes/movies/search", &json!({"offset": 8, "limit": 5}))
        .json();
    assert_eq!(
        (
            r["hits"].as_array().unwrap().len(),
            r["estimatedTotalHits"].clone()
        ),
        (2, json!(10))
    );
    // legacy `attribute` rule: details shape of fixture 131
    c.write(
        "PATCH",
        "/indexes/movies/settings",
        Some(&json!({"rankingRules": ["words", "typo", "proximity", "attribute", "sort", "exactness"]})),
    );
    let r = c.post(
        "/indexes/movies/search",
        &json!({"q": "love", "showRankingScoreDetails": true, "limit": 1}),
    );
    let details = &r.json()["hits"][0]["_rankingScoreDetails"];
    let expected = &fixture("131")["response"]["body"]["hits"][0]["_rankingScoreDetails"];
    let keys = |v: &Value| v.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
    assert_eq!(keys(details), keys(expected));
    assert_eq!(keys(&details["attribute"]), keys(&expected["attribute"]));
}

#[test]
fn multi_search_and_federation_shapes() {
    let (_node, c) = movies_node();
    let more: Vec<Value> = crate::tests_support::movies().as_array().unwrap()[..200]
        .iter()
        .map(|d| {
            let mut d = d.clone();
            d["id"] = json!(d["id"].as_u64().unwrap() + 500);
            d
        })
        .collect();
    c.write(
        "PATCH",
        "/indexes/movies_more/settings",
        Some(&json!({"filterableAttributes": ["genres", "mpaa"]})),
    );
    c.write(
        "POST",
        "/indexes/movies_more/documents?primaryKey=id",
        Some(&json!(more)),
    );
    for fx in ["125", "126", "127", "128"] {
        let r = c.replay(fx);
        assert_eq!(r.status, 200, "{fx}: {}", r.text());
        let body = r.json();
        assert_same_keys(&body, fx);
        let hit = &body["hits"][0];
        let expected_hit = &fixture(fx)["response"]["body"]["hits"][0];
        let keys = |v: &Value| v.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
        assert_eq!(keys(hit), keys(expected_hit), "{fx}");
        assert_eq!(
            keys(&hit["_federation"]),
            keys(&expected_hit["_federation"]),
            "{fx}"
        );
    }
    let body = c.replay("127").json();
    assert_eq!(
        body["facetsByIndex"]["movies_more"]
            .as_object()
            .unwrap()
            .keys()
            .collect::<Vec<_>>(),
        ["distribution", "stats"]
    );
    // weights: a query with weight 0 sorts last
    let r = c.post(
        "/multi-search",
        &json!({"federation": {"limit": 1000}, "queries": [
            {"indexUid": "movies", "q": "batman", "federationOptions": {"weight": 0.0}},
            {"indexUid": "movies_more", "q": "the"}]}),
    );
    let hits = r.json()["hits"].as_array().unwrap().clone();
    assert_eq!(hits[0]["_federation"]["indexUid"], "movies_more");
    assert_eq!(hits.last().unwrap()["_federation"]["indexUid"], "movies");
}

#[test]
fn api_keys_and_authorization() {
    let (node, c) = node();
    assert!(node.api_key("Default Admin API Key").is_some());
    let admin = Client::with_key(&node, &node.api_key("Default Admin API Key").unwrap());
    let r = admin.post(
        "/keys",
        &json!({"actions": ["documents.*", "search", "tasks.get"], "indexes": ["books*"], "expiresAt": null,
                "uid": "11111111-2222-4333-8444-555555555555"}),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let key = r.json()["key"].as_str().unwrap().to_owned();
    // another node with the same master key derives the same value
    let other = TestNode::start(Some(KEY));
    let r = Client::new(&other).post(
        "/keys",
        &json!({"actions": ["search"], "indexes": ["*"], "expiresAt": null,
                "uid": "11111111-2222-4333-8444-555555555555"}),
    );
    assert_eq!(r.json()["key"], key.as_str());

    let k = Client::with_key(&node, &key);
    let r = k.post("/indexes/books1/documents", &json!([{"id": 1}]));
    assert_eq!(r.status, 202);
    k.wait_task(r.json()["taskUid"].as_u64().unwrap());
    assert_eq!(k.post("/indexes/books1/search", &json!({})).status, 200);
    let r = k.post("/indexes/movies/documents", &json!([{"id": 1}]));
    assert_eq!(r.status, 403);
    assert_eq!(
        r.json()["message"],
        "The API key cannot acces the index `movies`, authorized indexes are [\"books*\"]."
    );
    assert_eq!(k.get("/keys").status, 403);
    assert_eq!(k.post("/indexes", &json!({"uid": "books2"})).status, 403);
    assert_eq!(k.get("/indexes").status, 403);
    let r = k.post(
        "/multi-search",
        &json!({"queries": [{"indexUid": "books1"}, {"indexUid": "movies"}]}),
    );
    assert_eq!(r.status, 403);
    // the key only sees the tasks of its indexes
    c.write("POST", "/indexes", Some(&json!({"uid": "secret"})));
    assert_eq!(k.get("/tasks").json()["total"], 1);
    assert_eq!(k.get("/tasks/1").status, 404);
    // an expired key
    let r = c.post(
        "/keys",
        &json!({"actions": ["*"], "indexes": ["*"], "expiresAt": "2000-01-01T00:00:00Z"}),
    );
    assert_eq!(r.json()["code"], "invalid_api_key_expires_at");
    // read-only admin: *.get but not search
    let ro = Client::with_key(
        &node,
        &node.api_key("Default Read-Only Admin API Key").unwrap(),
    );
    assert_eq!(ro.get("/indexes").status, 200);
    assert_eq!(ro.get("/keys").status, 200);
    assert_eq!(ro.post("/indexes/books1/search", &json!({})).status, 403);
    // without a master key: no auth, no keys
    let open = TestNode::start(None);
    let oc = Client {
        url: open.url(),
        auth: None,
    };
    assert_eq!(oc.get("/indexes").status, 200);
    let r = oc.get("/keys");
    assert_eq!(
        (r.status, r.json()["code"].clone()),
        (401, json!("missing_master_key"))
    );
}

/// The double must stay fast enough for perf tests: searches over 10k documents.
#[test]
fn searching_ten_thousand_documents_is_fast() {
    let (node, c) = node();
    let words = [
        "alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india",
        "juliet", "kilo", "lima", "mike", "november", "oscar", "papa", "quebec", "romeo", "sierra",
        "tango",
    ];
    let docs: Vec<Value> = (0..10_000u64)
        .map(|i| {
            let w = |k: u64| words[((i * 7 + k * 13) % 20) as usize];
            json!({"id": i, "title": format!("{} {} {}", w(1), w(2), i), "body": format!("{} {} {} {}", w(3), w(4), w(5), w(6)),
                   "year": 1900 + i % 120, "genre": w(7), "_miroir_shard": i % 16})
        })
        .collect();
    c.write(
        "PATCH",
        "/indexes/big/settings",
        Some(&json!({"filterableAttributes": ["year", "genre", "_miroir_shard"], "sortableAttributes": ["year"]})),
    );
    let t = c.write("POST", "/indexes/big/documents", Some(&json!(docs)));
    assert_eq!(t["status"], "succeeded");
    assert_eq!(node.document_count("big"), 10_000);
    let queries = [
        json!({"q": "", "limit": 20}),
        json!({"q": "", "filter": "_miroir_shard IN [1, 2] AND year > 1950", "limit": 20}),
        json!({"q": "", "facets": ["genre", "year"], "limit": 20}),
        json!({"q": "alpha", "limit": 20}),
        json!({"q": "alpha bravo", "limit": 20, "showRankingScore": true}),
        json!({"q": "novem", "sort": ["year:desc"], "limit": 20}),
        json!({"q": "", "sort": ["year:asc"], "limit": 20}),
    ];
    let st = node_state_search_time(&node, &queries);
    // Debug builds are ~10x slower than release; this only guards against pathological code.
    let bound = if cfg!(debug_assertions) { 200.0 } else { 10.0 };
    for (q, ms) in queries.iter().zip(&st) {
        eprintln!("{ms:8.3} ms  {q}");
        assert!(*ms < bound, "{q}: {ms} ms");
    }
}

/// In-process execution time (ms, best of 15) of each query, without HTTP.
fn node_state_search_time(node: &TestNode, queries: &[Value]) -> Vec<f64> {
    let st = node.inner_for_tests().lock_state();
    let index = st.index("big").unwrap();
    queries
        .iter()
        .map(|q| {
            let query = crate::search::Query::from_json(q, "", &[]).unwrap();
            // best of a few runs: the machine is shared, the minimum is the stable figure
            (0..15)
                .map(|_| {
                    let t0 = Instant::now();
                    let executed = crate::search::execute(index, &query).unwrap();
                    std::hint::black_box(executed.response_for_tests());
                    t0.elapsed().as_secs_f64() * 1000.0
                })
                .fold(f64::INFINITY, f64::min)
        })
        .collect()
}
