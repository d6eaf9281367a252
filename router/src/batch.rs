//! Splitting a documents payload into per-node bodies.
//!
//! The payload is parsed once (SIMD JSON for JSON and NDJSON, the `csv` crate
//! for CSV) to find each document's bytes and primary key; nothing is
//! re-serialised. Each node gets its documents in the client's own format
//! with `_miroir_shard` spliced in: right after a JSON object's `{`, or as an
//! extra `_miroir_shard` CSV column. Every document is checked before
//! any body is built, so a bad payload writes nothing anywhere.

use std::ops::Range;

use sonic_rs::JsonValueTrait;

#[cfg(test)]
use crate::shard_for_key;
use crate::{key_hash, shard_of_hash, NodeIdx, RoutingSnapshot};

/// The field Miroir adds to every document; clients may not set it, nor any
/// other `_miroir_*` field.
pub const SHARD_FIELD: &str = "_miroir_shard";
pub const RESERVED_PREFIX: &str = "_miroir_";

/// The digits of a `_miroir_shard` value (a string, base 8, most significant first). Each is a
/// separator to Meilisearch's tokenizer (charabia's default list), so the value puts no word in
/// the index: a number would, and `q: "7"` would then match every document of shard 7 (with
/// the default `searchableAttributes: ["*"]`, which cannot leave a field out). None needs
/// escaping in JSON, in a quoted CSV field or in a quoted filter value, and none is among the
/// tokens users usually make word characters with `nonSeparatorTokens` (`#`, `&`, `@`, `+`, `-`,
/// `.`, `_`, and `/` or `:` for paths, URLs and times); settings that would make one a word
/// are refused (`is_shard_digit_token`).
pub const SHARD_DIGITS: &str = "!(){};?*";

/// Whether `token` is made only of shard digits: a `nonSeparatorTokens` entry like that takes a
/// digit off the separators and a `dictionary` entry keeps a run of them as one word, either of
/// which would make `_miroir_shard` values searchable words again.
pub fn is_shard_digit_token(token: &str) -> bool {
    !token.is_empty() && token.bytes().all(|b| SHARD_DIGITS.as_bytes().contains(&b))
}

/// Appends the `_miroir_shard` value of `shard` (without quotes).
pub fn push_shard_value(out: &mut Vec<u8>, mut shard: u32) {
    let mut buf = [0u8; 11];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = SHARD_DIGITS.as_bytes()[(shard % 8) as usize];
        shard /= 8;
        if shard == 0 {
            break;
        }
    }
    out.extend_from_slice(&buf[i..]);
}

/// The `_miroir_shard` value of `shard` (without quotes).
pub fn shard_value(shard: u32) -> String {
    let mut out = Vec::with_capacity(4);
    push_shard_value(&mut out, shard);
    // SHARD_DIGITS are ASCII.
    String::from_utf8(out).unwrap_or_default()
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PayloadFormat {
    Json,
    NdJson,
    Csv { delimiter: u8 },
}

impl PayloadFormat {
    fn name(self) -> &'static str {
        match self {
            PayloadFormat::Json => "json",
            PayloadFormat::NdJson => "ndjson",
            PayloadFormat::Csv { .. } => "csv",
        }
    }
}

/// A Meilisearch-style error (`code` and `message`; all are 400s).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BatchError {
    pub code: &'static str,
    pub message: String,
}

impl BatchError {
    fn malformed(format: PayloadFormat, detail: impl std::fmt::Display) -> Self {
        BatchError {
            code: "malformed_payload",
            message: format!(
                "The `{}` payload provided is malformed. `{detail}`.",
                format.name()
            ),
        }
    }
}

/// A parsed payload: where each document sits in the input.
pub struct Payload<'a> {
    input: &'a [u8],
    format: PayloadFormat,
    /// JSON: the object; CSV: the row without its line end.
    docs: Vec<Range<usize>>,
    /// CSV only: the header row, and its column names without `:type`.
    csv_header: Range<usize>,
    csv_columns: Vec<String>,
}

/// A document routed to its shard.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Routed {
    pub doc: usize,
    pub shard: u32,
    /// Hash of the canonical primary key: equal hashes are (almost surely)
    /// the same document.
    pub key_hash: u64,
}

