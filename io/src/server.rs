//! HTTP/1.1 server for one request core: keep-alive, `Connection: close`,
//! `Expect: 100-continue`, chunked and fixed-length bodies, a body size
//! limit, and timeouts so an idle or slow client cannot pin a core.

use std::cell::{Cell, RefCell};
use std::io;
use std::mem::MaybeUninit;
use std::net::SocketAddr;
use std::ops::Range;
use std::os::fd::{AsRawFd, RawFd};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use monoio::buf::IoBufMut;
use monoio::io::{AsyncReadRent, AsyncWriteRentExt};
use monoio::net::{TcpListener, TcpStream};
use monoio::time::Instant;

use crate::chunked::{ChunkError, ChunkedDecoder};
use crate::http::{
    human_size, push_decimal, reason, recycle_buffer, HeaderSpan, Method, Request, Response,
};
use crate::timer::ConnTimer;

#[derive(Clone, Debug)]
pub struct ServerConfig {
    /// Largest request body accepted; larger gets 413 `payload_too_large`.
    pub max_body_bytes: u64,
    /// Time allowed from a request's first byte to the end of its head.
    pub header_timeout: Duration,
    /// Time allowed to receive a whole body, and to write a response.
    pub body_timeout: Duration,
    /// How long an idle keep-alive connection is kept.
    pub keepalive_timeout: Duration,
    /// On shutdown, how long in-flight requests may take to finish.
    pub drain_timeout: Duration,
}

/// Graceful shutdown, shared by every core. `begin` may be called from any
/// thread (the signal thread): it shuts the listening sockets down, which
/// wakes every core's pending accept and makes new connections fail, and
/// flags connections to close after their current request.
pub struct Drain {
    draining: AtomicBool,
    listeners: Vec<RawFd>,
}

impl Drain {
    /// `listeners`: the raw fds of every listening socket to stop.
    pub fn new(listeners: Vec<RawFd>) -> Arc<Drain> {
        Arc::new(Drain {
            draining: AtomicBool::new(false),
            listeners,
        })
    }

    pub fn begin(&self) {
        if self.draining.swap(true, Ordering::SeqCst) {
            return;
        }
        for &fd in &self.listeners {
            // SAFETY: shutdown on listening sockets that live until their
            // core's serve loop returns, which only happens after this.
            unsafe {
                libc::shutdown(fd, libc::SHUT_RDWR);
            }
        }
    }

    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::Relaxed)
    }
}

/// This core's open connections: how many, and which are idle between
/// requests (so a drain can wake them without touching busy ones).
#[derive(Default)]
struct Connections {
    active: Cell<usize>,
    idle: RefCell<FdSet>,
}

/// A set of file descriptors as bits: a connection enters and leaves the idle set once per
/// request, which a hashed set paid two hashes for.
#[derive(Default)]
struct FdSet(Vec<u64>);

impl FdSet {
    fn insert(&mut self, fd: RawFd) {
        let Ok(fd) = usize::try_from(fd) else { return };
        if self.0.len() <= fd / 64 {
            self.0.resize(fd / 64 + 1, 0);
        }
        if let Some(word) = self.0.get_mut(fd / 64) {
            *word |= 1 << (fd % 64);
        }
    }

    fn remove(&mut self, fd: RawFd) {
        let Ok(fd) = usize::try_from(fd) else { return };
        if let Some(word) = self.0.get_mut(fd / 64) {
            *word &= !(1 << (fd % 64));
        }
    }

    fn iter(&self) -> impl Iterator<Item = RawFd> + '_ {
        self.0.iter().enumerate().flat_map(|(i, &word)| {
            (0..64)
                .filter(move |bit| word & (1 << bit) != 0)
                .filter_map(move |bit| RawFd::try_from(i * 64 + bit).ok())
        })
    }
}

/// Keeps `Connections::active` right however a connection task ends.
struct ActiveGuard(Rc<Connections>);

