//! The Meilisearch **test double**: a small in-process HTTP/1.1 server that answers a subset of
//! the Meilisearch v1.50 API with the shapes recorded in `shared/meili-v1.50/`, plus fault
//! injection. It is not Meilisearch and does not try to be one beyond what tests need.
//!
//! Layout:
//! * transport: accept loop ([`accept_loop`]), one thread per connection ([`serve_conn`]),
//!   keep-alive, `Content-Length` and chunked request bodies;
//! * [`Inner::handle`]: request accounting and fault injection, then [`dispatch`];
//! * [`ROUTES`]: the route table, the one place where (method, path pattern) → handler is
//!   declared; handlers get the shared node state ([`Inner`]), the request and the path params.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::wire::{percent_decode, Incoming, WireError};

/// Largest request head (request line + headers) accepted; larger → 431.
const MAX_HEAD: usize = 64 * 1024;
const MAX_HEADERS: usize = 100;
/// Largest request body accepted; larger → 413 `payload_too_large`. Same as Meilisearch's
/// default `--http-payload-size-limit` (100 MB).
const MAX_BODY: usize = 100_000_000;
const MAX_BODY_TEXT: &str = "100 MB";
const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

/// What the test double answers as `/version`.
pub(crate) const VERSION_COMMIT_SHA: &str = "test-double";
pub(crate) const VERSION_COMMIT_DATE: &str = "2026-07-23T14:39:41.000000000Z";
pub(crate) const VERSION_PKG: &str = "1.50.0";

/// Fault injected into a [`TestNode`].
#[derive(Clone, Debug, PartialEq)]
pub enum Fault {
    /// Behave normally.
    None,
    /// The listener is closed and open connections are shut down: connections are refused.
    /// `set_fault` with any other fault re-binds the **same** port.
    Down,
    /// Every response is delayed by this much (slept per request before answering).
    Delay(Duration),
    /// Every request, on every route including `/health` and unknown paths, is answered with this
    /// status and a Meilisearch-shaped `{"message","code":"internal","type":"internal","link"}` body.
    Error(u16),
    /// Write routes answer as if accepted (202 summarized task) but store nothing.
    DropWrites,
}

/// Meilisearch **test double** (not Meilisearch): an HTTP/1.1 server on `127.0.0.1`, started
/// in-process, answering the Meilisearch API shapes recorded from v1.50, with fault injection.
///
/// Routes so far: `GET /health`, `GET /version`; unknown paths → 404 with an empty body, known
/// paths with another method → 405 with an empty body and an `allow` header. With a master key,
/// every route but `/health` needs `Authorization: Bearer <master key>` (401 / 403 like
/// Meilisearch). Stopped (port released, connections closed) when dropped.
pub struct TestNode {
    inner: Arc<Inner>,
    accept_thread: Option<JoinHandle<()>>,
}

