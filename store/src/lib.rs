//! Durable state behind one trait with redb (embedded) and Redis backends:
//! tasks, jobs, leases, idempotency keys. Filled in by the write-path work;
//! the crate exists now so the dependency rules in ARCHITECTURE.md hold from
//! the start.
