//! Behaviour of the redb backend through the public API: group commit,
//! durability across reopen and across a crash, locking, shutdown.

use std::collections::BTreeMap;
use std::future::Future;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::pin::pin;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

use miroir_store::{Commit, RedbStore, Store, StoreError, Table, WriteBatch};

/// A directory under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        static N: AtomicU64 = AtomicU64::new(0);
        let dir = std::env::temp_dir().join(format!(
            "miroir-store-{name}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        TempDir(dir)
    }

    fn file(&self) -> PathBuf {
        self.0.join("state").join("miroir.redb")
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn put(table: Table, key: impl Into<Vec<u8>>, value: impl Into<Vec<u8>>) -> WriteBatch {
    let mut b = WriteBatch::new();
    b.put(table, key, value);
    b
}

/// Runs a future to completion on this thread, parking between polls: the
/// wake comes from the store's writer thread, as it would on a monoio core.
fn block_on<F: Future>(f: F) -> F::Output {
    struct Unpark(std::thread::Thread);
    impl Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut f = pin!(f);
    loop {
        if let Poll::Ready(out) = f.as_mut().poll(&mut cx) {
            return out;
        }
        std::thread::park_timeout(Duration::from_secs(5));
    }
}

#[test]
fn group_commit_batches_concurrent_submitters() {
    let dir = TempDir::new("group");
    let store = RedbStore::open(&dir.file()).expect("open");
    let threads: Vec<_> = (0..8u32)
        .map(|t| {
            let store = store.clone();
            std::thread::spawn(move || {
                // Submit everything first, then wait: submit must not block.
                let commits: Vec<Commit> = (0..125u32)
                    .map(|i| {
                        let mut b = WriteBatch::new();
                        b.put(Table::Tasks, format!("t{t}-{i:04}"), format!("v{t}-{i}"));
                        b.put(Table::Meta, format!("last-{t}"), i.to_be_bytes());
                        store.submit(b)
                    })
                    .collect();
                commits
                    .into_iter()
                    .map(|c| c.wait_blocking().expect("commit"))
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let infos: Vec<_> = threads
        .into_iter()
        .flat_map(|h| h.join().expect("submitter thread"))
        .collect();
    assert_eq!(infos.len(), 1000);

    let stats = store.stats();
    assert_eq!(stats.batches, 1000, "{stats:?}");
    assert_eq!(stats.records, 2000);
    assert_eq!(stats.commit_errors, 0);
    assert_eq!(stats.queue_depth, 0);
    assert!(
        stats.commits < 1000,
        "every batch got its own commit: no group commit ({} commits)",
        stats.commits
    );
    assert!(stats.max_batches_per_commit > 1);
    // Every batch reports a transaction that exists, and the transactions'
    // widths add up to the batches.
    let mut width_by_seq = BTreeMap::new();
    for i in &infos {
        assert!(i.commit_seq >= 1 && i.commit_seq <= stats.commits);
        *width_by_seq.entry(i.commit_seq).or_insert(0u32) += 1;
    }
    for i in &infos {
        assert_eq!(width_by_seq[&i.commit_seq], i.batches);
        assert_eq!(i.records, i.batches * 2);
    }
    assert_eq!(width_by_seq.len() as u64, stats.commits);
    // Histograms agree with the counters.
    assert_eq!(stats.commit_latency_us.count, stats.commits);
    assert_eq!(stats.batches_per_commit.count, stats.commits);
    assert_eq!(stats.batches_per_commit.sum, 1000);
    assert_eq!(stats.records_per_commit.sum, 2000);
    assert_eq!(
        stats.commit_latency_us.counts.iter().sum::<u64>(),
        stats.commits
    );
    assert_eq!(
        stats.batches_per_commit.cumulative().last(),
        Some(&(None, stats.commits))
    );

    assert_eq!(store.load(Table::Tasks).expect("load").len(), 1000);
    for t in 0..8u32 {
        assert_eq!(
            store
                .get(Table::Meta, format!("last-{t}").as_bytes())
                .expect("get"),
            Some(124u32.to_be_bytes().to_vec())
        );
    }
}

#[test]
fn data_survives_reopen() {
    let dir = TempDir::new("reopen");
    {
        let store = RedbStore::open(&dir.file()).expect("open");
        let mut b = WriteBatch::new();
        b.put(Table::Tasks, 1u64.to_be_bytes(), "task one")
            .put(Table::Tasks, 2u64.to_be_bytes(), "task two")
            .put(Table::Indexes, "movies", "{\"shards\":64}")
            .put(Table::Meta, "next_task_uid", 3u64.to_be_bytes());
        store.submit(b).wait_blocking().expect("commit");
    }
    let store = RedbStore::open(&dir.file()).expect("reopen");
    assert_eq!(
        store.load(Table::Tasks).expect("load"),
        vec![
            (1u64.to_be_bytes().to_vec(), b"task one".to_vec()),
            (2u64.to_be_bytes().to_vec(), b"task two".to_vec()),
        ]
    );
    assert_eq!(
        store.load(Table::Indexes).expect("load"),
        vec![(b"movies".to_vec(), b"{\"shards\":64}".to_vec())]
    );
    assert_eq!(
        store.get(Table::Meta, b"next_task_uid").expect("get"),
        Some(3u64.to_be_bytes().to_vec())
    );
}

#[test]
fn resolved_commit_is_visible_to_a_fresh_reader() {
    let dir = TempDir::new("visible");
    let store = RedbStore::open(&dir.file()).expect("open");
    // Awaited as a future, woken from the writer thread.
    for i in 0..100u32 {
        let mut b = WriteBatch::new();
        b.put(Table::Tasks, i.to_be_bytes(), format!("task {i}"))
            .put(Table::Meta, "next_task_uid", (i + 1).to_be_bytes());
        let info = block_on(store.submit(b)).expect("commit");
        assert!(info.commit_seq >= 1);
        // Each get is a new read transaction.
        assert_eq!(
            store.get(Table::Tasks, &i.to_be_bytes()).expect("get"),
            Some(format!("task {i}").into_bytes()),
            "batch {i} acknowledged but not visible"
        );
        assert_eq!(
            store.get(Table::Meta, b"next_task_uid").expect("get"),
            Some((i + 1).to_be_bytes().to_vec())
        );
    }
    // A reader in another thread, racing with the writer.
    let (tx, rx) = mpsc::channel::<u32>();
    let reader = {
        let store = store.clone();
        std::thread::spawn(move || {
            for i in rx {
                let v = store.get(Table::Tasks, &i.to_be_bytes()).expect("get");
                assert!(v.is_some(), "batch {i} acknowledged but not visible");
            }
        })
    };
    for i in 100..300u32 {
        store
            .submit(put(Table::Tasks, i.to_be_bytes(), "x"))
            .wait_blocking()
            .expect("commit");
        tx.send(i).expect("reader alive");
    }
    drop(tx);
    reader.join().expect("reader thread");
    // And a fresh database handle after close.
    drop(store);
    let store = RedbStore::open(&dir.file()).expect("reopen");
    assert_eq!(store.load(Table::Tasks).expect("load").len(), 300);
}

#[test]
fn delete_removes_a_key_and_ops_apply_in_order() {
    let dir = TempDir::new("delete");
    let store = RedbStore::open(&dir.file()).expect("open");
    let mut b = WriteBatch::new();
    b.put(Table::Tasks, "a", "1")
        .put(Table::Tasks, "b", "2")
        .put(Table::Tasks, "c", "3");
    store.submit(b).wait_blocking().expect("commit");

    let mut b = WriteBatch::new();
    b.delete(Table::Tasks, "a")
        .delete(Table::Tasks, "missing")
        .put(Table::Tasks, "c", "3bis")
        .delete(Table::Tasks, "c")
        .put(Table::Tasks, "b", "2bis");
    store.submit(b).wait_blocking().expect("commit");

    assert_eq!(store.get(Table::Tasks, b"a").expect("get"), None);
    assert_eq!(store.get(Table::Tasks, b"c").expect("get"), None);
    assert_eq!(
        store.load(Table::Tasks).expect("load"),
        vec![(b"b".to_vec(), b"2bis".to_vec())]
    );
    // Tables are separate key spaces.
    assert!(store.load(Table::Indexes).expect("load").is_empty());
}

#[test]
fn second_open_of_the_same_file_fails_with_a_clear_error() {
    let dir = TempDir::new("locked");
    let store = RedbStore::open(&dir.file()).expect("open");
    let err = RedbStore::open(&dir.file()).expect_err("second open must fail");
    assert!(matches!(err, StoreError::Locked { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(
        msg.contains("the database is locked by another Miroir process"),
        "{msg}"
    );
    assert!(msg.contains(&dir.file().display().to_string()), "{msg}");
    // The first store is unaffected.
    store
        .submit(put(Table::Meta, "k", "v"))
        .wait_blocking()
        .expect("commit");
}

#[test]
fn open_errors_name_the_path_and_the_cause() {
    let dir = TempDir::new("openerr");
    std::fs::create_dir_all(&dir.0).expect("mkdir");
    let blocker = dir.0.join("not-a-dir");
    std::fs::write(&blocker, b"file").expect("write");
    let path = blocker.join("miroir.redb");
    let err = RedbStore::open(&path).expect_err("parent is a file");
    let msg = err.to_string();
    assert!(msg.contains(&path.display().to_string()), "{msg}");
    assert!(msg.contains("creating its directory"), "{msg}");

    let garbage = dir.0.join("garbage.redb");
    std::fs::write(&garbage, vec![0x5a; 64 * 1024]).expect("write");
    let err = RedbStore::open(&garbage).expect_err("not a redb file");
    let msg = err.to_string();
    assert!(msg.contains(&garbage.display().to_string()), "{msg}");
    assert!(msg.contains("opening the database file"), "{msg}");
}

#[test]
fn drop_drains_the_queue_joins_the_writer_and_releases_the_file() {
    let dir = TempDir::new("drop");
    let store = RedbStore::open(&dir.file()).expect("open");
    let commits: Vec<Commit> = (0..300u32)
        .map(|i| store.submit(put(Table::Tasks, i.to_be_bytes(), "queued")))
        .collect();
    let (done_tx, done_rx) = mpsc::channel();
    std::thread::spawn(move || {
        drop(store);
        let _ = done_tx.send(());
    });
    done_rx
        .recv_timeout(Duration::from_secs(60))
        .expect("dropping the store did not return: writer thread not joined");
    // Every queued batch was committed before the writer exited.
    for c in commits {
        assert!(c.is_resolved());
        c.wait_blocking().expect("queued batch committed on close");
    }
    // The writer thread held the database: reopening works only once it is gone.
    let store = RedbStore::open(&dir.file()).expect("reopen after drop");
    assert_eq!(store.load(Table::Tasks).expect("load").len(), 300);
}

#[test]
fn flush_waits_for_everything_submitted_before() {
    let dir = TempDir::new("flush");
    let store = RedbStore::open(&dir.file()).expect("open");
    let commits: Vec<Commit> = (0..200u32)
        .map(|i| store.submit(put(Table::Tasks, i.to_be_bytes(), "v")))
        .collect();
    store.flush().expect("flush");
    assert!(commits.iter().all(Commit::is_resolved));
    assert_eq!(store.stats().queue_depth, 0);
    // Flushing an idle store costs no transaction.
    let before = store.stats().commits;
    store.flush().expect("flush");
    assert_eq!(store.stats().commits, before);
}

#[test]
fn commits_from_many_threads_with_async_waiters() {
    // 16 threads each awaiting their commits one at a time as futures: the
    // writer groups across threads while each waiter is woken cross-thread.
    let dir = TempDir::new("async");
    let store = RedbStore::open(&dir.file()).expect("open");
    let threads: Vec<_> = (0..16u32)
        .map(|t| {
            let store = store.clone();
            std::thread::spawn(move || {
                for i in 0..20u32 {
                    block_on(store.submit(put(Table::Tasks, format!("{t}/{i:03}"), "v")))
                        .expect("commit");
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("thread");
    }
    let stats = store.stats();
    assert_eq!(stats.batches, 320);
    assert!(stats.commits < 320, "{stats:?}");
}

const CRASH_ENV: &str = "MIROIR_STORE_CRASH_CHILD";
const CRASH_THREADS: u32 = 4;
const CRASH_AFTER_ACKS: u64 = 300;

/// The child half of `acknowledged_records_survive_a_crash`: does nothing in a
/// normal run. With `MIROIR_STORE_CRASH_CHILD=<path>` it writes from several
/// threads, prints `acked <thread> <i>` after each commit resolves, and aborts
/// the process while writes are still in flight.
#[test]
fn crash_child_entry() {
    let Some(path) = std::env::var_os(CRASH_ENV) else {
        return;
    };
    let store = RedbStore::open(Path::new(&path)).expect("child open");
    let acks = Arc::new(AtomicU64::new(0));
    for t in 0..CRASH_THREADS {
        let store = store.clone();
        let acks = acks.clone();
        std::thread::spawn(move || {
            for i in 0u32.. {
                let mut b = WriteBatch::new();
                b.put(Table::Tasks, crash_key(t, i), crash_value(t, i)).put(
                    Table::Meta,
                    format!("last-{t}"),
                    i.to_be_bytes(),
                );
                if store.submit(b).wait_blocking().is_err() {
                    return;
                }
                let mut out = std::io::stdout().lock();
                let _ = writeln!(out, "acked {t} {i}");
                let _ = out.flush();
                acks.fetch_add(1, Ordering::SeqCst);
            }
        });
    }
    let deadline = Instant::now() + Duration::from_secs(120);
    while acks.load(Ordering::SeqCst) < CRASH_AFTER_ACKS && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(1));
    }
    std::process::abort();
}

fn crash_key(t: u32, i: u32) -> Vec<u8> {
    format!("t{t}/{i:08}").into_bytes()
}

fn crash_value(t: u32, i: u32) -> Vec<u8> {
    format!("value of {t}/{i} ").repeat(8).into_bytes()
}

#[test]
fn acknowledged_records_survive_a_crash() {
    let dir = TempDir::new("crash");
    let path = dir.file();
    let exe = std::env::current_exe().expect("test binary path");
    let child = Command::new(exe)
        .args([
            "crash_child_entry",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CRASH_ENV, &path)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn child");
    let output = child.wait_with_output().expect("child output");
    assert!(
        !output.status.success(),
        "the child should have aborted: {:?}",
        output.status
    );
    let mut acked: BTreeMap<u32, Vec<u32>> = BTreeMap::new();
    for line in BufReader::new(&output.stdout[..]).lines() {
        let line = line.expect("utf-8 line");
        // libtest's "test crash_child_entry ... " has no newline: the first
        // ack can share its line.
        let Some(at) = line.find("acked ") else {
            continue;
        };
        let rest = &line[at + "acked ".len()..];
        let mut parts = rest.split(' ').map(|p| p.parse::<u32>().expect("number"));
        let (t, i) = (parts.next().expect("t"), parts.next().expect("i"));
        acked.entry(t).or_default().push(i);
    }
    let total: usize = acked.values().map(Vec::len).sum();
    assert!(
        total as u64 >= CRASH_AFTER_ACKS,
        "child acknowledged only {total} batches; status {:?}; stderr:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );

    let store = RedbStore::open(&path).expect("reopen after crash");
    let tasks: BTreeMap<Vec<u8>, Vec<u8>> = store
        .load(Table::Tasks)
        .expect("load")
        .into_iter()
        .collect();
    for (t, is) in &acked {
        for i in is {
            assert_eq!(
                tasks.get(&crash_key(*t, *i)),
                Some(&crash_value(*t, *i)),
                "acknowledged record {t}/{i} lost in the crash"
            );
        }
        // Batches are atomic and in order: the thread's sequence record
        // matches the last of its task records present, with no gap before.
        let last = store
            .get(Table::Meta, format!("last-{t}").as_bytes())
            .expect("get")
            .expect("sequence present");
        let last = u32::from_be_bytes(last.try_into().expect("4 bytes"));
        let present = tasks
            .keys()
            .filter(|k| k.starts_with(format!("t{t}/").as_bytes()))
            .count() as u32;
        assert_eq!(present, last + 1, "thread {t}: records 0..={last} expected");
        assert!(is.iter().all(|i| *i <= last));
    }
}