impl Routed {
    fn new(doc: usize, id: &[u8], shards: u32) -> Routed {
        let key_hash = key_hash(id);
        Routed {
            doc,
            shard: shard_of_hash(key_hash, shards),
            key_hash,
        }
    }
}

/// The body one node receives.
#[derive(Debug, PartialEq, Eq)]
pub struct NodeBody {
    pub node: NodeIdx,
    pub body: Vec<u8>,
    pub documents: usize,
}

fn trim_line_end(input: &[u8], mut range: Range<usize>) -> Range<usize> {
    while range.end > range.start && matches!(input[range.end - 1], b'\n' | b'\r') {
        range.end -= 1;
    }
    range
}

fn trim_ws(input: &[u8], mut range: Range<usize>) -> Range<usize> {
    while range.start < range.end && input[range.start].is_ascii_whitespace() {
        range.start += 1;
    }
    while range.end > range.start && input[range.end - 1].is_ascii_whitespace() {
        range.end -= 1;
    }
    range
}

/// Byte offset of `part` (a sub-slice of `whole`).
fn offset_in(whole: &[u8], part: &str) -> usize {
    part.as_ptr() as usize - whole.as_ptr() as usize
}

impl<'a> Payload<'a> {
    pub fn parse(input: &'a [u8], format: PayloadFormat) -> Result<Payload<'a>, BatchError> {
        let mut payload = Payload {
            input,
            format,
            docs: Vec::new(),
            csv_header: 0..0,
            csv_columns: Vec::new(),
        };
        match format {
            PayloadFormat::Json => payload.parse_json()?,
            PayloadFormat::NdJson => payload.parse_ndjson()?,
            PayloadFormat::Csv { delimiter } => payload.parse_csv(delimiter)?,
        }
        Ok(payload)
    }

    pub fn len(&self) -> usize {
        self.docs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.docs.is_empty()
    }

    fn parse_json(&mut self) -> Result<(), BatchError> {
        let whole = trim_ws(self.input, 0..self.input.len());
        let text = &self.input[whole.clone()];
        match text.first() {
            Some(b'{') => {
                check_object(text, self.format)?;
                self.docs.push(whole);
            }
            Some(b'[') => {
                for item in sonic_rs::to_array_iter(text) {
                    let value = item.map_err(|e| BatchError::malformed(self.format, e))?;
                    let raw = value.as_raw_str();
                    if !raw.starts_with('{') {
                        return Err(BatchError::malformed(
                            self.format,
                            format!("Couldn't serialize document value: expected an object, found `{raw}`"),
                        ));
                    }
                    // The checked array iterator has already validated the
                    // element completely (see the malformed-payload tests).
                    let start = offset_in(self.input, raw);
                    self.docs.push(start..start + raw.len());
                }
            }
            _ => {
                return Err(BatchError::malformed(
                    self.format,
                    "expected a JSON array of documents or a single document object",
                ))
            }
        }
        Ok(())
    }

    fn parse_ndjson(&mut self) -> Result<(), BatchError> {
        let mut start = 0;
        for (line_no, line) in self.input.split(|&b| b == b'\n').enumerate() {
            let range = trim_ws(self.input, start..start + line.len());
            start += line.len() + 1;
            if range.is_empty() {
                continue;
            }
            let text = &self.input[range.clone()];
            if text.first() != Some(&b'{') {
                return Err(BatchError::malformed(
                    self.format,
                    format!("line {}: expected a JSON object", line_no + 1),
                ));
            }
            check_object(text, self.format)?;
            self.docs.push(range);
        }
        Ok(())
    }

    fn parse_csv(&mut self, delimiter: u8) -> Result<(), BatchError> {
        let mut reader = csv::ReaderBuilder::new()
            .delimiter(delimiter)
            .has_headers(true)
            .from_reader(self.input);
        let headers = reader
            .byte_headers()
            .map_err(|e| BatchError::malformed(self.format, e))?
            .clone();
        self.csv_columns = headers
            .iter()
            .map(|h| {
                let name = String::from_utf8_lossy(h);
                name.split_once(':')
                    .map_or(name.to_string(), |(n, _)| n.to_string())
            })
            .collect();
        let mut record = csv::ByteRecord::new();
        let mut starts = Vec::new();
        loop {
            match reader.read_byte_record(&mut record) {
                Ok(true) => starts.push(record.position().map_or(0, |p| p.byte() as usize)),
                Ok(false) => break,
                Err(e) => return Err(BatchError::malformed(self.format, e)),
            }
        }
        let header_end = starts.first().copied().unwrap_or(self.input.len());
        self.csv_header = trim_line_end(self.input, 0..header_end);
        for (i, &start) in starts.iter().enumerate() {
            let end = starts.get(i + 1).copied().unwrap_or(self.input.len());
            self.docs.push(trim_line_end(self.input, start..end));
        }
        Ok(())
    }

    /// Field names of the first document (CSV: the columns), for primary-key
    /// inference.
    pub fn first_document_fields(&self) -> Vec<String> {
        if let PayloadFormat::Csv { .. } = self.format {
            return self.csv_columns.clone();
        }
        let Some(range) = self.docs.first() else {
            return Vec::new();
        };
        sonic_rs::to_object_iter(&self.input[range.clone()])
            .filter_map(|entry| entry.ok().map(|(k, _)| k.to_string()))
            .collect()
    }

    /// Shard of every document under `primary_key`; the first problem found
    /// (missing or invalid id, reserved field) fails the whole payload.
    pub fn route(&self, primary_key: &str, shards: u32) -> Result<Vec<Routed>, BatchError> {
        let mut routed = Vec::with_capacity(self.docs.len());
        if let PayloadFormat::Csv { delimiter } = self.format {
            if let Some(reserved) = self
                .csv_columns
                .iter()
                .find(|c| c.starts_with(RESERVED_PREFIX))
            {
                return Err(reserved_field(reserved));
            }
            let Some(column) = self.csv_columns.iter().position(|c| c == primary_key) else {
                let first = self.docs.first().map_or("", |r| {
                    std::str::from_utf8(&self.input[r.clone()]).unwrap_or("")
                });
                return Err(missing_id(primary_key, first));
            };
            let mut reader = csv::ReaderBuilder::new()
                .delimiter(delimiter)
                .has_headers(true)
                .from_reader(self.input);
            for (doc, record) in reader.byte_records().enumerate() {
                let record = record.map_err(|e| BatchError::malformed(self.format, e))?;
                let value = record.get(column).unwrap_or(b"");
                let id = std::str::from_utf8(value)
                    .map_err(|_| invalid_id(&String::from_utf8_lossy(value)))?;
                if id.is_empty() {
                    return Err(missing_id(
                        primary_key,
                        &String::from_utf8_lossy(&self.input[self.docs[doc].clone()]),
                    ));
                }
                if !valid_string_id(id) {
                    return Err(invalid_id(&format!("\"{id}\"")));
                }
                routed.push(Routed::new(doc, id.as_bytes(), shards));
            }
            return Ok(routed);
        }
        let reserved = memchr::memmem::Finder::new(RESERVED_PREFIX.as_bytes());
        for (doc, range) in self.docs.iter().enumerate() {
            let text = &self.input[range.clone()];
            // Most documents never mention the prefix: only those that do
            // get their top-level keys walked.
            if reserved.find(text).is_some() {
                for entry in sonic_rs::to_object_iter(text) {
                    let (key, _) = entry.map_err(|e| BatchError::malformed(self.format, e))?;
                    if key.starts_with(RESERVED_PREFIX) {
                        return Err(reserved_field(&key));
                    }
                }
            }
            let id = match sonic_rs::get(text, [primary_key]) {
                Ok(value) => canonical_id(&value)?,
                Err(e) if e.is_not_found() => return Err(missing_id(primary_key, &compact(text))),
                Err(e) => return Err(BatchError::malformed(self.format, e)),
            };
            routed.push(Routed::new(doc, id.as_bytes(), shards));
        }
        Ok(routed)
    }

    /// One body per node that must receive documents: every routed document
    /// goes to its shard's replicas in every group.
    pub fn node_bodies(&self, routed: &[Routed], snapshot: &RoutingSnapshot) -> Vec<NodeBody> {
        let mut bodies: Vec<Option<NodeBody>> =
            (0..snapshot.topology().nodes.len()).map(|_| None).collect();
        let avg = self.input.len() / self.docs.len().max(1) + 24;
        for r in routed {
            let doc = &self.input[self.docs[r.doc].clone()];
            for (_, node) in snapshot.write_targets(r.shard) {
                let Some(slot) = bodies.get_mut(node as usize) else {
                    continue;
                };
                let body =
                    slot.get_or_insert_with(|| self.start_body(node, avg * routed.len() / 2));
                self.append(body, doc, r.shard);
            }
        }
        bodies
            .into_iter()
            .flatten()
            .map(|mut b| {
                if self.format == PayloadFormat::Json {
                    b.body.push(b']');
                }
                b
            })
            .collect()
    }

    fn start_body(&self, node: NodeIdx, capacity: usize) -> NodeBody {
        let mut body = Vec::with_capacity(capacity);
        match self.format {
            PayloadFormat::Json => body.push(b'['),
            PayloadFormat::NdJson => {}
            PayloadFormat::Csv { delimiter } => {
                body.extend_from_slice(&self.input[self.csv_header.clone()]);
                body.push(delimiter);
                body.extend_from_slice(SHARD_FIELD.as_bytes());
                body.push(b'\n');
            }
        }
        NodeBody {
            node,
            body,
            documents: 0,
        }
    }

    fn append(&self, out: &mut NodeBody, doc: &[u8], shard: u32) {
        match self.format {
            PayloadFormat::Json | PayloadFormat::NdJson => {
                if self.format == PayloadFormat::Json && out.documents > 0 {
                    out.body.push(b',');
                }
                // `{` + `"_miroir_shard":"…"` + (`,` unless the object is empty) + the rest.
                let rest = &doc[1..];
                let empty = rest.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'}');
                out.body.extend_from_slice(b"{\"");
                out.body.extend_from_slice(SHARD_FIELD.as_bytes());
                out.body.extend_from_slice(b"\":\"");
                push_shard_value(&mut out.body, shard);
                out.body.push(b'"');
                if !empty {
                    out.body.push(b',');
                }
                out.body.extend_from_slice(rest);
                if self.format == PayloadFormat::NdJson {
                    out.body.push(b'\n');
                }
            }
            PayloadFormat::Csv { delimiter } => {
                out.body.extend_from_slice(doc);
                out.body.push(delimiter);
                // Quoted: the delimiter may be one of the digits.
                out.body.push(b'"');
                push_shard_value(&mut out.body, shard);
                out.body.extend_from_slice(b"\"\n");
            }
        }
        out.documents += 1;
    }
}

