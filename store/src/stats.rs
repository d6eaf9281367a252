//! Counters and fixed-bucket histograms of the store, updated by the writer
//! thread with relaxed atomics and read without locks by [`crate::Store::stats`].

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// Upper bounds (inclusive, Prometheus `le`) of the commit-latency buckets,
/// in microseconds: 100 µs .. 2 s, then +Inf.
pub const COMMIT_LATENCY_BOUNDS_US: &[u64] = &[
    100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000,
    1_000_000, 2_000_000,
];

/// Upper bounds (inclusive) of the per-commit size buckets (records per
/// commit, batches per commit): powers of two 1 .. 4096, then +Inf.
pub const BATCH_SIZE_BOUNDS: &[u64] = &[1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096];

/// A snapshot of a fixed-bucket histogram.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Histogram {
    /// Inclusive upper bounds of the finite buckets, ascending.
    pub bounds: &'static [u64],
    /// Per-bucket (not cumulative) counts, `bounds.len() + 1` of them:
    /// `counts[i]` counts observations `v` with `bounds[i-1] < v <= bounds[i]`;
    /// the last one counts `v > bounds[last]` (the +Inf bucket).
    pub counts: Vec<u64>,
    /// Sum of all observations.
    pub sum: u64,
    /// Number of observations.
    pub count: u64,
}

impl Histogram {
    /// Cumulative buckets as Prometheus renders them: `(le, count)` where
    /// `le == None` is `+Inf` (and its count equals the total in the buckets).
    pub fn cumulative(&self) -> Vec<(Option<u64>, u64)> {
        let mut acc = 0;
        self.counts
            .iter()
            .enumerate()
            .map(|(i, c)| {
                acc += c;
                (self.bounds.get(i).copied(), acc)
            })
            .collect()
    }
}

pub(crate) struct AtomicHistogram {
    bounds: &'static [u64],
    counts: Box<[AtomicU64]>,
    sum: AtomicU64,
    count: AtomicU64,
}

impl AtomicHistogram {
    pub(crate) fn new(bounds: &'static [u64]) -> Self {
        Self {
            bounds,
            counts: (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect(),
            sum: AtomicU64::new(0),
            count: AtomicU64::new(0),
        }
    }

    pub(crate) fn observe(&self, v: u64) {
        let i = self.bounds.partition_point(|b| *b < v);
        self.counts[i].fetch_add(1, Relaxed);
        self.sum.fetch_add(v, Relaxed);
        self.count.fetch_add(1, Relaxed);
    }

    pub(crate) fn snapshot(&self) -> Histogram {
        Histogram {
            bounds: self.bounds,
            counts: self.counts.iter().map(|c| c.load(Relaxed)).collect(),
            sum: self.sum.load(Relaxed),
            count: self.count.load(Relaxed),
        }
    }
}

/// A snapshot of the store's metrics. Counters are read one by one without a
/// lock, so a snapshot taken during a commit may be off by that commit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoreStats {
    /// Transactions committed (each durable).
    pub commits: u64,
    /// Transactions that failed (every batch in them got the error).
    pub commit_errors: u64,
    /// Write batches made durable (non-empty ones).
    pub batches: u64,
    /// Write batches that got an error.
    pub failed_batches: u64,
    /// Records (ops) made durable; `records / commits` is the mean per commit.
    pub records: u64,
    /// Most records in one commit.
    pub max_records_per_commit: u64,
    /// Most batches in one commit.
    pub max_batches_per_commit: u64,
    /// Latency of the last commit, µs.
    pub last_commit_latency_us: u64,
    /// Batches submitted whose `Commit` has not resolved yet (queued or in the
    /// transaction being committed).
    pub queue_depth: u64,
    /// Commit latency (transaction incl. fsync), µs; bounds [`COMMIT_LATENCY_BOUNDS_US`].
    /// Its `sum` is the total commit time.
    pub commit_latency_us: Histogram,
    /// Records per commit; bounds [`BATCH_SIZE_BOUNDS`].
    pub records_per_commit: Histogram,
    /// Batches per commit (group-commit width); bounds [`BATCH_SIZE_BOUNDS`].
    pub batches_per_commit: Histogram,
}

pub(crate) struct Metrics {
    pub(crate) commits: AtomicU64,
    pub(crate) commit_errors: AtomicU64,
    pub(crate) batches: AtomicU64,
    pub(crate) failed_batches: AtomicU64,
    pub(crate) records: AtomicU64,
    pub(crate) max_records: AtomicU64,
    pub(crate) max_batches: AtomicU64,
    pub(crate) last_latency_us: AtomicU64,
    pub(crate) queue_depth: AtomicU64,
    pub(crate) latency: AtomicHistogram,
    pub(crate) records_per_commit: AtomicHistogram,
    pub(crate) batches_per_commit: AtomicHistogram,
}

impl Metrics {
    pub(crate) fn new() -> Self {
        Self {
            commits: AtomicU64::new(0),
            commit_errors: AtomicU64::new(0),
            batches: AtomicU64::new(0),
            failed_batches: AtomicU64::new(0),
            records: AtomicU64::new(0),
            max_records: AtomicU64::new(0),
            max_batches: AtomicU64::new(0),
            last_latency_us: AtomicU64::new(0),
            queue_depth: AtomicU64::new(0),
            latency: AtomicHistogram::new(COMMIT_LATENCY_BOUNDS_US),
            records_per_commit: AtomicHistogram::new(BATCH_SIZE_BOUNDS),
            batches_per_commit: AtomicHistogram::new(BATCH_SIZE_BOUNDS),
        }
    }

    pub(crate) fn committed(&self, batches: u64, records: u64, latency_us: u64) {
        self.commits.fetch_add(1, Relaxed);
        self.batches.fetch_add(batches, Relaxed);
        self.records.fetch_add(records, Relaxed);
        self.max_records.fetch_max(records, Relaxed);
        self.max_batches.fetch_max(batches, Relaxed);
        self.last_latency_us.store(latency_us, Relaxed);
        self.latency.observe(latency_us);
        self.records_per_commit.observe(records);
        self.batches_per_commit.observe(batches);
    }

    pub(crate) fn failed(&self, batches: u64) {
        self.commit_errors.fetch_add(1, Relaxed);
        self.failed_batches.fetch_add(batches, Relaxed);
    }

    pub(crate) fn snapshot(&self) -> StoreStats {
        StoreStats {
            commits: self.commits.load(Relaxed),
            commit_errors: self.commit_errors.load(Relaxed),
            batches: self.batches.load(Relaxed),
            failed_batches: self.failed_batches.load(Relaxed),
            records: self.records.load(Relaxed),
            max_records_per_commit: self.max_records.load(Relaxed),
            max_batches_per_commit: self.max_batches.load(Relaxed),
            last_commit_latency_us: self.last_latency_us.load(Relaxed),
            queue_depth: self.queue_depth.load(Relaxed),
            commit_latency_us: self.latency.snapshot(),
            records_per_commit: self.records_per_commit.snapshot(),
            batches_per_commit: self.batches_per_commit.snapshot(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_inclusive_upper_bounds() {
        let h = AtomicHistogram::new(&[1, 2, 4]);
        for v in [0, 1, 2, 3, 4, 5, 1000] {
            h.observe(v);
        }
        let s = h.snapshot();
        assert_eq!(s.counts, vec![2, 1, 2, 2]);
        assert_eq!(s.count, 7);
        assert_eq!(s.sum, 1015);
        assert_eq!(
            s.cumulative(),
            vec![(Some(1), 2), (Some(2), 3), (Some(4), 5), (None, 7)]
        );
    }
}
