//! Integration harness: runs the real `miroir` binary against test nodes (or
//! real Meilisearch when MEILISEARCH_BIN is set).
#![allow(dead_code)]

use std::io::Read;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use miroir_test_nodes::http;
#[allow(unused_imports)]
pub use miroir_test_nodes::{http::Response, start_nodes, Fault, Node};
use serde_json::Value;

/// Master key the nodes run with (real Meilisearch wants ≥ 16 bytes).
pub const NODE_KEY: &str = "node-master-key-0123456789";

/// The header of a JSON body.
pub const JSON: (&str, &str) = ("content-type", "application/json");

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// `[[nodes]]` tables for `nodes`, with node i in group `group_of(i)`.
pub fn nodes_toml(nodes: &[Node], group_of: impl Fn(usize) -> u32) -> String {
    nodes
        .iter()
        .enumerate()
        .map(|(i, n)| {
            format!(
                "[[nodes]]\nid = \"node-{i}\"\naddress = \"{}\"\ngroup = {}\n",
                n.url(),
                group_of(i)
            )
        })
        .collect()
}

/// Fast health checks so scenarios run in seconds.
pub const FAST_HEALTH: &str =
    "[health]\ninterval_ms = 100\ntimeout_ms = 100\nunhealthy_threshold = 2\nrecovery_threshold = 2\n";

pub struct Miroir {
    pub child: Child,
    pub addr: String,
    pub metrics_addr: String,
    dir: PathBuf,
}

impl Miroir {
    /// Starts miroir with `[server]` lines `server`, then the rest of the
    /// config (`[auth]`, `[cluster]`, `[[nodes]]`, ...), and waits until it
    /// answers `/health`.
    pub fn start(server: &str, rest: &str) -> Miroir {
        Miroir::start_inner(server, rest, None)
    }

    /// Like `start`, with the redb store at `store` (kept after drop), so a
    /// second Miroir can reopen it.
    pub fn start_with_store(server: &str, rest: &str, store: &std::path::Path) -> Miroir {
        Miroir::start_inner(server, rest, Some(store))
    }

    fn start_inner(server: &str, rest: &str, store: Option<&std::path::Path>) -> Miroir {
        let port = free_port();
        let addr = format!("127.0.0.1:{port}");
        let metrics_addr = format!("127.0.0.1:{}", free_port());
        let dir = std::env::temp_dir().join(format!("miroir-it-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        // Two request cores unless the scenario picks its own count.
        let cores = if server.contains("cores") {
            ""
        } else {
            "cores = 2\n"
        };
        let config = format!(
            "[server]\nlisten = \"{addr}\"\nmetrics_listen = \"{metrics_addr}\"\n{cores}{server}\n[store]\npath = \"{}\"\n{rest}",
            store.map_or_else(|| dir.join("miroir.redb"), |s| s.to_path_buf()).display()
        );
        let config_path = dir.join("miroir.toml");
        std::fs::write(&config_path, &config).expect("write config");
        let log = std::fs::File::create(dir.join("miroir.log")).expect("log file");
        let child = Command::new(env!("CARGO_BIN_EXE_miroir"))
            .args(["serve", "--config"])
            .arg(&config_path)
            .env(
                "MIROIR_LOG",
                std::env::var("MIROIR_TEST_LOG").unwrap_or_else(|_| "debug".into()),
            )
            .env_remove("MIROIR_MASTER_KEY")
            .env_remove("MIROIR_NODE_MASTER_KEY")
            .env_remove("MIROIR_ADMIN_API_KEY")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn miroir");
        let mut miroir = Miroir {
            child,
            addr,
            metrics_addr,
            dir,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(r) = http::get(&miroir.addr, "/health", &[]) {
                if r.status == 200 {
                    return miroir;
                }
            }
            if let Ok(Some(status)) = miroir.child.try_wait() {
                panic!("miroir exited with {status}:\n{}", miroir.log());
            }
            assert!(
                Instant::now() < deadline,
                "miroir did not start:\n{}",
                miroir.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn log(&self) -> String {
        let mut text = String::new();
        if let Ok(mut f) = std::fs::File::open(self.dir.join("miroir.log")) {
            let _ = f.read_to_string(&mut text);
        }
        text
    }

    pub fn get(&self, path: &str, headers: &[(&str, &str)]) -> Response {
        http::get(&self.addr, path, headers).expect("request to miroir")
    }

    pub fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&[u8]>,
    ) -> Response {
        http::request(&self.addr, method, path, headers, body).expect("request to miroir")
    }

    /// Polls `/_miroir/ready` (sending `headers`) until it answers 200.
    pub fn wait_ready(&self, limit: Duration, headers: &[(&str, &str)]) {
        wait_for(limit, || {
            (self.get("/_miroir/ready", headers).status == 200).then_some(())
        })
        .unwrap_or_else(|| panic!("never ready:\n{}", self.log()));
    }
}

impl Drop for Miroir {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Polls `check` every 20 ms until it returns Some or `limit` passes.
pub fn wait_for<T>(limit: Duration, mut check: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = check() {
            return Some(v);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The `response.body` of a recorded Meilisearch exchange.
pub fn fixture_body(prefix: &str) -> serde_json::Value {
    miroir_test_nodes::fixture(prefix)["response"]["body"].clone()
}

/// `method path` with `body` as JSON.
pub fn send(m: &Miroir, method: &str, path: &str, body: &Value) -> Response {
    m.request(
        method,
        path,
        &[JSON],
        Some(&serde_json::to_vec(body).expect("JSON body")),
    )
}

/// The task uid of a 202 answer, checked to be an enqueued task summary.
pub fn accepted(r: &Response) -> u64 {
    assert_eq!(r.status, 202, "{}", r.text());
    let body = r.json();
    assert_eq!(body["status"], "enqueued");
    body["taskUid"].as_u64().expect("integer taskUid")
}

/// Polls `GET /tasks/{uid}` until the task is finished; returns it.
pub fn wait_task(m: &Miroir, uid: u64) -> Value {
    wait_for(Duration::from_secs(30), || {
        let t = m.get(&format!("/tasks/{uid}"), &[]).json();
        matches!(
            t["status"].as_str(),
            Some("succeeded" | "failed" | "canceled")
        )
        .then_some(t)
    })
    .unwrap_or_else(|| panic!("task {uid} never finished:\n{}", m.log()))
}

/// `wait_task`, checking that the task succeeded.
pub fn wait_succeeded(m: &Miroir, uid: u64) -> Value {
    let t = wait_task(m, uid);
    assert_eq!(t["status"], "succeeded", "{t}");
    t
}

/// Creates index `uid` with primary key `id`; returns the task uid.
pub fn create_index(m: &Miroir, uid: &str) -> u64 {
    accepted(&send(
        m,
        "POST",
        "/indexes",
        &serde_json::json!({"uid": uid, "primaryKey": "id"}),
    ))
}

/// `POST path` with a JSON `body` on a node, with the node master key: the JSON answer.
pub fn node_post(node: &Node, path: &str, body: &Value) -> Value {
    let body = body.to_string();
    http::request(
        &node.url(),
        "POST",
        path,
        &[("authorization", &format!("Bearer {NODE_KEY}")), JSON],
        Some(body.as_bytes()),
    )
    .expect("request to a node")
    .json()
}

/// `GET path` on a node, with the node master key: the JSON answer.
pub fn node_get(node: &Node, path: &str) -> Value {
    http::get(
        &node.url(),
        path,
        &[("authorization", &format!("Bearer {NODE_KEY}"))],
    )
    .expect("request to a node")
    .json()
}
