//! Meilisearch **test double** and node harness for Miroir's integration tests.
//!
//! * [`TestNode`] is a test double, not Meilisearch: a small blocking HTTP/1.1 server started
//!   in-process on `127.0.0.1`, answering a subset of the Meilisearch API with the shapes recorded
//!   from real Meilisearch v1.50 (`shared/meili-v1.50/`, see [`fixture`]), with fault injection
//!   ([`Fault`]: down, slow, erroring, dropping writes).
//! * [`Node`] / [`start_nodes`] give integration scenarios either test doubles or, when the
//!   environment variable `MEILISEARCH_BIN` points at a `meilisearch` binary, real Meilisearch
//!   processes ([`RealNode`]) on loopback with temporary databases.
//! * [`http`] is a tiny blocking HTTP client for tests.
//!
//! std only: threads and `std::net`, no async runtime (SHA-256/HMAC for API keys are
//! implemented in `util`).
//!
//! # What the double implements
//!
//! Indexes, documents (JSON / NDJSON / CSV, primary-key inference), settings (all sub-routes),
//! asynchronous tasks (one worker thread per node, optional processing delay, cancelation and
//! deletion), filters, search (ranking rule by rule with Meilisearch's cost model, negative
//! words, sort, facets, distinct, pagination, highlight / crop, matches positions, ranking score
//! and details),
//! multi-search (plain and a simple federation), facet search, stats, index swap and API keys
//! with Meilisearch's key derivation. The recorded session `shared/meili-v1.50` replays against
//! it with identical bodies (timestamps and generated uuids aside), see `tests_session.rs`.
//!
//! Module map: `server` (transport, routing, auth), `state` (node data), `tasks` (queue, worker,
//! `/tasks`), `indexes`, `documents`, `settings`, `keys`, `filter`, `search/` (query parsing,
//! ranking, facets, routes), `index` (documents, inverted index, value access), `columns`
//! (per-attribute caches for filters, sort and facets), `params` (errors, parameter parsing),
//! `util` (time, ids, hashing).

mod columns;
mod documents;
mod filter;
pub mod http;
mod index;
mod indexes;
mod keys;
mod params;
mod real;
mod search;
mod server;
mod settings;
mod state;
mod tasks;
mod util;
mod wire;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_api;
#[cfg(test)]
mod tests_session;
#[cfg(test)]
mod tests_support;

use std::path::PathBuf;

pub use real::{meilisearch_bin, start_nodes, Node, RealNode, MEILISEARCH_BIN};
pub use server::{Fault, TestNode};

/// Directory of the recorded Meilisearch v1.50 exchanges (`shared/meili-v1.50/` next to the repo).
pub fn fixtures_dir() -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../shared/meili-v1.50"
    ))
}

/// The recorded exchange `{request, response, note}` whose file name starts with `prefix`
/// (`"003"` or `"003-indexes-no-auth"`). Panics unless exactly one file matches.
pub fn fixture(prefix: &str) -> serde_json::Value {
    let dir = fixtures_dir();
    let entries =
        std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("fixtures dir {}: {e}", dir.display()));
    let mut found: Vec<PathBuf> = entries
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| {
            p.extension().is_some_and(|x| x == "json")
                && p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with(prefix))
        })
        .collect();
    found.sort();
    assert!(
        found.len() == 1,
        "fixture {prefix:?}: expected one match in {}, found {found:?}",
        dir.display()
    );
    let text = std::fs::read_to_string(&found[0]).expect("read fixture");
    serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("fixture {} is not JSON: {e}", found[0].display()))
}
