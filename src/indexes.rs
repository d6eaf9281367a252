//! Miroir's record of each index: primary key and shard count (fixed at
//! creation). Read on every write without locks (`ArcSwap`); changed only by
//! index lifecycle routes.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::tasks::format_time;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct IndexMeta {
    pub uid: String,
    pub primary_key: Option<String>,
    pub shards: u32,
    /// Unix nanoseconds.
    pub created_at: i128,
    pub updated_at: i128,
}

impl IndexMeta {
    pub fn to_json(&self) -> Value {
        json!({
            "uid": self.uid,
            "createdAt": format_time(self.created_at),
            "updatedAt": format_time(self.updated_at),
            "primaryKey": self.primary_key,
        })
    }
}

pub struct IndexRegistry {
    current: ArcSwap<BTreeMap<String, Arc<IndexMeta>>>,
    /// Serialises writers so two concurrent updates cannot lose each other.
    writer: Mutex<()>,
}

impl IndexRegistry {
    pub fn new(indexes: Vec<IndexMeta>) -> IndexRegistry {
        IndexRegistry {
            current: ArcSwap::from_pointee(
                indexes
                    .into_iter()
                    .map(|m| (m.uid.clone(), Arc::new(m)))
                    .collect(),
            ),
            writer: Mutex::new(()),
        }
    }

    pub fn get(&self, uid: &str) -> Option<Arc<IndexMeta>> {
        self.current.load().get(uid).cloned()
    }

    pub fn all(&self) -> Arc<BTreeMap<String, Arc<IndexMeta>>> {
        self.current.load_full()
    }

    pub fn put(&self, meta: IndexMeta) {
        let _guard = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        let mut next = (**self.current.load()).clone();
        next.insert(meta.uid.clone(), Arc::new(meta));
        self.current.store(Arc::new(next));
    }

    pub fn remove(&self, uid: &str) {
        let _guard = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        let mut next = (**self.current.load()).clone();
        next.remove(uid);
        self.current.store(Arc::new(next));
    }
}

/// Meilisearch's rule: alphanumerics, `-` and `_`, at most 512 bytes.
pub fn valid_index_uid(uid: &str) -> bool {
    (1..=512).contains(&uid.len())
        && uid
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

pub fn invalid_index_uid_message(uid: &str) -> String {
    format!(
        "Invalid value at `.uid`: `{uid}` is not a valid index uid. Index uid can be an integer or a string containing only alphanumeric characters, hyphens (-) and underscores (_), and can not be more than 512 bytes."
    )
}
