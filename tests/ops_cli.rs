//! Operations: the systemd unit and example config in `dist/`, `miroir dev`
//! (with a stand-in meilisearch), and `miroir ctl` against a running Miroir.
//!
//! Needs `systemd-analyze` (Debian/Ubuntu package `systemd`) and `python3`
//! (the stand-in meilisearch); without them the tests fail and say so.

// Not every scenario helper is used here.
#[allow(unused_imports)]
mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use miroir_test_nodes::http;
use serde_json::{json, Value};

const MIROIR: &str = env!("CARGO_BIN_EXE_miroir");
const SHIPPED_EXEC: &str = "ExecStart=/usr/local/bin/miroir serve --config /etc/miroir/miroir.toml";

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

/// A fresh directory under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!(
            "miroir-ops-{tag}-{}-{}",
            std::process::id(),
            free_port()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir");
        TempDir(dir)
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `miroir` with the given arguments, without Miroir's env variables.
fn miroir_cmd(args: &[&str]) -> Command {
    let mut cmd = Command::new(MIROIR);
    cmd.args(args)
        .env_remove("MIROIR_MASTER_KEY")
        .env_remove("MIROIR_NODE_MASTER_KEY")
        .env_remove("MIROIR_ADMIN_API_KEY")
        .env_remove("MIROIR_API_KEY")
        .env_remove("MIROIR_URL")
        .env_remove("MIROIR_CONFIG")
        .env_remove("NOTIFY_SOCKET")
        .stdin(Stdio::null());
    cmd
}

fn run(mut cmd: impl std::borrow::BorrowMut<Command>) -> Output {
    cmd.borrow_mut().output().expect("run a command")
}

/// Runs `cmd`, which must fail.
fn run_failing(cmd: impl std::borrow::BorrowMut<Command>) -> Output {
    let out = run(cmd);
    assert!(!out.status.success(), "succeeded:\n{}", text(&out.stdout));
    out
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

// --- dist/ -----------------------------------------------------------------

fn systemd_analyze() -> &'static str {
    match Command::new("systemd-analyze").arg("--version").output() {
        Ok(out) if out.status.success() => "systemd-analyze",
        Ok(out) => panic!(
            "`systemd-analyze --version` failed ({}): {}",
            out.status,
            text(&out.stderr)
        ),
        Err(e) => panic!(
            "systemd-analyze is needed to check dist/systemd/miroir.service but cannot run ({e}). \
             Install it: `apt-get install -y systemd` (Debian/Ubuntu), `dnf install systemd` (Fedora)."
        ),
    }
}

#[test]
fn systemd_unit_passes_systemd_analyze_verify() {
    let analyze = systemd_analyze();
    let shipped = std::fs::read_to_string(repo("dist/systemd/miroir.service")).unwrap();
    assert_eq!(
        shipped
            .lines()
            .filter(|l| l.starts_with("ExecStart="))
            .count(),
        1,
        "one ExecStart"
    );
    assert!(
        shipped.lines().any(|l| l == SHIPPED_EXEC),
        "the unit must run `{SHIPPED_EXEC}`"
    );
    for line in [
        "Type=notify",
        "WatchdogSec=30",
        "StateDirectory=miroir",
        "DynamicUser=yes",
        "EnvironmentFile=-/etc/miroir/miroir.env",
        "Restart=on-failure",
        "LimitNOFILE=1048576",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "CapabilityBoundingSet=",
        "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX",
        "SystemCallFilter=io_uring_setup io_uring_enter io_uring_register",
    ] {
        assert!(shipped.lines().any(|l| l == line), "missing `{line}`");
    }
    // Stopping must outlast the drain (server.shutdown_drain_ms, default 10 s).
    let stop_secs: u64 = shipped
        .lines()
        .find_map(|l| l.strip_prefix("TimeoutStopSec="))
        .and_then(|v| v.trim().parse().ok())
        .expect("TimeoutStopSec=<seconds>");
    assert!(
        stop_secs >= 20,
        "TimeoutStopSec={stop_secs} leaves no margin over a 10 s drain"
    );

    // systemd-analyze checks that ExecStart's binary exists: point the copy at
    // the binary under test, and change nothing else.
    let exe = if MIROIR.contains(char::is_whitespace) {
        format!("\"{MIROIR}\"")
    } else {
        MIROIR.to_owned()
    };
    let local_exec = format!("ExecStart={exe} serve --config /etc/miroir/miroir.toml");
    let local = shipped.replacen(SHIPPED_EXEC, &local_exec, 1);
    assert_eq!(local.replacen(&local_exec, SHIPPED_EXEC, 1), shipped);
    assert_ne!(local, shipped);

    let dir = TempDir::new("unit");
    let unit = dir.path().join("miroir.service");
    std::fs::write(&unit, &local).unwrap();
    let out = run(Command::new(analyze).arg("verify").arg(&unit));
    let report = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert!(
        out.status.success(),
        "systemd-analyze verify failed:\n{report}"
    );
    // Unknown keys and unparsable values are only warnings; refuse them too.
    let about_unit: Vec<&str> = report
        .lines()
        .filter(|l| l.contains("miroir.service"))
        .collect();
    assert!(
        about_unit.is_empty(),
        "systemd-analyze verify complained:\n{}",
        about_unit.join("\n")
    );
}

