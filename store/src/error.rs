//! [`StoreError`].

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use crate::Table;

/// The underlying cause of a [`StoreError`] (shared: one failed commit is
/// reported to every batch it contained, so the error is `Clone`).
pub type Cause = Arc<dyn std::error::Error + Send + Sync + 'static>;

pub(crate) fn cause<E: std::error::Error + Send + Sync + 'static>(e: E) -> Cause {
    Arc::new(e)
}

/// What went wrong in the store. The `Display` text says what failed and why,
/// ready for a log line or a startup error.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum StoreError {
    /// Another process (or another open store in this process) holds the
    /// database file's lock.
    Locked { path: PathBuf },
    /// Opening or initialising the store failed.
    Open {
        path: PathBuf,
        /// What was being done, e.g. "creating its directory".
        stage: &'static str,
        source: Cause,
    },
    /// Reading a table failed.
    Read { table: Table, source: Cause },
    /// The transaction carrying `batches` write batches did not commit: none
    /// of them is acknowledged (they are not known to be durable).
    Commit { batches: usize, source: Cause },
    /// The store no longer accepts or completes writes (its writer thread has
    /// exited, e.g. after a panic).
    Closed { reason: &'static str },
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreError::Locked { path } => write!(
                f,
                "cannot open the store {}: the database is locked by another Miroir process \
                 (a redb store can be open in one process only; stop the other process, or use \
                 the redis backend to share state between processes)",
                path.display()
            ),
            StoreError::Open {
                path,
                stage,
                source,
            } => write!(
                f,
                "cannot open the store {}: {stage}: {source}",
                path.display()
            ),
            StoreError::Read { table, source } => {
                write!(f, "reading table `{table}` from the store failed: {source}")
            }
            StoreError::Commit { batches, source } => write!(
                f,
                "committing {batches} write batch{} to the store failed, nothing of {} was \
                 acknowledged: {source}",
                if *batches == 1 { "" } else { "es" },
                if *batches == 1 { "it" } else { "them" },
            ),
            StoreError::Closed { reason } => write!(f, "the store is closed: {reason}"),
        }
    }
}

impl std::error::Error for StoreError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            StoreError::Open { source, .. }
            | StoreError::Read { source, .. }
            | StoreError::Commit { source, .. } => Some(&**source),
            StoreError::Locked { .. } | StoreError::Closed { .. } => None,
        }
    }
}
