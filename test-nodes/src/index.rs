//! One index of the test double: documents in insertion order, an inverted index for text
//! search, and the value accessors shared by filters, sort and facets.

use std::cell::RefCell;
use std::cmp::Ordering;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use serde_json::{json, Map, Value};

use crate::columns::{Cache, Cell, Column, Leaf};
use crate::settings::Settings;
use crate::util::Timestamp;

/// Gap added between the elements of an array when numbering word positions.
const ARRAY_GAP: u32 = 8;

/// One occurrence of a word in a document.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Occ {
    /// Searchable field number inside the document (see [`Doc::fields`]).
    pub(crate) field: u16,
    /// Rank of the attribute in `searchableAttributes` (0 for every field with `["*"]`).
    pub(crate) weight: u16,
    /// Word position inside the field.
    pub(crate) pos: u32,
    /// Number of words of the field (for `exactness`).
    pub(crate) len: u32,
}

#[derive(Clone, Debug)]
pub(crate) struct Field {
    pub(crate) path: Box<str>,
}

pub(crate) struct Doc {
    /// External id (the primary key value as a string).
    pub(crate) id: String,
    pub(crate) value: Map<String, Value>,
    /// Searchable fields, numbered as in [`Occ::field`].
    pub(crate) fields: Vec<Field>,
}

pub(crate) struct Index {
    pub(crate) uid: String,
    pub(crate) primary_key: Option<String>,
    pub(crate) created_at: Timestamp,
    pub(crate) updated_at: Timestamp,
    pub(crate) settings: Settings,
    /// Documents by internal id; internal ids follow insertion order (a replaced document keeps
    /// its id, like Meilisearch's internal docids).
    pub(crate) docs: BTreeMap<u64, Doc>,
    ids: HashMap<String, u64>,
    next_seq: u64,
    /// word → internal id → occurrences.
    pub(crate) words: BTreeMap<Box<str>, BTreeMap<u64, Vec<Occ>>>,
    /// Columns for filters, sort and facets (see [`crate::columns`]); emptied on writes.
    cache: RefCell<Cache>,
}

impl Index {
    pub(crate) fn new(uid: &str, primary_key: Option<String>) -> Index {
        let now = Timestamp::now();
        Index {
            uid: uid.to_owned(),
            primary_key,
            created_at: now,
            updated_at: now,
            settings: Settings::default(),
            docs: BTreeMap::new(),
            ids: HashMap::new(),
            next_seq: 0,
            words: BTreeMap::new(),
            cache: RefCell::new(Cache::default()),
        }
    }

    fn invalidate(&mut self) {
        *self.cache.get_mut() = Cache::default();
    }

    /// Position → internal id, for the columns.
    pub(crate) fn order(&self) -> Arc<[u64]> {
        let mut cache = self.cache.borrow_mut();
        cache
            .order
            .get_or_insert_with(|| self.docs.keys().copied().collect())
            .clone()
    }

    /// Internal id → position (`u32::MAX` if unused).
    pub(crate) fn positions(&self) -> Arc<[u32]> {
        if let Some(p) = &self.cache.borrow().positions {
            return p.clone();
        }
        let order = self.order();
        let mut positions = vec![u32::MAX; self.next_seq as usize];
        for (i, seq) in order.iter().enumerate() {
            positions[*seq as usize] = i as u32;
        }
        let positions: Arc<[u32]> = positions.into();
        self.cache.borrow_mut().positions = Some(positions.clone());
        positions
    }

    /// The column of `attr` (built on first use after a write).
    pub(crate) fn column(&self, attr: &str) -> Arc<Column> {
        if let Some(c) = self.cache.borrow().columns.get(attr) {
            return c.clone();
        }
        let column = Arc::new(Column {
            cells: self
                .docs
                .values()
                .map(|d| Cell::of(&d.value, attr))
                .collect(),
        });
        self.cache
            .borrow_mut()
            .columns
            .insert(attr.to_owned(), column.clone());
        column
    }

    pub(crate) fn touch(&mut self) {
        self.updated_at = Timestamp::now();
    }