impl TestNode {
    /// Starts a test double on `127.0.0.1:<free port>`. `master_key: None` = no authentication.
    pub fn start(master_key: Option<&str>) -> TestNode {
        let listener = TcpListener::bind("127.0.0.1:0").expect("test double: bind 127.0.0.1:0");
        listener
            .set_nonblocking(true)
            .expect("test double: nonblocking listener");
        let addr = listener.local_addr().expect("test double: local_addr");
        let inner = Arc::new(Inner {
            addr,
            master_key: master_key.map(str::to_owned),
            fault: Mutex::new(Fault::None),
            state: Mutex::new(State::default()),
            listener: Mutex::new(Some(listener)),
            conns: Mutex::new(HashMap::new()),
            next_conn: AtomicU64::new(0),
            shutdown: AtomicBool::new(false),
        });
        let for_thread = Arc::clone(&inner);
        let accept_thread = thread::Builder::new()
            .name(format!("test-node-{}-accept", addr.port()))
            .spawn(move || accept_loop(for_thread))
            .expect("test double: spawn accept thread");
        TestNode {
            inner,
            accept_thread: Some(accept_thread),
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.inner.addr
    }

    /// `"http://127.0.0.1:PORT"`.
    pub fn url(&self) -> String {
        format!("http://{}", self.inner.addr)
    }

    /// Injects a fault (or clears it with [`Fault::None`]). Takes effect for the next request;
    /// `Down` closes the listener and all open connections before returning, and leaving `Down`
    /// re-binds the same port before returning.
    pub fn set_fault(&self, fault: Fault) {
        if fault == Fault::Down {
            *lock(&self.inner.fault) = Fault::Down;
            self.inner.go_down();
        } else {
            *lock(&self.inner.fault) = fault;
            self.inner.go_up();
        }
    }

    /// The fault currently injected.
    pub fn fault(&self) -> Fault {
        self.inner.fault()
    }

    /// How many requests this node received (parsed, whatever the answer; refused connections do
    /// not count) with this method (`"*"` = any) and a path (query string excluded) starting with
    /// `path_prefix`.
    pub fn requests_seen(&self, method: &str, path_prefix: &str) -> usize {
        lock(&self.inner.state)
            .seen
            .iter()
            .filter(|((m, p), _)| (method == "*" || m == method) && p.starts_with(path_prefix))
            .map(|(_, n)| n)
            .sum()
    }
}

impl Drop for TestNode {
    fn drop(&mut self) {
        self.inner.shutdown.store(true, Ordering::SeqCst);
        self.inner.go_down();
        if let Some(t) = self.accept_thread.take() {
            let _ = t.join();
        }
    }
}

/// Locks, ignoring poisoning (a panicking handler must not take the whole node down).
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Node data. Indexes, documents and tasks go here as routes are added.
#[derive(Default)]
pub(crate) struct State {
    /// (method, path without query) → number of requests received.
    seen: HashMap<(String, String), usize>,
}

/// Everything shared between the node handle, the accept loop and the connection threads.
pub(crate) struct Inner {
    addr: SocketAddr,
    master_key: Option<String>,
    fault: Mutex<Fault>,
    state: Mutex<State>,
    /// `None` while [`Fault::Down`]. Lock order: `listener`, then `conns`.
    listener: Mutex<Option<TcpListener>>,
    /// Clones of open connections, so that `Down` / drop can shut them down.
    conns: Mutex<HashMap<u64, TcpStream>>,
    next_conn: AtomicU64,
    shutdown: AtomicBool,
}

impl Inner {
    fn fault(&self) -> Fault {
        lock(&self.fault).clone()
    }

    fn go_down(&self) {
        let mut listener = lock(&self.listener);
        drop(listener.take());
        for (_, conn) in lock(&self.conns).drain() {
            let _ = conn.shutdown(Shutdown::Both);
        }
    }

    fn go_up(&self) {
        let mut listener = lock(&self.listener);
        if listener.is_some() {
            return;
        }
        // std sets SO_REUSEADDR, so TIME_WAIT leftovers do not block the re-bind; retry anyway in
        // case a connection thread still holds a socket for a moment.
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            match TcpListener::bind(self.addr) {
                Ok(l) => {
                    l.set_nonblocking(true)
                        .expect("test double: nonblocking listener");
                    *listener = Some(l);
                    return;
                }
                Err(e) if Instant::now() < deadline => {
                    let _ = e;
                    thread::sleep(Duration::from_millis(20));
                }
                Err(e) => panic!("test double: cannot re-bind {}: {e}", self.addr),
            }
        }
    }

    /// Registers and serves an accepted connection. Called with the listener lock held, so that
    /// a concurrent `go_down` sees the connection in `conns`.
    fn spawn_conn(self: &Arc<Self>, stream: TcpStream) {
        if stream.set_nonblocking(false).is_err() {
            return;
        }
        let _ = stream.set_nodelay(true);
        let Ok(clone) = stream.try_clone() else {
            return;
        };
        let id = self.next_conn.fetch_add(1, Ordering::Relaxed);
        lock(&self.conns).insert(id, clone);
        let inner = Arc::clone(self);
        let spawned = thread::Builder::new()
            .name(format!("test-node-{}-conn", self.addr.port()))
            .spawn(move || serve_conn(inner, stream, id));
        if spawned.is_err() {
            if let Some(c) = lock(&self.conns).remove(&id) {
                let _ = c.shutdown(Shutdown::Both);
            }
        }
    }

