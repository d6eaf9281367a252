//! Write path: documents in, one task namespace, quorum, durability.
//! Each scenario runs against the test double, or real Meilisearch when
//! MEILISEARCH_BIN is set (fault-injection-only checks say so and skip).

mod common;

use std::time::Duration;

use common::*;
use miroir_test_nodes::http;
use serde_json::{json, Value};

fn movie(i: usize) -> Value {
    json!({"id": i, "title": format!("movie {i} keyword{i}"), "year": 1900 + (i % 120), "genres": ["drama"], "rating": (i % 10) as f64 / 2.0})
}

/// How many documents a node holds (test double or real Meilisearch).
fn node_document_count(node: &Node, index: &str) -> u64 {
    node_get(node, &format!("/indexes/{index}/stats"))["numberOfDocuments"]
        .as_u64()
        .unwrap_or(0)
}

fn node_document_total(nodes: &[Node], index: &str) -> u64 {
    nodes.iter().map(|n| node_document_count(n, index)).sum()
}

fn cluster(nodes: &[Node], rf: usize, group_of: impl Fn(usize) -> u32, extra: &str) -> Miroir {
    let rest = format!(
        "[auth]\nnode_master_key = \"{NODE_KEY}\"\n[cluster]\nshards = 64\nreplication_factor = {rf}\n{FAST_HEALTH}{extra}{}",
        nodes_toml(nodes, group_of)
    );
    let m = Miroir::start("", &rest);
    m.wait_ready(Duration::from_secs(10), &[]);
    m
}

#[test]
fn thousand_documents_round_trip_and_spread() {
    let nodes = start_nodes(3, NODE_KEY);
    let m = cluster(&nodes, 1, |_| 0, "");
    let t = wait_succeeded(&m, create_index(&m, "movies"));
    assert_eq!(t["type"], "indexCreation");

    let docs: Vec<Value> = (0..1000).map(movie).collect();
    let add = send(
        &m,
        "POST",
        "/indexes/movies/documents",
        &Value::from(docs.clone()),
    );
    let t = wait_succeeded(&m, accepted(&add));
    assert_eq!(t["type"], "documentAdditionOrUpdate");
    assert_eq!(
        t["details"],
        json!({"receivedDocuments": 1000, "indexedDocuments": 1000})
    );
    for key in [
        "uid",
        "batchUid",
        "indexUid",
        "status",
        "type",
        "canceledBy",
        "details",
        "error",
        "duration",
        "enqueuedAt",
        "startedAt",
        "finishedAt",
    ] {
        assert!(t.get(key).is_some(), "task lacks {key}: {t}");
    }

    for doc in &docs {
        let r = m.get(&format!("/indexes/movies/documents/{}", doc["id"]), &[]);
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(&r.json(), doc, "document {} differs", doc["id"]);
        assert!(!r.text().contains("_miroir"), "{}", r.text());
    }
    let missing = m.get("/indexes/movies/documents/99999", &[]);
    assert_eq!(missing.status, 404);
    assert_eq!(missing.json()["code"], "document_not_found");

    for node in &nodes {
        let held = node_document_count(node, "movies");
        assert!(held >= 200, "a node holds only {held} of 1000 documents");
    }
    assert_eq!(node_document_total(&nodes, "movies"), 1000);
    let stats = m.get("/indexes/movies/stats", &[]).json();
    assert_eq!(stats["numberOfDocuments"], 1000);
    assert!(
        stats["fieldDistribution"].get("_miroir_shard").is_none(),
        "{stats}"
    );
    assert_eq!(stats["fieldDistribution"]["title"], 1000);

    // Listing and filtering tasks.
    let list = m
        .get(
            "/tasks?indexUids=movies&types=documentAdditionOrUpdate",
            &[],
        )
        .json();
    assert_eq!(list["total"], 1);
    assert_eq!(list["results"][0]["uid"], t["uid"]);
    let bad = m.get("/tasks?statuses=bogus", &[]);
    assert_eq!(bad.status, 400);
    assert_eq!(bad.json(), fixture_body("021"));
    assert_eq!(m.get("/tasks/999999", &[]).json(), fixture_body("022"));
}

