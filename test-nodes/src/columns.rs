//! Column cache: the values of one attribute for every document of an index, in internal-id
//! order, as compact cells (strings pre-lowercased). Filters, sort keys, facets and distinct
//! read these instead of looking fields up in each document's JSON map, which costs a hash and
//! several cache misses per document. Built on first use, dropped on any write.

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::{Map, Value};

use crate::index::any_value;

/// A scalar value of an attribute.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Leaf {
    Num(f64),
    Str { raw: Box<str>, lower: Box<str> },
    Bool(bool),
}

/// What one document holds at one attribute path.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Cell {
    /// The path exists (`EXISTS`), even with `null`.
    pub(crate) present: bool,
    /// A value at the path is `null` (`IS NULL`).
    pub(crate) null: bool,
    /// A value at the path is `""`, `[]` or `{}` (`IS EMPTY`).
    pub(crate) empty: bool,
    /// Scalars (arrays flattened, nulls and objects left out).
    pub(crate) leaves: Box<[Leaf]>,
}

impl Cell {
    pub(crate) fn of(doc: &Map<String, Value>, path: &str) -> Cell {
        fn flat(v: &Value, out: &mut Vec<Leaf>) {
            match v {
                Value::Array(items) => items.iter().for_each(|i| flat(i, out)),
                Value::Number(n) => out.push(Leaf::Num(n.as_f64().unwrap_or(0.0))),
                Value::String(s) => out.push(Leaf::Str {
                    raw: s.as_str().into(),
                    lower: s.to_lowercase().into(),
                }),
                Value::Bool(b) => out.push(Leaf::Bool(*b)),
                Value::Null | Value::Object(_) => {}
            }
        }
        let mut cell = Cell::default();
        let mut leaves = Vec::new();
        any_value(doc, path, &mut |v| {
            cell.present = true;
            match v {
                Value::Null => cell.null = true,
                Value::String(s) if s.is_empty() => cell.empty = true,
                Value::Array(a) if a.is_empty() => cell.empty = true,
                Value::Object(o) if o.is_empty() => cell.empty = true,
                _ => {}
            }
            flat(v, &mut leaves);
            false
        });
        cell.leaves = leaves.into_boxed_slice();
        cell
    }
}

/// One attribute for every document, by position (see [`Cache::order`]).
pub(crate) struct Column {
    pub(crate) cells: Vec<Cell>,
}

/// The lazily built parts of an index's read side.
#[derive(Default)]
pub(crate) struct Cache {
    /// Position → internal id (documents in insertion order).
    pub(crate) order: Option<Arc<[u64]>>,
    /// Internal id → position (`u32::MAX` for ids not in use).
    pub(crate) positions: Option<Arc<[u32]>>,
    pub(crate) columns: HashMap<String, Arc<Column>>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn cells() {
        let doc = json!({"a": [1, "X", null, [true]], "n": null, "e": "", "o": {"b": 2}});
        let doc = doc.as_object().unwrap();
        let c = Cell::of(doc, "a");
        assert!(c.present && !c.null && !c.empty);
        assert_eq!(c.leaves.len(), 3);
        assert_eq!(
            c.leaves[1],
            Leaf::Str {
                raw: "X".into(),
                lower: "x".into()
            }
        );
        assert!(Cell::of(doc, "n").null);
        assert!(Cell::of(doc, "e").empty);
        assert_eq!(Cell::of(doc, "o.b").leaves[0], Leaf::Num(2.0));
        assert!(!Cell::of(doc, "missing").present);
    }
}
