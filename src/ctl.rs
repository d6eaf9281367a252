//! `miroir ctl`: a terminal client of a running Miroir (admin API and tasks),
//! with a tiny blocking HTTP/1.1 client (std `TcpStream` + `httparse`).

use std::io::{self, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;

/// Deadline of one ctl request: connect, send and the whole response.
const TIMEOUT: Duration = Duration::from_secs(10);
/// Larger responses are refused (a topology of 65535 nodes is far below).
const MAX_BODY: usize = 256 << 20;

#[derive(clap::Args, Debug)]
pub struct CtlArgs {
    /// Miroir's URL (http only).
    #[arg(
        long,
        global = true,
        env = "MIROIR_URL",
        default_value = "http://127.0.0.1:7700"
    )]
    pub url: String,
    /// Admin key for /_miroir/*: Miroir's auth.admin_key, or auth.master_key
    /// when no admin key is set.
    #[arg(
        long,
        global = true,
        env = "MIROIR_ADMIN_API_KEY",
        hide_env_values = true
    )]
    pub admin_key: Option<String>,
    /// Key for Meilisearch routes such as /tasks (the master key or an API
    /// key with the tasks.get action); default: the admin key.
    #[arg(long, global = true, env = "MIROIR_API_KEY", hide_env_values = true)]
    pub api_key: Option<String>,
    #[command(subcommand)]
    pub command: CtlCommand,
}

#[derive(clap::Subcommand, Debug)]
pub enum CtlCommand {
    /// Nodes, groups and shard coverage (GET /_miroir/topology).
    Status,
    /// One task, pretty-printed (GET /tasks/UID).
    Task {
        /// The task uid.
        uid: u64,
    },
}

pub fn run(args: &CtlArgs) -> Result<(), String> {
    let base = BaseUrl::parse(&args.url)?;
    let admin_key = args.admin_key.as_deref().filter(|k| !k.is_empty());
    match &args.command {
        CtlCommand::Status => {
            let topology = get_json(&base, "/_miroir/topology", admin_key, KeyKind::Admin)?;
            print!("{}", render_status(&topology, now_ms()));
            Ok(())
        }
        CtlCommand::Task { uid } => {
            let key = args
                .api_key
                .as_deref()
                .filter(|k| !k.is_empty())
                .or(admin_key);
            let task = get_json(&base, &format!("/tasks/{uid}"), key, KeyKind::Api)?;
            let text = serde_json::to_string_pretty(&task).map_err(|e| e.to_string())?;
            println!("{text}");
            Ok(())
        }
    }
}

#[derive(Clone, Copy)]
enum KeyKind {
    Admin,
    Api,
}

