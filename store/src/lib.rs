//! Durable state of Miroir behind one trait, [`Store`]: tasks, index
//! metadata and sequences now; jobs, leases, idempotency keys, sessions,
//! aliases, settings versions and sync/rebalance progress later (see
//! [`Table`]). The embedded backend is [`RedbStore`] (one redb file); a Redis
//! backend, for several Miroir processes sharing state, is to follow behind
//! the same trait.
//!
//! # The group-commit contract
//!
//! **A 202 goes out only after its record is durable.** A request handler puts
//! every record its answer depends on (the task mapping, the bumped task-uid
//! sequence, ...) into one [`WriteBatch`], calls [`Store::submit`] and awaits
//! the returned [`Commit`] before it answers:
//!
//! * `submit` never blocks: it hands the batch to the store's single writer
//!   thread (`miroir-store`) and returns at once.
//! * The writer blocks for the first batch, then takes whatever else is
//!   already queued (up to [`redb_store::MAX_GROUP_BATCHES`] batches or
//!   [`redb_store::MAX_GROUP_BYTES`] bytes) and writes all of it in **one**
//!   redb write transaction, committed with `Durability::Immediate` (fsync).
//!   An fsync costs milliseconds (~270 commits/s measured here), so batching
//!   many requests' records per commit is what lets the write path go faster
//!   than the disk's commit rate.
//! * Only after that commit returned does every batch's `Commit` resolve
//!   `Ok`, all with the same [`CommitInfo::commit_seq`]. If the transaction
//!   fails, every batch in it resolves with the same
//!   [`StoreError::Commit`]: nothing is partially acknowledged. An `Err`
//!   means "not known to be durable" — answer the client with an error.
//! * A batch is atomic (all of its ops or none) and ops apply in order.
//!   Batches commit in the order they were submitted; a batch submitted after
//!   another one's `Commit` resolved sees it.
//! * [`Store::flush`] blocks until everything submitted before it is durable.
//!   Dropping the store drains the queue the same way, then joins the writer.
//!
//! A [`Commit`] is a plain waker-based future: it can be awaited on a monoio
//! core (monoio's `sync` feature must be on: the wake comes from the writer
//! thread) or waited for with [`Commit::wait_blocking`] off the request cores.
//!
//! # Reads
//!
//! Request cores never read the store: at start-up the owner of each kind of
//! state [`Store::load`]s its table once and keeps it in memory, writing
//! through with `submit`. [`Store::get`] is for background threads and tests.
//! Keys and values are opaque bytes; `load` returns entries in key byte order,
//! so integer keys should be big-endian.

mod batch;
mod commit;
mod error;
pub mod redb_store;
mod stats;

pub use batch::{Op, Table, WriteBatch};
pub use commit::{Commit, CommitInfo, CommitSender};
pub use error::{Cause, StoreError};
pub use redb_store::RedbStore;
pub use stats::{Histogram, StoreStats, BATCH_SIZE_BOUNDS, COMMIT_LATENCY_BOUNDS_US};

/// A key and its value, as [`Store::load`] returns them.
pub type Entry = (Vec<u8>, Vec<u8>);

/// A durable key-value store with group commit. See the crate docs for the
/// contract every backend keeps.
pub trait Store: Send + Sync + 'static {
    /// Hands `batch` to the writer without blocking; the returned [`Commit`]
    /// resolves once the batch is durable (or with the error that kept it
    /// from being acknowledged).
    fn submit(&self, batch: WriteBatch) -> Commit;

    /// Every entry of `table`, in key byte order (start-up scan).
    fn load(&self, table: Table) -> Result<Vec<Entry>, StoreError>;

    /// One entry of `table`. Sees every batch whose `Commit` has resolved.
    fn get(&self, table: Table, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError>;

    /// A lock-free snapshot of the store's counters and histograms.
    fn stats(&self) -> StoreStats;

    /// Blocks until every batch submitted before this call is durable (or has
    /// failed). `Err` only when the store can no longer commit at all.
    fn flush(&self) -> Result<(), StoreError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send_sync_unpin<T: Send + Sync + Unpin + 'static>() {}

    #[test]
    fn types_cross_threads_and_the_trait_is_object_safe() {
        assert_send_sync_unpin::<Commit>();
        assert_send_sync_unpin::<StoreError>();
        assert_send_sync_unpin::<WriteBatch>();
        fn _coerces(s: std::sync::Arc<RedbStore>) -> std::sync::Arc<dyn Store> {
            s
        }
    }
}
