//! The harness's upstream: a fast Meilisearch stand-in that answers every
//! search with the same realistic 10-hit response, so what a proxy run
//! measures is the proxy.

use std::net::TcpListener;

use miroir_io::runtime::IoDriver;
use serde_json::json;

/// The canned answer: 10 hits, each document holding the `_miroir_shard` Miroir wrote into it,
/// first (Miroir cuts it out), and `_rankingScore` when `scores` (asked for by
/// `"showRankingScore":true`, as Miroir's merge asks).
fn search_response(scores: bool) -> Vec<u8> {
    let hits: Vec<_> = (0..10)
        .map(|i| {
            let mut hit = json!({
                "_miroir_shard": miroir_router::batch::shard_value(i * 5),
                "id": 100 + i,
                "title": format!("Batman film number {i}"),
                "genres": ["Action", "Adventure"],
                "year": 1989 + i,
                "rating": 7.5 - i as f64 * 0.1,
                "director": "Tim Burton",
                "distributor": "Warner Bros.",
                "mpaa": "PG-13",
                "source": "Based on Comic/Graphic Novel",
                "creativeType": "Super Hero",
                "usGross": 251_188_924 - i * 1000,
            });
            if scores {
                hit["_rankingScore"] = json!(0.99 - i as f64 * 0.01);
            }
            hit
        })
        .collect();
    serde_json::to_vec(&json!({
        "hits": hits, "query": "batman", "processingTimeMs": 0, "limit": 10, "offset": 0,
        "estimatedTotalHits": 10, "requestUid": "01a21968-ab49-7e53-b0ab-16ba21444fb0"
    }))
    .expect("json")
}

/// A fast keep-alive HTTP/1.1 upstream: searches get the canned answer,
/// writes a summarized task, `/health` and anything else a small JSON. One
/// runtime per CPU, started as Miroir starts its request cores, each accepting
/// connections from one shared listener and serving them as tasks: one read
/// and one write per request (pipelined requests answered in one write), no
/// thread per connection to wake. Every
/// proxy in the comparison pays this upstream's cost alike, on the same cores,
/// so the cheaper it is, the more of what is measured is the proxy.
pub fn start_upstream() -> String {
    start_upstream_on("127.0.0.1:0")
}

/// [`start_upstream`] on a given address (`host:port`).
pub fn start_upstream_on(bind: &str) -> String {
    let listener = TcpListener::bind(bind).expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    // The epoll driver (the fallback) needs it; io_uring does not mind.
    listener
        .set_nonblocking(true)
        .expect("nonblocking listener");
    let answers: &'static Answers = Box::leak(Box::new(Answers::new()));
    let listener = std::sync::Arc::new(listener);
    // Miroir's own request-core threads and runtime setup (io_uring, epoll when it cannot start).
    miroir_io::runtime::spawn_cores(
        miroir_io::runtime::core_count(0),
        IoDriver::Uring,
        move |_| {
            let listener = listener.try_clone().expect("listener clone");
            async move {
                let listener =
                    monoio::net::TcpListener::from_std(listener).expect("upstream listener");
                while let Ok((stream, _)) = listener.accept().await {
                    monoio::spawn(serve(stream, answers));
                }
            }
        },
    )
    .expect("upstream threads");
    format!("http://{addr}")
}

/// Whole responses (head and body), built once.
struct Answers {
    search: Vec<u8>,
    search_with_scores: Vec<u8>,
    get: Vec<u8>,
    write: Vec<u8>,
}

impl Answers {
    fn new() -> Answers {
        let full = |status: &str, body: &[u8]| {
            let mut r = format!(
                "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
                body.len()
            )
            .into_bytes();
            r.extend_from_slice(body);
            r
        };
        Answers {
            search: full("200 OK", &search_response(false)),
            search_with_scores: full("200 OK", &search_response(true)),
            get: full("200 OK", br#"{"status":"available","results":[]}"#),
            write: full("202 Accepted", br#"{"taskUid":1,"indexUid":"movies","status":"enqueued","type":"indexCreation","enqueuedAt":"2026-11-26T00:00:00Z"}"#),
        }
    }
}

async fn serve(mut stream: monoio::net::TcpStream, answers: &'static Answers) {
    use monoio::io::{AsyncReadRent, AsyncWriteRentExt};
    use std::os::fd::AsRawFd;
    // monoio's io_uring accept does not ask for SOCK_CLOEXEC: without this, every
    // wrk started later inherits these sockets, and its event loop (sized for its
    // own connections) refuses descriptors that high ("Socket errors: connect").
    // SAFETY: fcntl(2) on a descriptor this task owns.
    unsafe {
        libc::fcntl(stream.as_raw_fd(), libc::F_SETFD, libc::FD_CLOEXEC);
    }
    let _ = stream.set_nodelay(true);
    let mut buf: Vec<u8> = Vec::with_capacity(16 * 1024);
    let mut out: Vec<u8> = Vec::with_capacity(16 * 1024);
    let mut chunk: Vec<u8> = Vec::with_capacity(16 * 1024);
    loop {
        chunk.clear();
        let (read, filled) = stream.read(chunk).await;
        chunk = filled;
        match read {
            Ok(0) | Err(_) => return,
            Ok(_) => buf.extend_from_slice(&chunk),
        }
        // Answer every complete request in the buffer.
        let mut used = 0;
        while let Some(len) = request_len(&buf[used..]) {
            let request = &buf[used..used + len];
            out.extend_from_slice(if contains(request, b"/search") {
                if contains(request, b"\"showRankingScore\":true") {
                    &answers.search_with_scores
                } else {
                    &answers.search
                }
            } else if request.starts_with(b"GET") {
                &answers.get
            } else {
                &answers.write
            });
            used += len;
        }
        buf.drain(..used);
        if !out.is_empty() {
            let (written, sent) = stream.write_all(out).await;
            out = sent;
            if written.is_err() {
                return;
            }
            out.clear();
        }
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Length of the complete request at the start of `buf` (head and
/// `content-length` body), or `None` while it is incomplete.
fn request_len(buf: &[u8]) -> Option<usize> {
    let head_end = buf.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    let head = std::str::from_utf8(&buf[..head_end]).ok()?;
    let body = head
        .split("\r\n")
        .find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse::<usize>().ok())
                .flatten()
        })
        .unwrap_or(0);
    (buf.len() >= head_end + body).then_some(head_end + body)
}