    /// `{uid, createdAt, updatedAt, primaryKey}`.
    pub(crate) fn to_json(&self) -> Value {
        json!({
            "uid": self.uid,
            "createdAt": self.created_at.rfc3339(),
            "updatedAt": self.updated_at.rfc3339(),
            "primaryKey": self.primary_key,
        })
    }

    pub(crate) fn len(&self) -> usize {
        self.docs.len()
    }

    /// Upper bound (exclusive) of the internal ids.
    pub(crate) fn seq_bound(&self) -> u64 {
        self.next_seq
    }

    /// Internal id of a document.
    pub(crate) fn seq(&self, id: &str) -> Option<u64> {
        self.ids.get(id).copied()
    }

    pub(crate) fn get(&self, id: &str) -> Option<&Doc> {
        self.ids.get(id).and_then(|seq| self.docs.get(seq))
    }

    /// Inserts or replaces a document.
    pub(crate) fn put(&mut self, id: String, value: Map<String, Value>) {
        self.invalidate();
        match self.ids.get(&id) {
            Some(&seq) => {
                self.unindex(seq);
                if let Some(doc) = self.docs.get_mut(&seq) {
                    doc.value = value;
                }
                self.index_doc(seq);
            }
            None => {
                let seq = self.next_seq;
                self.next_seq += 1;
                self.ids.insert(id.clone(), seq);
                self.docs.insert(
                    seq,
                    Doc {
                        id,
                        value,
                        fields: Vec::new(),
                    },
                );
                self.index_doc(seq);
            }
        }
    }

    /// Shallow merge into an existing document (or insert).
    pub(crate) fn merge(&mut self, id: String, value: Map<String, Value>) {
        let merged = match self.get(&id) {
            Some(doc) => {
                let mut m = doc.value.clone();
                m.extend(value);
                m
            }
            None => value,
        };
        self.put(id, merged);
    }

    pub(crate) fn remove(&mut self, id: &str) -> bool {
        let Some(seq) = self.ids.remove(id) else {
            return false;
        };
        self.invalidate();
        self.unindex(seq);
        self.docs.remove(&seq);
        true
    }

    /// Removes every document; returns how many there were.
    pub(crate) fn clear(&mut self) -> usize {
        let n = self.docs.len();
        self.invalidate();
        self.docs.clear();
        self.ids.clear();
        self.words.clear();
        n
    }

    /// Re-tokenizes every document (after a `searchableAttributes` change).
    pub(crate) fn reindex(&mut self) {
        self.invalidate();
        self.words.clear();
        let seqs: Vec<u64> = self.docs.keys().copied().collect();
        for seq in seqs {
            self.index_doc(seq);
        }
    }

    fn tokenize_doc(&self, value: &Map<String, Value>) -> (Vec<Field>, Vec<(String, Occ)>) {
        let searchable = self.settings.searchable();
        let mut fields = Vec::new();
        let mut postings = Vec::new();
        for (weight, path, values) in searchable_fields(value, searchable.as_deref()) {
            let field = fields.len() as u16;
            let mut base = 0u32;
            let mut len = 0u32;
            let first = postings.len();
            for v in &values {
                if let Some(text) = scalar_text(v) {
                    let tokens = tokenize(&text);
                    let mut next = base;
                    for t in tokens {
                        let pos = base + t.pos;
                        next = pos + 1 + ARRAY_GAP;
                        postings.push((
                            t.word,
                            Occ {
                                field,
                                weight,
                                pos,
                                len: 0,
                            },
                        ));
                        len += 1;
                    }
                    base = next;
                }
            }
            for (_, occ) in &mut postings[first..] {
                occ.len = len;
            }
            fields.push(Field { path: path.into() });
        }
        (fields, postings)
    }

    fn index_doc(&mut self, seq: u64) {
        let Some(doc) = self.docs.get(&seq) else {
            return;
        };
        let (fields, postings) = self.tokenize_doc(&doc.value);
        for (word, occ) in postings {
            self.words
                .entry(word.into_boxed_str())
                .or_default()
                .entry(seq)
                .or_default()
                .push(occ);
        }
        if let Some(doc) = self.docs.get_mut(&seq) {
            doc.fields = fields;
        }
    }