    /// Accounting and fault injection, then routing. `None` = drop the connection unanswered.
    fn handle(&self, req: &Request) -> Option<Reply> {
        *lock(&self.state)
            .seen
            .entry((req.method.clone(), req.path.clone()))
            .or_insert(0) += 1;
        if let Fault::Delay(d) = self.fault() {
            thread::sleep(d);
        }
        match self.fault() {
            Fault::Down => return None,
            Fault::Error(status) => {
                return Some(Reply::error(
                    status,
                    format!("Injected fault: the Meilisearch test double answers HTTP {status}."),
                    "internal",
                    "internal",
                ))
            }
            Fault::None | Fault::Delay(_) | Fault::DropWrites => {}
        }
        let routed = panic::catch_unwind(AssertUnwindSafe(|| dispatch(self, req)));
        Some(routed.unwrap_or_else(|payload| {
            let what = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            Reply::error(
                500,
                format!("The Meilisearch test double panicked: {what}"),
                "internal",
                "internal",
            )
        }))
    }

    /// Meilisearch authentication: `Authorization: Bearer <master key>`.
    fn check_auth(&self, req: &Request) -> Result<(), Reply> {
        let Some(key) = &self.master_key else {
            return Ok(());
        };
        let missing = || {
            Reply::error(
                401,
                "The Authorization header is missing. It must use the bearer authorization method.",
                "missing_authorization_header",
                "auth",
            )
        };
        let value = req.header("authorization").ok_or_else(missing)?;
        match value.split_once(' ') {
            Some(("Bearer", token)) if token == key => Ok(()),
            Some(("Bearer", _)) => Err(Reply::error(
                403,
                "The provided API key is invalid.",
                "invalid_api_key",
                "auth",
            )),
            _ => Err(missing()),
        }
    }
}

fn accept_loop(inner: Arc<Inner>) {
    let mut last_accept = Instant::now();
    while !inner.shutdown.load(Ordering::SeqCst) {
        {
            let listener = lock(&inner.listener);
            if let Some(l) = listener.as_ref() {
                loop {
                    match l.accept() {
                        Ok((stream, _)) => {
                            last_accept = Instant::now();
                            inner.spawn_conn(stream);
                        }
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                        Err(e)
                            if matches!(
                                e.kind(),
                                io::ErrorKind::Interrupted | io::ErrorKind::ConnectionAborted
                            ) =>
                        {
                            continue
                        }
                        // e.g. out of file descriptors: back off and retry
                        Err(_) => break,
                    }
                }
            }
        }
        // Poll fast while connections are coming in, slower when idle.
        let pause = if last_accept.elapsed() < Duration::from_millis(100) {
            Duration::from_micros(200)
        } else {
            Duration::from_millis(2)
        };
        thread::sleep(pause);
    }
}

/// Removes a connection from the registry when its thread ends.
struct ConnGuard<'a> {
    inner: &'a Inner,
    id: u64,
}

impl Drop for ConnGuard<'_> {
    fn drop(&mut self) {
        lock(&self.inner.conns).remove(&self.id);
    }
}

fn serve_conn(inner: Arc<Inner>, stream: TcpStream, id: u64) {
    let _guard = ConnGuard { inner: &inner, id };
    let mut incoming = Incoming::new(&stream);
    loop {
        let head = match read_head(&mut incoming) {
            Ok(Some(head)) => head,
            Ok(None) => return,
            Err(WireError::TooLarge) => return reject(&stream, Reply::empty(431)),
            Err(WireError::Malformed(_)) => return reject(&stream, Reply::empty(400)),
            Err(WireError::Eof | WireError::Io(_)) => return,
        };
        let framing = match head.framing() {
            Ok(f) => f,
            Err(_) => return reject(&stream, Reply::empty(400)),
        };
        if matches!(framing, Framing::Length(n) if n > MAX_BODY) {
            return reject(&stream, payload_too_large());
        }
        let wants_continue = head.expects_continue() && framing != Framing::Length(0);
        if wants_continue && (&stream).write_all(CONTINUE).is_err() {
            return;
        }
        let body = match framing {
            Framing::Length(n) => incoming.take(n),
            Framing::Chunked => incoming.read_chunked(MAX_BODY),
        };
        let body = match body {
            Ok(body) => body,
            Err(WireError::TooLarge) => return reject(&stream, payload_too_large()),
            Err(WireError::Malformed(_)) => return reject(&stream, Reply::empty(400)),
            Err(WireError::Eof | WireError::Io(_)) => return,
        };
        let keep_alive = head.keep_alive();
        let req = head.into_request(body);
        let Some(reply) = inner.handle(&req) else {
            return;
        };
        if write_reply(&stream, &reply, !keep_alive).is_err() || !keep_alive {
            return;
        }
    }
}