impl Drop for ActiveGuard {
    fn drop(&mut self) {
        self.0.active.set(self.0.active.get().saturating_sub(1));
    }
}

/// Largest request head (request line + headers) accepted.
const MAX_HEAD_BYTES: usize = 64 * 1024;
const MAX_HEADERS: usize = 96;
/// Bodies up to this size are copied behind the head and written in one
/// syscall; larger ones are written separately to avoid the copy.
const COALESCE_BODY_BYTES: usize = 16 * 1024;
const READ_CHUNK: usize = 16 * 1024;

/// What a request core does with a request. One instance per core, so it may
/// keep per-core state (connection pools, counters) without locks.
#[allow(async_fn_in_trait)]
pub trait Handler: 'static {
    async fn handle(&self, req: Request<'_>) -> Response;
}

/// A listening socket with SO_REUSEPORT, so every core binds its own and the
/// kernel spreads connections between them.
pub fn bind_reuseport(addr: SocketAddr) -> io::Result<std::net::TcpListener> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    socket.set_reuse_port(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(1024)?;
    Ok(socket.into())
}

/// Accepts connections on this core until `drain` begins, then lets open
/// connections finish their current request (up to the drain timeout).
pub async fn serve<H: Handler>(
    listener: std::net::TcpListener,
    config: Rc<ServerConfig>,
    handler: Rc<H>,
    drain: Arc<Drain>,
) -> io::Result<()> {
    let listener = TcpListener::from_std(listener)?;
    let connections = Rc::new(Connections::default());
    monoio::spawn(close_idle_when_draining(connections.clone(), drain.clone()));
    loop {
        match listener.accept().await {
            Ok((stream, _peer)) => {
                let _ = stream.set_nodelay(true);
                connections.active.set(connections.active.get() + 1);
                let guard = ActiveGuard(connections.clone());
                let conn = serve_connection(
                    stream,
                    config.clone(),
                    handler.clone(),
                    drain.clone(),
                    guard,
                );
                monoio::spawn(conn);
            }
            Err(_) if drain.is_draining() => break,
            Err(err) => {
                // Out of file descriptors or a connection reset before
                // accept: keep serving the connections we have.
                tracing::warn!(error = %err, "accept failed");
                monoio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
    drop(listener);
    let deadline = Instant::now() + config.drain_timeout;
    while connections.active.get() > 0 && Instant::now() < deadline {
        monoio::time::sleep(Duration::from_millis(5)).await;
    }
    if connections.active.get() > 0 {
        tracing::warn!(
            open = connections.active.get(),
            "drain timeout: closing connections with requests in flight"
        );
    }
    Ok(())
}

/// Once draining, wakes idle keep-alive connections (their pending read
/// returns end-of-stream) so they close instead of waiting for a request.
async fn close_idle_when_draining(connections: Rc<Connections>, drain: Arc<Drain>) {
    loop {
        monoio::time::sleep(Duration::from_millis(20)).await;
        if drain.is_draining() {
            for fd in connections.idle.borrow().iter() {
                // SAFETY: the fd belongs to a live connection of this core
                // (removed from the set before the connection closes).
                unsafe {
                    libc::shutdown(fd, libc::SHUT_RD);
                }
            }
        }
    }
}

/// What the head of a request says about framing and the connection.
struct Head {
    len: usize,
    method: Method,
    target: Range<usize>,
    content_length: Option<u64>,
    chunked: bool,
    close: bool,
    expect_continue: bool,
}

enum Parsed {
    Complete(Head),
    Partial,
    Reject(Response),
}

fn parse_head(buf: &[u8], spans: &mut Vec<HeaderSpan>) -> Parsed {
    // Left uninitialised: httparse writes the headers it parses (filling 96 empty ones first
    // cost a few hundred instructions per request).
    let mut headers = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut []);
    let len = match req.parse_with_uninit_headers(buf, &mut headers) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return Parsed::Partial,
        Err(httparse::Error::TooManyHeaders) => {
            return Parsed::Reject(bad_request(431, "The request has too many headers."))
        }
        Err(err) => {
            return Parsed::Reject(bad_request(
                400,
                &format!("The request is malformed: {err}."),
            ))
        }
    };
    let base = buf.as_ptr() as usize;
    let offset = |s: &[u8]| s.as_ptr() as usize - base;
    let method_str = req.method.unwrap_or("");
    let path = req.path.unwrap_or("/");
    let target = offset(path.as_bytes())..offset(path.as_bytes()) + path.len();
    let http10 = req.version == Some(0);

    let mut head = Head {
        len,
        method: Method::parse(method_str),
        target,
        content_length: None,
        chunked: false,
        close: http10,
        expect_continue: false,
    };
    spans.clear();
    for h in req.headers.iter() {
        let name = h.name;
        spans.push(HeaderSpan {
            name: offset(name.as_bytes())..offset(name.as_bytes()) + name.len(),
            value: offset(h.value)..offset(h.value) + h.value.len(),
        });
        if name.eq_ignore_ascii_case("content-length") {
            let parsed = std::str::from_utf8(h.value)
                .ok()
                .and_then(|v| v.trim().parse::<u64>().ok());
            match (parsed, head.content_length) {
                (Some(v), None) => head.content_length = Some(v),
                (Some(v), Some(prev)) if v == prev => {}
                _ => {
                    return Parsed::Reject(bad_request(
                        400,
                        "The Content-Length header is invalid.",
                    ))
                }
            }
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            let last = h.value.rsplit(|&b| b == b',').next().unwrap_or(b"");
            if !trim_ascii(last).eq_ignore_ascii_case(b"chunked") {
                return Parsed::Reject(bad_request(
                    400,
                    "Only the chunked transfer encoding is supported.",
                ));
            }
            head.chunked = true;
        } else if name.eq_ignore_ascii_case("connection") {
            for token in h.value.split(|&b| b == b',') {
                let token = trim_ascii(token);
                if token.eq_ignore_ascii_case(b"close") {
                    head.close = true;
                } else if token.eq_ignore_ascii_case(b"keep-alive") && http10 {
                    head.close = false;
                }
            }
        } else if name.eq_ignore_ascii_case("expect") {
            head.expect_continue = trim_ascii(h.value).eq_ignore_ascii_case(b"100-continue");
        }
    }
    if head.chunked && head.content_length.is_some() {
        // Both framings at once is how request smuggling starts.
        return Parsed::Reject(bad_request(
            400,
            "A request cannot carry both Content-Length and Transfer-Encoding.",
        ));
    }
    Parsed::Complete(head)
}

fn trim_ascii(s: &[u8]) -> &[u8] {
    let start = s
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(s.len());
    let end = s
        .iter()
        .rposition(|b| !b.is_ascii_whitespace())
        .map_or(start, |e| e + 1);
    &s[start..end.max(start)]
}

fn bad_request(status: u16, message: &str) -> Response {
    let mut r = Response::error(status, "bad_request", "invalid_request", message);
    r.close = true;
    r
}

fn payload_too_large(limit: u64) -> Response {
    let mut r = Response::error(
        413,
        "payload_too_large",
        "invalid_request",
        &format!(
            "The provided payload reached the size limit. The maximum accepted payload size is {}.",
            human_size(limit)
        ),
    );
    r.close = true;
    r
}

/// Reads once into the spare capacity of `buf`. Ok(0) means end of stream.
pub(crate) async fn read_into(stream: &mut TcpStream, buf: &mut Vec<u8>) -> io::Result<usize> {
    if buf.capacity() - buf.len() < READ_CHUNK / 2 {
        buf.reserve(READ_CHUNK);
    }
    let (len, cap) = (buf.len(), buf.capacity());
    let owned = std::mem::take(buf);
    let (res, slice) = stream.read(owned.slice_mut(len..cap)).await;
    *buf = slice.into_inner();
    res
}

/// Writes all of `data`, handing the buffer back for reuse.
pub(crate) async fn write_all(stream: &mut TcpStream, data: Vec<u8>) -> (io::Result<()>, Vec<u8>) {
    let (res, data) = stream.write_all(data).await;
    (res.map(|_| ()), data)
}

/// Per-connection buffers, reused across the requests of a keep-alive
/// connection so a steady connection allocates nothing per request.
struct Connection {
    stream: OwnedStream,
    drain: Arc<Drain>,
    connections: Rc<Connections>,
    buf: Vec<u8>,
    decoded: Vec<u8>,
    out: Vec<u8>,
    spans: Vec<HeaderSpan>,
    /// Bounds every wait: for a request head, a body, a response write.
    timer: ConnTimer,
    /// When the connection last became idle (accepted, or its last response began to be
    /// written): the keep-alive timeout counts from it.
    idle_since: Instant,
}

enum Body {
    /// A range of `buf` (fixed-length framing: no copy).
    InBuffer(Range<usize>),
    /// Decoded chunked data in `decoded`.
    Decoded,
}

async fn serve_connection<H: Handler>(
    stream: TcpStream,
    config: Rc<ServerConfig>,
    handler: Rc<H>,
    drain: Arc<Drain>,
    active: ActiveGuard,
) {
    let now = Instant::now();
    let mut conn = Connection {
        timer: ConnTimer::new(now + config.keepalive_timeout),
        idle_since: now,
        stream: OwnedStream(stream),
        drain,
        connections: active.0.clone(),
        buf: Vec::with_capacity(READ_CHUNK),
        decoded: Vec::new(),
        out: Vec::with_capacity(1024),
        spans: Vec::with_capacity(16),
    };
    while let Some(()) = conn.serve_one(&config, &*handler).await {}
    drop(conn);
    drop(active);
}

impl Connection {
    /// Serves one request. `None` closes the connection.
    async fn serve_one<H: Handler>(&mut self, config: &ServerConfig, handler: &H) -> Option<()> {
        let head = self.read_head(config).await?;
        let (body, consumed) = match self.read_body(config, &head).await {
            Ok(v) => v,
            Err(Some(reject)) => {
                if self.respond(config, reject, false).await {
                    self.linger().await;
                }
                return None;
            }
            Err(None) => return None,
        };
        let body_bytes: &[u8] = match &body {
            Body::InBuffer(r) => &self.buf[r.clone()],
            Body::Decoded => &self.decoded,
        };
        let req = Request::new(
            head.method,
            &self.buf[..head.len],
            head.target.clone(),
            &self.spans,
            body_bytes,
        );
        let mut response = handler.handle(req).await;
        response.close |= head.close || self.drain.is_draining();
        let close = response.close;
        if !self
            .respond(config, response, head.method == Method::Head)
            .await
            || close
        {
            return None;
        }
        self.buf.drain(..consumed);
        Some(())
    }

    /// Waits for a complete head. Idle connections wait up to the keep-alive
    /// timeout for a first byte; from then on the header timeout applies.
    async fn read_head(&mut self, config: &ServerConfig) -> Option<Head> {
        // Set once the head has begun but is not complete.
        let mut deadline = None;
        loop {
            if !self.buf.is_empty() {
                match parse_head(&self.buf, &mut self.spans) {
                    Parsed::Complete(head) => return Some(head),
                    Parsed::Reject(r) => {
                        if self.respond(config, r, false).await {
                            self.linger().await;
                        }
                        return None;
                    }
                    Parsed::Partial if self.buf.len() > MAX_HEAD_BYTES => {
                        let r = bad_request(431, "The request head is too large.");
                        self.respond(config, r, false).await;
                        return None;
                    }
                    Parsed::Partial => {
                        deadline.get_or_insert_with(|| Instant::now() + config.header_timeout);
                    }
                }
            }
            let read = match deadline {
                None => {
                    if self.drain.is_draining() {
                        return None;
                    }
                    // Idle between requests: a drain may wake this read.
                    let fd = self.stream.0.as_raw_fd();
                    self.connections.idle.borrow_mut().insert(fd);
                    let read = self
                        .timer
                        .within(
                            self.idle_since + config.keepalive_timeout,
                            read_into(&mut self.stream.0, &mut self.buf),
                        )
                        .await;
                    self.connections.idle.borrow_mut().remove(fd);
                    read
                }
                Some(d) => {
                    self.timer
                        .within(d, read_into(&mut self.stream.0, &mut self.buf))
                        .await
                }
            };
            match read {
                Some(Ok(0)) | Some(Err(_)) => return None,
                Some(Ok(_)) => {}
                None => {
                    if deadline.is_some() {
                        tracing::debug!(
                            "closing a connection whose request head did not arrive in time"
                        );
                    }
                    return None;
                }
            }
        }
    }

    /// Reads the body. `Err(Some(r))` answers `r` and closes; `Err(None)`
    /// just closes (the peer went away or stalled).
    async fn read_body(
        &mut self,
        config: &ServerConfig,
        head: &Head,
    ) -> Result<(Body, usize), Option<Response>> {
        if let Some(length) = head.content_length {
            if length > config.max_body_bytes {
                return Err(Some(payload_too_large(config.max_body_bytes)));
            }
            let end = head.len + length as usize;
            if self.buf.len() < end {
                let deadline = Instant::now() + config.body_timeout;
                if head.expect_continue {
                    self.send_continue(deadline).await?;
                }
                self.buf.reserve(end - self.buf.len());
                while self.buf.len() < end {
                    self.read_until(deadline).await?;
                }
            }
            return Ok((Body::InBuffer(head.len..end), end));
        }
        if !head.chunked {
            return Ok((Body::InBuffer(head.len..head.len), head.len));
        }
        let deadline = Instant::now() + config.body_timeout;
        if head.expect_continue && self.buf.len() == head.len {
            self.send_continue(deadline).await?;
        }
        let mut decoder = ChunkedDecoder::new(config.max_body_bytes);
        self.decoded.clear();
        loop {
            match decoder.feed(&self.buf[head.len..], &mut self.decoded) {
                Ok(used) => {
                    // Drop the framing consumed so far; the head stays put.
                    self.buf.drain(head.len..head.len + used);
                }
                Err(ChunkError::TooLarge) => {
                    return Err(Some(payload_too_large(config.max_body_bytes)))
                }
                Err(ChunkError::Invalid) => {
                    return Err(Some(bad_request(
                        400,
                        "The chunked request body is malformed.",
                    )))
                }
            }
            if decoder.is_done() {
                return Ok((Body::Decoded, head.len));
            }
            self.read_until(deadline).await?;
        }
    }

    async fn read_until(&mut self, deadline: Instant) -> Result<(), Option<Response>> {
        match self
            .timer
            .within(deadline, read_into(&mut self.stream.0, &mut self.buf))
            .await
        {
            Some(Ok(n)) if n > 0 => Ok(()),
            Some(_) => Err(None),
            None => {
                tracing::debug!("closing a connection whose request body did not arrive in time");
                Err(None)
            }
        }
    }

    async fn send_continue(&mut self, deadline: Instant) -> Result<(), Option<Response>> {
        let interim = b"HTTP/1.1 100 Continue\r\n\r\n".to_vec();
        match self
            .timer
            .within(deadline, write_all(&mut self.stream.0, interim))
            .await
        {
            Some((Ok(()), _)) => Ok(()),
            _ => Err(None),
        }
    }

    /// After an error answer sent before the request was fully read: stop
    /// writing, then read and discard what the client is still sending for a
    /// moment. Closing with unread input would reset the connection, and the
    /// client could lose the error answer it has not read yet.
    async fn linger(&mut self) {
        const LINGER: Duration = Duration::from_millis(500);
        const MAX_DISCARD: usize = 4 << 20;
        // SAFETY: shutdown of the write side of a socket this connection owns.
        unsafe {
            libc::shutdown(self.stream.0.as_raw_fd(), libc::SHUT_WR);
        }
        let deadline = Instant::now() + LINGER;
        let mut discarded = 0;
        while discarded < MAX_DISCARD {
            self.buf.clear();
            match self
                .timer
                .within(deadline, read_into(&mut self.stream.0, &mut self.buf))
                .await
            {
                Some(Ok(n)) if n > 0 => discarded += n,
                _ => break,
            }
        }
    }

    /// Serialises and writes a response. Returns false if the write failed.
    async fn respond(
        &mut self,
        config: &ServerConfig,
        response: Response,
        head_only: bool,
    ) -> bool {
        let mut out = std::mem::take(&mut self.out);
        out.clear();
        out.extend_from_slice(b"HTTP/1.1 ");
        push_decimal(&mut out, u64::from(response.status));
        out.push(b' ');
        out.extend_from_slice(reason(response.status).as_bytes());
        out.extend_from_slice(b"\r\n");
        if let Some(ct) = response.content_type {
            out.extend_from_slice(b"content-type: ");
            out.extend_from_slice(ct.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"content-length: ");
        push_decimal(&mut out, response.body.len() as u64);
        out.extend_from_slice(b"\r\n");
        for (name, value) in &response.headers {
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(value.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        if response.close {
            out.extend_from_slice(b"connection: close\r\n");
        }
        out.extend_from_slice(b"\r\n");
        let separate_body = !head_only && response.body.len() > COALESCE_BODY_BYTES;
        if !head_only && !separate_body {
            out.extend_from_slice(&response.body);
        }
        // One clock read: the write's deadline, and the start of the next idle wait.
        self.idle_since = Instant::now();
        let deadline = self.idle_since + config.body_timeout;
        let mut body = response.body;
        let Connection {
            stream,
            out: kept,
            timer,
            ..
        } = self;
        let write = async {
            let (res, out) = write_all(&mut stream.0, out).await;
            *kept = out;
            res?;
            if separate_body {
                let (res, written) = write_all(&mut stream.0, std::mem::take(&mut body)).await;
                body = written;
                res?;
            }
            Ok::<(), io::Error>(())
        };
        let ok = matches!(timer.within(deadline, write).await, Some(Ok(())));
        recycle_buffer(body);
        ok
    }
}

/// A TCP stream that is shut down when dropped. With io_uring, dropping a
/// pending read does not cancel it, and the kernel keeps the socket open
/// until that read completes — a stalled peer would then hold it forever.
/// Shutting the socket down completes the read and lets the close happen.
pub(crate) struct OwnedStream(pub(crate) TcpStream);

impl Drop for OwnedStream {
    fn drop(&mut self) {
        // SAFETY: shutdown on a socket this value owns; errors are irrelevant.
        unsafe {
            libc::shutdown(self.0.as_raw_fd(), libc::SHUT_RDWR);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::FdSet;

    #[test]
    fn fd_set_holds_what_was_inserted_and_not_removed() {
        let mut set = FdSet::default();
        for fd in [3, 64, 65, 1000, 7, 64] {
            set.insert(fd);
        }
        set.remove(7);
        set.remove(5000);
        set.insert(-1);
        assert_eq!(set.iter().collect::<Vec<_>>(), vec![3, 64, 65, 1000]);
        for fd in [3, 64, 65, 1000] {
            set.remove(fd);
        }
        assert_eq!(set.iter().count(), 0);
    }
}