    fn unindex(&mut self, seq: u64) {
        let Some(doc) = self.docs.get(&seq) else {
            return;
        };
        let (_, postings) = self.tokenize_doc(&doc.value);
        for (word, _) in postings {
            if let Some(p) = self.words.get_mut(word.as_str()) {
                p.remove(&seq);
                if p.is_empty() {
                    self.words.remove(word.as_str());
                }
            }
        }
    }

    /// Approximate stored size of the documents (serialized JSON bytes).
    pub(crate) fn raw_size(&self) -> usize {
        self.docs
            .values()
            .map(|d| serde_json::to_vec(&d.value).map(|v| v.len()).unwrap_or(0))
            .sum()
    }

    /// `GET /indexes/{uid}/stats` (fixture 146).
    pub(crate) fn stats(&self, is_indexing: bool) -> Value {
        let mut distribution: BTreeMap<&str, usize> = BTreeMap::new();
        for doc in self.docs.values() {
            for k in doc.value.keys() {
                *distribution.entry(k).or_default() += 1;
            }
        }
        let n = self.docs.len();
        let raw = self.raw_size();
        json!({
            "numberOfDocuments": n,
            "rawDocumentDbSize": raw,
            "avgDocumentSize": raw.checked_div(n).unwrap_or(0),
            "isIndexing": is_indexing,
            "numberOfEmbeddings": 0,
            "numberOfEmbeddedDocuments": 0,
            "fieldDistribution": distribution,
        })
    }
}

/// Text of a scalar for tokenizing (numbers and booleans are searchable as text).
fn scalar_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Separator runs that count as "hard" (the next word is 8 positions further instead of 1):
/// the Latin part of charabia's context separators. The whole run between two words must be
/// one of them (the recordings show `. ` hard but `: ` soft).
const HARD_SEPARATORS: &[&str] = &[
    "!", ". ", ", ", ":", ";", "?", "¡", "§", "¶", "¿", "\u{37e}", "…", "‼", "‽", "、", "。", "！",
    "，", "．", "：", "；", "？", "｡", "､",
];

/// A word of a text.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Token {
    /// Lowercased.
    pub(crate) word: String,
    /// Byte range in the text.
    pub(crate) start: usize,
    pub(crate) end: usize,
    /// Word position: +1 per word, +8 after a hard separator.
    pub(crate) pos: u32,
}

/// Words of `text`: runs of alphanumeric characters, lowercased.
pub(crate) fn tokenize(text: &str) -> Vec<Token> {
    let mut out: Vec<Token> = Vec::new();
    let mut start: Option<usize> = None;
    let mut gap_start = 0;
    let push = |out: &mut Vec<Token>, s: usize, e: usize, hard: bool| {
        let pos = match out.last() {
            None => 0,
            Some(prev) => prev.pos + if hard { 8 } else { 1 },
        };
        out.push(Token {
            word: text[s..e].to_lowercase(),
            start: s,
            end: e,
            pos,
        });
    };
    let hard = |gap: &str| HARD_SEPARATORS.contains(&gap);
    for (i, c) in text.char_indices() {
        if c.is_alphanumeric() {
            if start.is_none() {
                start = Some(i);
            }
        } else if let Some(s) = start.take() {
            push(&mut out, s, i, hard(&text[gap_start..s]));
            gap_start = i;
        }
    }
    if let Some(s) = start {
        push(&mut out, s, text.len(), hard(&text[gap_start..s]));
    }
    out
}