#[test]
fn bad_documents_are_rejected_and_nothing_is_written() {
    let nodes = start_nodes(3, NODE_KEY);
    let m = cluster(&nodes, 1, |_| 0, "");
    create_index(&m, "strict");

    let missing_pk = send(
        &m,
        "POST",
        "/indexes/strict/documents",
        &json!([{"id": 1, "title": "ok"}, {"title": "no id here"}]),
    );
    assert_eq!(missing_pk.status, 400);
    assert_eq!(missing_pk.json()["code"], "missing_document_id");
    assert_eq!(
        missing_pk.json()["message"],
        "Document doesn't have a `id` attribute: `{\"title\":\"no id here\"}`."
    );

    let reserved = send(
        &m,
        "POST",
        "/indexes/strict/documents",
        &json!([{"id": 2}, {"id": 3, "_miroir_shard": 1}]),
    );
    assert_eq!(reserved.status, 400);
    assert_eq!(reserved.json()["code"], "miroir_reserved_field");
    assert_eq!(reserved.json()["type"], "invalid_request");

    let bad_id = send(
        &m,
        "POST",
        "/indexes/strict/documents",
        &json!([{"id": "bad id!"}]),
    );
    assert_eq!(bad_id.status, 400);
    assert_eq!(bad_id.json()["code"], "invalid_document_id");

    let malformed = m.request(
        "POST",
        "/indexes/strict/documents",
        &[JSON],
        Some(b"[{\"id\": 1,"),
    );
    assert_eq!(malformed.status, 400);
    assert_eq!(malformed.json()["code"], "malformed_payload");
    let no_type = m.request(
        "POST",
        "/indexes/strict/documents",
        &[],
        Some(b"[{\"id\": 1}]"),
    );
    assert_eq!(no_type.json(), fixture_body("186"));
    let wrong_type = m.request(
        "POST",
        "/indexes/strict/documents",
        &[("content-type", "text/plain")],
        Some(b"id,title\n1,x\n"),
    );
    assert_eq!(wrong_type.json(), fixture_body("185"));

    // Inference on a new index without a candidate.
    let infer = send(
        &m,
        "POST",
        "/indexes/fresh/documents",
        &json!([{"title": "Heat"}]),
    );
    assert_eq!(infer.status, 400);
    assert_eq!(infer.json()["code"], "index_primary_key_no_candidate_found");

    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        node_document_total(&nodes, "strict"),
        0,
        "a rejected payload reached a node"
    );
    for node in &nodes {
        if let Some(double) = node.double() {
            assert_eq!(double.requests_seen("POST", "/indexes/strict/documents"), 0);
            assert_eq!(double.requests_seen("*", "/indexes/fresh"), 0);
        }
    }
}

