//! The embedded backend: one redb file, one writer thread that group-commits.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Instant;

use redb::{
    Database, DatabaseError, Durability, ReadableDatabase, ReadableTable, ReadableTableMetadata,
    TableDefinition, TableError,
};

use crate::commit::{Commit, CommitInfo, CommitSender};
use crate::error::cause;
use crate::stats::{Metrics, StoreStats};
use crate::{Entry, Op, Store, StoreError, Table, WriteBatch};

/// At most this many batches go into one transaction.
pub const MAX_GROUP_BATCHES: usize = 4096;
/// A group stops taking more batches once their keys and values reach this
/// many bytes (a single larger batch still commits, alone).
pub const MAX_GROUP_BYTES: usize = 8 << 20;

/// Name of the writer thread.
pub const WRITER_THREAD_NAME: &str = "miroir-store";

type Def = TableDefinition<'static, &'static [u8], &'static [u8]>;

const fn def(table: Table) -> Def {
    TableDefinition::new(table.name())
}

struct Request {
    batch: WriteBatch,
    done: CommitSender,
    submitted: Instant,
}

/// The redb backend. See the crate docs for the group-commit contract.
///
/// Dropping the last `Arc<RedbStore>` closes it: the writer thread commits
/// everything already submitted, exits and is joined, and the file lock is
/// released before `drop` returns. (So drop it on a thread that may block for
/// a commit, not on a request core.)
pub struct RedbStore {
    path: PathBuf,
    db: Arc<Database>,
    tx: Option<Sender<Request>>,
    writer: Option<JoinHandle<()>>,
    metrics: Arc<Metrics>,
    #[cfg(test)]
    hooks: Arc<TestHooks>,
}

#[cfg(test)]
#[derive(Default)]
pub(crate) struct TestHooks {
    /// The writer takes this lock after receiving the first batch of a group
    /// and before draining the queue: a test holding it controls grouping.
    pub(crate) gate: std::sync::Mutex<()>,
    /// Fail the next transaction just before its commit.
    pub(crate) fail_next_commit: std::sync::atomic::AtomicBool,
}

impl RedbStore {
    /// Opens (or creates) the store at `path`: creates the parent
    /// directories, the file and every table of [`Table::ALL`], and starts the
    /// writer thread.
    ///
    /// Fails with [`StoreError::Locked`] when another process (or another
    /// `RedbStore` in this process) has the file open.
    pub fn open(path: &Path) -> Result<Arc<RedbStore>, StoreError> {
        let open_err = |stage, source| StoreError::Open {
            path: path.to_path_buf(),
            stage,
            source,
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            fs::create_dir_all(dir).map_err(|e| open_err("creating its directory", cause(e)))?;
        }
        let db = match Database::create(path) {
            Ok(db) => db,
            Err(DatabaseError::DatabaseAlreadyOpen) => {
                return Err(StoreError::Locked {
                    path: path.to_path_buf(),
                })
            }
            Err(e) => return Err(open_err("opening the database file", cause(e))),
        };
        create_tables(&db).map_err(|e| open_err("creating its tables", cause(e)))?;

        let db = Arc::new(db);
        let metrics = Arc::new(Metrics::new());
        #[cfg(test)]
        let hooks = Arc::new(TestHooks::default());
        let (tx, rx) = mpsc::channel();
        let writer = {
            let db = db.clone();
            let metrics = metrics.clone();
            #[cfg(test)]
            let hooks = hooks.clone();
            std::thread::Builder::new()
                .name(WRITER_THREAD_NAME.into())
                .spawn(move || {
                    Writer {
                        db,
                        metrics,
                        seq: 0,
                        #[cfg(test)]
                        hooks,
                    }
                    .run(rx)
                })
                .map_err(|e| open_err("starting the writer thread", cause(e)))?
        };
        Ok(Arc::new(RedbStore {
            path: path.to_path_buf(),
            db,
            tx: Some(tx),
            writer: Some(writer),
            metrics,
            #[cfg(test)]
            hooks,
        }))
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    #[cfg(test)]
    pub(crate) fn hooks(&self) -> &TestHooks {
        &self.hooks
    }

    fn read_err(table: Table) -> impl FnOnce(redb::Error) -> StoreError {
        move |e| StoreError::Read {
            table,
            source: cause(e),
        }
    }
}

fn create_tables(db: &Database) -> Result<(), redb::Error> {
    let mut txn = db.begin_write()?;
    txn.set_durability(Durability::Immediate)?;
    for table in Table::ALL {
        txn.open_table(def(*table))?;
    }
    txn.commit()?;
    Ok(())
}

impl Store for RedbStore {
    fn submit(&self, batch: WriteBatch) -> Commit {
        let Some(tx) = &self.tx else {
            return Commit::ready(Err(StoreError::Closed {
                reason: "the store is shutting down",
            }));
        };
        let (done, commit) = Commit::channel();
        self.metrics.queue_depth.fetch_add(1, Relaxed);
        let request = Request {
            batch,
            done,
            submitted: Instant::now(),
        };
        if let Err(mpsc::SendError(request)) = tx.send(request) {
            self.metrics.queue_depth.fetch_sub(1, Relaxed);
            request.done.send(Err(StoreError::Closed {
                reason: "its writer thread has exited",
            }));
        }
        commit
    }