/// Walks the whole object so syntax errors anywhere inside are caught before
/// anything is sent.
fn check_object(text: &[u8], format: PayloadFormat) -> Result<(), BatchError> {
    sonic_rs::from_slice::<serde::de::IgnoredAny>(text)
        .map(|_| ())
        .map_err(|e| {
            BatchError::malformed(format, format!("Couldn't serialize document value: {e}"))
        })
}

fn compact(text: &[u8]) -> String {
    sonic_rs::from_slice::<sonic_rs::Value>(text)
        .ok()
        .and_then(|v| sonic_rs::to_string(&v).ok())
        .unwrap_or_else(|| String::from_utf8_lossy(text).into_owned())
}

/// The primary key's string form, which is what Meilisearch identifies a
/// document by (so `1` and `"1"` are the same document) and what is hashed.
fn canonical_id(value: &sonic_rs::LazyValue<'_>) -> Result<String, BatchError> {
    if let Some(s) = value.as_str() {
        if valid_string_id(s) {
            return Ok(s.to_string());
        }
    } else if value.is_number() && (value.as_i64().is_some() || value.as_u64().is_some()) {
        let raw = value.as_raw_str();
        if raw.bytes().all(|b| b.is_ascii_digit() || b == b'-') {
            return Ok(raw.to_string());
        }
    }
    Err(invalid_id(&compact(value.as_raw_str().as_bytes())))
}

