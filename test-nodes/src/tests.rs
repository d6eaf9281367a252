use std::io::{Cursor, ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::http::{self, Response};
use crate::server::{VERSION_COMMIT_SHA, VERSION_PKG};
use crate::wire::{percent_decode, Incoming, WireError};
use crate::{fixture, fixtures_dir, Fault, Node, RealNode, TestNode, MEILISEARCH_BIN};

const KEY: &str = "testMasterKey-0123456789";
const BEARER: &str = "Bearer testMasterKey-0123456789";

fn raw(node: &TestNode) -> TcpStream {
    let s = TcpStream::connect(node.addr()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s
}

fn read_one(incoming: &mut Incoming<&TcpStream>) -> Response {
    http::read_response(incoming, false).unwrap()
}

/// Status, content-type and body as the fixture recorded them (`body: null` = empty body).
fn assert_matches_fixture(resp: &Response, name: &str) {
    let fx = fixture(name);
    let expected = &fx["response"];
    assert_eq!(u64::from(resp.status), expected["status"], "{name}: status");
    assert_eq!(
        resp.header("content-type"),
        expected["headers"]["content-type"].as_str(),
        "{name}: content-type"
    );
    if expected["body"].is_null() {
        assert!(resp.body.is_empty(), "{name}: body {:?}", resp.text());
    } else {
        assert_eq!(resp.json(), expected["body"], "{name}: body");
    }
}

fn object_keys(v: &Value) -> Vec<String> {
    let mut keys: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
    keys.sort();
    keys
}

#[test]
fn fixtures_dir_resolves() {
    assert!(
        fixtures_dir().join("README.md").is_file(),
        "{}",
        fixtures_dir().display()
    );
    assert_eq!(fixture("001")["request"]["path"], "/health");
}

#[test]
fn health_matches_fixtures() {
    let node = TestNode::start(Some(KEY));
    let resp = http::get(&node.url(), "/health", &[]).unwrap();
    assert_matches_fixture(&resp, "001-health");
    // /health ignores a wrong key
    let resp = http::get(&node.url(), "/health", &[("Authorization", "Bearer nope")]).unwrap();
    assert_matches_fixture(&resp, "005-health-bad-key");
}

#[test]
fn version_matches_fixture_shape() {
    let node = TestNode::start(Some(KEY));
    let resp = http::get(&node.url(), "/version", &[("Authorization", BEARER)]).unwrap();
    let fx = fixture("002-version");
    assert_eq!(u64::from(resp.status), fx["response"]["status"]);
    assert_eq!(
        resp.header("content-type"),
        fx["response"]["headers"]["content-type"].as_str()
    );
    let body = resp.json();
    let expected = &fx["response"]["body"];
    assert_eq!(object_keys(&body), object_keys(expected));
    assert_eq!(body["pkgVersion"], expected["pkgVersion"]);
    assert_eq!(body["pkgVersion"], VERSION_PKG);
    assert_eq!(body["commitSha"], VERSION_COMMIT_SHA);
    let date = body["commitDate"].as_str().unwrap();
    let expected_date = expected["commitDate"].as_str().unwrap();
    assert_eq!(date.len(), expected_date.len());
    assert!(date.ends_with('Z') && date.as_bytes()[10] == b'T');
}

#[test]
fn auth_errors_match_fixtures() {
    let node = TestNode::start(Some(KEY));
    // The fixtures were recorded on GET /indexes; /version is protected the same way.
    let resp = http::get(&node.url(), "/version", &[]).unwrap();
    assert_matches_fixture(&resp, "003-indexes-no-auth");
    let resp = http::get(&node.url(), "/version", &[("Authorization", "Bearer nope")]).unwrap();
    assert_matches_fixture(&resp, "004-indexes-bad-key");
    // Not the bearer scheme → treated as missing, like Meilisearch.
    let resp = http::get(&node.url(), "/version", &[("Authorization", KEY)]).unwrap();
    assert_eq!(resp.status, 401);
    assert_eq!(resp.json()["code"], "missing_authorization_header");
    let resp = http::get(&node.url(), "/version", &[("authorization", BEARER)]).unwrap();
    assert_eq!(resp.status, 200);

    // Without a master key nothing is checked.
    let open = TestNode::start(None);
    let resp = http::get(&open.url(), "/version", &[]).unwrap();
    assert_eq!(resp.status, 200);
    let resp = http::get(&open.url(), "/version", &[("Authorization", "Bearer x")]).unwrap();
    assert_eq!(resp.status, 200);
}

#[test]
fn unknown_route_is_404_with_empty_body() {
    let node = TestNode::start(Some(KEY));
    let resp = http::get(&node.url(), "/no-such-route", &[("Authorization", BEARER)]).unwrap();
    assert_matches_fixture(&resp, "006-route-not-found");
    assert_eq!(resp.header("content-type"), None);
    // Routing comes before authentication.
    let resp = http::get(&node.url(), "/no-such-route", &[]).unwrap();
    assert_eq!((resp.status, resp.body.len()), (404, 0));
    let resp = http::get(&node.url(), "/health/", &[]).unwrap();
    assert_eq!(resp.status, 404);
}

#[test]
fn wrong_method_is_405_with_allow() {
    let node = TestNode::start(Some(KEY));
    let fx = fixture("190-error-method-not-allowed");
    let resp = http::request(
        &node.url(),
        "PUT",
        "/version",
        &[
            ("Authorization", BEARER),
            ("Content-Type", "application/json"),
        ],
        Some(br#"{"q":"x"}"#),
    )
    .unwrap();
    assert_eq!(u64::from(resp.status), fx["response"]["status"]);
    assert!(fx["response"]["body"].is_null() && resp.body.is_empty());
    assert_eq!(object_keys(&fx["response"]["headers"]), vec!["allow"]);
    assert_eq!(resp.header("allow"), Some("GET"));
    assert_eq!(resp.header("content-type"), None);
    // Also before authentication.
    let resp = http::request(&node.url(), "POST", "/health", &[], None).unwrap();
    assert_eq!((resp.status, resp.header("allow")), (405, Some("GET")));
}

#[test]
fn down_refuses_and_none_rebinds_the_same_port() {
    let node = TestNode::start(None);
    let addr = node.addr();
    assert_eq!(http::get(&node.url(), "/health", &[]).unwrap().status, 200);

    // An open keep-alive connection...
    let conn = raw(&node);
    (&conn)
        .write_all(b"GET /health HTTP/1.1\r\nhost: x\r\n\r\n")
        .unwrap();
    let mut incoming = Incoming::new(&conn);
    assert_eq!(read_one(&mut incoming).status, 200);

    node.set_fault(Fault::Down);
    assert_eq!(node.fault(), Fault::Down);
    // ...is dropped,
    let mut buf = [0u8; 16];
    match (&conn).read(&mut buf) {
        Ok(0) => {}
        Ok(n) => panic!("read {n} bytes from a down node"),
        Err(e) => assert!(
            matches!(e.kind(), ErrorKind::ConnectionReset | ErrorKind::BrokenPipe),
            "{e}"
        ),
    }
    // and new connections are refused.
    let err = TcpStream::connect(addr).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ConnectionRefused);
    assert!(http::get(&node.url(), "/health", &[]).is_err());
    assert_eq!(node.requests_seen("GET", "/health"), 2);

    node.set_fault(Fault::None);
    assert_eq!(node.addr(), addr);
    let resp = http::get(&format!("http://{addr}"), "/health", &[]).unwrap();
    assert_eq!(resp.status, 200);
    assert_eq!(node.requests_seen("GET", "/health"), 3);

    // Down twice / up twice are harmless.
    node.set_fault(Fault::Down);
    node.set_fault(Fault::Down);
    node.set_fault(Fault::None);
    node.set_fault(Fault::None);
    assert_eq!(http::get(&node.url(), "/health", &[]).unwrap().status, 200);
}

#[test]
fn delay_delays_every_response() {
    let node = TestNode::start(None);
    node.set_fault(Fault::Delay(Duration::from_millis(300)));
    for path in ["/health", "/nope"] {
        let t = Instant::now();
        let resp = http::get(&node.url(), path, &[]).unwrap();
        assert!(t.elapsed() >= Duration::from_millis(300), "{path}");
        assert!(resp.status == 200 || resp.status == 404);
    }
    node.set_fault(Fault::None);
    let t = Instant::now();
    assert_eq!(http::get(&node.url(), "/health", &[]).unwrap().status, 200);
    assert!(t.elapsed() < Duration::from_millis(300));
}

#[test]
fn error_fault_answers_status_with_meilisearch_error() {
    let node = TestNode::start(Some(KEY));
    node.set_fault(Fault::Error(500));
    for path in ["/health", "/version", "/no-such-route"] {
        let resp = http::get(&node.url(), path, &[]).unwrap();
        assert_eq!(resp.status, 500, "{path}");
        assert_eq!(resp.header("content-type"), Some("application/json"));
        let body = resp.json();
        assert_eq!(object_keys(&body), ["code", "link", "message", "type"]);
        assert_eq!(body["code"], "internal");
        assert_eq!(body["type"], "internal");
        assert_eq!(body["link"], "https://docs.meilisearch.com/errors#internal");
        assert!(body["message"].is_string());
    }
    node.set_fault(Fault::Error(503));
    assert_eq!(http::get(&node.url(), "/health", &[]).unwrap().status, 503);
    node.set_fault(Fault::DropWrites);
    assert_eq!(node.fault(), Fault::DropWrites);
    assert_eq!(http::get(&node.url(), "/health", &[]).unwrap().status, 200);
}

#[test]
fn keep_alive_serves_several_requests_on_one_connection() {
    let node = TestNode::start(Some(KEY));
    let conn = raw(&node);
    let mut incoming = Incoming::new(&conn);
    (&conn)
        .write_all(b"GET /health HTTP/1.1\r\nhost: x\r\n\r\n")
        .unwrap();
    let first = read_one(&mut incoming);
    assert_eq!(first.status, 200);
    assert_eq!(first.header("connection"), None);
    let second = format!("GET /version HTTP/1.1\r\nhost: x\r\nauthorization: {BEARER}\r\n\r\n");
    (&conn).write_all(second.as_bytes()).unwrap();
    assert_eq!(read_one(&mut incoming).json()["pkgVersion"], VERSION_PKG);

    // Pipelined in one write.
    (&conn)
        .write_all(b"GET /health HTTP/1.1\r\nhost: x\r\n\r\nGET /nope HTTP/1.1\r\nhost: x\r\n\r\n")
        .unwrap();
    assert_eq!(read_one(&mut incoming).status, 200);
    assert_eq!(read_one(&mut incoming).status, 404);

    // Connection: close is honoured.
    (&conn)
        .write_all(b"GET /health HTTP/1.1\r\nhost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let last = read_one(&mut incoming);
    assert_eq!(last.status, 200);
    assert_eq!(last.header("connection"), Some("close"));
    assert_eq!(incoming.fill().unwrap(), 0, "connection should be closed");
    assert_eq!(node.requests_seen("GET", "/"), 5);
    assert_eq!(node.requests_seen("*", "/health"), 3);
}

#[test]
fn http10_closes_unless_keep_alive() {
    let node = TestNode::start(None);
    let conn = raw(&node);
    let mut incoming = Incoming::new(&conn);
    (&conn).write_all(b"GET /health HTTP/1.0\r\n\r\n").unwrap();
    assert_eq!(read_one(&mut incoming).status, 200);
    assert_eq!(incoming.fill().unwrap(), 0);
}

#[test]
fn chunked_request_body_is_read() {
    let node = TestNode::start(None);
    let conn = raw(&node);
    let mut incoming = Incoming::new(&conn);
    // A chunked body (with an extension and a trailer) followed by a second request: if the
    // body were not consumed exactly, the second request would not parse.
    (&conn)
        .write_all(
            b"POST /health HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n\
              5;ext=1\r\nhello\r\n7\r\n, world\r\n0\r\ntrailer: yes\r\n\r\n\
              GET /health HTTP/1.1\r\nhost: x\r\n\r\n",
        )
        .unwrap();
    assert_eq!(read_one(&mut incoming).status, 405);
    assert_eq!(read_one(&mut incoming).status, 200);

    // Sent in pieces, with Expect: 100-continue.
    (&conn)
        .write_all(
            b"POST /health HTTP/1.1\r\nhost: x\r\nexpect: 100-continue\r\ntransfer-encoding: chunked\r\n\r\n",
        )
        .unwrap();
    for piece in [&b"3\r\nab"[..], b"c\r\n", b"0\r\n", b"\r\n"] {
        thread::sleep(Duration::from_millis(5));
        (&conn).write_all(piece).unwrap();
    }
    // read_response skips the interim 100 Continue.
    assert_eq!(read_one(&mut incoming).status, 405);
    assert_eq!(node.requests_seen("POST", "/health"), 2);

    // Through the client, passing the framing header explicitly.
    let resp = http::request(
        &node.url(),
        "POST",
        "/health",
        &[("transfer-encoding", "chunked")],
        Some(b"4\r\nabcd\r\n0\r\n\r\n"),
    )
    .unwrap();
    assert_eq!(resp.status, 405);
}

#[test]
fn chunked_decoder() {
    let mut inc = Incoming::new(Cursor::new(
        b"4\r\nWiki\r\n5;name=value\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n0\r\nX-T: 1\r\n\r\nrest"
            .to_vec(),
    ));
    assert_eq!(
        inc.read_chunked(1 << 20).unwrap(),
        b"Wikipedia in\r\n\r\nchunks.".to_vec()
    );
    assert_eq!(inc.data(), b"rest");

    let decode =
        |bytes: &[u8], limit| Incoming::new(Cursor::new(bytes.to_vec())).read_chunked(limit);
    assert!(matches!(
        decode(b"zz\r\n", 100),
        Err(WireError::Malformed(_))
    ));
    assert!(matches!(decode(b"\r\n", 100), Err(WireError::Malformed(_))));
    assert!(matches!(
        decode(b"ffffffffffffffffffff\r\n", 100),
        Err(WireError::Malformed(_))
    ));
    assert!(matches!(
        decode(b"3\r\nabcX\r\n", 100),
        Err(WireError::Malformed(_))
    ));
    assert!(matches!(decode(b"3\r\nab", 100), Err(WireError::Eof)));
    assert!(matches!(decode(b"65\r\n", 100), Err(WireError::TooLarge)));
    assert_eq!(decode(b"0\r\n\r\n", 0).unwrap(), b"");
}

#[test]
fn odd_input_does_not_break_the_node() {
    let node = TestNode::start(Some(KEY));
    let send = |bytes: &[u8]| -> Response {
        let conn = raw(&node);
        (&conn).write_all(bytes).unwrap();
        read_one(&mut Incoming::new(&conn))
    };
    assert_eq!(send(b"\x00\x01garbage\r\n\r\n").status, 400);
    assert_eq!(
        send(b"POST /health HTTP/1.1\r\ncontent-length: abc\r\n\r\n").status,
        400
    );
    assert_eq!(
        send(b"POST /health HTTP/1.1\r\ncontent-length: 1\r\ncontent-length: 2\r\n\r\n").status,
        400
    );
    assert_eq!(
        send(b"POST /health HTTP/1.1\r\ntransfer-encoding: gzip\r\n\r\n").status,
        400
    );
    assert_eq!(
        send(b"POST /health HTTP/1.1\r\ntransfer-encoding: chunked\r\n\r\nxyz\r\n").status,
        400
    );
    let too_large = send(b"POST /health HTTP/1.1\r\ncontent-length: 100000001\r\n\r\n");
    assert_eq!(too_large.status, 413);
    assert_eq!(too_large.json()["code"], "payload_too_large");
    let big_head = format!("GET /health HTTP/1.1\r\nx: {}\r\n\r\n", "a".repeat(70_000));
    assert_eq!(send(big_head.as_bytes()).status, 431);
    // Odd targets and percent-escapes.
    assert_eq!(send(b"GET * HTTP/1.1\r\n\r\n").status, 404);
    assert_eq!(send(b"GET /%68ealth HTTP/1.1\r\n\r\n").status, 200);
    assert_eq!(send(b"GET /health%ZZ HTTP/1.1\r\n\r\n").status, 404);
    assert_eq!(send(b"GET /health?x=%FF HTTP/1.1\r\n\r\n").status, 200);
    // Client hanging up mid-request.
    {
        let conn = raw(&node);
        (&conn)
            .write_all(b"POST /health HTTP/1.1\r\ncontent-length: 10\r\n\r\nabc")
            .unwrap();
    }
    assert_eq!(http::get(&node.url(), "/health", &[]).unwrap().status, 200);
}

#[test]
fn requests_seen_counts_by_method_and_path_prefix() {
    let node = TestNode::start(Some(KEY));
    http::get(&node.url(), "/health?x=1", &[]).unwrap();
    http::get(&node.url(), "/version", &[]).unwrap(); // 401 still counts
    http::request(&node.url(), "POST", "/health", &[], Some(b"{}")).unwrap();
    assert_eq!(node.requests_seen("GET", "/health"), 1);
    assert_eq!(node.requests_seen("GET", "/"), 2);
    assert_eq!(node.requests_seen("POST", "/"), 1);
    assert_eq!(node.requests_seen("*", ""), 3);
    assert_eq!(node.requests_seen("DELETE", "/"), 0);
    assert_eq!(
        node.last_body("POST", "/health").as_deref(),
        Some(&b"{}"[..])
    );
    assert_eq!(node.last_body("GET", "/health").as_deref(), Some(&b""[..]));
    assert_eq!(node.last_body("POST", "/version"), None);
}

#[test]
fn client_decodes_chunked_and_close_delimited_responses() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let server = thread::spawn(move || {
        let replies: [&[u8]; 2] = [
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Type: application/json\r\n\r\n\
              7\r\n{\"a\": \r\n2\r\n1}\r\n0\r\n\r\n",
            b"HTTP/1.1 201 Created\r\nX-Thing: y\r\n\r\nuntil close",
        ];
        for reply in replies {
            let (mut s, _) = listener.accept().unwrap();
            let mut inc = Incoming::new(&s);
            while !inc.data().windows(4).any(|w| w == b"\r\n\r\n") {
                inc.fill().unwrap();
            }
            s.write_all(reply).unwrap();
        }
    });
    let resp = http::get(&addr, "/", &[]).unwrap();
    assert_eq!(resp.status, 200);
    assert_eq!(resp.json(), json!({"a": 1}));
    assert_eq!(resp.header("Content-Type"), Some("application/json"));
    let resp = http::get(&format!("http://{addr}/ignored"), "/", &[]).unwrap();
    assert_eq!(resp.status, 201);
    assert_eq!(resp.text(), "until close");
    assert_eq!(resp.header("x-thing"), Some("y"));
    server.join().unwrap();
}

#[test]
#[should_panic(expected = "not JSON")]
fn response_json_panics_with_body() {
    Response {
        status: 200,
        headers: vec![],
        body: b"nope".to_vec(),
    }
    .json();
}

#[test]
fn percent_decoding() {
    assert_eq!(percent_decode("a%20b+c", false), "a b+c");
    assert_eq!(percent_decode("a%20b+c", true), "a b c");
    assert_eq!(percent_decode("%zz%4", false), "%zz%4");
    assert_eq!(percent_decode("%C3%A9", false), "é");
}

#[test]
fn node_start_gives_a_double_without_meilisearch_bin() {
    let mut node = Node::start(KEY);
    if std::env::var_os(MEILISEARCH_BIN).is_some_and(|v| !v.is_empty()) {
        assert!(node.is_real());
        return;
    }
    assert!(!node.is_real());
    assert!(node.double().is_some());
    let url = node.url();
    assert_eq!(http::get(&url, "/health", &[]).unwrap().status, 200);
    assert_eq!(http::get(&url, "/version", &[]).unwrap().status, 401);
    node.stop();
    assert!(http::get(&url, "/health", &[]).is_err());
    node.restart();
    assert_eq!(http::get(&url, "/health", &[]).unwrap().status, 200);
    assert!(node.set_fault(Fault::Error(500)).is_ok());
    assert_eq!(http::get(&url, "/health", &[]).unwrap().status, 500);

    let nodes = crate::start_nodes(3, KEY);
    assert_eq!(nodes.len(), 3);
    let mut urls: Vec<String> = nodes.iter().map(Node::url).collect();
    urls.dedup();
    assert_eq!(urls.len(), 3);
}

/// Exercises the real-node harness (spawn, health wait, kill, respawn on the same port with the
/// same directory, cleanup) with a stand-in "meilisearch" written in Python, if python3 exists.
#[test]
fn real_node_harness_with_a_stand_in_binary() {
    let Ok(out) = std::process::Command::new("python3")
        .args(["-c", "import sys; print(sys.executable)"])
        .output()
    else {
        eprintln!("python3 not available; skipped");
        return;
    };
    let python = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    if python.is_empty() {
        eprintln!("python3 not usable; skipped");
        return;
    }
    let bin_dir = tempfile::tempdir().unwrap();
    let bin = bin_dir.path().join("fake-meilisearch");
    let script = format!(
        r#"#!{python}
import json, os, sys, http.server
args = sys.argv[1:]
opt = lambda name: args[args.index(name) + 1] if name in args else None
host, port = opt("--http-addr").rsplit(":", 1)
db = opt("--db-path")
os.makedirs(db, exist_ok=True)
with open(os.path.join(db, "starts"), "a") as f:
    f.write("x")
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        starts = len(open(os.path.join(db, "starts")).read())
        body = json.dumps({{"status": "available", "starts": starts, "args": args}}).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass
http.server.HTTPServer.allow_reuse_address = True
print("fake meilisearch listening", flush=True)
http.server.HTTPServer((host, int(port)), H).serve_forever()
"#
    );
    std::fs::write(&bin, script).unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    let mut node = RealNode::start(&bin, KEY);
    let url = node.url();
    let dir = node.dir().to_owned();
    let body = http::get(&url, "/health", &[]).unwrap().json();
    assert_eq!(body["starts"], 1);
    let args: Vec<String> = serde_json::from_value(body["args"].clone()).unwrap();
    for flag in [
        "--db-path",
        "--http-addr",
        "--master-key",
        "--no-analytics",
        "--env",
        "--dump-dir",
        "--snapshot-dir",
    ] {
        assert!(args.iter().any(|a| a == flag), "{flag} missing in {args:?}");
    }
    assert!(args.contains(&KEY.to_owned()) && args.contains(&"development".to_owned()));

    node.stop();
    assert!(http::get(&url, "/health", &[]).is_err());
    node.restart();
    assert_eq!(node.url(), url);
    assert_eq!(http::get(&url, "/health", &[]).unwrap().json()["starts"], 2);
    assert!(std::fs::read_to_string(node.log_path())
        .unwrap()
        .contains("fake meilisearch listening"));

    let as_node = Node::Real(node);
    assert!(as_node.is_real());
    assert!(as_node.set_fault(Fault::None).is_ok());
    assert_eq!(
        as_node.set_fault(Fault::Down),
        Err("fault injection needs the test double".to_owned())
    );
    drop(as_node);
    assert!(http::get(&url, "/health", &[]).is_err());
    assert!(!dir.exists());
}