fn payload_too_large() -> Reply {
    Reply::error(
        413,
        format!(
            "The provided payload reached the size limit. The maximum accepted payload size is {MAX_BODY_TEXT}."
        ),
        "payload_too_large",
        "invalid_request",
    )
}

/// Answers and closes after a protocol error, draining a little unread input first so that the
/// client sees the answer rather than a reset.
fn reject(stream: &TcpStream, reply: Reply) {
    if write_reply(stream, &reply, true).is_err() {
        return;
    }
    let _ = stream.shutdown(Shutdown::Write);
    let _ = stream.set_read_timeout(Some(Duration::from_millis(200)));
    let mut sink = [0u8; 16 * 1024];
    let mut drained = 0usize;
    let mut reader = stream;
    while drained < (4 << 20) {
        match reader.read(&mut sink) {
            Ok(0) | Err(_) => break,
            Ok(n) => drained += n,
        }
    }
}

fn write_reply(mut stream: &TcpStream, reply: &Reply, close: bool) -> io::Result<()> {
    let mut out = format!(
        "HTTP/1.1 {} {}\r\ncontent-length: {}\r\n",
        reply.status,
        reason(reply.status),
        reply.body.len()
    );
    for (k, v) in &reply.headers {
        out.push_str(&format!("{k}: {v}\r\n"));
    }
    if close {
        out.push_str("connection: close\r\n");
    }
    out.push_str("\r\n");
    let mut bytes = out.into_bytes();
    bytes.extend_from_slice(&reply.body);
    stream.write_all(&bytes)
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "No Content",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        409 => "Conflict",
        413 => "Payload Too Large",
        415 => "Unsupported Media Type",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Unknown",
    }
}

// ---------------------------------------------------------------------------------------------
// Request parsing

#[derive(Clone, Copy, Debug, PartialEq)]
enum Framing {
    Length(usize),
    Chunked,
}

struct Head {
    method: String,
    target: String,
    http10: bool,
    headers: Vec<(String, String)>,
}

