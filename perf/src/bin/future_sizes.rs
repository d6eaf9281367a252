//! Bytes of the futures a node call is made of: each is moved (copied) as it is built and
//! wrapped, so their size is a per-call cost (perf/RESULTS.md, eighth session).
//!
//! future_sizes

use std::time::Duration;

use miroir_io::{ClientConfig, Method, UpstreamPool, UpstreamRequest};

fn main() {
    let pool = UpstreamPool::new(
        &[],
        ClientConfig {
            connect_timeout: Duration::from_secs(1),
            max_idle_per_node: 1,
            max_response_bytes: 1,
        },
    );
    let request = UpstreamRequest {
        method: Method::Post,
        target: "/indexes/movies/search",
        headers: &[],
        body: b"{}",
    };
    // Built, measured and dropped: never polled, so no runtime is needed.
    let now = std::time::Instant::now();
    let send = pool.send_until(0, &request, now, now + Duration::from_secs(1), true);
    println!(
        "monoio::time::Sleep (one timer): {} bytes",
        std::mem::size_of::<monoio::time::Sleep>()
    );
    println!(
        "UpstreamPool::send_until future (one node exchange): {} bytes",
        std::mem::size_of_val(&send)
    );
}
