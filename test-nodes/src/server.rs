//! The Meilisearch **test double**: a small in-process HTTP/1.1 server that answers a subset of
//! the Meilisearch v1.50 API with the shapes recorded in `shared/meili-v1.50/`, plus fault
//! injection. It is not Meilisearch and does not try to be one beyond what tests need.
//!
//! Layout:
//! * transport: accept loop ([`accept_loop`]), one thread per connection ([`serve_conn`]),
//!   keep-alive, `Content-Length` and chunked request bodies;
//! * [`Inner::handle`]: request accounting and fault injection, then [`dispatch`];
//! * [`routes`]: the route table, the one place where (method, path pattern, API key action) →
//!   handler is declared; [`dispatch`] authenticates (master key or API key, index patterns)
//!   and handlers get a [`Ctx`] (node + what the caller may see), the request and the path
//!   params, and return a reply or an [`ApiError`].

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::keys::{authorize, Auth};
use crate::params::{ApiError, ApiResult};
use crate::state::State;
use crate::wire::{percent_decode, Incoming, WireError};
use crate::{documents, indexes, keys, search, settings, tasks};

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
    /// Write routes answer as if accepted (202 summarized task) and their tasks succeed with
    /// the details a success would show, but change nothing (documents, settings, indexes).
    /// Decided when the write arrives; reads and `/tasks` routes behave normally.
    DropWrites,
}