impl Head {
    fn values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.headers
            .iter()
            .filter(move |(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn has_token(&self, name: &str, token: &str) -> bool {
        self.values(name)
            .flat_map(|v| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case(token))
    }

    fn framing(&self) -> Result<Framing, ()> {
        let codings: Vec<&str> = self
            .values("transfer-encoding")
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .collect();
        if let Some(last) = codings.last() {
            // Transfer-Encoding wins over Content-Length; only chunked framing is understood.
            return if last.eq_ignore_ascii_case("chunked") {
                Ok(Framing::Chunked)
            } else {
                Err(())
            };
        }
        let mut length = None;
        for v in self.values("content-length") {
            let v = v.trim();
            if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
                return Err(());
            }
            let n: usize = v.parse().map_err(|_| ())?;
            if length.is_some_and(|l| l != n) {
                return Err(());
            }
            length = Some(n);
        }
        Ok(Framing::Length(length.unwrap_or(0)))
    }

    fn expects_continue(&self) -> bool {
        !self.http10 && self.has_token("expect", "100-continue")
    }

    fn keep_alive(&self) -> bool {
        if self.http10 {
            self.has_token("connection", "keep-alive")
        } else {
            !self.has_token("connection", "close")
        }
    }

    fn into_request(self, body: Vec<u8>) -> Request {
        let (path, query) = match self.target.split_once('?') {
            Some((p, q)) => (p.to_owned(), q.to_owned()),
            None => (self.target.clone(), String::new()),
        };
        Request {
            method: self.method,
            target: self.target,
            path,
            query,
            headers: self.headers,
            body,
        }
    }
}

/// Reads a request head; `Ok(None)` = the client closed the connection between requests.
fn read_head(incoming: &mut Incoming<&TcpStream>) -> Result<Option<Head>, WireError> {
    loop {
        if !incoming.data().is_empty() {
            let mut slots = [httparse::EMPTY_HEADER; MAX_HEADERS];
            let mut req = httparse::Request::new(&mut slots);
            match req.parse(incoming.data()) {
                Ok(httparse::Status::Complete(n)) if n > MAX_HEAD => {
                    return Err(WireError::TooLarge)
                }
                Ok(httparse::Status::Complete(n)) => {
                    let (Some(method), Some(target), Some(version)) =
                        (req.method, req.path, req.version)
                    else {
                        return Err(WireError::Malformed("incomplete request line"));
                    };
                    let head = Head {
                        method: method.to_owned(),
                        target: target.to_owned(),
                        http10: version == 0,
                        headers: req
                            .headers
                            .iter()
                            .map(|h| {
                                (
                                    h.name.to_ascii_lowercase(),
                                    String::from_utf8_lossy(h.value).into_owned(),
                                )
                            })
                            .collect(),
                    };
                    incoming.consume(n);
                    return Ok(Some(head));
                }
                Ok(httparse::Status::Partial) => {
                    if incoming.data().len() > MAX_HEAD {
                        return Err(WireError::TooLarge);
                    }
                }
                Err(httparse::Error::TooManyHeaders) => return Err(WireError::TooLarge),
                Err(_) => return Err(WireError::Malformed("bad request head")),
            }
        }
        if incoming.fill()? == 0 {
            return if incoming.data().is_empty() {
                Ok(None)
            } else {
                Err(WireError::Eof)
            };
        }
    }
}

/// A parsed request, as handlers see it.
#[allow(dead_code)] // fields and helpers are for the routes still to come
pub(crate) struct Request {
    pub(crate) method: String,
    /// Request target as received (path and query string).
    pub(crate) target: String,
    /// Raw (not percent-decoded) path, without the query string.
    pub(crate) path: String,
    /// Raw query string without the `?` (empty if none).
    pub(crate) query: String,
    /// Names lowercased.
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Vec<u8>,
}

#[allow(dead_code)] // helpers for the routes still to come
impl Request {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Decoded `application/x-www-form-urlencoded` query pairs, in order.
    pub(crate) fn query_pairs(&self) -> Vec<(String, String)> {
        self.query
            .split('&')
            .filter(|p| !p.is_empty())
            .map(|p| {
                let (k, v) = p.split_once('=').unwrap_or((p, ""));
                (percent_decode(k, true), percent_decode(v, true))
            })
            .collect()
    }

    /// First value of a query parameter.
    pub(crate) fn query_param(&self, name: &str) -> Option<String> {
        self.query_pairs()
            .into_iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v)
    }
}

// ---------------------------------------------------------------------------------------------
// Replies

/// A response as handlers build it (`content-length`/`connection` are added when writing).
pub(crate) struct Reply {
    pub(crate) status: u16,
    pub(crate) headers: Vec<(&'static str, String)>,
    pub(crate) body: Vec<u8>,
}

impl Reply {
    pub(crate) fn empty(status: u16) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    /// JSON body with `content-type: application/json`.
    pub(crate) fn json(status: u16, value: &Value) -> Reply {
        Reply {
            status,
            headers: vec![("content-type", "application/json".to_owned())],
            body: serde_json::to_vec(value).unwrap_or_default(),
        }
    }

    /// Meilisearch error body `{message, code, type, link}`.
    pub(crate) fn error(status: u16, message: impl Into<String>, code: &str, kind: &str) -> Reply {
        Reply::json(
            status,
            &json!({
                "message": message.into(),
                "code": code,
                "type": kind,
                "link": format!("https://docs.meilisearch.com/errors#{code}"),
            }),
        )
    }

