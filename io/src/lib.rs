//! Miroir's I/O layer: thread-per-core monoio runtimes, the HTTP/1.1 server
//! each request core runs, and the per-core upstream connection pool.
//!
//! Everything here is runtime plumbing; nothing knows about Meilisearch
//! routes, shards or nodes beyond "an upstream address". Keeping this
//! boundary narrow is what lets a second backend (glommio) exist later.

pub mod chunked;
pub mod client;
pub mod http;
pub mod runtime;
pub mod server;
mod timer;

pub use client::{ClientConfig, UpstreamError, UpstreamPool, UpstreamRequest, UpstreamResponse};
pub use http::{Method, Request, Response};
pub use runtime::IoDriver;
pub use server::{Drain, Handler, ServerConfig};