#[test]
fn example_config_is_valid() {
    let out = run(miroir_cmd(&["config", "check"]).arg(repo("dist/miroir.toml")));
    assert!(
        out.status.success(),
        "dist/miroir.toml: {}",
        text(&out.stderr)
    );
    let example = std::fs::read_to_string(repo("dist/miroir.toml")).unwrap();
    assert!(example.contains("path = \"/var/lib/miroir/miroir.redb\""));
    let env = std::fs::read_to_string(repo("dist/miroir.env.example")).unwrap();
    for name in [
        "MIROIR_MASTER_KEY=",
        "MIROIR_NODE_MASTER_KEY=",
        "MIROIR_ADMIN_API_KEY=",
    ] {
        assert!(env.lines().any(|l| l.starts_with(name)), "{name}");
    }
}

// --- miroir dev --------------------------------------------------------------

#[test]
fn dev_without_meilisearch_says_where_to_get_it() {
    let dir = TempDir::new("dev-missing");
    let port = free_port().to_string();
    let listen = format!("127.0.0.1:{port}");
    let out = run_failing(
        miroir_cmd(&["dev", "--meili-bin", "/nonexistent", "--listen", &listen])
            .current_dir(dir.path()),
    );
    let err = text(&out.stderr);
    for needle in [
        "/nonexistent",
        "https://install.meilisearch.com",
        "https://www.meilisearch.com/docs/learn/self_hosted/install_meilisearch_locally",
        "--meili-bin PATH",
    ] {
        assert!(err.contains(needle), "no `{needle}` in:\n{err}");
    }

    // No flag and nothing on PATH.
    let empty = dir.path().join("empty-bin");
    std::fs::create_dir_all(&empty).unwrap();
    let out = run_failing(
        miroir_cmd(&["dev", "--listen", &listen])
            .env("PATH", &empty)
            .current_dir(dir.path()),
    );
    let err = text(&out.stderr);
    assert!(err.contains("no `meilisearch` executable on PATH"), "{err}");
    assert!(err.contains("--meili-bin PATH"), "{err}");
}

#[test]
fn dev_refuses_taken_ports_before_starting_nodes() {
    let dir = TempDir::new("dev-ports");
    let bin = dir.path().join("meilisearch");
    write_executable(&bin, "#!/bin/sh\ntouch started\nexit 1\n");
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let taken = taken.local_addr().map(|a| (taken, a.to_string())).unwrap();
    let free = format!("127.0.0.1:{}", free_port());
    for (args, flag) in [
        (
            [
                "--listen",
                taken.1.as_str(),
                "--metrics-listen",
                free.as_str(),
            ],
            "--listen",
        ),
        (
            [
                "--listen",
                free.as_str(),
                "--metrics-listen",
                taken.1.as_str(),
            ],
            "--metrics-listen",
        ),
    ] {
        let out = run_failing(
            miroir_cmd(&["dev", "--meili-bin", bin.to_str().unwrap()])
                .args(args)
                .current_dir(dir.path()),
        );
        let err = text(&out.stderr);
        assert!(
            err.contains(&format!("cannot listen on {}", taken.1)),
            "{err}"
        );
        assert!(err.contains(flag), "{err}");
    }
    assert!(!dir.path().join(".miroir-dev/meili-0/started").exists());
}

fn write_executable(path: &Path, script: &str) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, script).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