/// GET `path` and parse a 2xx JSON body; any other answer becomes a message
/// saying what went wrong and what to do.
fn get_json(base: &BaseUrl, path: &str, key: Option<&str>, kind: KeyKind) -> Result<Value, String> {
    let response = get(base, path, key, TIMEOUT).map_err(|e| e.describe(base))?;
    let body: Option<Value> = serde_json::from_slice(&response.body).ok();
    if (200..300).contains(&response.status) {
        return body.ok_or_else(|| {
            format!(
                "GET {path}: HTTP {} with a body that is not JSON: {}",
                response.status,
                String::from_utf8_lossy(&response.body[..response.body.len().min(200)])
            )
        });
    }
    let field = |name: &str| {
        body.as_ref()
            .and_then(|b| b.get(name))
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    let message = field("message")
        .unwrap_or_else(|| String::from_utf8_lossy(&response.body).trim().to_owned());
    let code = field("code").unwrap_or_default();
    let detail = if code.is_empty() {
        format!("HTTP {}: {message}", response.status)
    } else {
        format!("HTTP {} {code}: {message}", response.status)
    };
    let hint = match (response.status, kind) {
        (401, KeyKind::Admin) => {
            " Miroir wants the admin key: pass --admin-key KEY or set MIROIR_ADMIN_API_KEY \
             (Miroir's auth.admin_key, or auth.master_key when no admin key is set)."
        }
        (403, KeyKind::Admin) => {
            " The admin key was rejected: check --admin-key / MIROIR_ADMIN_API_KEY against \
             Miroir's auth.admin_key (or auth.master_key when no admin key is set)."
        }
        (401, KeyKind::Api) => {
            " Miroir wants a key: pass --api-key KEY (or set MIROIR_API_KEY), the master key \
             or an API key with the tasks.get action."
        }
        (403, KeyKind::Api) => {
            " The key was rejected: --api-key / MIROIR_API_KEY (else the admin key) must be \
             Miroir's master key or an API key with the tasks.get action."
        }
        _ => "",
    };
    let link = field("link")
        .map(|l| format!(" (see {l})"))
        .unwrap_or_default();
    Err(format!("GET {path}: {detail}{link}{hint}"))
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// The `status` report: a summary line, one row per node, one per group.
fn render_status(topo: &Value, now_ms: u64) -> String {
    let num = |v: &Value| v.as_u64().map_or("?".to_owned(), |n| n.to_string());
    let yes_no = |v: &Value| match v.as_bool() {
        Some(true) => "yes",
        Some(false) => "no",
        None => "?",
    };
    let mut out = format!(
        "shards: {}  replication factor: {}  groups: {}  fully covered: {}  degraded nodes: {}\n\n",
        num(&topo["shards"]),
        num(&topo["replication_factor"]),
        num(&topo["replica_groups"]),
        yes_no(&topo["fully_covered"]),
        num(&topo["degraded_node_count"]),
    );
    let text = |v: &Value| match v {
        Value::Null => "-".to_owned(),
        Value::String(s) if s.is_empty() => "-".to_owned(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let nodes = topo["nodes"].as_array().map(Vec::as_slice).unwrap_or(&[]);
    let mut rows = vec![[
        "ID",
        "ADDRESS",
        "GROUP",
        "STATUS",
        "SHARDS",
        "LAST SEEN",
        "ERROR",
    ]
    .map(str::to_owned)];
    for node in nodes {
        rows.push([
            text(&node["id"]),
            text(&node["address"]),
            text(&node["group"]),
            text(&node["status"]),
            text(&node["shard_count"]),
            node["last_seen_ms"]
                .as_u64()
                .map_or("never".to_owned(), |seen| ago(now_ms.saturating_sub(seen))),
            text(&node["error"]).replace(['\n', '\r'], " "),
        ]);
    }
    out.push_str(&table(&rows));
    let groups = topo["groups"].as_array().map(Vec::as_slice).unwrap_or(&[]);
    if !groups.is_empty() {
        out.push('\n');
        let mut rows = vec![["GROUP", "STATE", "NODES"].map(str::to_owned)];
        for group in groups {
            let members = group["nodes"]
                .as_array()
                .map(|ns| ns.iter().map(text).collect::<Vec<_>>().join(", "))
                .unwrap_or_default();
            rows.push([text(&group["id"]), text(&group["state"]), members]);
        }
        out.push_str(&table(&rows));
    }
    out
}

/// Left-aligned columns two spaces apart; the last column is not padded.
fn table<const N: usize>(rows: &[[String; N]]) -> String {
    let mut widths = [0usize; N];
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for row in rows {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            if i + 1 < N {
                line.push_str(&format!("{cell:<width$}  ", width = widths[i]));
            } else {
                line.push_str(cell);
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// "0.4s ago", "42s ago", "5m ago", "3h ago", "2d ago".
fn ago(ms: u64) -> String {
    let s = ms / 1000;
    if ms < 10_000 {
        format!("{}.{}s ago", ms / 1000, (ms % 1000) / 100)
    } else if s < 120 {
        format!("{s}s ago")
    } else if s < 7200 {
        format!("{}m ago", s / 60)
    } else if s < 2 * 86_400 {
        format!("{}h ago", s / 3600)
    } else {
        format!("{}d ago", s / 86_400)
    }
}

// --- HTTP/1.1 client -------------------------------------------------------

/// `http://host[:port][/prefix]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BaseUrl {
    /// `host:port` as given (for `Host:`), brackets kept for IPv6.
    authority: String,
    /// For connecting: host without brackets, and port.
    host: String,
    port: u16,
    /// Path prefix without a trailing '/' ("" for none).
    prefix: String,
}

impl BaseUrl {
    pub(crate) fn parse(url: &str) -> Result<BaseUrl, String> {
        let url = url.trim();
        let rest = match url.split_once("://") {
            Some((scheme, rest)) if scheme.eq_ignore_ascii_case("http") => rest,
            Some((scheme, _)) if scheme.eq_ignore_ascii_case("https") => {
                return Err(format!(
                    "{url}: https is not supported by miroir ctl; use Miroir's http:// address"
                ))
            }
            Some(_) => return Err(format!("{url}: the URL must start with http://")),
            None => url,
        };
        let (authority, prefix) = match rest.find('/') {
            Some(i) => (&rest[..i], rest[i..].trim_end_matches('/')),
            None => (rest, ""),
        };
        let bad = || format!("{url}: not an http://HOST[:PORT] URL");
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let (host, after) = v6.split_once(']').ok_or_else(bad)?;
            let port = match after.strip_prefix(':') {
                Some(p) => p.parse().map_err(|_| bad())?,
                None if after.is_empty() => 80,
                None => return Err(bad()),
            };
            (host, port)
        } else {
            match authority.rsplit_once(':') {
                Some((host, port)) => (host, port.parse().map_err(|_| bad())?),
                None => (authority, 80),
            }
        };
        if host.is_empty() || authority.contains('@') {
            return Err(bad());
        }
        Ok(BaseUrl {
            authority: authority.to_owned(),
            host: host.to_owned(),
            port,
            prefix: prefix.to_owned(),
        })
    }

    /// `127.0.0.1:7700`-style socket address, for `http://` + this.
    pub(crate) fn from_addr(addr: std::net::SocketAddr) -> BaseUrl {
        BaseUrl {
            authority: addr.to_string(),
            host: addr.ip().to_string(),
            port: addr.port(),
            prefix: String::new(),
        }
    }
}

pub(crate) struct HttpResponse {
    pub status: u16,
    pub body: Vec<u8>,
}

#[derive(Debug)]
pub(crate) enum HttpError {
    Resolve(String),
    Connect(io::Error),
    Io(io::Error),
    Protocol(String),
}

impl HttpError {
    pub(crate) fn describe(&self, base: &BaseUrl) -> String {
        let at = format!("http://{}", base.authority);
        match self {
            HttpError::Resolve(why) => format!("cannot resolve {}: {why}", base.host),
            HttpError::Connect(e) if e.kind() == io::ErrorKind::ConnectionRefused => format!(
                "cannot connect to {at}: connection refused. Is Miroir running there? Start it \
                 with `miroir serve --config FILE` (or `miroir dev`), or point --url / MIROIR_URL \
                 at it."
            ),
            HttpError::Connect(e) | HttpError::Io(e) if is_timeout(e) => format!(
                "no answer from {at} within {} s (is --url / MIROIR_URL right?)",
                TIMEOUT.as_secs()
            ),
            HttpError::Connect(e) => format!("cannot connect to {at}: {e}"),
            HttpError::Io(e) => format!("request to {at} failed: {e}"),
            HttpError::Protocol(why) => format!("bad HTTP response from {at}: {why}"),
        }
    }
}

fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock
    )
}

/// One `GET` with `Connection: close`, all of it within `timeout`.
pub(crate) fn get(
    base: &BaseUrl,
    path: &str,
    bearer: Option<&str>,
    timeout: Duration,
) -> Result<HttpResponse, HttpError> {
    let deadline = Instant::now() + timeout;
    let addrs: Vec<_> = (base.host.as_str(), base.port)
        .to_socket_addrs()
        .map_err(|e| HttpError::Resolve(e.to_string()))?
        .collect();
    let mut last = None;
    let mut stream = None;
    for addr in addrs {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            last = Some(io::Error::from(io::ErrorKind::TimedOut));
            break;
        }
        match TcpStream::connect_timeout(&addr, left) {
            Ok(s) => {
                stream = Some(s);
                break;
            }
            Err(e) => last = Some(e),
        }
    }
    let Some(stream) = stream else {
        return Err(match last {
            Some(e) => HttpError::Connect(e),
            None => HttpError::Resolve("no address".into()),
        });
    };
    let _ = stream.set_nodelay(true);
    let mut request = format!(
        "GET {}{} HTTP/1.1\r\nHost: {}\r\nUser-Agent: miroir-ctl/{}\r\nAccept: application/json\r\nConnection: close\r\n",
        base.prefix,
        path,
        base.authority,
        env!("CARGO_PKG_VERSION")
    );
    if let Some(key) = bearer {
        if key.contains(['\r', '\n']) {
            return Err(HttpError::Protocol("the key contains a line break".into()));
        }
        request.push_str(&format!("Authorization: Bearer {key}\r\n"));
    }
    request.push_str("\r\n");
    let mut stream = Deadline { stream, deadline };
    stream
        .write_all(request.as_bytes())
        .map_err(HttpError::Io)?;
    read_response(&mut stream)
}

/// A `TcpStream` whose reads and writes share one deadline.
struct Deadline {
    stream: TcpStream,
    deadline: Instant,
}

impl Deadline {
    fn left(&self) -> io::Result<Duration> {
        let left = self.deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            Err(io::ErrorKind::TimedOut.into())
        } else {
            Ok(left)
        }
    }
}

impl Read for Deadline {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.stream.set_read_timeout(Some(self.left()?))?;
        self.stream.read(buf)
    }
}

