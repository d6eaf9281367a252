//! Request and response types shared by the server and the handlers.

use std::ops::Range;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    Get,
    Head,
    Post,
    Put,
    Patch,
    Delete,
    Options,
    Other,
}

impl Method {
    pub fn parse(s: &str) -> Method {
        match s {
            "GET" => Method::Get,
            "HEAD" => Method::Head,
            "POST" => Method::Post,
            "PUT" => Method::Put,
            "PATCH" => Method::Patch,
            "DELETE" => Method::Delete,
            "OPTIONS" => Method::Options,
            _ => Method::Other,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Head => "HEAD",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Patch => "PATCH",
            Method::Delete => "DELETE",
            Method::Options => "OPTIONS",
            Method::Other => "OTHER",
        }
    }

    /// Safe to send twice: a retry on a stale connection is allowed.
    pub fn is_idempotent(self) -> bool {
        matches!(
            self,
            Method::Get | Method::Head | Method::Put | Method::Delete | Method::Options
        )
    }
}

/// Byte ranges of one header inside the request head.
#[derive(Clone, Debug)]
pub(crate) struct HeaderSpan {
    pub name: Range<usize>,
    pub value: Range<usize>,
}

/// A parsed request, borrowing the connection's buffers: no copies of the
/// head or (for Content-Length framing) of the body.
pub struct Request<'a> {
    pub method: Method,
    head: &'a [u8],
    target: &'a str,
    headers: &'a [HeaderSpan],
    pub body: &'a [u8],
}

impl<'a> Request<'a> {
    pub(crate) fn new(
        method: Method,
        head: &'a [u8],
        target: Range<usize>,
        headers: &'a [HeaderSpan],
        body: &'a [u8],
    ) -> Self {
        Request {
            method,
            head,
            // httparse only accepts visible ASCII in the target; checked once, read often.
            target: head
                .get(target)
                .and_then(|t| std::str::from_utf8(t).ok())
                .unwrap_or(""),
            headers,
            body,
        }
    }

    /// The request target as sent: path plus optional `?query`.
    pub fn target(&self) -> &'a str {
        self.target
    }

    pub fn path(&self) -> &'a str {
        let t = self.target();
        t.split_once('?').map_or(t, |(p, _)| p)
    }

    pub fn query(&self) -> &'a str {
        self.target().split_once('?').map_or("", |(_, q)| q)
    }

    /// First header with this name (ASCII case-insensitive).
    pub fn header(&self, name: &str) -> Option<&'a [u8]> {
        let head = self.head;
        self.headers.iter().find_map(|h| {
            let found = head
                .get(h.name.clone())?
                .eq_ignore_ascii_case(name.as_bytes());
            found.then(|| head.get(h.value.clone())).flatten()
        })
    }

    pub fn headers(&self) -> impl Iterator<Item = (&'a str, &'a [u8])> + '_ {
        let head = self.head;
        self.headers.iter().map(move |h| {
            (
                std::str::from_utf8(&head[h.name.clone()]).unwrap_or(""),
                &head[h.value.clone()],
            )
        })
    }
}

/// A response the server serialises. Bodies are owned bytes so a node's
/// answer can be moved through without copying.
#[derive(Debug, Default)]
pub struct Response {
    pub status: u16,
    pub content_type: Option<&'static str>,
    pub headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
    /// Close the connection after this response.
    pub close: bool,
}

pub const JSON: &str = "application/json";

impl Response {
    pub fn new(status: u16) -> Self {
        Response {
            status,
            ..Default::default()
        }
    }

    pub fn json(status: u16, body: Vec<u8>) -> Self {
        Response {
            status,
            content_type: Some(JSON),
            body,
            ..Default::default()
        }
    }

    /// A Meilisearch-shaped error: `{message, code, type, link}`.
    pub fn error(status: u16, code: &str, kind: &str, message: &str) -> Self {
        let mut body = Vec::with_capacity(128 + message.len());
        body.extend_from_slice(b"{\"message\":");
        write_json_str(&mut body, message);
        body.extend_from_slice(b",\"code\":");
        write_json_str(&mut body, code);
        body.extend_from_slice(b",\"type\":");
        write_json_str(&mut body, kind);
        body.extend_from_slice(b",\"link\":\"https://docs.meilisearch.com/errors#");
        body.extend_from_slice(code.as_bytes());
        body.extend_from_slice(b"\"}");
        Response::json(status, body)
    }

    pub fn with_header(mut self, name: &'static str, value: String) -> Self {
        self.headers.push((name, value));
        self
    }
}

/// Buffers kept per thread for reuse; bigger or more are freed.
const POOLED_BUFFERS: usize = 64;
const POOLED_CAPACITY: usize = 256 * 1024;

thread_local! {
    static BUFFERS: std::cell::RefCell<Vec<Vec<u8>>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// An empty buffer with room for at least `capacity` bytes, from this
/// thread's pool when it has one. Node responses, node request messages and
/// response bodies cycle through the pool, so a steady request rate does no
/// large allocations (each of which made glibc consolidate its fast bins).
pub fn take_buffer(capacity: usize) -> Vec<u8> {
    let mut buf = BUFFERS
        .with(|pool| pool.borrow_mut().pop())
        .unwrap_or_default();
    buf.clear();
    buf.reserve(capacity);
    buf
}

/// Gives a buffer back to this thread's pool (see [`take_buffer`]).
pub fn recycle_buffer(buf: Vec<u8>) {
    let cap = buf.capacity();
    if !(1024..=POOLED_CAPACITY).contains(&cap) {
        return;
    }
    BUFFERS.with(|pool| {
        let mut pool = pool.borrow_mut();
        if pool.len() < POOLED_BUFFERS {
            pool.push(buf);
        }
    });
}

/// Appends `n` in decimal.
pub fn push_decimal(out: &mut Vec<u8>, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[i..]);
}

/// Appends `s` as a JSON string literal.
pub fn write_json_str(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    for &b in s.as_bytes() {
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0..=0x1f => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                out.extend_from_slice(b"\\u00");
                out.push(HEX[(b >> 4) as usize]);
                out.push(HEX[(b & 0xf) as usize]);
            }
            _ => out.push(b),
        }
    }
    out.push(b'"');
}

pub fn reason(status: u16) -> &'static str {
    match status {
        100 => "Continue",
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
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "",
    }
}

/// Meilisearch's wording for a byte size: decimal units, up to two decimals.
pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KB", "MB", "GB", "TB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1000.0 && unit + 1 < UNITS.len() {
        value /= 1000.0;
        unit += 1;
    }
    let text = format!("{value:.2}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    format!("{text} {}", UNITS[unit])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_shape_escapes_and_links() {
        let r = Response::error(400, "bad_request", "invalid_request", "a \"quoted\"\nline");
        assert_eq!(
            std::str::from_utf8(&r.body).unwrap(),
            r#"{"message":"a \"quoted\"\nline","code":"bad_request","type":"invalid_request","link":"https://docs.meilisearch.com/errors#bad_request"}"#
        );
    }

    #[test]
    fn human_sizes_match_meilisearch_wording() {
        assert_eq!(human_size(1000), "1 KB");
        assert_eq!(human_size(999), "999 B");
        assert_eq!(human_size(104_857_600), "104.86 MB");
        assert_eq!(human_size(2_000_000_000), "2 GB");
    }
}