#[test]
fn dev_reports_a_node_that_exits_with_its_log() {
    let dir = TempDir::new("dev-crash");
    let bin = dir.path().join("meilisearch");
    write_executable(
        &bin,
        "#!/bin/sh\necho \"error: the database is locked by another process\" >&2\nexit 3\n",
    );
    let listen = format!("127.0.0.1:{}", free_port());
    let out = run_failing(
        miroir_cmd(&[
            "dev",
            "--nodes",
            "2",
            "--meili-bin",
            bin.to_str().unwrap(),
            "--listen",
            &listen,
        ])
        .current_dir(dir.path()),
    );
    let err = text(&out.stderr);
    assert!(err.contains("meili-0 exited"), "{err}");
    assert!(err.contains("the database is locked"), "{err}");
    assert!(dir.path().join(".miroir-dev/meili-0.log").is_file());
}

/// A stand-in `meilisearch` in Python: serves 200 on every GET at
/// `--http-addr`, records its pid and arguments in `--db-path`, and on SIGTERM
/// writes `stopped` there and exits.
fn fake_meilisearch(dir: &Path) -> PathBuf {
    let python = Command::new("python3")
        .args(["-c", "import sys; print(sys.executable)"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| text(&o.stdout).trim().to_owned())
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| {
            panic!("python3 is needed for the stand-in meilisearch: install it (apt-get install -y python3)")
        });
    let bin = dir.join("meilisearch");
    write_executable(
        &bin,
        &format!(
            r#"#!{python}
import json, os, signal, sys, http.server
args = sys.argv[1:]
opt = lambda name: args[args.index(name) + 1] if name in args else None
host, port = opt("--http-addr").rsplit(":", 1)
db = opt("--db-path")
os.makedirs(db, exist_ok=True)
with open(os.path.join(db, "pid"), "w") as f:
    f.write(str(os.getpid()))
with open(os.path.join(db, "args.json"), "w") as f:
    json.dump({{"args": args, "cwd": os.getcwd()}}, f)
def stop(signum, frame):
    with open(os.path.join(db, "stopped"), "w") as f:
        f.write(str(signum))
    os._exit(0)
signal.signal(signal.SIGTERM, stop)
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = json.dumps({{"status": "available"}}).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass
http.server.HTTPServer.allow_reuse_address = True
print("fake meilisearch listening on", host, port, flush=True)
http.server.HTTPServer((host, int(port)), H).serve_forever()
"#
        ),
    );
    bin
}

/// Kills the child (and so, through PDEATHSIG, its nodes) if a test fails.
struct Reaper(Child);