impl Write for Deadline {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.stream.set_write_timeout(Some(self.left()?))?;
        self.stream.write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.stream.flush()
    }
}

/// Buffered reading of one response from `r`.
struct Input<'a, R> {
    r: &'a mut R,
    buf: Vec<u8>,
    pos: usize,
}

impl<R: Read> Input<'_, R> {
    /// Reads more bytes; false at end of stream.
    fn fill(&mut self) -> Result<bool, HttpError> {
        if self.buf.len() - self.pos > MAX_BODY + 64 * 1024 {
            return Err(HttpError::Protocol("response too large".into()));
        }
        let mut chunk = [0u8; 16 * 1024];
        loop {
            match self.r.read(&mut chunk) {
                Ok(0) => return Ok(false),
                Ok(n) => {
                    self.buf.extend_from_slice(&chunk[..n]);
                    return Ok(true);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(HttpError::Io(e)),
            }
        }
    }

    fn need(&mut self, n: usize, what: &str) -> Result<(), HttpError> {
        while self.buf.len() - self.pos < n {
            if !self.fill()? {
                return Err(HttpError::Protocol(format!(
                    "connection closed in the {what}"
                )));
            }
        }
        Ok(())
    }

    fn rest(&self) -> &[u8] {
        &self.buf[self.pos..]
    }
}