    fn load(&self, table: Table) -> Result<Vec<Entry>, StoreError> {
        let read = || -> Result<Vec<Entry>, redb::Error> {
            let txn = self.db.begin_read()?;
            let t = match txn.open_table(def(table)) {
                Ok(t) => t,
                Err(TableError::TableDoesNotExist(_)) => return Ok(Vec::new()),
                Err(e) => return Err(e.into()),
            };
            let mut out = Vec::with_capacity(usize::try_from(t.len()?).unwrap_or(0));
            for entry in t.iter()? {
                let (k, v) = entry?;
                out.push((k.value().to_vec(), v.value().to_vec()));
            }
            Ok(out)
        };
        read().map_err(Self::read_err(table))
    }

    fn get(&self, table: Table, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        let read = || -> Result<Option<Vec<u8>>, redb::Error> {
            let txn = self.db.begin_read()?;
            let t = match txn.open_table(def(table)) {
                Ok(t) => t,
                Err(TableError::TableDoesNotExist(_)) => return Ok(None),
                Err(e) => return Err(e.into()),
            };
            Ok(t.get(key)?.map(|v| v.value().to_vec()))
        };
        read().map_err(Self::read_err(table))
    }

    fn stats(&self) -> StoreStats {
        self.metrics.snapshot()
    }

    fn flush(&self) -> Result<(), StoreError> {
        self.submit(WriteBatch::new()).wait_blocking().map(|_| ())
    }
}

impl Drop for RedbStore {
    fn drop(&mut self) {
        // Closing the channel ends the writer once it has committed every
        // request already queued (a closed mpsc channel still delivers them).
        drop(self.tx.take());
        if let Some(writer) = self.writer.take() {
            if writer.join().is_err() {
                tracing::error!(path = %self.path.display(), "the store writer thread panicked");
            }
        }
    }
}

impl std::fmt::Debug for RedbStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedbStore")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

struct Writer {
    db: Arc<Database>,
    metrics: Arc<Metrics>,
    /// Transactions committed so far.
    seq: u64,
    #[cfg(test)]
    hooks: Arc<TestHooks>,
}

impl Writer {
    fn run(mut self, rx: Receiver<Request>) {
        let mut group = Vec::new();
        // Block for the first request, then take whatever else is queued.
        while let Ok(first) = rx.recv() {
            #[cfg(test)]
            let gate = self.hooks.gate.lock();
            let mut bytes = first.batch.payload_len();
            group.push(first);
            while group.len() < MAX_GROUP_BATCHES && bytes < MAX_GROUP_BYTES {
                match rx.try_recv() {
                    Ok(request) => {
                        bytes += request.batch.payload_len();
                        group.push(request);
                    }
                    Err(_) => break,
                }
            }
            #[cfg(test)]
            drop(gate);
            self.commit_group(&mut group);
        }
    }

    /// Commits every batch of `group` in one transaction and resolves each
    /// batch's `Commit` with the outcome; leaves `group` empty.
    fn commit_group(&mut self, group: &mut Vec<Request>) {
        let batches = group.iter().filter(|r| !r.batch.is_empty()).count();
        let records: usize = group.iter().map(|r| r.batch.len()).sum();
        if records == 0 {
            // Only empty batches (flush markers): everything submitted before
            // them was committed by earlier groups; no transaction needed.
            self.resolve(group, Ok((0, 0, 0, 0)));
            return;
        }
        let start = Instant::now();
        let outcome = self.write(group);
        let latency_us = micros(start);
        match outcome {
            Ok(()) => {
                self.seq += 1;
                self.metrics
                    .committed(batches as u64, records as u64, latency_us);
                self.resolve(group, Ok((self.seq, batches, records, latency_us)));
            }
            Err(e) => {
                tracing::error!(error = %e, batches, records, "store commit failed");
                self.metrics.failed(group.len() as u64);
                let err = StoreError::Commit {
                    batches: group.len(),
                    source: cause(e),
                };
                self.resolve(group, Err(err));
            }
        }
    }

