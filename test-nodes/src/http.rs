//! A tiny blocking HTTP/1.1 client for tests.
//!
//! One TCP connection per call (`Connection: close`; [`request_on`] sends on a connection the
//! caller keeps), `Content-Length` request framing,
//! `Content-Length` / chunked / close-delimited response framing, 10 s read and write timeouts.
//! Meant for tests and test setup, not for measuring anything.

use std::io::{self, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use crate::wire::{Incoming, WireError};

const TIMEOUT: Duration = Duration::from_secs(10);
const MAX_HEAD: usize = 64 * 1024;
const MAX_HEADERS: usize = 100;
/// Refuse to buffer response bodies larger than this.
const MAX_BODY: usize = 1 << 30;

/// A complete HTTP response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    /// Header names are lowercased; order and duplicates are kept as received.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    /// First header with this name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body parsed as JSON. Panics (showing status and body text) if it is not JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "HTTP {} response body is not JSON ({e}); body: {:?}",
                self.status,
                self.text()
            )
        })
    }

    /// The body as text (invalid UTF-8 replaced).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Sends one request on a fresh connection and reads the whole response.
///
/// `addr` is `"127.0.0.1:port"` or `"http://127.0.0.1:port"` (a trailing path is ignored).
/// `path` is the request target, query string included. Unless the caller passes
/// `content-length` or `transfer-encoding` itself (then `body` is sent verbatim, e.g. already
/// chunk-encoded), a `content-length` header is added for `body`, or `content-length: 0` for
/// POST/PUT/PATCH without a body. `host` and `connection: close` are added unless given.
pub fn request(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&[u8]>,
) -> io::Result<Response> {
    let authority = authority(addr);
    let stream = connect(authority)?;
    stream.set_nodelay(true)?;
    stream.set_read_timeout(Some(TIMEOUT))?;
    stream.set_write_timeout(Some(TIMEOUT))?;
    request_on(&stream, authority, method, path, headers, body)
}

/// [`request`] on an open `stream` to `authority` (`host:port`), which stays open when the
/// caller passes its own `connection` header (e.g. `keep-alive`) and the server keeps it.
pub fn request_on(
    stream: &TcpStream,
    authority: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&[u8]>,
) -> io::Result<Response> {
    let has = |name: &str| headers.iter().any(|(k, _)| k.eq_ignore_ascii_case(name));
    let mut head = format!("{method} {path} HTTP/1.1\r\n");
    if !has("host") {
        head.push_str(&format!("host: {authority}\r\n"));
    }
    if !has("connection") {
        head.push_str("connection: close\r\n");
    }
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    if !has("content-length") && !has("transfer-encoding") {
        match body {
            Some(b) => head.push_str(&format!("content-length: {}\r\n", b.len())),
            None if matches!(method, "POST" | "PUT" | "PATCH") => {
                head.push_str("content-length: 0\r\n")
            }
            None => {}
        }
    }
    head.push_str("\r\n");
    let mut bytes = head.into_bytes();
    if let Some(b) = body {
        bytes.extend_from_slice(b);
    }
    let mut writer = stream;
    writer.write_all(&bytes)?;

    let mut incoming = Incoming::new(stream);
    Ok(read_response(&mut incoming, method == "HEAD")?)
}

/// `GET` without a body.
pub fn get(addr: &str, path: &str, headers: &[(&str, &str)]) -> io::Result<Response> {
    request(addr, "GET", path, headers, None)
}

/// `"http://host:port/x"` → `"host:port"`.
fn authority(addr: &str) -> &str {
    let rest = addr
        .strip_prefix("http://")
        .or_else(|| addr.strip_prefix("HTTP://"))
        .unwrap_or(addr);
    rest.split('/').next().unwrap_or(rest)
}

fn connect(authority: &str) -> io::Result<TcpStream> {
    let mut last = io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("no address for {authority:?}"),
    );
    for sa in authority.to_socket_addrs()? {
        match TcpStream::connect_timeout(&sa, TIMEOUT) {
            Ok(s) => return Ok(s),
            Err(e) => last = e,
        }
    }
    Err(last)
}

/// Reads one response (skipping interim 1xx responses) from `incoming`.
pub(crate) fn read_response<R: io::Read>(
    incoming: &mut Incoming<R>,
    head_request: bool,
) -> Result<Response, WireError> {
    loop {
        let (status, headers) = read_head(incoming)?;
        if (100..200).contains(&status) && status != 101 {
            continue;
        }
        let find = |name: &str| {
            headers
                .iter()
                .filter(|(k, _)| k == name)
                .map(|(_, v)| v.as_str())
                .collect::<Vec<_>>()
        };
        let chunked = find("transfer-encoding")
            .last()
            .is_some_and(|v| v.to_ascii_lowercase().trim_end().ends_with("chunked"));
        let body = if head_request || status == 204 || status == 304 || status < 200 {
            Vec::new()
        } else if chunked {
            incoming.read_chunked(MAX_BODY)?
        } else if let Some(len) = find("content-length").first() {
            let len: usize = len
                .trim()
                .parse()
                .map_err(|_| WireError::Malformed("bad content-length in response"))?;
            if len > MAX_BODY {
                return Err(WireError::TooLarge);
            }
            incoming.take(len)?
        } else {
            incoming.read_to_end(MAX_BODY)?
        };
        return Ok(Response {
            status,
            headers,
            body,
        });
    }
}

type Head = (u16, Vec<(String, String)>);

fn read_head<R: io::Read>(incoming: &mut Incoming<R>) -> Result<Head, WireError> {
    loop {
        if !incoming.data().is_empty() {
            let mut slots = [httparse::EMPTY_HEADER; MAX_HEADERS];
            let mut resp = httparse::Response::new(&mut slots);
            match resp.parse(incoming.data()) {
                Ok(httparse::Status::Complete(n)) => {
                    let status = resp
                        .code
                        .ok_or(WireError::Malformed("response without status"))?;
                    let headers = resp
                        .headers
                        .iter()
                        .map(|h| {
                            (
                                h.name.to_ascii_lowercase(),
                                String::from_utf8_lossy(h.value).into_owned(),
                            )
                        })
                        .collect();
                    incoming.consume(n);
                    return Ok((status, headers));
                }
                Ok(httparse::Status::Partial) => {
                    if incoming.data().len() > MAX_HEAD {
                        return Err(WireError::TooLarge);
                    }
                }
                Err(httparse::Error::TooManyHeaders) => return Err(WireError::TooLarge),
                Err(_) => return Err(WireError::Malformed("bad response head")),
            }
        }
        if incoming.fill()? == 0 {
            return Err(WireError::Eof);
        }
    }
}