impl Drop for Reaper {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

#[test]
fn dev_starts_nodes_writes_config_and_stops_them_on_sigterm() {
    let dir = TempDir::new("dev");
    let fake = fake_meilisearch(dir.path());
    let work = dir.path().join("project");
    std::fs::create_dir_all(&work).unwrap();
    // A project's own config.toml must not reach the nodes (they run in
    // their own directory).
    std::fs::write(work.join("config.toml"), "not = [meilisearch").unwrap();
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let stderr_path = dir.path().join("dev.stderr");
    let child = miroir_cmd(&[
        "dev",
        "--nodes",
        "3",
        "--meili-bin",
        fake.to_str().unwrap(),
        "--listen",
        &listen,
        "--shards",
        "16",
    ])
    .current_dir(&work)
    .stdout(Stdio::null())
    .stderr(std::fs::File::create(&stderr_path).unwrap())
    .spawn()
    .expect("spawn miroir dev");
    let mut dev = Reaper(child);
    let log = || read(&stderr_path);

    let up = wait_for(Duration::from_secs(40), || {
        if let Ok(Some(status)) = dev.0.try_wait() {
            panic!("miroir dev exited with {status}:\n{}", log());
        }
        http::get(&listen, "/health", &[])
            .ok()
            .filter(|r| r.status == 200)
    });
    assert!(up.is_some(), "miroir dev did not come up:\n{}", log());

    // The generated config: three nodes, the node key, the store under .miroir-dev.
    let dev_dir = work.join(".miroir-dev");
    let config: toml::Table = read(&dev_dir.join("miroir.toml"))
        .parse()
        .expect("config TOML");
    let nodes = config["nodes"].as_array().expect("[[nodes]]");
    assert_eq!(nodes.len(), 3, "{config}");
    let key = config["auth"]["node_master_key"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(key.len() >= 16, "node master key {key:?}");
    assert_eq!(config["server"]["listen"].as_str(), Some(listen.as_str()));
    assert_eq!(config["cluster"]["shards"].as_integer(), Some(16));
    let metrics = config["server"]["metrics_listen"].as_str().unwrap();
    assert!(metrics.parse::<std::net::SocketAddr>().is_ok(), "{metrics}");
    let store = config["store"]["path"].as_str().unwrap();
    assert!(Path::new(store).starts_with(&dev_dir), "store.path {store}");

    let mut pids = Vec::new();
    for (i, node) in nodes.iter().enumerate() {
        let id = format!("meili-{i}");
        assert_eq!(node["id"].as_str(), Some(id.as_str()));
        let address = node["address"].as_str().unwrap();
        let http_addr = address.strip_prefix("http://").unwrap();
        assert_eq!(http::get(http_addr, "/health", &[]).unwrap().status, 200);
        let node_dir = dev_dir.join(&id);
        let recorded: Value =
            serde_json::from_str(&read(&node_dir.join("data.ms/args.json"))).expect("args.json");
        let args: Vec<String> = serde_json::from_value(recorded["args"].clone()).unwrap();
        let flag = |name: &str| {
            args.iter()
                .position(|a| a == name)
                .map(|i| args[i + 1].clone())
        };
        assert_eq!(flag("--http-addr").as_deref(), Some(http_addr), "{args:?}");
        assert_eq!(
            flag("--master-key").as_deref(),
            Some(key.as_str()),
            "{args:?}"
        );
        assert_eq!(flag("--env").as_deref(), Some("development"), "{args:?}");
        assert!(args.iter().any(|a| a == "--no-analytics"), "{args:?}");
        assert!(
            Path::new(&flag("--db-path").unwrap()).starts_with(&node_dir),
            "{args:?}"
        );
        assert_eq!(
            recorded["cwd"].as_str().map(PathBuf::from),
            Some(node_dir.canonicalize().unwrap())
        );
        assert!(dev_dir.join(format!("{id}.log")).is_file());
        pids.push(read(&node_dir.join("data.ms/pid")));
    }
    let summary = log();
    assert!(summary.contains("3 Meilisearch nodes"), "{summary}");
    assert!(summary.contains(&format!("http://{listen}")), "{summary}");
    assert!(
        summary.contains(&format!("http://{metrics}/metrics")),
        "{summary}"
    );

    // `miroir ctl status` against it: the three nodes become active.
    let url = format!("http://{listen}");
    let table = wait_for(Duration::from_secs(15), || {
        let out = run(miroir_cmd(&["ctl", "--url", &url, "status"]));
        let table = text(&out.stdout);
        (out.status.success() && table.matches(" active ").count() >= 3).then_some(table)
    });
    assert!(table.is_some(), "nodes never all active:\n{}", log());

    // SIGTERM: Miroir shuts down, then the nodes are stopped with SIGTERM.
    let pid = dev.0.id() as libc::pid_t;
    // SAFETY: signalling our own child.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    let status = wait_for(Duration::from_secs(30), || dev.0.try_wait().ok().flatten())
        .unwrap_or_else(|| panic!("miroir dev did not exit after SIGTERM:\n{}", log()));
    for (i, node) in nodes.iter().enumerate() {
        let node_dir = dev_dir.join(format!("meili-{i}"));
        let stopped = wait_for(Duration::from_secs(5), || {
            node_dir.join("data.ms/stopped").is_file().then_some(())
        });
        assert!(
            stopped.is_some(),
            "meili-{i} (pid {}) got no SIGTERM:\n{}",
            pids[i],
            log()
        );
        let http_addr = node["address"]
            .as_str()
            .unwrap()
            .strip_prefix("http://")
            .unwrap();
        let closed = wait_for(Duration::from_secs(5), || {
            TcpStream::connect(http_addr).is_err().then_some(())
        });
        assert!(closed.is_some(), "meili-{i} still listens on {http_addr}");
    }
    assert!(
        status.success(),
        "miroir dev should exit 0 after a graceful SIGTERM shutdown, got {status}:\n{}",
        log()
    );
    assert!(
        log().contains("stopped 3 Meilisearch nodes"),
        "the nodes were not stopped by miroir dev itself:\n{}",
        log()
    );
}

// --- miroir ctl --------------------------------------------------------------

const ADMIN_KEY: &str = "ctl-admin-key-0123456789";

#[test]
fn ctl_status_shows_every_node_group_and_status() {
    let mut nodes = start_nodes(3, NODE_KEY);
    nodes[2].stop();
    // node-0 alone in group 0, node-1 and node-2 in group 1.
    let rest = format!(
        "[auth]\nnode_master_key = \"{NODE_KEY}\"\nadmin_key = \"{ADMIN_KEY}\"\n[cluster]\nshards = 16\nreplication_factor = 1\n{FAST_HEALTH}{}",
        nodes_toml(&nodes, |i| u32::from(i > 0))
    );
    let miroir = Miroir::start("", &rest);
    let url = format!("http://{}", miroir.addr);
    let settled = wait_for(Duration::from_secs(10), || {
        let topo = miroir
            .get(
                "/_miroir/topology",
                &[("authorization", &format!("Bearer {ADMIN_KEY}"))],
            )
            .json();
        let status = |i: usize| topo["nodes"][i]["status"].as_str().unwrap_or("").to_owned();
        (status(0) == "active" && status(1) == "active" && status(2) == "failed").then_some(())
    });
    assert!(
        settled.is_some(),
        "topology never settled:\n{}",
        miroir.log()
    );

    let out = run(miroir_cmd(&[
        "ctl",
        "--url",
        &url,
        "--admin-key",
        ADMIN_KEY,
        "status",
    ]));
    let table = text(&out.stdout);
    assert!(out.status.success(), "{}\n{table}", text(&out.stderr));
    let header = table.lines().next().unwrap();
    for part in [
        "shards: 16",
        "replication factor: 1",
        "groups: 2",
        "degraded nodes: 1",
        "fully covered: yes",
    ] {
        assert!(header.contains(part), "no `{part}` in {header:?}");
    }
    assert!(
        table
            .lines()
            .any(|l| l.starts_with("ID ") && l.contains("LAST SEEN")),
        "{table}"
    );
    let row = |id: &str| -> Vec<String> {
        table
            .lines()
            .find(|l| l.split_whitespace().next() == Some(id))
            .unwrap_or_else(|| panic!("no row for {id}:\n{table}"))
            .split_whitespace()
            .map(str::to_owned)
            .collect()
    };
    // ID ADDRESS GROUP STATUS SHARDS LAST-SEEN(2 words) ERROR...
    for (i, (group, status)) in [("0", "active"), ("1", "active"), ("1", "failed")]
        .into_iter()
        .enumerate()
    {
        let cells = row(&format!("node-{i}"));
        assert_eq!(cells[1], nodes[i].url(), "{table}");
        assert_eq!(cells[2], group, "{table}");
        assert_eq!(cells[3], status, "{table}");
        assert!(cells[4].parse::<u32>().is_ok(), "{table}");
        if status == "active" {
            assert!(cells[5].ends_with('s') && cells[6] == "ago", "{table}");
            assert_eq!(cells[7], "-", "{table}");
        } else {
            assert_eq!(cells[5], "never", "{table}");
            assert!(
                cells.len() > 6 && cells[6] != "-",
                "an error for {status}: {table}"
            );
        }
    }
    assert!(
        table
            .lines()
            .any(|l| l.split_whitespace().collect::<Vec<_>>() == ["0", "active", "node-0"]),
        "{table}"
    );
    assert!(
        table
            .lines()
            .any(|l| l.split_whitespace().collect::<Vec<_>>()
                == ["1", "active", "node-1,", "node-2"]),
        "{table}"
    );

    // The key from the environment works the same.
    let out = run(miroir_cmd(&["ctl", "status"])
        .env("MIROIR_URL", &url)
        .env("MIROIR_ADMIN_API_KEY", ADMIN_KEY));
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout).lines().count(), table.lines().count());