    pub(crate) fn with_header(mut self, name: &'static str, value: impl Into<String>) -> Reply {
        self.headers.push((name, value.into()));
        self
    }
}

// ---------------------------------------------------------------------------------------------
// Routing

/// Path parameters captured by `{name}` segments of a route pattern (percent-decoded).
pub(crate) struct Params(Vec<(&'static str, String)>);

#[allow(dead_code)] // for the parameterised routes still to come
impl Params {
    /// The captured value; `""` if the pattern has no such parameter (a bug in the route table).
    pub(crate) fn get(&self, name: &str) -> &str {
        debug_assert!(
            self.0.iter().any(|(k, _)| *k == name),
            "route has no {{{name}}}"
        );
        self.0
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
            .unwrap_or("")
    }
}

type Handler = fn(&Inner, &Request, &Params) -> Reply;

/// One route: method + path pattern (`/indexes/{uid}/search`; `{x}` matches one non-empty segment).
pub(crate) struct Route {
    method: &'static str,
    pattern: &'static str,
    /// `false`: no authentication (only `/health`).
    auth: bool,
    handler: Handler,
}

const fn open(method: &'static str, pattern: &'static str, handler: Handler) -> Route {
    Route {
        method,
        pattern,
        auth: false,
        handler,
    }
}

const fn keyed(method: &'static str, pattern: &'static str, handler: Handler) -> Route {
    Route {
        method,
        pattern,
        auth: true,
        handler,
    }
}

/// The route table. Resolution works like actix-web (which Meilisearch uses): the first pattern
/// that matches the path is the resource; among the routes with that pattern the method picks
/// the handler, otherwise 405 with `allow` listing them in table order (so list GET before
/// POST, as Meilisearch registers them: fixture 190 has `allow: GET, POST`). No pattern → 404.
/// Put literal patterns (`/indexes/{uid}/documents/fetch`) before parameterised ones
/// (`/indexes/{uid}/documents/{id}`). 404/405 are answered before authentication.
static ROUTES: &[Route] = &[
    open("GET", "/health", health),
    keyed("GET", "/version", version),
];

fn dispatch(inner: &Inner, req: &Request) -> Reply {
    let segments: Vec<&str> = match req.path.strip_prefix('/') {
        Some(rest) => rest.split('/').collect(),
        None => return Reply::empty(404),
    };
    let Some((pattern, params)) = ROUTES
        .iter()
        .find_map(|r| match_pattern(r.pattern, &segments).map(|p| (r.pattern, p)))
    else {
        return Reply::empty(404);
    };
    let resource = || ROUTES.iter().filter(move |r| r.pattern == pattern);
    let Some(route) = resource().find(|r| r.method == req.method) else {
        let allow: Vec<&str> = resource().map(|r| r.method).collect();
        return Reply::empty(405).with_header("allow", allow.join(", "));
    };
    if route.auth {
        if let Err(reply) = inner.check_auth(req) {
            return reply;
        }
    }
    (route.handler)(inner, req, &params)
}

fn match_pattern(pattern: &'static str, segments: &[&str]) -> Option<Params> {
    let parts = pattern.strip_prefix('/').unwrap_or(pattern).split('/');
    if parts.clone().count() != segments.len() {
        return None;
    }
    let mut params = Vec::new();
    for (part, seg) in parts.zip(segments) {
        let decoded = percent_decode(seg, false);
        match part.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
            Some(name) if !decoded.is_empty() => params.push((name, decoded)),
            Some(_) => return None,
            None if part == decoded => {}
            None => return None,
        }
    }
    Some(Params(params))
}

// ---------------------------------------------------------------------------------------------
// Handlers

fn health(_: &Inner, _: &Request, _: &Params) -> Reply {
    Reply::json(200, &json!({ "status": "available" }))
}

fn version(_: &Inner, _: &Request, _: &Params) -> Reply {
    Reply::json(
        200,
        &json!({
            "commitSha": VERSION_COMMIT_SHA,
            "commitDate": VERSION_COMMIT_DATE,
            "pkgVersion": VERSION_PKG,
        }),
    )
}
