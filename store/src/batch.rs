//! Tables and write batches.

/// Declares [`Table`]: one line per table, `Variant => "on-disk name"`.
///
/// The string is the table's name in the backend (a redb table name, a Redis
/// key prefix): once released it must never change, or the data written under
/// the old name is no longer found.
macro_rules! tables {
    ($( $(#[$doc:meta])* $variant:ident => $name:literal, )+) => {
        /// A table of the store: keys and values are opaque bytes chosen by
        /// the caller (use big-endian integers for keys that must sort).
        ///
        /// Adding a table is a one-line change in the `tables!` invocation in
        /// `batch.rs`; every backend creates all of [`Table::ALL`] at open.
        /// Later work adds `Jobs`, `Leases`, `IdempotencyKeys`, `Sessions`,
        /// `Aliases`, `SettingsVersions` and `Progress`.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[non_exhaustive]
        pub enum Table {
            $( $(#[$doc])* $variant, )+
        }

        impl Table {
            /// Every table, in declaration order.
            pub const ALL: &'static [Table] = &[$(Table::$variant),+];

            /// The table's name in the backend (stable, part of the on-disk format).
            pub const fn name(self) -> &'static str {
                match self {
                    $(Table::$variant => $name,)+
                }
            }

            /// Position in [`Table::ALL`] (dense, for per-table arrays).
            pub const fn index(self) -> usize {
                self as usize
            }
        }
    };
}

tables! {
    /// Miroir tasks: task uid (u64, big-endian) → task record.
    Tasks => "tasks",
    /// Index metadata: index uid → record (primary key, shard count, ...).
    Indexes => "indexes",
    /// Sequences and other single values, e.g. the next task uid.
    Meta => "meta",
}

impl std::fmt::Display for Table {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// One operation of a [`WriteBatch`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Op {
    /// Insert or replace `key` in `table`.
    Put {
        table: Table,
        key: Vec<u8>,
        value: Vec<u8>,
    },
    /// Remove `key` from `table` (no error when it is absent).
    Delete { table: Table, key: Vec<u8> },
}

impl Op {
    /// Bytes this op carries (key + value), used to cap the size of a group commit.
    pub fn payload_len(&self) -> usize {
        match self {
            Op::Put { key, value, .. } => key.len() + value.len(),
            Op::Delete { key, .. } => key.len(),
        }
    }
}

/// Records that must become durable together: a batch is applied atomically
/// (all of its ops or none) and in order (a later op on the same key wins).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WriteBatch {
    ops: Vec<Op>,
}

impl WriteBatch {
    /// An empty batch.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty batch with room for `n` ops.
    pub fn with_capacity(n: usize) -> Self {
        Self {
            ops: Vec::with_capacity(n),
        }
    }

    /// Adds a put.
    pub fn put(
        &mut self,
        table: Table,
        key: impl Into<Vec<u8>>,
        value: impl Into<Vec<u8>>,
    ) -> &mut Self {
        self.ops.push(Op::Put {
            table,
            key: key.into(),
            value: value.into(),
        });
        self
    }

    /// Adds a delete.
    pub fn delete(&mut self, table: Table, key: impl Into<Vec<u8>>) -> &mut Self {
        self.ops.push(Op::Delete {
            table,
            key: key.into(),
        });
        self
    }

    /// Adds any op.
    pub fn push(&mut self, op: Op) -> &mut Self {
        self.ops.push(op);
        self
    }

    /// The ops, in order.
    pub fn ops(&self) -> &[Op] {
        &self.ops
    }

    /// Consumes the batch, returning its ops.
    pub fn into_ops(self) -> Vec<Op> {
        self.ops
    }

    /// Number of ops (records) in the batch.
    pub fn len(&self) -> usize {
        self.ops.len()
    }

    /// True when the batch has no op.
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    /// Sum of the ops' key and value lengths.
    pub fn payload_len(&self) -> usize {
        self.ops.iter().map(Op::payload_len).sum()
    }
}

impl From<Vec<Op>> for WriteBatch {
    fn from(ops: Vec<Op>) -> Self {
        Self { ops }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_names_are_unique_and_indices_dense() {
        for (i, t) in Table::ALL.iter().enumerate() {
            assert_eq!(t.index(), i);
            assert!(Table::ALL[i + 1..].iter().all(|u| u.name() != t.name()));
        }
    }

    #[test]
    fn batch_builder_keeps_order() {
        let mut b = WriteBatch::new();
        b.put(Table::Tasks, b"k".to_vec(), b"v1".to_vec())
            .delete(Table::Tasks, b"k".to_vec());
        assert_eq!(b.len(), 2);
        assert_eq!(b.payload_len(), 4);
        assert!(matches!(b.ops()[1], Op::Delete { .. }));
    }
}