/// Leaf fields of a document: (dotted path, scalar values), arrays flattened and objects
/// (also inside arrays) descended into, in document order.
pub(crate) fn flatten(doc: &Map<String, Value>) -> Vec<(String, Vec<&Value>)> {
    fn walk<'a>(prefix: &str, v: &'a Value, out: &mut Vec<(String, Vec<&'a Value>)>) {
        match v {
            Value::Object(m) => {
                for (k, x) in m {
                    let path = if prefix.is_empty() {
                        k.clone()
                    } else {
                        format!("{prefix}.{k}")
                    };
                    walk(&path, x, out);
                }
            }
            Value::Array(items) => {
                for item in items {
                    walk(prefix, item, out);
                }
                if items.is_empty() {
                    slot(prefix, out);
                }
            }
            scalar => slot(prefix, out).push(scalar),
        }
    }
    fn slot<'a, 'b>(
        path: &str,
        out: &'b mut Vec<(String, Vec<&'a Value>)>,
    ) -> &'b mut Vec<&'a Value> {
        let i = match out.iter().position(|(p, _)| p == path) {
            Some(i) => i,
            None => {
                out.push((path.to_owned(), Vec::new()));
                out.len() - 1
            }
        };
        &mut out[i].1
    }
    let mut out = Vec::new();
    for (k, v) in doc {
        walk(k, v, &mut out);
    }
    out
}

/// The searchable fields of a document: (weight, path, values).
fn searchable_fields<'a>(
    doc: &'a Map<String, Value>,
    searchable: Option<&[String]>,
) -> Vec<(u16, String, Vec<&'a Value>)> {
    let flat = flatten(doc);
    match searchable {
        None => flat.into_iter().map(|(p, v)| (0, p, v)).collect(),
        Some(list) => {
            let mut out = Vec::new();
            for (i, attr) in list.iter().enumerate() {
                for (p, v) in &flat {
                    if crate::settings::attribute_matches(attr, p) {
                        out.push((i as u16, p.clone(), v.clone()));
                    }
                }
            }
            out
        }
    }
}

/// Calls `f` on each value at a (possibly dotted) attribute path, arrays not flattened, until
/// it returns `true`; returns whether it did. Allocation-free (filters run it per document).
pub(crate) fn any_value<'a>(
    doc: &'a Map<String, Value>,
    path: &str,
    f: &mut dyn FnMut(&'a Value) -> bool,
) -> bool {
    fn collect<'a>(
        m: &'a Map<String, Value>,
        path: &str,
        f: &mut dyn FnMut(&'a Value) -> bool,
    ) -> bool {
        if let Some(v) = m.get(path) {
            if f(v) {
                return true;
            }
        }
        if !path.contains('.') {
            return false;
        }
        for (k, v) in m {
            if path.len() > k.len()
                && path.starts_with(k.as_str())
                && path.as_bytes()[k.len()] == b'.'
                && descend(v, &path[k.len() + 1..], f)
            {
                return true;
            }
        }
        false
    }
    fn descend<'a>(v: &'a Value, path: &str, f: &mut dyn FnMut(&'a Value) -> bool) -> bool {
        match v {
            Value::Object(m) => collect(m, path, f),
            Value::Array(items) => items.iter().any(|item| descend(item, path, f)),
            _ => false,
        }
    }
    collect(doc, path, f)
}

/// Values at a (possibly dotted) attribute path; arrays are not flattened.
pub(crate) fn values_at<'a>(doc: &'a Map<String, Value>, path: &str) -> Vec<&'a Value> {
    let mut out = Vec::new();
    any_value(doc, path, &mut |v| {
        out.push(v);
        false
    });
    out
}

/// A document id from a primary-key value: an integer, or a string of `[a-zA-Z0-9_-]`
/// (at most 511 bytes).
pub(crate) fn document_id(v: &Value) -> Option<String> {
    match v {
        Value::Number(n) if n.is_u64() || n.is_i64() => Some(n.to_string()),
        Value::String(s)
            if !s.is_empty()
                && s.len() <= 511
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') =>
        {
            Some(s.clone())
        }
        _ => None,
    }
}

// ---------------------------------------------------------------------------------------------
// Sort values

/// The value a document sorts by for one field. Meilisearch's order (fixtures 104/105):
/// numbers first, then strings (lowercased), then null/missing, in both directions.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum SortKey {
    Num(f64),
    Str(String),
    Null,
}

impl SortKey {
    /// The value for `field` sorted `asc`/desc: a number if the field holds any (the smallest
    /// for asc, the largest for desc), else a string (lowercased, booleans as `"true"`), else
    /// null.
    #[cfg(test)]
    pub(crate) fn of(doc: &Map<String, Value>, field: &str, asc: bool) -> SortKey {
        SortKey::from_cell(&Cell::of(doc, field), asc)
    }

