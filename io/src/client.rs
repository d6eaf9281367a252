//! Upstream client: one keep-alive pool per node, owned by one request core
//! (or by the background runtime), so it needs no locks.

use std::cell::RefCell;
use std::fmt;
use std::io;
use std::mem::MaybeUninit;
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::time::Duration;

use monoio::net::TcpStream;
use monoio::time::{timeout_at, Instant};

use crate::chunked::{ChunkError, ChunkedDecoder};
use crate::http::{push_decimal, recycle_buffer, take_buffer, Method};
use crate::server::{read_into, write_all, OwnedStream};

#[derive(Clone, Debug)]
pub struct ClientConfig {
    pub connect_timeout: Duration,
    /// Idle keep-alive connections kept per node.
    pub max_idle_per_node: usize,
    /// Largest response body accepted from a node.
    pub max_response_bytes: u64,
}

pub struct UpstreamRequest<'a> {
    pub method: Method,
    /// Path plus optional `?query`.
    pub target: &'a str,
    pub headers: &'a [(&'a str, &'a [u8])],
    pub body: &'a [u8],
}

#[derive(Debug)]
pub struct UpstreamResponse {
    pub status: u16,
    pub content_type: Option<String>,
    pub body: Vec<u8>,
}

#[derive(Debug)]
pub enum UpstreamError {
    UnknownNode,
    Connect(io::Error),
    /// The whole exchange (connect included) missed its deadline.
    Timeout,
    Io(io::Error),
    Protocol(&'static str),
}

impl UpstreamError {
    /// Stable label for logs and metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            UpstreamError::UnknownNode => "unknown_node",
            UpstreamError::Connect(_) => "connect",
            UpstreamError::Timeout => "timeout",
            UpstreamError::Io(_) => "io",
            UpstreamError::Protocol(_) => "protocol",
        }
    }
}

impl fmt::Display for UpstreamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UpstreamError::UnknownNode => write!(f, "unknown node"),
            UpstreamError::Connect(e) => write!(f, "connect failed: {e}"),
            UpstreamError::Timeout => write!(f, "timed out"),
            UpstreamError::Io(e) => write!(f, "i/o error: {e}"),
            UpstreamError::Protocol(m) => write!(f, "bad response: {m}"),
        }
    }
}

impl std::error::Error for UpstreamError {}

struct Upstream {
    addr: SocketAddr,
    host: String,
    /// Idle keep-alive connections and when each was parked.
    idle: RefCell<Vec<(OwnedStream, Instant)>>,
}

/// A connection parked this recently is reused without the peek when the
/// request may be retried: a node closing a keep-alive connection within a
/// second of answering on it is rare, and if it did, the failed exchange is
/// retried on a fresh connection. Saves a `recv` syscall per node request.
const FRESH_IDLE: Duration = Duration::from_secs(1);

pub struct UpstreamPool {
    nodes: Vec<Upstream>,
    config: ClientConfig,
}

/// A failed exchange, and whether any response byte had arrived (if not, the
/// request may be retried when it is idempotent).
struct ExchangeError {
    error: UpstreamError,
    response_started: bool,
}

const MAX_HEADERS: usize = 64;

impl UpstreamPool {
    /// `nodes` are the node addresses, in node-index order.
    pub fn new(nodes: &[SocketAddr], config: ClientConfig) -> Self {
        UpstreamPool {
            nodes: nodes
                .iter()
                .map(|&addr| Upstream {
                    addr,
                    host: addr.to_string(),
                    idle: RefCell::new(Vec::new()),
                })
                .collect(),
            config,
        }
    }

    /// Sends one request to node `node` and reads the whole response, all
    /// within `timeout`. A stale pooled connection is retried once on a fresh
    /// one, for idempotent requests only.
    pub async fn send(
        &self,
        node: usize,
        req: &UpstreamRequest<'_>,
        timeout: Duration,
    ) -> Result<UpstreamResponse, UpstreamError> {
        let now = std::time::Instant::now();
        self.send_until(node, req, now, now + timeout, req.method.is_idempotent())
            .await
    }