#[test]
fn ndjson_csv_inference_and_updates() {
    let nodes = start_nodes(2, NODE_KEY);
    let m = cluster(&nodes, 1, |_| 0, "");
    // Inference creates the index with the inferred key.
    wait_succeeded(
        &m,
        accepted(&send(
            &m,
            "POST",
            "/indexes/inferred/documents",
            &json!([{"movieId": 1, "title": "Heat"}, {"movieId": 2, "title": "Ronin"}]),
        )),
    );
    assert_eq!(
        m.get("/indexes/inferred", &[]).json()["primaryKey"],
        "movieId"
    );

    let nd = b"{\"movieId\": 3, \"title\": \"nd\"}\n{\"movieId\": 4, \"title\": \"json\"}\n";
    let t = wait_task(
        &m,
        accepted(&m.request(
            "POST",
            "/indexes/inferred/documents",
            &[("content-type", "application/x-ndjson")],
            Some(nd),
        )),
    );
    assert_eq!(t["details"]["receivedDocuments"], 2);
    let csv = b"movieId;title;year:number\n5;Semicolon;2001\n";
    wait_succeeded(
        &m,
        accepted(&m.request(
            "POST",
            "/indexes/inferred/documents?csvDelimiter=%3B",
            &[("content-type", "text/csv")],
            Some(csv),
        )),
    );
    assert_eq!(
        m.get("/indexes/inferred/documents/5", &[]).json(),
        json!({"movieId": "5", "title": "Semicolon", "year": 2001})
    );
    // PUT merges fields into the existing document.
    wait_succeeded(
        &m,
        accepted(&m.request(
            "PUT",
            "/indexes/inferred/documents",
            &[JSON],
            Some(br#"[{"movieId": 1, "year": 1995}]"#),
        )),
    );
    assert_eq!(
        m.get("/indexes/inferred/documents/1", &[]).json(),
        json!({"movieId": 1, "title": "Heat", "year": 1995})
    );
    assert_eq!(node_document_total(&nodes, "inferred"), 5);
}

#[test]
fn quorum_per_group_and_degraded_writes() {
    let mut nodes = start_nodes(2, NODE_KEY);
    let m = cluster(&nodes, 1, |i| i as u32, "");
    create_index(&m, "q");
    let docs = Value::from((0..50).map(movie).collect::<Vec<_>>());

    nodes[1].stop();
    let r = send(&m, "POST", "/indexes/q/documents", &docs);
    assert_eq!(r.status, 202, "{}", r.text());
    assert_eq!(r.header("x-miroir-degraded"), Some("groups=1"));
    let t = wait_task(&m, r.json()["taskUid"].as_u64().unwrap());
    assert_eq!(
        t["status"], "succeeded",
        "the group that took the write decides: {t}"
    );

    nodes[0].stop();
    let r = send(&m, "POST", "/indexes/q/documents", &docs);
    assert_eq!(r.status, 503, "{}", r.text());
    assert_eq!(r.json()["code"], "miroir_no_quorum");
    assert_eq!(r.json()["type"], "system");
}

#[test]
fn rf3_survives_one_node_down() {
    let mut nodes = start_nodes(3, NODE_KEY);
    let m = cluster(&nodes, 3, |_| 0, "");
    create_index(&m, "r");
    nodes[2].stop();
    let r = send(
        &m,
        "POST",
        "/indexes/r/documents",
        &Value::from((0..30).map(movie).collect::<Vec<_>>()),
    );
    assert_eq!(r.status, 202, "{}", r.text());
    assert!(r.header("x-miroir-degraded").is_none(), "2 of 3 is quorum");
    wait_succeeded(&m, r.json()["taskUid"].as_u64().unwrap());
    for i in [0, 7, 29] {
        assert_eq!(
            m.get(&format!("/indexes/r/documents/{i}"), &[]).json(),
            movie(i)
        );
    }
}

#[test]
fn delete_batch_reaches_only_the_owning_shards() {
    let nodes = start_nodes(3, NODE_KEY);
    let m = cluster(&nodes, 1, |_| 0, "");
    create_index(&m, "d");
    wait_task(
        &m,
        accepted(&send(
            &m,
            "POST",
            "/indexes/d/documents",
            &Value::from((0..300).map(movie).collect::<Vec<_>>()),
        )),
    );
    // Ids that all live on one node.
    let shard_map = m.get("/_miroir/shards", &[]).json();
    let owner = |id: usize| {
        let shard = miroir_router::shard_for_key(id.to_string().as_bytes(), 64) as usize;
        shard_map["shards"][shard]["groups"][0]["nodes"][0]
            .as_str()
            .unwrap()
            .to_string()
    };
    let target_node = owner(0);
    let ids: Vec<usize> = (0..300)
        .filter(|&i| owner(i) == target_node)
        .take(10)
        .collect();
    let t = wait_succeeded(
        &m,
        accepted(&send(
            &m,
            "POST",
            "/indexes/d/documents/delete-batch",
            &json!(ids),
        )),
    );
    assert_eq!(
        t["details"],
        json!({"providedIds": 10, "deletedDocuments": 10, "originalFilter": null})
    );
    for &i in &ids {
        assert_eq!(m.get(&format!("/indexes/d/documents/{i}"), &[]).status, 404);
    }
    assert_eq!(node_document_total(&nodes, "d"), 290);
    for (i, node) in nodes.iter().enumerate() {
        if let Some(double) = node.double() {
            let seen = double.requests_seen("POST", "/indexes/d/documents/delete-batch");
            let expected = usize::from(format!("node-{i}") == target_node);
            assert_eq!(
                seen, expected,
                "node-{i} received {seen} delete-batch requests"
            );
        }
    }
    // Single delete and delete-all.
    let t = wait_task(
        &m,
        accepted(&m.request(
            "DELETE",
            &format!("/indexes/d/documents/{}", 299),
            &[],
            None,
        )),
    );
    assert_eq!(t["details"]["deletedDocuments"], 1);
    let t = wait_task(
        &m,
        accepted(&m.request("DELETE", "/indexes/d/documents", &[], None)),
    );
    assert_eq!(t["details"]["deletedDocuments"], 289);
    assert_eq!(node_document_total(&nodes, "d"), 0);
}

#[test]
fn task_status_follows_the_nodes() {
    let nodes = start_nodes(3, NODE_KEY);
    let Some(slow) = nodes[1].double() else {
        eprintln!("skipped: slowing one node's task queue needs the test double");
        return;
    };
    let m = cluster(&nodes, 1, |_| 0, "");
    wait_task(&m, create_index(&m, "s"));
    slow.set_task_delay(Duration::from_millis(1500));
    let uid = accepted(&send(
        &m,
        "POST",
        "/indexes/s/documents",
        &Value::from((0..60).map(movie).collect::<Vec<_>>()),
    ));
    let processing = wait_for(Duration::from_secs(3), || {
        let t = m.get(&format!("/tasks/{uid}"), &[]).json();
        (t["status"] == "processing").then_some(t)
    })
    .expect("never processing while one node is still working");
    assert!(processing["startedAt"].is_string());
    assert!(processing["finishedAt"].is_null());
    let done = wait_succeeded(&m, uid);
    assert!(done["duration"].as_str().unwrap().starts_with("PT"));
    slow.set_task_delay(Duration::ZERO);

    // One node fails its part: the task fails with that node's error and a
    // per-node breakdown.
    let conflict = http::request(
        &nodes[0].url(),
        "POST",
        "/indexes",
        &[("authorization", &format!("Bearer {NODE_KEY}")), JSON],
        Some(br#"{"uid": "f", "primaryKey": "other"}"#),
    )
    .unwrap();
    assert_eq!(conflict.status, 202);
    std::thread::sleep(Duration::from_millis(200));
    let t = wait_task(&m, create_index(&m, "f"));
    assert_eq!(t["status"], "failed", "{t}");
    assert_eq!(t["error"]["code"], "index_already_exists");
    let breakdown = t["miroir"]["nodes"].as_array().unwrap();
    assert_eq!(
        breakdown.iter().filter(|n| n["status"] == "failed").count(),
        1,
        "{t}"
    );
    assert_eq!(
        breakdown
            .iter()
            .filter(|n| n["status"] == "succeeded")
            .count(),
        2,
        "{t}"
    );
}

#[test]
fn stats_count_each_document_once() {
    let nodes = start_nodes(4, NODE_KEY);
    let m = cluster(&nodes, 2, |i| (i / 2) as u32, "");
    wait_task(&m, create_index(&m, "st"));
    wait_task(
        &m,
        accepted(&send(
            &m,
            "POST",
            "/indexes/st/documents",
            &Value::from((0..120).map(movie).collect::<Vec<_>>()),
        )),
    );
    assert_eq!(
        node_document_total(&nodes, "st"),
        120 * 4,
        "RF=2 × RG=2 copies"
    );
    let stats = m.get("/indexes/st/stats", &[]).json();
    assert_eq!(stats["numberOfDocuments"], 120, "{stats}");
    assert_eq!(stats["fieldDistribution"]["id"], 120);
    let global = m.get("/stats", &[]).json();
    assert_eq!(
        global["indexes"]["st"]["numberOfDocuments"], 120,
        "{global}"
    );
}

#[test]
fn tasks_survive_kill_9() {
    let nodes = start_nodes(2, NODE_KEY);
    let Some(slow) = nodes[0].double() else {
        eprintln!("skipped: holding node tasks open needs the test double");
        return;
    };
    let rest = format!(
        "[auth]\nnode_master_key = \"{NODE_KEY}\"\n[cluster]\nshards = 16\n{FAST_HEALTH}{}",
        nodes_toml(&nodes, |_| 0)
    );
    let store_dir = std::env::temp_dir().join(format!("miroir-kill9-{}", std::process::id()));
    std::fs::create_dir_all(&store_dir).unwrap();
    let store_path = store_dir.join("miroir.redb");
    let mut m = Miroir::start_with_store("", &rest, &store_path);
    m.wait_ready(Duration::from_secs(10), &[]);
    wait_task(&m, create_index(&m, "k"));
    slow.set_task_delay(Duration::from_millis(1500));
    let uid = accepted(&send(
        &m,
        "POST",
        "/indexes/k/documents",
        &Value::from((0..40).map(movie).collect::<Vec<_>>()),
    ));
    // SIGKILL right after the 202.
    m.child.kill().unwrap();
    m.child.wait().unwrap();
    let m = Miroir::start_with_store("", &rest, &store_path);
    let t = m.get(&format!("/tasks/{uid}"), &[]);
    assert_eq!(
        t.status,
        200,
        "the acknowledged task is gone after kill -9: {}",
        t.text()
    );
    let t = wait_succeeded(&m, uid);
    assert_eq!(t["details"]["indexedDocuments"], 40);
    let next = accepted(&send(
        &m,
        "POST",
        "/indexes/k/documents",
        &json!([{"id": 1000}]),
    ));
    assert!(next > uid, "task uids must keep growing across restarts");
    slow.set_task_delay(Duration::ZERO);
    let _ = std::fs::remove_dir_all(&store_dir);
}

#[test]
fn cancel_and_delete_tasks_fan_out_to_node_tasks() {
    let nodes = start_nodes(2, NODE_KEY);
    let m = cluster(&nodes, 1, |_| 0, "");
    assert_eq!(
        m.request("POST", "/tasks/cancel", &[], None).json(),
        fixture_body("177")
    );
    assert_eq!(
        m.request("DELETE", "/tasks", &[], None).json(),
        fixture_body("181")
    );
    wait_task(&m, create_index(&m, "c"));

    let doubles: Vec<_> = nodes.iter().filter_map(Node::double).collect();
    if doubles.len() == nodes.len() {
        // Hold the nodes' queues so the task is still cancelable.
        for d in &doubles {
            d.set_task_delay(Duration::from_millis(1500));
        }
        let uid = accepted(&send(
            &m,
            "POST",
            "/indexes/c/documents",
            &Value::from((0..20).map(movie).collect::<Vec<_>>()),
        ));
        let r = m.request("POST", &format!("/tasks/cancel?uids={uid}"), &[], None);
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(r.json()["type"], "taskCancelation");
        assert!(r.json()["indexUid"].is_null());
        let cancel_uid = r.json()["taskUid"].as_u64().unwrap();
        let canceled = wait_task(&m, uid);
        assert_eq!(canceled["status"], "canceled", "{canceled}");
        assert_eq!(canceled["canceledBy"], cancel_uid);
        let cancel = wait_task(&m, cancel_uid);
        assert_eq!(cancel["details"]["matchedTasks"], 1, "{cancel}");
        assert_eq!(cancel["details"]["originalFilter"], format!("?uids={uid}"));
        for d in &doubles {
            d.set_task_delay(Duration::ZERO);
        }
    } else {
        eprintln!("skipped the cancel half: holding node tasks needs the test double");
    }

    let done = wait_task(
        &m,
        accepted(&send(
            &m,
            "POST",
            "/indexes/c/documents",
            &json!([{"id": 1}]),
        )),
    );
    let uid = done["uid"].as_u64().unwrap();
    let r = m.request("DELETE", &format!("/tasks?uids={uid}"), &[], None);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["type"], "taskDeletion");
    let deletion = wait_succeeded(&m, r.json()["taskUid"].as_u64().unwrap());
    assert_eq!(deletion["details"]["deletedTasks"], 1);
    let gone = m.get(&format!("/tasks/{uid}"), &[]);
    assert_eq!(gone.status, 404);
    assert_eq!(gone.json()["code"], "task_not_found");
}

#[test]
fn swap_and_rename_indexes() {
    let nodes = start_nodes(2, NODE_KEY);
    let m = cluster(&nodes, 1, |_| 0, "");
    wait_task(&m, create_index(&m, "sa"));
    wait_task(
        &m,
        accepted(&send(
            &m,
            "POST",
            "/indexes",
            &json!({"uid": "sb", "primaryKey": "key"}),
        )),
    );
    wait_task(
        &m,
        accepted(&send(
            &m,
            "POST",
            "/indexes/sa/documents",
            &json!([{"id": 1, "from": "a"}]),
        )),
    );
    let t = wait_succeeded(
        &m,
        accepted(&send(
            &m,
            "POST",
            "/swap-indexes",
            &json!([{"indexes": ["sa", "sb"]}]),
        )),
    );
    assert_eq!(
        t["details"],
        json!({"swaps": [{"indexes": ["sa", "sb"], "rename": false}]})
    );
    assert_eq!(m.get("/indexes/sb", &[]).json()["primaryKey"], "id");
    assert_eq!(m.get("/indexes/sa", &[]).json()["primaryKey"], "key");
    assert_eq!(
        m.get("/indexes/sb/documents/1", &[]).json(),
        json!({"id": 1, "from": "a"})
    );

    wait_succeeded(
        &m,
        accepted(&send(
            &m,
            "POST",
            "/swap-indexes",
            &json!([{"indexes": ["sb", "sc"], "rename": true}]),
        )),
    );
    assert_eq!(m.get("/indexes/sb", &[]).status, 404);
    assert_eq!(
        m.get("/indexes/sc/documents/1", &[]).json(),
        json!({"id": 1, "from": "a"})
    );

    let t = wait_task(
        &m,
        accepted(&send(
            &m,
            "POST",
            "/swap-indexes",
            &json!([{"indexes": ["sa", "nope"]}]),
        )),
    );
    assert_eq!(t["status"], "failed", "{t}");
    assert_eq!(t["error"]["code"], "index_not_found");
}

#[test]
fn node_task_of_a_dead_node_is_declared_lost() {
    let mut nodes = start_nodes(3, NODE_KEY);
    let Some(slow) = nodes[2].double() else {
        eprintln!("skipped: holding a node task open needs the test double");
        return;
    };
    let m = cluster(
        &nodes,
        3,
        |_| 0,
        "[tasks]\nnode_task_lost_after_ms = 1500\n",
    );
    wait_succeeded(&m, create_index(&m, "lost"));
    slow.set_task_delay(Duration::from_secs(120));
    let uid = accepted(&send(
        &m,
        "POST",
        "/indexes/lost/documents",
        &Value::from((0..10).map(movie).collect::<Vec<_>>()),
    ));
    // While the node keeps reporting "processing", its task is not lost, however long it takes.
    std::thread::sleep(Duration::from_millis(3000));
    let t = m.get(&format!("/tasks/{uid}"), &[]).json();
    assert_eq!(t["status"], "processing", "{t}");
    // Once the node is gone for good, its task is counted as failed and the Miroir task ends.
    nodes[2].stop();
    let started = std::time::Instant::now();
    let t = wait_task(&m, uid);
    assert!(started.elapsed() < Duration::from_secs(10), "{t}");
    assert_eq!(t["status"], "failed", "{t}");
    assert_eq!(t["error"]["code"], "miroir_node_task_lost", "{t}");
    assert_eq!(t["error"]["type"], "system", "{t}");
    let message = t["error"]["message"].as_str().unwrap_or_default();
    assert!(message.starts_with("Node `node-2` has not reported"), "{t}");
    // The documents are still readable from the replicas that have them.
    assert_eq!(m.get("/indexes/lost/documents/3", &[]).json(), movie(3));
}