fn read_response<R: Read>(r: &mut R) -> Result<HttpResponse, HttpError> {
    let mut input = Input {
        r,
        buf: Vec::with_capacity(8 * 1024),
        pos: 0,
    };
    loop {
        let (status, head_len, chunked, length) = loop {
            let mut headers = [httparse::EMPTY_HEADER; 64];
            let mut head = httparse::Response::new(&mut headers);
            match head.parse(input.rest()) {
                Ok(httparse::Status::Complete(n)) => {
                    let status = head.code.unwrap_or(0);
                    let mut chunked = false;
                    let mut length = None;
                    for h in head.headers.iter() {
                        if h.name.eq_ignore_ascii_case("transfer-encoding") {
                            chunked = String::from_utf8_lossy(h.value)
                                .to_ascii_lowercase()
                                .contains("chunked");
                        } else if h.name.eq_ignore_ascii_case("content-length") {
                            let v = std::str::from_utf8(h.value)
                                .ok()
                                .and_then(|v| v.trim().parse::<usize>().ok())
                                .ok_or_else(|| HttpError::Protocol("bad Content-Length".into()))?;
                            length = Some(v);
                        }
                    }
                    break (status, n, chunked, length);
                }
                Ok(httparse::Status::Partial) => {
                    if input.rest().len() > 64 * 1024 {
                        return Err(HttpError::Protocol("response head too large".into()));
                    }
                    if !input.fill()? {
                        return Err(HttpError::Protocol(if input.rest().is_empty() {
                            "the connection closed without a response".into()
                        } else {
                            "the connection closed in the response head".into()
                        }));
                    }
                }
                Err(e) => return Err(HttpError::Protocol(e.to_string())),
            }
        };
        input.pos += head_len;
        if (100..200).contains(&status) {
            continue; // interim response; the real one follows
        }
        let body = if status == 204 || status == 304 {
            Vec::new()
        } else if chunked {
            read_chunked(&mut input)?
        } else if let Some(n) = length {
            if n > MAX_BODY {
                return Err(HttpError::Protocol("response too large".into()));
            }
            input.need(n, "body")?;
            input.rest()[..n].to_vec()
        } else {
            while input.fill()? {}
            input.rest().to_vec()
        };
        return Ok(HttpResponse { status, body });
    }
}