    pub(crate) fn from_cell(cell: &Cell, asc: bool) -> SortKey {
        let mut num: Option<f64> = None;
        let mut string: Option<&str> = None;
        for leaf in cell.leaves.iter() {
            let s = match leaf {
                Leaf::Num(f) => {
                    num = Some(match num {
                        None => *f,
                        Some(x) if asc => x.min(*f),
                        Some(x) => x.max(*f),
                    });
                    continue;
                }
                Leaf::Str { lower, .. } => &**lower,
                Leaf::Bool(true) => "true",
                Leaf::Bool(false) => "false",
            };
            let better = match string {
                None => true,
                Some(x) if asc => s < x,
                Some(x) => s > x,
            };
            if better {
                string = Some(s);
            }
        }
        match (num, string) {
            (Some(f), _) => SortKey::Num(f),
            (None, Some(s)) => SortKey::Str(s.to_owned()),
            (None, None) => SortKey::Null,
        }
    }

    fn class(&self) -> u8 {
        match self {
            SortKey::Num(_) => 0,
            SortKey::Str(_) => 1,
            SortKey::Null => 2,
        }
    }

    /// Ordering of two values of the same field sorted `asc`/desc (first = better).
    pub(crate) fn compare(&self, other: &SortKey, asc: bool) -> Ordering {
        let by_class = self.class().cmp(&other.class());
        if by_class != Ordering::Equal {
            return by_class;
        }
        let o = match (self, other) {
            (SortKey::Num(a), SortKey::Num(b)) => a.total_cmp(b),
            (SortKey::Str(a), SortKey::Str(b)) => a.cmp(b),
            _ => Ordering::Equal,
        };
        if asc {
            o
        } else {
            o.reverse()
        }
    }

    /// The `value` shown in `_rankingScoreDetails` (a float, a lowercased string, or null).
    pub(crate) fn to_json(&self) -> Value {
        match self {
            SortKey::Num(f) => json!(f),
            SortKey::Str(s) => json!(s),
            SortKey::Null => Value::Null,
        }
    }
}

/// A parsed `field:asc` / `field:desc` sort expression.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct SortRule {
    pub(crate) field: String,
    pub(crate) asc: bool,
}

impl SortRule {
    pub(crate) fn parse(s: &str) -> Option<SortRule> {
        let (field, dir) = s.rsplit_once(':')?;
        let asc = match dir {
            "asc" => true,
            "desc" => false,
            _ => return None,
        };
        (!field.is_empty()).then(|| SortRule {
            field: field.to_owned(),
            asc,
        })
    }

    pub(crate) fn name(&self) -> String {
        format!("{}:{}", self.field, if self.asc { "asc" } else { "desc" })
    }
}