    /// [`send`](Self::send) given to the pool at `now` (the caller's clock read, so the pool
    /// needs none) and ending by `deadline`, where `retry_safe` says whether the request may
    /// be sent twice (idempotent methods, and reads such as a `POST` search).
    pub async fn send_until(
        &self,
        node: usize,
        req: &UpstreamRequest<'_>,
        now: std::time::Instant,
        deadline: std::time::Instant,
        retry_safe: bool,
    ) -> Result<UpstreamResponse, UpstreamError> {
        let upstream = self.nodes.get(node).ok_or(UpstreamError::UnknownNode)?;
        let (now, deadline) = (Instant::from_std(now), Instant::from_std(deadline));
        if let Some(conn) = upstream.take_idle(now, retry_safe) {
            match self
                .exchange_within(upstream, conn, req, now, deadline)
                .await
            {
                Ok(resp) => return Ok(resp),
                Err(e) if !e.response_started && retry_safe => {
                    tracing::debug!(node = %upstream.addr, error = %e.error, "pooled connection was stale; retrying on a new one");
                }
                Err(e) => return Err(e.error),
            }
        }
        let connect_deadline = deadline.min(Instant::now() + self.config.connect_timeout);
        let stream =
            match timeout_at(connect_deadline, TcpStream::connect_addr(upstream.addr)).await {
                Ok(Ok(s)) => s,
                Ok(Err(e)) => return Err(UpstreamError::Connect(e)),
                Err(_) => return Err(UpstreamError::Timeout),
            };
        let _ = stream.set_nodelay(true);
        self.exchange_within(upstream, OwnedStream(stream), req, now, deadline)
            .await
            .map_err(|e| e.error)
    }

    /// One exchange on `conn`, parked again for reuse when it may be. `started` is when the
    /// request was given to the pool: it stands for the park time, which makes a parked
    /// connection look older than it is, never fresher (see [`FRESH_IDLE`]).
    async fn exchange_within(
        &self,
        upstream: &Upstream,
        mut conn: OwnedStream,
        req: &UpstreamRequest<'_>,
        started: Instant,
        deadline: Instant,
    ) -> Result<UpstreamResponse, ExchangeError> {
        // A timer per exchange, not per connection: a pooled connection serves many tasks, and
        // a monoio timer wakes the task that first polled it (see `crate::timer`).
        match timeout_at(deadline, self.exchange(upstream, &mut conn, req)).await {
            Ok(Ok((resp, reusable))) => {
                if reusable {
                    upstream.put_idle(conn, started, self.config.max_idle_per_node);
                }
                Ok(resp)
            }
            Ok(Err(e)) => Err(e),
            Err(_) => Err(ExchangeError {
                error: UpstreamError::Timeout,
                response_started: true,
            }),
        }
    }