fn valid_string_id(id: &str) -> bool {
    (1..=511).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn invalid_id(shown: &str) -> BatchError {
    BatchError {
        code: "invalid_document_id",
        message: format!(
            "Document identifier `{shown}` is invalid. A document identifier can be of type integer or string, only composed of alphanumeric characters (a-z A-Z 0-9), hyphens (-) and underscores (_), and can not be more than 511 bytes."
        ),
    }
}

fn missing_id(primary_key: &str, document: &str) -> BatchError {
    BatchError {
        code: "missing_document_id",
        message: format!("Document doesn't have a `{primary_key}` attribute: `{document}`."),
    }
}

fn reserved_field(field: &str) -> BatchError {
    BatchError {
        code: "miroir_reserved_field",
        message: format!(
            "The document field `{field}` is reserved: fields starting with `{RESERVED_PREFIX}` are managed by Miroir and cannot be sent by clients."
        ),
    }
}

/// Meilisearch's primary-key inference: the one field whose name ends with
/// `id` (case-insensitive).
pub fn infer_primary_key(fields: &[String]) -> Result<String, BatchError> {
    let candidates: Vec<&String> = fields
        .iter()
        .filter(|f| f.to_ascii_lowercase().ends_with("id"))
        .collect();
    match candidates.as_slice() {
        [one] => Ok((*one).clone()),
        [] => Err(BatchError {
            code: "index_primary_key_no_candidate_found",
            message: "The primary key inference failed as the engine did not find any field ending with `id` in its name. Please specify the primary key manually using the `primaryKey` query parameter.".into(),
        }),
        many => Err(BatchError {
            code: "index_primary_key_multiple_candidates_found",
            message: format!(
                "The primary key inference failed as the engine found {} fields ending with `id` in their names: {}. Please specify the primary key manually using the `primaryKey` query parameter.",
                many.len(),
                quoted_list(many)
            ),
        }),
    }
}

/// `'a' and 'b'`, `'a', 'b' and 'c'`.
fn quoted_list(names: &[&String]) -> String {
    let quoted: Vec<String> = names.iter().map(|n| format!("'{n}'")).collect();
    match quoted.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} and {last}", rest.join(", ")),
        _ => quoted.concat(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{GroupSpec, GroupState, NodeSpec, NodeState, Topology};
    use sonic_rs::JsonContainerTrait;

    fn snapshot(groups: u32, per_group: u32, rf: usize, shards: u32) -> RoutingSnapshot {
        let nodes = (0..groups * per_group)
            .map(|i| NodeSpec {
                id: format!("node-{i}"),
                group: i / per_group,
                state: NodeState::Active,
            })
            .collect::<Vec<_>>();
        let n = nodes.len();
        RoutingSnapshot::build(
            Topology {
                shards,
                replication_factor: rf,
                nodes,
                groups: (0..groups)
                    .map(|id| GroupSpec {
                        id,
                        state: GroupState::Active,
                    })
                    .collect(),
            },
            vec![true; n],
        )
        .expect("topology")
    }

    fn bodies_as_json(bodies: &[NodeBody]) -> Vec<(NodeIdx, sonic_rs::Value)> {
        bodies
            .iter()
            .map(|b| {
                (
                    b.node,
                    sonic_rs::from_slice(&b.body).expect("node body is JSON"),
                )
            })
            .collect()
    }

    #[test]
    fn json_array_is_split_with_the_shard_spliced_in() {
        let input = br#" [ {"id": 1, "title": "a"}, { "id":"two" ,"n":[1,{"x":2}]}, {"id":3} ] "#;
        let payload = Payload::parse(input, PayloadFormat::Json).unwrap();
        assert_eq!(payload.len(), 3);
        let routed = payload.route("id", 8).unwrap();
        assert_eq!(routed[0].shard, shard_for_key(b"1", 8));
        assert_eq!(routed[1].shard, shard_for_key(b"two", 8));
        let snap = snapshot(1, 3, 1, 8);
        let bodies = payload.node_bodies(&routed, &snap);
        let total: usize = bodies.iter().map(|b| b.documents).sum();
        assert_eq!(total, 3);
        for (node, docs) in bodies_as_json(&bodies) {
            for doc in docs.as_array().unwrap().iter() {
                let value = doc.get("_miroir_shard").and_then(|v| v.as_str()).unwrap();
                let shard = (0..8).find(|&s| shard_value(s) == value).unwrap();
                assert_eq!(snap.replicas(0, shard), &[node]);
            }
        }
    }

    #[test]
    fn shard_values_are_distinct_and_hold_no_word() {
        assert_eq!(
            (shard_value(0), shard_value(7), shard_value(8)),
            ("!".into(), "*".into(), "(!".into())
        );
        assert_eq!(shard_value(u32::MAX).len(), 11);
        let values: std::collections::HashSet<String> = (0..5000).map(shard_value).collect();
        assert_eq!(values.len(), 5000);
        for v in &values {
            // No letter or digit: the tokenizer finds no word in it.
            assert!(
                v.chars()
                    .all(|c| !c.is_alphanumeric() && !"\"\\' ,".contains(c)),
                "{v}"
            );
            assert!(is_shard_digit_token(v), "{v}");
        }
        for other in ["", "#", "a!", "! ", "C++"] {
            assert!(!is_shard_digit_token(other), "{other}");
        }
    }

    #[test]
    fn every_group_and_replica_gets_a_copy() {
        let input = br#"[{"id":1},{"id":2},{"id":3},{"id":4},{"id":5},{"id":6}]"#;
        let payload = Payload::parse(input, PayloadFormat::Json).unwrap();
        let routed = payload.route("id", 16).unwrap();
        let snap = snapshot(2, 3, 2, 16);
        let bodies = payload.node_bodies(&routed, &snap);
        let total: usize = bodies.iter().map(|b| b.documents).sum();
        assert_eq!(total, 6 * 2 * 2, "RG=2 × RF=2 copies");
    }

    #[test]
    fn single_object_empty_object_and_ndjson() {
        let payload = Payload::parse(br#"{"id": "x"}"#, PayloadFormat::Json).unwrap();
        assert_eq!(payload.len(), 1);
        let snap = snapshot(1, 1, 1, 4);
        let routed = payload.route("id", 4).unwrap();
        let body = &payload.node_bodies(&routed, &snap)[0].body;
        let shard = shard_value(shard_for_key(b"x", 4));
        assert_eq!(
            std::str::from_utf8(body).unwrap(),
            format!(r#"[{{"_miroir_shard":"{shard}","id": "x"}}]"#)
        );

        let nd = b"{\"id\":1}\n\n{\"id\":2,\"t\":\"b\"}\r\n";
        let payload = Payload::parse(nd, PayloadFormat::NdJson).unwrap();
        assert_eq!(payload.len(), 2);
        let routed = payload.route("id", 4).unwrap();
        let body = String::from_utf8(payload.node_bodies(&routed, &snap).remove(0).body).unwrap();
        let lines: Vec<&str> = body.lines().collect();
        assert_eq!(lines.len(), 2);
        assert!(
            lines[1].starts_with("{\"_miroir_shard\":")
                && lines[1].ends_with(",\"id\":2,\"t\":\"b\"}"),
            "{body}"
        );
    }

    #[test]
    fn csv_rows_get_a_shard_column() {
        let input = b"id,title,year:number\n9001,Ghost Dog,1999\n9002,\"Paris, Texas\",1984\n";
        let payload = Payload::parse(input, PayloadFormat::Csv { delimiter: b',' }).unwrap();
        assert_eq!(payload.first_document_fields(), vec!["id", "title", "year"]);
        let routed = payload.route("id", 4).unwrap();
        let snap = snapshot(1, 1, 1, 4);
        let body = String::from_utf8(payload.node_bodies(&routed, &snap).remove(0).body).unwrap();
        let s1 = shard_value(shard_for_key(b"9001", 4));
        let s2 = shard_value(shard_for_key(b"9002", 4));
        assert_eq!(
            body,
            format!("id,title,year:number,_miroir_shard\n9001,Ghost Dog,1999,\"{s1}\"\n9002,\"Paris, Texas\",1984,\"{s2}\"\n")
        );
        let semi = Payload::parse(b"id;t\n1;a\n", PayloadFormat::Csv { delimiter: b';' }).unwrap();
        let routed = semi.route("id", 4).unwrap();
        let body = String::from_utf8(semi.node_bodies(&routed, &snap).remove(0).body).unwrap();
        assert!(body.starts_with("id;t;_miroir_shard\n1;a;\""), "{body}");
    }

    #[test]
    fn bad_documents_fail_the_whole_payload() {
        let p = Payload::parse(
            br#"[{"id": 1, "title": "ok"}, {"title": "no id here"}]"#,
            PayloadFormat::Json,
        )
        .unwrap();
        let err = p.route("id", 4).unwrap_err();
        assert_eq!(err.code, "missing_document_id");
        assert_eq!(
            err.message,
            "Document doesn't have a `id` attribute: `{\"title\":\"no id here\"}`."
        );

        let p =
            Payload::parse(br#"[{"id": "bad id!", "title": "x"}]"#, PayloadFormat::Json).unwrap();
        assert_eq!(p.route("id", 4).unwrap_err().message, "Document identifier `\"bad id!\"` is invalid. A document identifier can be of type integer or string, only composed of alphanumeric characters (a-z A-Z 0-9), hyphens (-) and underscores (_), and can not be more than 511 bytes.");
        let p = Payload::parse(br#"[{"id": 1.5}]"#, PayloadFormat::Json).unwrap();
        assert!(p
            .route("id", 4)
            .unwrap_err()
            .message
            .starts_with("Document identifier `1.5` is invalid."));

        let p = Payload::parse(br#"[{"id": 1, "_miroir_shard": 3}]"#, PayloadFormat::Json).unwrap();
        assert_eq!(p.route("id", 4).unwrap_err().code, "miroir_reserved_field");
        let p = Payload::parse(
            b"id,_miroir_expires_at\n1,2\n",
            PayloadFormat::Csv { delimiter: b',' },
        )
        .unwrap();
        assert_eq!(p.route("id", 4).unwrap_err().code, "miroir_reserved_field");
    }

    #[test]
    fn malformed_payloads_are_rejected_before_routing() {
        for (input, format) in [
            (&br#"[{"id": 1,"#[..], PayloadFormat::Json),
            (br#"[{"id": 1, "a": [1,}]"#, PayloadFormat::Json),
            (br#"[{"id": 1, "a": "x"} {"id": 2}]"#, PayloadFormat::Json),
            (br#"[1, 2]"#, PayloadFormat::Json),
            (b"\"text\"", PayloadFormat::Json),
            (b"{\"id\":1}\n{\"id\":", PayloadFormat::NdJson),
            (b"id,t\n1,a,extra\n", PayloadFormat::Csv { delimiter: b',' }),
        ] {
            match Payload::parse(input, format) {
                Err(e) => assert_eq!(
                    e.code,
                    "malformed_payload",
                    "{}",
                    String::from_utf8_lossy(input)
                ),
                Ok(_) => panic!("accepted {}", String::from_utf8_lossy(input)),
            }
        }
        let nested_bad = b"[{\"id\": 1, \"a\": {\"b\": \"\\q\"}}]";
        assert!(
            Payload::parse(nested_bad, PayloadFormat::Json).is_err(),
            "bad escape inside a nested value"
        );
    }

    #[test]
    fn inference_matches_meilisearch() {
        let fields = |f: &[&str]| f.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            infer_primary_key(&fields(&["movieId", "title"])).unwrap(),
            "movieId"
        );
        assert_eq!(
            infer_primary_key(&fields(&["title"])).unwrap_err().code,
            "index_primary_key_no_candidate_found"
        );
        let many = infer_primary_key(&fields(&["id", "movie_id", "title"])).unwrap_err();
        assert_eq!(many.message, "The primary key inference failed as the engine found 2 fields ending with `id` in their names: 'id' and 'movie_id'. Please specify the primary key manually using the `primaryKey` query parameter.");
    }

    #[test]
    fn string_and_integer_ids_hash_alike() {
        let p = Payload::parse(br#"[{"id": 42}, {"id": "42"}]"#, PayloadFormat::Json).unwrap();
        let routed = p.route("id", 64).unwrap();
        assert_eq!(routed[0].shard, routed[1].shard);
    }
}
