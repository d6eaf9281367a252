//! Helpers for the fixture-driven tests of the test double.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::http::{self, Response};
use crate::{fixture, fixtures_dir, TestNode};

pub(crate) const KEY: &str = "testMasterKey-0123456789";
pub(crate) const BEARER: &str = "Bearer testMasterKey-0123456789";

/// Fields whose values differ between runs (times, generated ids).
pub(crate) const VOLATILE: &[&str] = &[
    "enqueuedAt",
    "startedAt",
    "finishedAt",
    "duration",
    "createdAt",
    "updatedAt",
    "requestUid",
    "processingTimeMs",
    "lastUpdate",
];

/// A client for one node with the master key.
pub(crate) struct Client {
    pub(crate) url: String,
    pub(crate) auth: Option<String>,
}

impl Client {
    pub(crate) fn new(node: &TestNode) -> Client {
        Client {
            url: node.url(),
            auth: Some(BEARER.to_owned()),
        }
    }

    pub(crate) fn with_key(node: &TestNode, key: &str) -> Client {
        Client {
            url: node.url(),
            auth: Some(format!("Bearer {key}")),
        }
    }

    pub(crate) fn raw(
        &self,
        method: &str,
        path: &str,
        content_type: Option<&str>,
        body: Option<&[u8]>,
    ) -> Response {
        let mut headers: Vec<(&str, &str)> = Vec::new();
        if let Some(a) = &self.auth {
            headers.push(("Authorization", a));
        }
        if let Some(ct) = content_type {
            headers.push(("Content-Type", ct));
        }
        http::request(&self.url, method, path, &headers, body)
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"))
    }

    pub(crate) fn get(&self, path: &str) -> Response {
        self.raw("GET", path, None, None)
    }

    pub(crate) fn delete(&self, path: &str) -> Response {
        self.raw("DELETE", path, None, None)
    }

    pub(crate) fn send(&self, method: &str, path: &str, body: &Value) -> Response {
        let bytes = serde_json::to_vec(body).unwrap();
        self.raw(method, path, Some("application/json"), Some(&bytes))
    }

    pub(crate) fn post(&self, path: &str, body: &Value) -> Response {
        self.send("POST", path, body)
    }

    /// Sends a write and waits for its task; returns the finished task.
    pub(crate) fn write(&self, method: &str, path: &str, body: Option<&Value>) -> Value {
        let resp = match body {
            Some(b) => self.send(method, path, b),
            None => self.raw(method, path, None, None),
        };
        assert!(
            resp.status == 202 || resp.status == 200,
            "{method} {path}: {} {}",
            resp.status,
            resp.text()
        );
        self.wait_task(resp.json()["taskUid"].as_u64().unwrap())
    }

    /// Polls `GET /tasks/{uid}` until the task is finished.
    pub(crate) fn wait_task(&self, uid: u64) -> Value {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let t = self.get(&format!("/tasks/{uid}")).json();
            if matches!(
                t["status"].as_str(),
                Some("succeeded" | "failed" | "canceled")
            ) {
                return t;
            }
            assert!(Instant::now() < deadline, "task {uid} not finished: {t}");
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    /// Sends the request recorded in a fixture (the master key replaces `<master>`).
    pub(crate) fn replay(&self, name: &str) -> Response {
        let fx = fixture(name);
        let req = &fx["request"];
        let method = req["method"].as_str().unwrap();
        let path = req["path"].as_str().unwrap();
        let ct = req["headers"]["content-type"].as_str();
        let body: Option<Vec<u8>> = match &req["body"] {
            Value::Null => None,
            Value::String(s) if ct != Some("application/json") || !is_json(s) => {
                Some(s.clone().into_bytes())
            }
            Value::String(s) => Some(s.clone().into_bytes()),
            other => Some(serde_json::to_vec(other).unwrap()),
        };
        self.raw(method, path, ct, body.as_deref())
    }
}

fn is_json(s: &str) -> bool {
    serde_json::from_str::<Value>(s).is_ok()
}

/// Replaces the values of `keys` (at any depth) with `"<ignored>"`.
pub(crate) fn normalize(v: &Value, keys: &[&str]) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, x)| {
                    if keys.contains(&k.as_str()) {
                        (k.clone(), json!("<ignored>"))
                    } else {
                        (k.clone(), normalize(x, keys))
                    }
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(|x| normalize(x, keys)).collect()),
        other => other.clone(),
    }
}

/// Asserts status and body against a fixture response, ignoring volatile fields and `extra`.
pub(crate) fn assert_fixture(resp: &Response, name: &str, extra: &[&str]) {
    let fx = fixture(name);
    let expected = &fx["response"];
    assert_eq!(
        u64::from(resp.status),
        expected["status"],
        "{name}: status; body {}",
        resp.text()
    );
    if expected["body"].is_null() {
        assert!(resp.body.is_empty(), "{name}: body {:?}", resp.text());
        return;
    }
    let mut ignore: Vec<&str> = VOLATILE.to_vec();
    ignore.extend_from_slice(extra);
    let mut got = resp.json();
    // Long lists are trimmed in the recordings ("[... trimmed to first 5 of N]").
    if fx["note"]
        .as_str()
        .is_some_and(|n| n.contains("trimmed to first"))
    {
        for list in ["hits", "results"] {
            let g = got.get_mut(list).and_then(Value::as_array_mut);
            if let (Some(g), Some(e)) = (g, expected["body"][list].as_array()) {
                g.truncate(e.len());
            }
        }
    }
    assert_eq!(
        normalize(&got, &ignore),
        normalize(&expected["body"], &ignore),
        "{name}: body"
    );
}

/// The same top-level keys, in the same order, as the fixture's body.
pub(crate) fn assert_same_keys(v: &Value, name: &str) {
    let fx = fixture(name);
    let keys = |v: &Value| -> Vec<String> { v.as_object().unwrap().keys().cloned().collect() };
    assert_eq!(keys(v), keys(&fx["response"]["body"]), "{name}: keys");
}

/// The 500 movies of fixture 013.
pub(crate) fn movies() -> Value {
    let text = std::fs::read_to_string(fixtures_dir().join("data/movies-500.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// A node holding the fixtures' `movies` index with the settings of fixture 026.
pub(crate) fn movies_node() -> (TestNode, Client) {
    let node = TestNode::start(Some(KEY));
    let c = Client::new(&node);
    c.write(
        "POST",
        "/indexes",
        Some(&json!({"uid": "movies", "primaryKey": "id"})),
    );
    c.write(
        "PATCH",
        "/indexes/movies/settings",
        Some(&fixture("026")["request"]["body"]),
    );
    let t = c.write("POST", "/indexes/movies/documents", Some(&movies()));
    assert_eq!(t["status"], "succeeded", "{t}");
    (node, c)
}

/// Ids of the hits of a search response.
pub(crate) fn hit_ids(v: &Value) -> Vec<u64> {
    v["hits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["id"].as_u64().unwrap())
        .collect()
}