    fn resolve(
        &self,
        group: &mut Vec<Request>,
        outcome: Result<(u64, usize, usize, u64), StoreError>,
    ) {
        for request in group.drain(..) {
            self.metrics.queue_depth.fetch_sub(1, Relaxed);
            let result = match &outcome {
                Ok((commit_seq, batches, records, commit_latency_us)) => Ok(CommitInfo {
                    commit_seq: *commit_seq,
                    batches: u32::try_from(*batches).unwrap_or(u32::MAX),
                    records: u32::try_from(*records).unwrap_or(u32::MAX),
                    commit_latency_us: *commit_latency_us,
                    waited_us: micros(request.submitted),
                }),
                Err(e) => Err(e.clone()),
            };
            request.done.send(result);
        }
    }

    fn write(&self, group: &[Request]) -> Result<(), redb::Error> {
        let mut txn = self.db.begin_write()?;
        txn.set_durability(Durability::Immediate)?;
        {
            let mut tables: Vec<Option<redb::Table<'_, &'static [u8], &'static [u8]>>> =
                Table::ALL.iter().map(|_| None).collect();
            for op in group.iter().flat_map(|r| r.batch.ops()) {
                let (Op::Put { table, key, .. } | Op::Delete { table, key }) = op;
                let slot = &mut tables[table.index()];
                let t = match slot {
                    Some(t) => t,
                    None => slot.insert(txn.open_table(def(*table))?),
                };
                match op {
                    Op::Put { value, .. } => {
                        t.insert(key.as_slice(), value.as_slice())?;
                    }
                    Op::Delete { .. } => {
                        t.remove(key.as_slice())?;
                    }
                }
            }
        }
        #[cfg(test)]
        if self.hooks.fail_next_commit.swap(false, Relaxed) {
            txn.abort()?;
            return Err(std::io::Error::other("injected commit failure").into());
        }
        txn.commit()?;
        Ok(())
    }
}

fn micros(since: Instant) -> u64 {
    u64::try_from(since.elapsed().as_micros()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicU64;

    /// A file in a fresh directory under the temp dir; the directory is
    /// removed when the guard drops (also when the test fails).
    struct TempFile(PathBuf);

    impl TempFile {
        fn new(name: &str) -> Self {
            static N: AtomicU64 = AtomicU64::new(0);
            let dir = std::env::temp_dir().join(format!(
                "miroir-store-unit-{}-{}",
                std::process::id(),
                N.fetch_add(1, Relaxed)
            ));
            TempFile(dir.join(name))
        }
    }

    impl Drop for TempFile {
        fn drop(&mut self) {
            if let Some(dir) = self.0.parent() {
                let _ = fs::remove_dir_all(dir);
            }
        }
    }

    fn put(key: &str, value: &str) -> WriteBatch {
        let mut b = WriteBatch::new();
        b.put(Table::Tasks, key.as_bytes(), value.as_bytes());
        b
    }

    #[test]
    fn failed_commit_fails_every_batch_in_the_group_and_applies_none() {
        let tmp = TempFile::new("fail.redb");
        let store = RedbStore::open(&tmp.0).expect("open");
        let commits: Vec<Commit> = {
            let _gate = store.hooks().gate.lock().expect("gate");
            store.hooks().fail_next_commit.store(true, Relaxed);
            (0..10)
                .map(|i| store.submit(put(&format!("k{i}"), "v")))
                .collect()
        };
        for c in commits {
            match c.wait_blocking() {
                Err(StoreError::Commit { batches, .. }) => assert_eq!(batches, 10),
                other => panic!("expected a commit error, got {other:?}"),
            }
        }
        let stats = store.stats();
        assert_eq!(stats.commit_errors, 1);
        assert_eq!(stats.failed_batches, 10);
        assert_eq!(stats.commits, 0);
        assert_eq!(stats.queue_depth, 0);
        assert!(store.load(Table::Tasks).expect("load").is_empty());
        // The store keeps working afterwards.
        let info = store
            .submit(put("after", "ok"))
            .wait_blocking()
            .expect("commit");
        assert_eq!(info.commit_seq, 1);
        assert_eq!(
            store.get(Table::Tasks, b"after").expect("get").as_deref(),
            Some(&b"ok"[..])
        );
    }

    #[test]
    fn queued_batches_share_one_transaction() {
        let tmp = TempFile::new("group.redb");
        let store = RedbStore::open(&tmp.0).expect("open");
        let commits: Vec<Commit> = {
            let _gate = store.hooks().gate.lock().expect("gate");
            (0..50)
                .map(|i| store.submit(put(&format!("k{i}"), "v")))
                .collect()
        };
        let infos: Vec<CommitInfo> = commits
            .into_iter()
            .map(|c| c.wait_blocking().expect("commit"))
            .collect();
        assert!(infos.iter().all(|i| i.commit_seq == 1 && i.batches == 50));
        let stats = store.stats();
        assert_eq!((stats.commits, stats.batches, stats.records), (1, 50, 50));
        assert_eq!(stats.max_batches_per_commit, 50);
        // 50 falls in the (32, 64] bucket.
        assert_eq!(stats.batches_per_commit.counts[6], 1);
    }
}