    async fn exchange(
        &self,
        upstream: &Upstream,
        conn: &mut OwnedStream,
        req: &UpstreamRequest<'_>,
    ) -> Result<(UpstreamResponse, bool), ExchangeError> {
        let stream = &mut conn.0;
        let not_started = |error| ExchangeError {
            error,
            response_started: false,
        };
        let started = |error| ExchangeError {
            error,
            response_started: true,
        };
        // Head and body go out in one write. The body is borrowed and monoio
        // needs an owned buffer, so it is copied once either way (into a
        // pooled buffer).
        let mut message = take_buffer(256 + req.body.len());
        encode_head(&mut message, req, &upstream.host);
        message.extend_from_slice(req.body);
        let (res, message) = write_all(stream, message).await;
        recycle_buffer(message);
        res.map_err(|e| not_started(UpstreamError::Io(e)))?;

        // The response is read into a pooled buffer, which becomes the body
        // (callers that are done with it may recycle it).
        let mut buf = take_buffer(16 * 1024);
        let (status, content_type, framing, keep_alive, head_len) = loop {
            let n = read_into(stream, &mut buf).await;
            match n {
                Ok(0) if buf.is_empty() => {
                    return Err(not_started(UpstreamError::Protocol(
                        "connection closed before a response",
                    )))
                }
                Ok(0) => {
                    return Err(started(UpstreamError::Protocol(
                        "connection closed mid-response",
                    )))
                }
                Ok(_) => {}
                Err(e) if buf.is_empty() => return Err(not_started(UpstreamError::Io(e))),
                Err(e) => return Err(started(UpstreamError::Io(e))),
            }
            match parse_response_head(&buf, req.method) {
                Ok(Some(ParsedHead::Interim(len))) => {
                    buf.drain(..len);
                }
                Ok(Some(ParsedHead::Final {
                    status,
                    content_type,
                    framing,
                    keep_alive,
                    len,
                })) => break (status, content_type, framing, keep_alive, len),
                Ok(None) => {}
                Err(m) => return Err(started(UpstreamError::Protocol(m))),
            }
        };
        buf.drain(..head_len);
        let limit = self.config.max_response_bytes;
        let body = match framing {
            Framing::Empty => {
                buf.clear();
                buf
            }
            Framing::Length(len) => {
                if len > limit {
                    return Err(started(UpstreamError::Protocol("response body too large")));
                }
                let len = len as usize;
                buf.reserve(len.saturating_sub(buf.len()));
                while buf.len() < len {
                    match read_into(stream, &mut buf).await {
                        Ok(n) if n > 0 => {}
                        Ok(_) => {
                            return Err(started(UpstreamError::Protocol("response body cut short")))
                        }
                        Err(e) => return Err(started(UpstreamError::Io(e))),
                    }
                }
                if buf.len() > len {
                    return Err(started(UpstreamError::Protocol(
                        "bytes after the response body",
                    )));
                }
                buf
            }
            Framing::Chunked => {
                let mut decoder = ChunkedDecoder::new(limit);
                let mut body = take_buffer(buf.len());
                loop {
                    match decoder.feed(&buf, &mut body) {
                        Ok(used) => {
                            buf.drain(..used);
                        }
                        Err(ChunkError::TooLarge) => {
                            return Err(started(UpstreamError::Protocol("response body too large")))
                        }
                        Err(ChunkError::Invalid) => {
                            return Err(started(UpstreamError::Protocol("malformed chunked body")))
                        }
                    }
                    if decoder.is_done() {
                        break;
                    }
                    match read_into(stream, &mut buf).await {
                        Ok(n) if n > 0 => {}
                        Ok(_) => {
                            return Err(started(UpstreamError::Protocol("response body cut short")))
                        }
                        Err(e) => return Err(started(UpstreamError::Io(e))),
                    }
                }
                recycle_buffer(buf);
                body
            }
            Framing::UntilClose => {
                loop {
                    match read_into(stream, &mut buf).await {
                        Ok(0) => break,
                        Ok(_) if buf.len() as u64 > limit => {
                            return Err(started(UpstreamError::Protocol("response body too large")))
                        }
                        Ok(_) => {}
                        Err(e) => return Err(started(UpstreamError::Io(e))),
                    }
                }
                buf
            }
        };
        let reusable = keep_alive && framing != Framing::UntilClose;
        Ok((
            UpstreamResponse {
                status,
                content_type,
                body,
            },
            reusable,
        ))
    }
}

impl Upstream {
    /// Most recently used idle connection that the peer has not closed. With
    /// `trust_fresh`, one parked less than [`FRESH_IDLE`] ago is not checked.
    fn take_idle(&self, now: Instant, trust_fresh: bool) -> Option<OwnedStream> {
        let mut idle = self.idle.borrow_mut();
        while let Some((conn, parked)) = idle.pop() {
            if (trust_fresh && now.saturating_duration_since(parked) < FRESH_IDLE)
                || peer_still_open(&conn.0)
            {
                return Some(conn);
            }
        }
        None
    }

    fn put_idle(&self, conn: OwnedStream, parked: Instant, max: usize) {
        let mut idle = self.idle.borrow_mut();
        if idle.len() < max {
            idle.push((conn, parked));
        }
    }
}