/// Keeps the fields of `doc` selected by `fields` (`*` = all; dotted paths select nested
/// values).
pub(crate) fn select_fields(doc: &Map<String, Value>, fields: &[String]) -> Map<String, Value> {
    if fields.iter().any(|f| f == "*") {
        return doc.clone();
    }
    let mut out = Map::new();
    for (k, v) in doc {
        if fields.iter().any(|f| f == k) {
            out.insert(k.clone(), v.clone());
        } else if let Value::Object(inner) = v {
            let prefix = format!("{k}.");
            let nested: Vec<String> = fields
                .iter()
                .filter_map(|f| f.strip_prefix(&prefix).map(str::to_owned))
                .collect();
            if !nested.is_empty() {
                let sub = select_fields(inner, &nested);
                if !sub.is_empty() {
                    out.insert(k.clone(), Value::Object(sub));
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn tokenizer() {
        let t = tokenize("I Love You Ö Don't Touch Me!");
        let words: Vec<&str> = t.iter().map(|t| t.word.as_str()).collect();
        assert_eq!(words, ["i", "love", "you", "ö", "don", "t", "touch", "me"]);
        // byte offsets: 'Touch' starts at byte 20 (Ö is 2 bytes)
        assert_eq!((t[6].start, t[6].end), (20, 25));
        // a hard separator (`. `) puts the next word 8 positions further; `: ` is soft
        let t = tokenize("Star Wars Ep. V: The Empire Strikes Back");
        let pos: Vec<u32> = t.iter().map(|t| t.pos).collect();
        assert_eq!(pos, [0, 1, 2, 10, 11, 12, 13, 14]);
        let t = tokenize("Chocolate: Deep Dark Secrets");
        assert_eq!(t[2].pos, 2);
    }

    #[test]
    fn put_merge_remove_keep_postings_consistent() {
        let mut idx = Index::new("i", Some("id".into()));
        idx.put("1".into(), obj(json!({"id": 1, "title": "Dark Angel"})));
        idx.put("2".into(), obj(json!({"id": 2, "title": "The Dark Half"})));
        assert_eq!(idx.words["dark"].len(), 2);
        idx.merge("1".into(), obj(json!({"title": "Light"})));
        assert_eq!(idx.words["dark"].len(), 1);
        assert!(idx.words.contains_key("light"));
        assert!(!idx.words.contains_key("angel"));
        assert_eq!(idx.get("1").unwrap().value["id"], 1);
        // the replaced document keeps its place
        assert_eq!(idx.docs.keys().copied().collect::<Vec<_>>(), [0, 1]);
        assert!(idx.remove("2"));
        assert!(!idx.words.contains_key("dark"));
        assert_eq!(idx.len(), 1);
    }

    #[test]
    fn paths_and_leaves() {
        let d = obj(json!({"a": {"b": [1, {"c": 2}]}, "x.y": 3, "t": [1, [2, 3]]}));
        assert_eq!(values_at(&d, "x.y"), vec![&json!(3)]);
        assert_eq!(values_at(&d, "a.b.c"), vec![&json!(2)]);
        assert_eq!(crate::columns::Cell::of(&d, "t").leaves.len(), 3);
        let flat = flatten(&d);
        let mut paths: Vec<&str> = flat.iter().map(|(p, _)| p.as_str()).collect();
        paths.sort();
        assert_eq!(paths, ["a.b", "a.b.c", "t", "x.y"]);
    }

    #[test]
    fn sort_keys_follow_meilisearch_type_order() {
        let vals = [
            json!(10),
            json!(2.5),
            json!("banana"),
            json!("Apple"),
            json!(null),
            Value::Null, // stands for "missing" below
            json!(true),
            json!([3, "x"]),
            json!(-1),
            json!("10"),
        ];
        let docs: Vec<Map<String, Value>> = vals
            .iter()
            .enumerate()
            .map(|(i, v)| {
                let mut m = Map::new();
                m.insert("id".into(), json!(i + 1));
                if i != 5 {
                    m.insert("v".into(), v.clone());
                }
                m
            })
            .collect();
        let order = |asc: bool| {
            let mut ids: Vec<usize> = (0..docs.len()).collect();
            ids.sort_by(|a, b| {
                SortKey::of(&docs[*a], "v", asc)
                    .compare(&SortKey::of(&docs[*b], "v", asc), asc)
                    .then(a.cmp(b))
            });
            ids.into_iter().map(|i| i + 1).collect::<Vec<_>>()
        };
        assert_eq!(order(true), [9, 2, 8, 1, 10, 4, 3, 7, 5, 6]);
        assert_eq!(order(false), [1, 8, 2, 9, 7, 3, 4, 10, 5, 6]);
        assert_eq!(SortKey::of(&docs[3], "v", true).to_json(), json!("apple"));
        assert_eq!(SortKey::of(&docs[0], "v", true).to_json(), json!(10.0));
    }

    #[test]
    fn ids() {
        assert_eq!(document_id(&json!(42)), Some("42".into()));
        assert_eq!(document_id(&json!(-4)), Some("-4".into()));
        assert_eq!(document_id(&json!("a-b_C9")), Some("a-b_C9".into()));
        assert_eq!(document_id(&json!("bad id!")), None);
        assert_eq!(document_id(&json!(1.5)), None);
        assert_eq!(document_id(&json!("")), None);
    }
}