    // A wrong key: 403 and what to check.
    let out = run_failing(miroir_cmd(&[
        "ctl",
        "--url",
        &url,
        "--admin-key",
        "wrong",
        "status",
    ]));
    let err = text(&out.stderr);
    assert!(err.contains("403 invalid_api_key"), "{err}");
    assert!(err.contains("admin key was rejected"), "{err}");
    assert!(err.contains("--admin-key"), "{err}");
    assert!(out.stdout.is_empty());

    // No key: 401 and where to put one.
    let out = run_failing(miroir_cmd(&["ctl", "--url", &url, "status"]));
    let err = text(&out.stderr);
    assert!(err.contains("401 missing_authorization_header"), "{err}");
    assert!(err.contains("MIROIR_ADMIN_API_KEY"), "{err}");
}

#[test]
fn ctl_says_when_miroir_is_not_running() {
    let url = format!("http://127.0.0.1:{}", free_port());
    let out = run_failing(miroir_cmd(&["ctl", "--url", &url, "status"]));
    let err = text(&out.stderr);
    assert!(err.contains("connection refused"), "{err}");
    assert!(err.contains("Is Miroir running"), "{err}");

    let out = run_failing(miroir_cmd(&[
        "ctl",
        "--url",
        "https://example.com",
        "status",
    ]));
    assert!(text(&out.stderr).contains("https is not supported"));
}