/// A cheap non-blocking peek: an idle connection that reads EOF (or has
/// unexpected bytes) was closed by the node and must not be reused. This
/// catches most stale sockets before a non-idempotent request is lost on one.
fn peer_still_open(stream: &TcpStream) -> bool {
    let mut byte = 0u8;
    // SAFETY: recv into a valid one-byte buffer on a socket we own.
    let n = unsafe {
        libc::recv(
            stream.as_raw_fd(),
            (&mut byte as *mut u8).cast(),
            1,
            libc::MSG_PEEK | libc::MSG_DONTWAIT,
        )
    };
    n < 0 && io::Error::last_os_error().kind() == io::ErrorKind::WouldBlock
}

fn encode_head(out: &mut Vec<u8>, req: &UpstreamRequest<'_>, host: &str) {
    out.extend_from_slice(req.method.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(req.target.as_bytes());
    out.extend_from_slice(b" HTTP/1.1\r\nhost: ");
    out.extend_from_slice(host.as_bytes());
    out.extend_from_slice(b"\r\n");
    for (name, value) in req.headers {
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value);
        out.extend_from_slice(b"\r\n");
    }
    if !req.body.is_empty() || matches!(req.method, Method::Post | Method::Put | Method::Patch) {
        out.extend_from_slice(b"content-length: ");
        push_decimal(out, req.body.len() as u64);
        out.extend_from_slice(b"\r\n");
    }
    // Miroir reads node bodies, so it asks for them uncompressed.
    out.extend_from_slice(b"accept-encoding: identity\r\n\r\n");
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Framing {
    Empty,
    Length(u64),
    Chunked,
    UntilClose,
}

enum ParsedHead {
    /// A 1xx response to skip; its head length.
    Interim(usize),
    Final {
        status: u16,
        content_type: Option<String>,
        framing: Framing,
        keep_alive: bool,
        len: usize,
    },
}

fn parse_response_head(buf: &[u8], method: Method) -> Result<Option<ParsedHead>, &'static str> {
    // Left uninitialised, as the server's request heads are.
    let mut headers = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_HEADERS];
    let mut resp = httparse::Response::new(&mut []);
    let len = match httparse::ParserConfig::default().parse_response_with_uninit_headers(
        &mut resp,
        buf,
        &mut headers,
    ) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) if buf.len() > 64 * 1024 => {
            return Err("response head too large")
        }
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(_) => return Err("malformed response head"),
    };
    let status = resp.code.unwrap_or(0);
    if (100..200).contains(&status) {
        return Ok(Some(ParsedHead::Interim(len)));
    }
    let mut content_type = None;
    let mut length = None;
    let mut chunked = false;
    let mut keep_alive = resp.version == Some(1);
    for h in resp.headers.iter() {
        if h.name.eq_ignore_ascii_case("content-length") {
            let v = std::str::from_utf8(h.value)
                .ok()
                .and_then(|v| v.trim().parse::<u64>().ok())
                .ok_or("invalid content-length")?;
            length = Some(v);
        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
            chunked = h.value.rsplit(|&b| b == b',').next().is_some_and(|t| {
                String::from_utf8_lossy(t)
                    .trim()
                    .eq_ignore_ascii_case("chunked")
            });
        } else if h.name.eq_ignore_ascii_case("content-type") {
            content_type = std::str::from_utf8(h.value).ok().map(str::to_owned);
        } else if h.name.eq_ignore_ascii_case("connection") {
            let v = String::from_utf8_lossy(h.value).to_ascii_lowercase();
            if v.contains("close") {
                keep_alive = false;
            } else if v.contains("keep-alive") {
                keep_alive = true;
            }
        }
    }
    let framing = if method == Method::Head || status == 204 || status == 304 {
        Framing::Empty
    } else if chunked {
        Framing::Chunked
    } else if let Some(len) = length {
        Framing::Length(len)
    } else {
        Framing::UntilClose
    };
    Ok(Some(ParsedHead::Final {
        status,
        content_type,
        framing,
        keep_alive,
        len,
    }))
}