/// Meilisearch **test double** (not Meilisearch): an HTTP/1.1 server on `127.0.0.1`, started
/// in-process, answering the Meilisearch API shapes recorded from v1.50, with fault injection.
///
/// Routes: `/health`, `/version`, `/stats`, `/indexes[/{uid}[/stats]]`, `/swap-indexes`,
/// `/indexes/{uid}/documents[/fetch|/delete-batch|/delete|/{id}]`, `/indexes/{uid}/search`
/// (GET, POST), `/indexes/{uid}/facet-search`, `/multi-search`, `/indexes/{uid}/settings[/…]`,
/// `/tasks[/cancel|/{uid}]`, `/keys[/{key}]` (see `routes()` in this module). Unknown paths →
/// 404 with an empty body, known paths with another method → 405 with an empty body and an
/// `allow` header. With a master key, every route but `/health` needs
/// `Authorization: Bearer <master key or API key>` (401 / 403 like Meilisearch); without one
/// nothing is checked. Writes are tasks processed asynchronously by a worker thread (see
/// [`TestNode::set_task_delay`]). Stopped (port released, connections closed, worker joined)
/// when dropped.
pub struct TestNode {
    inner: Arc<Inner>,
    accept_thread: Option<JoinHandle<()>>,
    worker_thread: Option<JoinHandle<()>>,
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
            state: Mutex::new(State::new(master_key)),
            worker_cv: Condvar::new(),
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
        let for_worker = Arc::clone(&inner);
        let worker_thread = thread::Builder::new()
            .name(format!("test-node-{}-tasks", addr.port()))
            .spawn(move || tasks::worker_loop(for_worker))
            .expect("test double: spawn task worker");
        TestNode {
            inner,
            accept_thread: Some(accept_thread),
            worker_thread: Some(worker_thread),
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

    /// The body of the last request received with this method and path (query string
    /// excluded), as it came.
    pub fn last_body(&self, method: &str, path: &str) -> Option<Vec<u8>> {
        lock(&self.inner.state)
            .last_bodies
            .get(&(method.to_owned(), path.to_owned()))
            .cloned()
    }

    /// How long each task stays `processing` before it is applied (default zero: tasks are
    /// processed promptly, but still asynchronously, by the node's task worker). Applies to
    /// tasks started after the call.
    pub fn set_task_delay(&self, delay: Duration) {
        lock(&self.inner.state).task_delay = delay;
    }

    /// Every document stored in `index` (all fields, `_miroir_*` included), in insertion
    /// order. Empty if the index does not exist.
    pub fn documents(&self, index: &str) -> Vec<Value> {
        lock(&self.inner.state)
            .indexes
            .get(index)
            .map(|i| {
                i.docs
                    .values()
                    .map(|d| Value::Object(d.value.clone()))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Number of documents stored in `index` (0 if it does not exist).
    pub fn document_count(&self, index: &str) -> usize {
        lock(&self.inner.state)
            .indexes
            .get(index)
            .map_or(0, |i| i.len())
    }

    /// Uids of the existing indexes, sorted.
    pub fn index_uids(&self) -> Vec<String> {
        lock(&self.inner.state).indexes.keys().cloned().collect()
    }

    /// Every task as `GET /tasks/{uid}` shows it, oldest first.
    pub fn tasks(&self) -> Vec<Value> {
        lock(&self.inner.state)
            .tasks
            .values()
            .map(|t| t.to_json())
            .collect()
    }

    /// Waits until no task is enqueued or processing; `false` on timeout.
    pub fn wait_idle(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            {
                let st = lock(&self.inner.state);
                if st.queue.is_empty() && st.special_queue.is_empty() && st.processing.is_none() {
                    return true;
                }
            }
            if Instant::now() >= deadline {
                return false;
            }
            thread::sleep(Duration::from_millis(1));
        }
    }

    #[cfg(test)]
    pub(crate) fn inner_for_tests(&self) -> &Inner {
        &self.inner
    }

    /// The value of the default API key called `name` (`"Default Search API Key"`,
    /// `"Default Admin API Key"`, ...), if the node has a master key.
    pub fn api_key(&self, name: &str) -> Option<String> {
        lock(&self.inner.state)
            .keys
            .iter()
            .find(|k| k.name.as_deref() == Some(name))
            .map(|k| k.key.clone())
    }
}

impl Drop for TestNode {
    fn drop(&mut self) {
        self.inner.shutdown.store(true, Ordering::SeqCst);
        self.inner.notify_worker();
        self.inner.go_down();
        if let Some(t) = self.accept_thread.take() {
            let _ = t.join();
        }
        if let Some(t) = self.worker_thread.take() {
            let _ = t.join();
        }
    }
}

/// Locks, ignoring poisoning (a panicking handler must not take the whole node down).
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Everything shared between the node handle, the accept loop and the connection threads.
pub(crate) struct Inner {
    addr: SocketAddr,
    master_key: Option<String>,
    fault: Mutex<Fault>,
    state: Mutex<State>,
    /// Wakes the task worker (new task, shutdown).
    worker_cv: Condvar,
    /// `None` while [`Fault::Down`]. Lock order: `listener`, then `conns`.
    listener: Mutex<Option<TcpListener>>,
    /// Clones of open connections, so that `Down` / drop can shut them down.
    conns: Mutex<HashMap<u64, TcpStream>>,
    next_conn: AtomicU64,
    shutdown: AtomicBool,
}

impl Inner {
    pub(crate) fn fault(&self) -> Fault {
        lock(&self.fault).clone()
    }

    pub(crate) fn lock_state(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    pub(crate) fn master_key(&self) -> Option<&str> {
        self.master_key.as_deref()
    }

    pub(crate) fn is_shutting_down(&self) -> bool {
        self.shutdown.load(Ordering::SeqCst)
    }

    pub(crate) fn notify_worker(&self) {
        self.worker_cv.notify_all();
    }

    /// Releases the state lock until notified or `timeout` passes.
    pub(crate) fn wait_worker<'a>(
        &self,
        guard: MutexGuard<'a, State>,
        timeout: Duration,
    ) -> MutexGuard<'a, State> {
        match self.worker_cv.wait_timeout(guard, timeout) {
            Ok((g, _)) => g,
            Err(e) => e.into_inner().0,
        }
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
        {
            let mut state = lock(&self.state);
            let route = (req.method.clone(), req.path.clone());
            *state.seen.entry(route.clone()).or_insert(0) += 1;
            state.last_bodies.insert(route, req.body.clone());
        }
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
            ApiError::internal(format!("The Meilisearch test double panicked: {what}")).reply()
        }))
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
pub(crate) struct Request {
    pub(crate) method: String,
    /// Raw (not percent-decoded) path, without the query string.
    pub(crate) path: String,
    /// Raw query string without the `?` (empty if none).
    pub(crate) query: String,
    /// Names lowercased.
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Vec<u8>,
}

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

/// What a handler gets: the node and what the caller is allowed to see.
pub(crate) struct Ctx<'a> {
    pub(crate) inner: &'a Inner,
    pub(crate) auth: Auth,
}

