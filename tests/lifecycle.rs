//! Settings broadcast with rollback, and API keys that are the same on
//! every node.

mod common;

use std::time::Duration;

use common::*;
use serde_json::json;

fn start(nodes: &[Node], auth: &str) -> Miroir {
    let rest = format!(
        "[auth]\nnode_master_key = \"{NODE_KEY}\"\n{auth}\n[cluster]\nshards = 8\n{FAST_HEALTH}{}",
        nodes_toml(nodes, |_| 0)
    );
    let m = Miroir::start("", &rest);
    m.wait_ready(
        Duration::from_secs(10),
        &[("x-admin-key", "lifecycle-master-key")],
    );
    m
}

#[test]
fn settings_keep_the_shard_field_and_roll_back() {
    let mut nodes = start_nodes(3, NODE_KEY);
    let m = start(&nodes, "");
    wait_succeeded(&m, create_index(&m, "cfg"));

    let t = wait_succeeded(
        &m,
        accepted(&send(
            &m,
            "PATCH",
            "/indexes/cfg/settings",
            &json!({"filterableAttributes": ["genre"], "sortableAttributes": ["year"]}),
        )),
    );
    assert_eq!(t["type"], "settingsUpdate");
    assert_eq!(t["details"]["filterableAttributes"], json!(["genre"]));
    let settings = m.get("/indexes/cfg/settings", &[]).json();
    assert_eq!(settings["filterableAttributes"], json!(["genre"]));
    assert_eq!(settings["sortableAttributes"], json!(["year"]));
    for node in &nodes {
        let f = node_get(node, "/indexes/cfg/settings/filterable-attributes");
        assert!(
            f.as_array().unwrap().contains(&json!("_miroir_shard")),
            "{f}"
        );
    }

    wait_task(
        &m,
        accepted(&send(
            &m,
            "PUT",
            "/indexes/cfg/settings/filterable-attributes",
            &json!(["year"]),
        )),
    );
    assert_eq!(
        m.get("/indexes/cfg/settings/filterable-attributes", &[])
            .json(),
        json!(["year"])
    );
    wait_task(
        &m,
        accepted(&m.request(
            "DELETE",
            "/indexes/cfg/settings/filterable-attributes",
            &[],
            None,
        )),
    );
    assert_eq!(
        m.get("/indexes/cfg/settings/filterable-attributes", &[])
            .json(),
        json!([])
    );
    assert_eq!(
        node_get(&nodes[0], "/indexes/cfg/settings/filterable-attributes"),
        json!(["_miroir_shard"])
    );
    wait_task(
        &m,
        accepted(&m.request("DELETE", "/indexes/cfg/settings", &[], None)),
    );
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        node_get(&nodes[1], "/indexes/cfg/settings/filterable-attributes"),
        json!(["_miroir_shard"])
    );

    // Settings naming Miroir's own fields, or making `_miroir_shard` values words, are refused
    // before any node sees them.
    let reserved = "miroir_reserved_field";
    for (path, body, code) in [
        (
            "/indexes/cfg/settings",
            json!({"sortableAttributes": ["year", "_miroir_shard"]}),
            reserved,
        ),
        (
            "/indexes/cfg/settings",
            json!({"rankingRules": ["words", "_miroir_shard:asc"]}),
            reserved,
        ),
        (
            "/indexes/cfg/settings/distinct-attribute",
            json!("_miroir_shard"),
            reserved,
        ),
        (
            "/indexes/cfg/settings/filterable-attributes",
            json!([{"attributePatterns": ["_miroir_*"]}]),
            reserved,
        ),
        (
            "/indexes/cfg/settings",
            json!({"nonSeparatorTokens": ["#", "?"]}),
            "invalid_settings_non_separator_tokens",
        ),
        (
            "/indexes/cfg/settings/non-separator-tokens",
            json!(["("]),
            "invalid_settings_non_separator_tokens",
        ),
        (
            "/indexes/cfg/settings/dictionary",
            json!(["J.R.R.", "!("]),
            "invalid_settings_dictionary",
        ),
    ] {
        let method = if path.ends_with("settings") {
            "PATCH"
        } else {
            "PUT"
        };
        let r = send(&m, method, path, &body);
        assert_eq!(r.status, 400, "{path} {body}: {}", r.text());
        assert_eq!(r.json()["code"], code, "{}", r.text());
    }
    let unchanged = node_get(&nodes[0], "/indexes/cfg/settings");
    assert_eq!(unchanged["sortableAttributes"], json!([]), "{unchanged}");
    assert_eq!(unchanged["distinctAttribute"], json!(null), "{unchanged}");

    // A setting every node rejects comes back verbatim and changes nothing.
    let bad = send(
        &m,
        "PUT",
        "/indexes/cfg/settings/ranking-rules",
        &json!(["wrods"]),
    );
    assert_eq!(bad.status, 400, "{}", bad.text());
    assert_eq!(bad.json()["code"], "invalid_settings_ranking_rules");

    // A node that cannot take the change: the others are restored.
    wait_task(
        &m,
        accepted(&send(
            &m,
            "PUT",
            "/indexes/cfg/settings/sortable-attributes",
            &json!(["year"]),
        )),
    );
    nodes[2].stop();
    let refused = send(
        &m,
        "PUT",
        "/indexes/cfg/settings/sortable-attributes",
        &json!(["title"]),
    );
    assert_eq!(refused.status, 503, "{}", refused.text());
    assert_eq!(refused.json()["code"], "miroir_node_unavailable");
    let restored = wait_for(Duration::from_secs(5), || {
        let a = node_get(&nodes[0], "/indexes/cfg/settings/sortable-attributes");
        let b = node_get(&nodes[1], "/indexes/cfg/settings/sortable-attributes");
        (a == json!(["year"]) && b == json!(["year"])).then_some(())
    });
    assert!(
        restored.is_some(),
        "the nodes that took the change were not restored"
    );
}