/// A one-purpose HTTP server: answers each request from `answer(path)` with a
/// raw response and records the request heads.
fn stub_server(answer: fn(&str) -> Vec<u8>) -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
            let mut head = Vec::new();
            let mut byte = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") {
                match stream.read(&mut byte) {
                    Ok(1) => head.push(byte[0]),
                    _ => break,
                }
            }
            let head = text(&head);
            let path = head.split_whitespace().nth(1).unwrap_or("").to_owned();
            record.lock().unwrap().push(head);
            let _ = stream.write_all(&answer(&path));
        }
    });
    (addr, seen)
}

fn task_answer(path: &str) -> Vec<u8> {
    if path == "/tasks/7" {
        let body = json!({"uid": 7, "indexUid": "movies", "status": "succeeded", "type": "documentAdditionOrUpdate"})
            .to_string();
        let (a, b) = body.split_at(10);
        format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n{:x}\r\n{a}\r\n{:x}\r\n{b}\r\n0\r\n\r\n",
            a.len(),
            b.len()
        )
        .into_bytes()
    } else {
        let id = path.rsplit('/').next().unwrap_or("");
        let body = json!({
            "message": format!("Task `{id}` not found."),
            "code": "task_not_found",
            "type": "invalid_request",
            "link": "https://docs.meilisearch.com/errors#task_not_found"
        })
        .to_string();
        format!(
            "HTTP/1.1 404 Not Found\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        )
        .into_bytes()
    }
}

#[test]
fn ctl_task_prints_the_task_or_the_meilisearch_error() {
    let (addr, seen) = stub_server(task_answer);
    let url = format!("http://{addr}");

    let out = run(miroir_cmd(&[
        "ctl",
        "--url",
        &url,
        "--admin-key",
        ADMIN_KEY,
        "task",
        "7",
    ]));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let printed = text(&out.stdout);
    assert!(printed.lines().count() > 3, "pretty-printed: {printed}");
    let task: Value = serde_json::from_str(&printed).unwrap();
    assert_eq!(task["uid"], 7);
    assert_eq!(task["status"], "succeeded");
    let head = seen.lock().unwrap().last().cloned().unwrap();
    assert!(head.starts_with("GET /tasks/7 HTTP/1.1\r\n"), "{head}");
    assert!(
        head.to_ascii_lowercase().contains(&format!(
            "authorization: bearer {}",
            ADMIN_KEY.to_ascii_lowercase()
        )),
        "{head}"
    );

    // --api-key wins over the admin key for task routes.
    let out = run(miroir_cmd(&["ctl", "task", "7", "--api-key", "client-key"])
        .env("MIROIR_URL", &url)
        .env("MIROIR_ADMIN_API_KEY", ADMIN_KEY));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let head = seen.lock().unwrap().last().cloned().unwrap();
    assert!(head.contains("Bearer client-key\r\n"), "{head}");

    let out = run_failing(miroir_cmd(&["ctl", "--url", &url, "task", "8"]));
    let err = text(&out.stderr);
    assert!(err.contains("Task `8` not found."), "{err}");
    assert!(err.contains("404 task_not_found"), "{err}");
    assert!(out.stdout.is_empty());
}

#[test]
fn ctl_task_rejects_a_non_numeric_uid() {
    let out = run_failing(miroir_cmd(&["ctl", "task", "latest"]));
    assert!(text(&out.stderr).contains("latest"));
}