impl Ctx<'_> {
    pub(crate) fn state(&self) -> MutexGuard<'_, State> {
        lock(&self.inner.state)
    }
}

type Handler = fn(&Ctx, &Request, &Params) -> ApiResult<Reply>;

/// One route: method + path pattern (`/indexes/{uid}/search`; `{x}` matches one non-empty segment).
pub(crate) struct Route {
    method: &'static str,
    pattern: &'static str,
    /// API key action needed; `None`: no authentication (only `/health`).
    action: Option<&'static str>,
    handler: Handler,
}

fn open(method: &'static str, pattern: &'static str, handler: Handler) -> Route {
    Route {
        method,
        pattern,
        action: None,
        handler,
    }
}

fn keyed(
    method: &'static str,
    pattern: &'static str,
    action: &'static str,
    handler: Handler,
) -> Route {
    Route {
        method,
        pattern,
        action: Some(action),
        handler,
    }
}

/// The route table. Resolution works like actix-web (which Meilisearch uses): the first pattern
/// that matches the path is the resource; among the routes with that pattern the method picks
/// the handler, otherwise 405 with `allow` listing them in table order (so list GET before
/// POST, as Meilisearch registers them: fixture 190 has `allow: GET, POST`). No pattern → 404.
/// Literal patterns (`/indexes/{uid}/documents/fetch`) come before parameterised ones
/// (`/indexes/{uid}/documents/{id}`). 404/405 are answered before authentication.
fn routes() -> &'static [Route] {
    static ROUTES: OnceLock<Vec<Route>> = OnceLock::new();
    ROUTES.get_or_init(|| {
        let mut r = vec![
            open("GET", "/health", health),
            keyed("GET", "/version", "version", version),
            keyed("GET", "/stats", "stats.get", indexes::global_stats),
            keyed("POST", "/multi-search", "search", search::multi),
            keyed("POST", "/swap-indexes", "indexes.swap", indexes::swap),
            // tasks
            keyed("GET", "/tasks", "tasks.get", tasks::list),
            keyed("DELETE", "/tasks", "tasks.delete", tasks::delete),
            keyed("POST", "/tasks/cancel", "tasks.cancel", tasks::cancel),
            keyed("GET", "/tasks/{taskUid}", "tasks.get", tasks::get),
            // keys
            keyed("GET", "/keys", "keys.get", keys::list),
            keyed("POST", "/keys", "keys.create", keys::create),
            keyed("GET", "/keys/{key}", "keys.get", keys::get),
            keyed("PATCH", "/keys/{key}", "keys.update", keys::patch),
            keyed("DELETE", "/keys/{key}", "keys.delete", keys::delete),
            // indexes
            keyed("GET", "/indexes", "indexes.get", indexes::list),
            keyed("POST", "/indexes", "indexes.create", indexes::create),
            keyed("GET", "/indexes/{uid}", "indexes.get", indexes::get),
            keyed("PATCH", "/indexes/{uid}", "indexes.update", indexes::patch),
            keyed(
                "DELETE",
                "/indexes/{uid}",
                "indexes.delete",
                indexes::delete,
            ),
            keyed("GET", "/indexes/{uid}/stats", "stats.get", indexes::stats),
            // documents
            keyed(
                "GET",
                "/indexes/{uid}/documents",
                "documents.get",
                documents::browse,
            ),
            keyed(
                "POST",
                "/indexes/{uid}/documents",
                "documents.add",
                documents::replace,
            ),
            keyed(
                "PUT",
                "/indexes/{uid}/documents",
                "documents.add",
                documents::update,
            ),
            keyed(
                "DELETE",
                "/indexes/{uid}/documents",
                "documents.delete",
                documents::delete_all,
            ),
            keyed(
                "POST",
                "/indexes/{uid}/documents/fetch",
                "documents.get",
                documents::fetch,
            ),
            keyed(
                "POST",
                "/indexes/{uid}/documents/delete-batch",
                "documents.delete",
                documents::delete_batch,
            ),
            keyed(
                "POST",
                "/indexes/{uid}/documents/delete",
                "documents.delete",
                documents::delete_by_filter,
            ),
            keyed(
                "GET",
                "/indexes/{uid}/documents/{id}",
                "documents.get",
                documents::get_one,
            ),
            keyed(
                "DELETE",
                "/indexes/{uid}/documents/{id}",
                "documents.delete",
                documents::delete_one,
            ),
            // search
            keyed("GET", "/indexes/{uid}/search", "search", search::get),
            keyed("POST", "/indexes/{uid}/search", "search", search::post),
            keyed(
                "POST",
                "/indexes/{uid}/facet-search",
                "search",
                search::facet_search,
            ),
            // settings
            keyed(
                "GET",
                "/indexes/{uid}/settings",
                "settings.get",
                settings::get_all,
            ),
            keyed(
                "PATCH",
                "/indexes/{uid}/settings",
                "settings.update",
                settings::patch_all,
            ),
            keyed(
                "DELETE",
                "/indexes/{uid}/settings",
                "settings.update",
                settings::delete_all,
            ),
        ];
        for (segment, _, method) in settings::SUB_ROUTES {
            // One resource per sub-setting, so that unknown names are 404 and the `allow`
            // header of a 405 is accurate. Leaked once per process.
            let pattern: &'static str =
                Box::leak(format!("/indexes/{{uid}}/settings/{segment}").into_boxed_str());
            r.push(keyed("GET", pattern, "settings.get", settings::get_one));
            r.push(keyed(
                method,
                pattern,
                "settings.update",
                settings::update_one,
            ));
            r.push(keyed(
                "DELETE",
                pattern,
                "settings.update",
                settings::delete_one,
            ));
        }
        r
    })
}

