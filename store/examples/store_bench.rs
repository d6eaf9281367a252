//! Commit throughput of the redb store, with fsync.
//!
//! ```text
//! cargo run --release -p miroir-store --example store_bench -- [DIR] [SECONDS]
//! ```
//!
//! DIR (default: the system temp dir) must be on the disk to measure (not
//! tmpfs). Runs (a) one submitter, one batch at a time, and (b) 64 concurrent
//! submitters each waiting for its own commit before the next, each for
//! SECONDS (default 5). Each batch is one task record (~300 bytes) plus the
//! task-uid sequence, i.e. 2 records, like a document write's task mapping.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use miroir_store::{RedbStore, Store, Table, WriteBatch};

fn batch(uid: u64) -> WriteBatch {
    let mut b = WriteBatch::with_capacity(2);
    b.put(
        Table::Tasks,
        uid.to_be_bytes(),
        format!(
            "{{\"uid\":{uid},\"indexUid\":\"movies\",\"status\":\"enqueued\",\"type\":\"documentAdditionOrUpdate\",\
             \"nodeTasks\":[[\"meili-0\",{uid}],[\"meili-1\",{uid}],[\"meili-2\",{uid}]],\
             \"enqueuedAt\":\"2026-01-01T00:00:00.000000000Z\",\"details\":{{\"receivedDocuments\":1000}}}}"
        ),
    );
    b.put(Table::Meta, "next_task_uid", (uid + 1).to_be_bytes());
    b
}

fn run(store: &Arc<RedbStore>, submitters: usize, secs: f64, uid: &Arc<AtomicU64>) {
    let before = store.stats();
    let stop = Arc::new(AtomicBool::new(false));
    let start = Instant::now();
    let threads: Vec<_> = (0..submitters)
        .map(|_| {
            let (store, stop, uid) = (store.clone(), stop.clone(), uid.clone());
            std::thread::spawn(move || {
                let mut waits = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    let u = uid.fetch_add(1, Ordering::Relaxed);
                    let t = Instant::now();
                    if let Err(e) = store.submit(batch(u)).wait_blocking() {
                        eprintln!("commit failed: {e}");
                        return waits;
                    }
                    waits.push(t.elapsed());
                }
                waits
            })
        })
        .collect();
    std::thread::sleep(Duration::from_secs_f64(secs));
    stop.store(true, Ordering::Relaxed);
    let mut waits: Vec<Duration> = threads
        .into_iter()
        .flat_map(|t| t.join().unwrap_or_default())
        .collect();
    let elapsed = start.elapsed().as_secs_f64();
    let after = store.stats();
    let commits = after.commits - before.commits;
    let batches = after.batches - before.batches;
    let records = after.records - before.records;
    let commit_us = after.commit_latency_us.sum - before.commit_latency_us.sum;
    waits.sort();
    let pct = |p: f64| {
        waits
            .get(((waits.len() as f64 * p) as usize).min(waits.len().saturating_sub(1)))
            .map_or(0.0, |d| d.as_secs_f64() * 1e3)
    };
    println!(
        "{submitters:>3} submitter(s): {:>8.0} commits/s {:>9.0} batches/s {:>9.0} records/s | \
         {:.1} batches/commit, mean commit {:.2} ms | submit->durable p50 {:.2} ms p99 {:.2} ms",
        commits as f64 / elapsed,
        batches as f64 / elapsed,
        records as f64 / elapsed,
        batches as f64 / commits.max(1) as f64,
        commit_us as f64 / commits.max(1) as f64 / 1e3,
        pct(0.50),
        pct(0.99),
    );
}

fn main() {
    let mut args = std::env::args().skip(1);
    let dir = args.next().map_or_else(std::env::temp_dir, PathBuf::from);
    let secs: f64 = args.next().and_then(|s| s.parse().ok()).unwrap_or(5.0);
    let path = dir.join(format!("miroir-store-bench-{}.redb", std::process::id()));
    let store = match RedbStore::open(&path) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(1);
        }
    };
    println!("store file: {}", path.display());
    let uid = Arc::new(AtomicU64::new(0));
    run(&store, 1, secs, &uid);
    run(&store, 64, secs, &uid);
    drop(store);
    let _ = std::fs::remove_file(&path);
}