#[test]
fn api_keys_are_identical_on_every_node_and_enforced() {
    let nodes = start_nodes(3, NODE_KEY);
    let m = start(&nodes, "master_key = \"lifecycle-master-key\"");
    let master = [("authorization", "Bearer lifecycle-master-key"), JSON];
    let create = m.request(
        "POST",
        "/indexes",
        &master,
        Some(br#"{"uid": "k", "primaryKey": "id"}"#),
    );
    assert_eq!(create.status, 202, "{}", create.text());
    let add = m.request(
        "POST",
        "/indexes/k/documents",
        &master,
        Some(br#"[{"id": 1, "title": "one"}]"#),
    );
    assert_eq!(add.status, 202, "{}", add.text());
    std::thread::sleep(Duration::from_millis(300));

    let key = m.request("POST", "/keys", &master, Some(br#"{"name": "reader", "description": "read docs", "actions": ["documents.get"], "indexes": ["k"], "expiresAt": null}"#));
    assert_eq!(key.status, 201, "{}", key.text());
    let key = key.json();
    let (uid, value) = (
        key["uid"].as_str().unwrap().to_string(),
        key["key"].as_str().unwrap().to_string(),
    );
    for node in &nodes {
        let on_node = node_get(node, &format!("/keys/{uid}"));
        assert_eq!(
            on_node["key"],
            value.as_str(),
            "a node holds another key value"
        );
    }
    let listed = m.get("/keys", &[master[0]]).json();
    assert!(listed["results"]
        .as_array()
        .unwrap()
        .iter()
        .any(|k| k["uid"] == uid.as_str()));

    let bearer = format!("Bearer {value}");
    let read = m.get("/indexes/k/documents/1", &[("authorization", &bearer)]);
    assert_eq!(read.status, 200, "{}", read.text());
    assert_eq!(read.json(), json!({"id": 1, "title": "one"}));
    let write = m.request(
        "POST",
        "/indexes/k/documents",
        &[("authorization", &bearer), JSON],
        Some(br#"[{"id": 2}]"#),
    );
    assert_eq!(write.status, 403, "{}", write.text());
    assert_eq!(write.json()["code"], "invalid_api_key");

    // A search-only key can run a federated search: the ranking rules Miroir reads for it are
    // read with Miroir's own key, not the client's.
    let searcher = m.request(
        "POST",
        "/keys",
        &master,
        Some(br#"{"actions": ["search"], "indexes": ["k"], "expiresAt": null}"#),
    );
    assert_eq!(searcher.status, 201, "{}", searcher.text());
    let searcher = format!("Bearer {}", searcher.json()["key"].as_str().unwrap());
    let federated = m.request(
        "POST",
        "/multi-search",
        &[("authorization", &searcher), JSON],
        Some(br#"{"federation": {}, "queries": [{"indexUid": "k", "q": "one"}]}"#),
    );
    assert_eq!(federated.status, 200, "{}", federated.text());
    assert_eq!(federated.json()["hits"][0]["id"], 1);
    // A refused key gets the 403, not the incompatible-rules error that quotes the index's rules.
    let refused = m.request(
        "POST",
        "/multi-search",
        &[("authorization", "Bearer not-a-key"), JSON],
        Some(br#"{"federation": {}, "queries": [{"indexUid": "k", "sort": ["id:asc"]}, {"indexUid": "k", "sort": ["id:desc"]}]}"#),
    );
    assert_eq!(refused.status, 403, "{}", refused.text());

    let patched = m.request(
        "PATCH",
        &format!("/keys/{uid}"),
        &master,
        Some(br#"{"name": "renamed"}"#),
    );
    assert_eq!(patched.status, 200, "{}", patched.text());
    assert_eq!(patched.json()["name"], "renamed");
    let deleted = m.request("DELETE", &format!("/keys/{value}"), &[master[0]], None);
    assert_eq!(deleted.status, 204, "{}", deleted.text());
    assert_eq!(
        m.get("/indexes/k/documents/1", &[("authorization", &bearer)])
            .status,
        403
    );
    for node in &nodes {
        assert_eq!(
            node_get(node, &format!("/keys/{uid}"))["code"],
            "api_key_not_found"
        );
    }
}

#[test]
fn index_creation_is_rolled_back_when_a_node_refuses() {
    let mut nodes = start_nodes(3, NODE_KEY);
    let m = start(&nodes, "");
    nodes[1].stop();
    let r = send(
        &m,
        "POST",
        "/indexes",
        &json!({"uid": "half", "primaryKey": "id"}),
    );
    assert_eq!(r.status, 503, "{}", r.text());
    assert_eq!(r.json()["code"], "miroir_node_unavailable");
    assert!(
        r.json()["message"].as_str().unwrap().contains("node-1"),
        "{}",
        r.text()
    );
    assert_eq!(
        m.get("/indexes/half", &[]).status,
        404,
        "Miroir kept a record of the failed index"
    );
    // The nodes that took the creation drop the index again.
    let gone = wait_for(Duration::from_secs(5), || {
        [&nodes[0], &nodes[2]]
            .iter()
            .all(|n| node_get(n, "/indexes/half")["code"] == "index_not_found")
            .then_some(())
    });
    assert!(gone.is_some(), "the index was left behind on a node");
    nodes[1].restart();
    m.wait_ready(Duration::from_secs(5), &[]);
    wait_succeeded(&m, create_index(&m, "half"));
}