fn dispatch(inner: &Inner, req: &Request) -> Reply {
    let segments: Vec<&str> = match req.path.strip_prefix('/') {
        Some(rest) => rest.split('/').collect(),
        None => return Reply::empty(404),
    };
    let table = routes();
    let Some((pattern, params)) = table
        .iter()
        .find_map(|r| match_pattern(r.pattern, &segments).map(|p| (r.pattern, p)))
    else {
        return Reply::empty(404);
    };
    let resource = || table.iter().filter(move |r| r.pattern == pattern);
    let Some(route) = resource().find(|r| r.method == req.method) else {
        let allow: Vec<&str> = resource().map(|r| r.method).collect();
        return Reply::empty(405).with_header("allow", allow.join(", "));
    };
    let auth = match route.action {
        None => Auth::default(),
        Some(action) => {
            let authorized = {
                let st = lock(&inner.state);
                authorize(inner.master_key(), &st.keys, req, action)
            };
            match authorized {
                Ok(auth) => auth,
                Err(e) => return e.reply(),
            }
        }
    };
    if params.0.iter().any(|(k, _)| *k == "uid") {
        if let Err(e) = auth.check_index(params.get("uid")) {
            return e.reply();
        }
    }
    let ctx = Ctx { inner, auth };
    match (route.handler)(&ctx, req, &params) {
        Ok(reply) => reply,
        Err(e) => e.reply(),
    }
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

fn health(_: &Ctx, _: &Request, _: &Params) -> ApiResult<Reply> {
    Ok(Reply::json(200, &json!({ "status": "available" })))
}

fn version(_: &Ctx, _: &Request, _: &Params) -> ApiResult<Reply> {
    Ok(Reply::json(
        200,
        &json!({
            "commitSha": VERSION_COMMIT_SHA,
            "commitDate": VERSION_COMMIT_DATE,
            "pkgVersion": VERSION_PKG,
        }),
    ))
}