fn read_chunked<R: Read>(input: &mut Input<'_, R>) -> Result<Vec<u8>, HttpError> {
    let mut body = Vec::new();
    loop {
        let (consumed, size) = loop {
            match httparse::parse_chunk_size(input.rest()) {
                Ok(httparse::Status::Complete(v)) => break v,
                Ok(httparse::Status::Partial) => {
                    input.need(input.rest().len() + 1, "chunk size")?
                }
                Err(_) => return Err(HttpError::Protocol("bad chunk size".into())),
            }
        };
        input.pos += consumed;
        if size == 0 {
            // Trailers, if any, end with an empty line.
            loop {
                input.need(2, "chunked trailer")?;
                if input.rest().starts_with(b"\r\n") {
                    return Ok(body);
                }
                match input.rest().windows(2).position(|w| w == b"\r\n") {
                    Some(i) => input.pos += i + 2,
                    None => input.need(input.rest().len() + 1, "chunked trailer")?,
                }
            }
        }
        let size = usize::try_from(size)
            .ok()
            .filter(|&s| body.len().saturating_add(s) <= MAX_BODY)
            .ok_or_else(|| HttpError::Protocol("response too large".into()))?;
        input.need(size + 2, "chunked body")?;
        body.extend_from_slice(&input.rest()[..size]);
        if &input.rest()[size..size + 2] != b"\r\n" {
            return Err(HttpError::Protocol("chunk not followed by CRLF".into()));
        }
        input.pos += size + 2;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A reader handing out one byte at a time, to hit every partial path.
    struct Trickle<'a>(&'a [u8]);

    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if self.0.is_empty() || buf.is_empty() {
                return Ok(0);
            }
            buf[0] = self.0[0];
            self.0 = &self.0[1..];
            Ok(1)
        }
    }

    fn parse(raw: &[u8]) -> Result<HttpResponse, HttpError> {
        read_response(&mut Trickle(raw))
    }

    #[test]
    fn content_length_chunked_and_eof_bodies() {
        let r = parse(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhelloEXTRA").unwrap();
        assert_eq!((r.status, r.body.as_slice()), (200, &b"hello"[..]));

        let raw = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nWiki\r\n5;ext=1\r\npedia\r\n0\r\nX-Trailer: y\r\n\r\n";
        let r = parse(raw).unwrap();
        assert_eq!(r.body, b"Wikipedia");

        let r = parse(b"HTTP/1.0 404 Not Found\r\n\r\n{\"a\":1}").unwrap();
        assert_eq!((r.status, r.body.as_slice()), (404, &b"{\"a\":1}"[..]));

        let r = parse(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n").unwrap();
        assert_eq!((r.status, r.body.len()), (204, 0));
    }

    #[test]
    fn truncated_and_malformed_responses_are_errors() {
        assert!(parse(b"").is_err());
        assert!(parse(b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nshort").is_err());
        assert!(parse(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab").is_err());
        assert!(parse(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n").is_err());
        assert!(
            parse(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabXY0\r\n\r\n")
                .is_err()
        );
        assert!(parse(b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n").is_err());
        assert!(parse(b"garbage\r\n\r\n").is_err());
    }

    #[test]
    fn urls() {
        let u = BaseUrl::parse("http://127.0.0.1:7700").unwrap();
        assert_eq!(
            (u.host.as_str(), u.port, u.prefix.as_str()),
            ("127.0.0.1", 7700, "")
        );
        let u = BaseUrl::parse("localhost:7700/").unwrap();
        assert_eq!((u.host.as_str(), u.port), ("localhost", 7700));
        let u = BaseUrl::parse("http://[::1]:7700/search/").unwrap();
        assert_eq!(
            (
                u.authority.as_str(),
                u.host.as_str(),
                u.port,
                u.prefix.as_str()
            ),
            ("[::1]:7700", "::1", 7700, "/search")
        );
        assert_eq!(BaseUrl::parse("http://example.com").unwrap().port, 80);
        assert!(BaseUrl::parse("https://example.com")
            .unwrap_err()
            .contains("https"));
        assert!(BaseUrl::parse("ftp://x").is_err());
        assert!(BaseUrl::parse("http://:7700").is_err());
        assert!(BaseUrl::parse("http://h:port").is_err());
    }

    #[test]
    fn ages() {
        assert_eq!(ago(0), "0.0s ago");
        assert_eq!(ago(420), "0.4s ago");
        assert_eq!(ago(9_999), "9.9s ago");
        assert_eq!(ago(42_000), "42s ago");
        assert_eq!(ago(300_000), "5m ago");
        assert_eq!(ago(3 * 3_600_000), "3h ago");
        assert_eq!(ago(3 * 86_400_000), "3d ago");
    }

    #[test]
    fn status_table() {
        let topo = json!({
            "shards": 16, "replication_factor": 1, "replica_groups": 2,
            "degraded_node_count": 1, "fully_covered": false,
            "groups": [
                {"id": 0, "state": "active", "nodes": ["a"]},
                {"id": 1, "state": "active", "nodes": ["bb", "c"]}
            ],
            "nodes": [
                {"id": "a", "address": "http://10.0.0.1:7700", "group": 0, "status": "active",
                 "shard_count": 16, "last_seen_ms": 999_600, "error": null},
                {"id": "bb", "address": "http://10.0.0.2:7700", "group": 1, "status": "active",
                 "shard_count": 8, "last_seen_ms": 1_000_500, "error": null},
                {"id": "c", "address": "http://10.0.0.3:7700", "group": 1, "status": "failed",
                 "shard_count": 8, "last_seen_ms": null, "error": "connection refused"}
            ]
        });
        let text = render_status(&topo, 1_000_000);
        let expected = "\
shards: 16  replication factor: 1  groups: 2  fully covered: no  degraded nodes: 1

ID  ADDRESS               GROUP  STATUS  SHARDS  LAST SEEN  ERROR
a   http://10.0.0.1:7700  0      active  16      0.4s ago   -
bb  http://10.0.0.2:7700  1      active  8       0.0s ago   -
c   http://10.0.0.3:7700  1      failed  8       never      connection refused

GROUP  STATE   NODES
0      active  a
1      active  bb, c
";
        assert_eq!(text, expected);
    }
}
