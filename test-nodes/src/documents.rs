//! `/indexes/{uid}/documents*` routes, payload parsing (JSON array or object, NDJSON, CSV with
//! `:number`/`:boolean` columns), primary key inference, and the document tasks.

use serde_json::{json, Map, Number, Value};

use crate::filter::{self, Filter};
use crate::index::{document_id, select_fields, values_at, Index, SortKey, SortRule};
use crate::params::{check_index_uid, media_type, ApiError, ApiResult, Fields, QueryParams};
use crate::server::{Ctx, Params, Reply, Request};
use crate::state::State;
use crate::tasks::{self, Kind};
use crate::util::describe;

#[derive(Clone, Copy, Debug, PartialEq)]
enum Format {
    Json,
    Ndjson,
    Csv,
}

impl Format {
    fn name(self) -> &'static str {
        match self {
            Format::Json => "json",
            Format::Ndjson => "ndjson",
            Format::Csv => "csv",
        }
    }
}

const ACCEPTED: &str = "Accepted values for the Content-Type header are: `application/json`, `application/x-ndjson`, `text/csv`";

fn payload_format(req: &Request) -> ApiResult<Format> {
    match media_type(req).as_deref() {
        None => Err(ApiError::new(
            415,
            format!("A Content-Type header is missing. {ACCEPTED}"),
            "missing_content_type",
        )),
        Some("application/json") => Ok(Format::Json),
        Some("application/x-ndjson") => Ok(Format::Ndjson),
        Some("text/csv") => Ok(Format::Csv),
        Some(_) => Err(ApiError::new(
            415,
            format!(
                "The Content-Type `{}` is invalid. {ACCEPTED}",
                req.header("content-type").unwrap_or("")
            ),
            "invalid_content_type",
        )),
    }
}

fn malformed(format: Format, what: impl std::fmt::Display) -> ApiError {
    ApiError::new(
        400,
        format!(
            "The `{}` payload provided is malformed. `{what}`.",
            format.name()
        ),
        "malformed_payload",
    )
}

fn parse_payload(format: Format, body: &[u8], delimiter: u8) -> ApiResult<Vec<Map<String, Value>>> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::new(
            400,
            format!("A {} payload is missing.", format.name()),
            "missing_payload",
        ));
    }
    let not_objects = || {
        malformed(
            format,
            "Couldn't serialize document value: data are neither an object nor a list of objects",
        )
    };
    match format {
        Format::Json => {
            let v: Value = serde_json::from_slice(body).map_err(|e| {
                malformed(
                    format,
                    format!(
                        "Couldn't serialize document value: {}",
                        eof_wording(&e, body)
                    ),
                )
            })?;
            match v {
                Value::Object(m) => Ok(vec![m]),
                Value::Array(items) => items
                    .into_iter()
                    .map(|i| match i {
                        Value::Object(m) => Ok(m),
                        _ => Err(not_objects()),
                    })
                    .collect(),
                _ => Err(not_objects()),
            }
        }
        Format::Ndjson => {
            let text = std::str::from_utf8(body).map_err(|e| {
                malformed(format, format!("Couldn't serialize document value: {e}"))
            })?;
            let mut out = Vec::new();
            for line in text.lines().filter(|l| !l.trim().is_empty()) {
                match serde_json::from_str::<Value>(line) {
                    Ok(Value::Object(m)) => out.push(m),
                    Ok(_) => return Err(not_objects()),
                    Err(e) => {
                        return Err(malformed(
                            format,
                            format!("Couldn't serialize document value: {e}"),
                        ))
                    }
                }
            }
            Ok(out)
        }
        Format::Csv => parse_csv(body, delimiter),
    }
}

/// serde_json's message for a truncated payload, worded like Meilisearch's streaming
/// deserializer reports it: EOF inside an object / a list (fixture 184).
fn eof_wording(e: &serde_json::Error, body: &[u8]) -> String {
    let text = e.to_string();
    let Some(rest) = text.strip_prefix("EOF while parsing a value") else {
        return text;
    };
    let mut stack = Vec::new();
    let mut in_string = false;
    let mut escaped = false;
    for &b in body {
        if in_string {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'{' | b'[' => stack.push(b),
            b'}' | b']' => {
                stack.pop();
            }
            _ => {}
        }
    }
    match stack.last() {
        Some(b'{') => format!("EOF while parsing an object{rest}"),
        Some(b'[') => format!("EOF while parsing a list{rest}"),
        _ => text,
    }
}

/// RFC 4180 records (quoted fields, `""` escapes, LF or CRLF line ends).
fn csv_records(text: &str, delimiter: char) -> Result<Vec<Vec<String>>, String> {
    let mut records = Vec::new();
    let mut record = Vec::new();
    let mut field = String::new();
    let mut chars = text.chars().peekable();
    let mut quoted = false;
    let mut any = false;
    while let Some(c) = chars.next() {
        if quoted {
            match c {
                '"' if chars.peek() == Some(&'"') => {
                    chars.next();
                    field.push('"');
                }
                '"' => quoted = false,
                other => field.push(other),
            }
            continue;
        }
        match c {
            '"' if field.is_empty() => {
                quoted = true;
                any = true;
            }
            c if c == delimiter => {
                record.push(std::mem::take(&mut field));
                any = true;
            }
            '\r' if chars.peek() == Some(&'\n') => {}
            '\n' => {
                if any || !field.is_empty() {
                    record.push(std::mem::take(&mut field));
                    records.push(std::mem::take(&mut record));
                }
                any = false;
            }
            other => {
                field.push(other);
                any = true;
            }
        }
    }
    if quoted {
        return Err("CSV error: unterminated quoted field".to_owned());
    }
    if any || !field.is_empty() {
        record.push(field);
        records.push(record);
    }
    Ok(records)
}

fn parse_csv(body: &[u8], delimiter: u8) -> ApiResult<Vec<Map<String, Value>>> {
    let f = Format::Csv;
    let text = std::str::from_utf8(body).map_err(|e| malformed(f, e))?;
    let records = csv_records(text, delimiter as char).map_err(|e| malformed(f, e))?;
    let Some((header, rows)) = records.split_first() else {
        return Ok(Vec::new());
    };
    let columns: Vec<(String, &str)> = header
        .iter()
        .map(|h| match h.rsplit_once(':') {
            Some((name, ty @ ("number" | "boolean" | "string"))) => (name.to_owned(), ty),
            _ => (h.clone(), "string"),
        })
        .collect();
    let mut out = Vec::with_capacity(rows.len());
    for (r, row) in rows.iter().enumerate() {
        let line = r + 2;
        if row.len() != columns.len() {
            return Err(malformed(
                f,
                format!(
                    "CSV error: record {} (line: {line}): found record with {} fields, but the previous record has {} fields",
                    r + 1,
                    row.len(),
                    columns.len()
                ),
            ));
        }
        let mut doc = Map::new();
        for ((name, ty), cell) in columns.iter().zip(row) {
            let value = if cell.trim().is_empty() && *ty != "string" || cell.is_empty() {
                Value::Null
            } else {
                match *ty {
                    "number" => {
                        let t = cell.trim();
                        if let Ok(i) = t.parse::<i64>() {
                            Value::Number(i.into())
                        } else if let Some(n) = t.parse::<f64>().ok().and_then(Number::from_f64) {
                            Value::Number(n)
                        } else {
                            return Err(malformed(
                                f,
                                format!("Error parsing number {t:?} at line {line}: invalid float literal"),
                            ));
                        }
                    }
                    "boolean" => match cell.trim() {
                        "true" => Value::Bool(true),
                        "false" => Value::Bool(false),
                        t => {
                            return Err(malformed(
                                f,
                                format!("Error parsing boolean {t:?} at line {line}: provided string was not `true` or `false`"),
                            ))
                        }
                    },
                    _ => Value::String(cell.clone()),
                }
            };
            doc.insert(name.clone(), value);
        }
        out.push(doc);
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// Write routes

fn add_or_update(ctx: &Ctx, req: &Request, p: &Params, merge: bool) -> ApiResult<Reply> {
    let uid = p.get("uid");
    check_index_uid(uid)?;
    let q = QueryParams::of(req);
    q.deny_unknown(&[
        "primaryKey",
        "csvDelimiter",
        "customMetadata",
        "skipCreation",
    ])?;
    let format = payload_format(req)?;
    let delimiter = match q.get("csvDelimiter") {
        None => b',',
        Some(_) if format != Format::Csv => {
            return Err(ApiError::new(
                415,
                format!(
                    "The Content-Type `{}` does not support the use of a csv delimiter. The csv delimiter can only be used with the Content-Type `text/csv`.",
                    req.header("content-type").unwrap_or("")
                ),
                "invalid_content_type",
            ))
        }
        Some(d) if d.len() == 1 && d.is_ascii() => d.as_bytes()[0],
        Some(d) => {
            return Err(ApiError::new(
                400,
                format!(
                    "Invalid value in parameter `csvDelimiter`: expected a string of one character, but found the following string of {} characters: `{d}`",
                    d.chars().count()
                ),
                "invalid_document_csv_delimiter",
            ))
        }
    };
    let primary_key = q.get("primaryKey").map(str::to_owned);
    let docs = parse_payload(format, &req.body, delimiter)?;
    let mut details = Map::new();
    details.insert("receivedDocuments".into(), json!(docs.len()));
    details.insert("indexedDocuments".into(), Value::Null);
    let summary = tasks::enqueue(
        ctx,
        Some(uid.to_owned()),
        Kind::DocumentAdd {
            docs,
            primary_key,
            merge,
        },
        details,
    );
    Ok(Reply::json(202, &summary))
}

/// `POST /indexes/{uid}/documents`: add or replace.
pub(crate) fn replace(ctx: &Ctx, req: &Request, p: &Params) -> ApiResult<Reply> {
    add_or_update(ctx, req, p, false)
}

/// `PUT /indexes/{uid}/documents`: add or update (shallow merge).
pub(crate) fn update(ctx: &Ctx, req: &Request, p: &Params) -> ApiResult<Reply> {
    add_or_update(ctx, req, p, true)
}

fn deletion_details(provided: usize, filter: Option<&Value>) -> Map<String, Value> {
    let mut details = Map::new();
    details.insert("providedIds".into(), json!(provided));
    details.insert("deletedDocuments".into(), Value::Null);
    details.insert(
        "originalFilter".into(),
        filter
            .map(|f| json!(serde_json::to_string(f).unwrap_or_default()))
            .unwrap_or(Value::Null),
    );
    details
}

pub(crate) fn delete_one(ctx: &Ctx, _: &Request, p: &Params) -> ApiResult<Reply> {
    let uid = p.get("uid");
    check_index_uid(uid)?;
    let ids = vec![p.get("id").to_owned()];
    let summary = tasks::enqueue(
        ctx,
        Some(uid.to_owned()),
        Kind::DocumentDeleteIds { ids },
        deletion_details(1, None),
    );
    Ok(Reply::json(202, &summary))
}

fn id_string(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) if n.is_i64() || n.is_u64() => Some(n.to_string()),
        _ => None,
    }
}

pub(crate) fn delete_batch(ctx: &Ctx, req: &Request, p: &Params) -> ApiResult<Reply> {
    let uid = p.get("uid");
    check_index_uid(uid)?;
    let body = crate::params::json_body(req)?;
    let Value::Array(items) = &body else {
        return Err(ApiError::bad_request(format!(
            "Invalid value type: expected an array, but found {}",
            describe(&body)
        )));
    };
    let ids = items
        .iter()
        .enumerate()
        .map(|(i, v)| {
            id_string(v).ok_or_else(|| {
                ApiError::bad_request(format!(
                    "Invalid value type at `[{i}]`: expected a string or an integer, but found {}",
                    describe(v)
                ))
            })
        })
        .collect::<ApiResult<Vec<String>>>()?;
    let details = deletion_details(ids.len(), None);
    let summary = tasks::enqueue(
        ctx,
        Some(uid.to_owned()),
        Kind::DocumentDeleteIds { ids },
        details,
    );
    Ok(Reply::json(202, &summary))
}

fn filter_error(message: String) -> ApiError {
    ApiError::new(400, message, "invalid_document_filter")
}

pub(crate) fn delete_by_filter(ctx: &Ctx, req: &Request, p: &Params) -> ApiResult<Reply> {
    let uid = p.get("uid");
    check_index_uid(uid)?;
    let body = crate::params::json_body(req)?;
    let f = Fields::new(&body, "", "invalid_document_")?;
    f.deny_unknown(&["filter"])?;
    let Some(filter) = f.get("filter") else {
        return Err(f.missing("filter", "missing_document_filter"));
    };
    filter::from_json(filter).map_err(|e| filter_error(e.0))?;
    let summary = tasks::enqueue(
        ctx,
        Some(uid.to_owned()),
        Kind::DocumentDeleteFilter {
            filter: filter.clone(),
        },
        deletion_details(0, Some(filter)),
    );
    Ok(Reply::json(202, &summary))
}

pub(crate) fn delete_all(ctx: &Ctx, _: &Request, p: &Params) -> ApiResult<Reply> {
    let uid = p.get("uid");
    check_index_uid(uid)?;
    let mut details = Map::new();
    details.insert("deletedDocuments".into(), Value::Null);
    let summary = tasks::enqueue(ctx, Some(uid.to_owned()), Kind::DocumentClear, details);
    Ok(Reply::json(202, &summary))
}

// ---------------------------------------------------------------------------------------------
// Tasks

fn infer_primary_key(doc: &Map<String, Value>) -> ApiResult<String> {
    let candidates: Vec<&String> = doc
        .keys()
        .filter(|k| k.to_lowercase().ends_with("id"))
        .collect();
    match candidates.as_slice() {
        [one] => Ok((*one).clone()),
        [] => Err(ApiError::new(
            400,
            "The primary key inference failed as the engine did not find any field ending with `id` in its name. Please specify the primary key manually using the `primaryKey` query parameter.",
            "index_primary_key_no_candidate_found",
        )),
        many => {
            let quoted: Vec<String> = many.iter().map(|c| format!("'{c}'")).collect();
            let (last, rest) = quoted.split_last().unwrap_or((&quoted[0], &[]));
            Err(ApiError::new(
                400,
                format!(
                    "The primary key inference failed as the engine found {} fields ending with `id` in their names: {} and {last}. Please specify the primary key manually using the `primaryKey` query parameter.",
                    many.len(),
                    rest.join(", ")
                ),
                "index_primary_key_multiple_candidates_found",
            ))
        }
    }
}

fn extract_id(doc: &Map<String, Value>, pk: &str) -> ApiResult<String> {
    let values = values_at(doc, pk);
    let Some(v) = values.first() else {
        return Err(ApiError::new(
            400,
            format!(
                "Document doesn't have a `{pk}` attribute: `{}`.",
                serde_json::to_string(doc).unwrap_or_default()
            ),
            "missing_document_id",
        ));
    };
    match (values.len(), document_id(v)) {
        (1, Some(id)) => Ok(id),
        _ => Err(ApiError::new(
            400,
            format!(
                "Document identifier `{}` is invalid. A document identifier can be of type integer or string, only composed of alphanumeric characters (a-z A-Z 0-9), hyphens (-) and underscores (_), and can not be more than 511 bytes.",
                serde_json::to_string(v).unwrap_or_default()
            ),
            "invalid_document_id",
        )),
    }
}

/// A `documentAdditionOrUpdate` task: all documents or none.
pub(crate) fn apply_add(
    st: &mut State,
    uid: &str,
    docs: Vec<Map<String, Value>>,
    primary_key: Option<String>,
    merge: bool,
) -> ApiResult<Map<String, Value>> {
    let index = st.index_or_create(uid);
    let pk = match (&index.primary_key, primary_key) {
        (Some(current), Some(requested)) if *current != requested => {
            return Err(ApiError::new(
                400,
                format!("Index already has a primary key: `{current}`."),
                "index_primary_key_already_exists",
            ))
        }
        (Some(current), _) => current.clone(),
        (None, Some(requested)) => requested,
        (None, None) => match docs.first() {
            Some(first) => infer_primary_key(first)?,
            None => {
                let mut m = Map::new();
                m.insert("indexedDocuments".into(), json!(0));
                return Ok(m);
            }
        },
    };
    let ids = docs
        .iter()
        .map(|d| extract_id(d, &pk))
        .collect::<ApiResult<Vec<String>>>()?;
    index.primary_key = Some(pk);
    let n = docs.len();
    for (id, doc) in ids.into_iter().zip(docs) {
        if merge {
            index.merge(id, doc);
        } else {
            index.put(id, doc);
        }
    }
    index.touch();
    let mut m = Map::new();
    m.insert("indexedDocuments".into(), json!(n));
    Ok(m)
}

fn deleted(n: usize) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("deletedDocuments".into(), json!(n));
    m
}

pub(crate) fn apply_delete_ids(
    st: &mut State,
    uid: &str,
    ids: &[String],
) -> ApiResult<Map<String, Value>> {
    let index = st.index_mut(uid)?;
    let n = ids.iter().filter(|id| index.remove(id)).count();
    index.touch();
    Ok(deleted(n))
}

pub(crate) fn apply_delete_filter(
    st: &mut State,
    uid: &str,
    filter: &Value,
) -> ApiResult<Map<String, Value>> {
    let index = st.index_mut(uid)?;
    let prefix = format!("Index `{uid}`: ");
    let filter = filter::from_json(filter).map_err(|e| filter_error(e.0))?;
    let Some(filter) = filter else {
        return Ok(deleted(0));
    };
    filter
        .check_filterable(&index.settings)
        .map_err(|e| filter_error(e.0).prefixed(&prefix))?;
    let compiled = filter.compile(index);
    let ids: Vec<String> = index
        .docs
        .values()
        .enumerate()
        .filter(|(pos, _)| compiled.matches(*pos))
        .map(|(_, d)| d.id.clone())
        .collect();
    for id in &ids {
        index.remove(id);
    }
    index.touch();
    Ok(deleted(ids.len()))
}

pub(crate) fn apply_clear(st: &mut State, uid: &str) -> ApiResult<Map<String, Value>> {
    let index = st.index_mut(uid)?;
    let n = index.clear();
    index.touch();
    Ok(deleted(n))
}

// ---------------------------------------------------------------------------------------------
// Read routes

pub(crate) fn get_one(ctx: &Ctx, req: &Request, p: &Params) -> ApiResult<Reply> {
    let q = QueryParams::of(req);
    q.deny_unknown(&["fields", "retrieveVectors"])?;
    q.bool("retrieveVectors", "invalid_document_retrieve_vectors")?;
    let fields = q.list("fields");
    let st = ctx.state();
    let index = st.index(p.get("uid"))?;
    let id = p.get("id");
    let doc = index.get(id).ok_or_else(|| {
        ApiError::new(
            404,
            format!("Document `{id}` not found."),
            "document_not_found",
        )
    })?;
    let value = match &fields {
        Some(f) => select_fields(&doc.value, f),
        None => doc.value.clone(),
    };
    Ok(Reply::json(200, &Value::Object(value)))
}

/// Parameters of `GET /documents` and `POST /documents/fetch`.
struct Fetch {
    offset: usize,
    limit: usize,
    fields: Option<Vec<String>>,
    filter: Option<Filter>,
    sort: Vec<SortRule>,
    ids: Option<Vec<String>>,
}

fn parse_filter(v: &Value, index: &Index) -> ApiResult<Option<Filter>> {
    let filter = filter::from_json(v).map_err(|e| filter_error(e.0))?;
    if let Some(f) = &filter {
        f.check_filterable(&index.settings)
            .map_err(|e| filter_error(e.0))?;
    }
    Ok(filter)
}

fn parse_sort(list: &[String], index: &Index) -> ApiResult<Vec<SortRule>> {
    let code = "invalid_document_sort";
    list.iter()
        .map(|s| {
            let rule = SortRule::parse(s).ok_or_else(|| {
                ApiError::new(
                    400,
                    format!(
                        "Invalid syntax for the sort parameter: expected expression ending by `:asc` or `:desc`, found `{s}`."
                    ),
                    code,
                )
            })?;
            if !index.settings.is_sortable(&rule.field) {
                return Err(ApiError::new(400, not_sortable(&rule.field, index), code));
            }
            Ok(rule)
        })
        .collect()
}

/// `Attribute `x` is not sortable. ...` (fixture 103, without the index prefix).
pub(crate) fn not_sortable(field: &str, index: &Index) -> String {
    let mut sortable = index.settings.sortable();
    sortable.sort();
    if sortable.is_empty() {
        format!("Attribute `{field}` is not sortable. This index does not have configured sortable attributes.")
    } else {
        format!(
            "Attribute `{field}` is not sortable. Available sortable attributes are: `{}`.",
            sortable.join(", ")
        )
    }
}

fn run_fetch(index: &Index, f: &Fetch) -> Value {
    let order = index.order();
    let mut positions: Vec<u32> = match &f.ids {
        Some(ids) => {
            let by_seq = index.positions();
            let mut v: Vec<u32> = ids
                .iter()
                .filter_map(|id| index.seq(id))
                .map(|s| by_seq[s as usize])
                .filter(|p| *p != u32::MAX)
                .collect();
            v.sort_unstable();
            v.dedup();
            v
        }
        None => (0..order.len() as u32).collect(),
    };
    if let Some(filter) = &f.filter {
        let compiled = filter.compile(index);
        positions.retain(|p| compiled.matches(*p as usize));
    }
    if !f.sort.is_empty() {
        let columns: Vec<_> = f.sort.iter().map(|r| index.column(&r.field)).collect();
        let mut keyed: Vec<(Vec<SortKey>, u32)> = positions
            .iter()
            .map(|p| {
                let keys = f
                    .sort
                    .iter()
                    .zip(&columns)
                    .map(|(r, c)| SortKey::from_cell(&c.cells[*p as usize], r.asc))
                    .collect();
                (keys, *p)
            })
            .collect();
        keyed.sort_by(|(a, _), (b, _)| {
            a.iter()
                .zip(b)
                .zip(&f.sort)
                .map(|((x, y), r)| x.compare(y, r.asc))
                .find(|o| o.is_ne())
                .unwrap_or(std::cmp::Ordering::Equal)
        });
        positions = keyed.into_iter().map(|(_, p)| p).collect();
    }
    let total = positions.len();
    let results: Vec<Value> = positions
        .iter()
        .skip(f.offset)
        .take(f.limit)
        .filter_map(|p| index.docs.get(&order[*p as usize]))
        .map(|d| {
            Value::Object(match &f.fields {
                Some(fields) => select_fields(&d.value, fields),
                None => d.value.clone(),
            })
        })
        .collect();
    json!({"results": results, "offset": f.offset, "limit": f.limit, "total": total})
}

pub(crate) fn browse(ctx: &Ctx, req: &Request, p: &Params) -> ApiResult<Reply> {
    let q = QueryParams::of(req);
    q.deny_unknown(&[
        "offset",
        "limit",
        "fields",
        "retrieveVectors",
        "filter",
        "sort",
        "ids",
    ])?;
    q.bool("retrieveVectors", "invalid_document_retrieve_vectors")?;
    let st = ctx.state();
    let index = st.index(p.get("uid"))?;
    let fetch = Fetch {
        offset: q.usize("offset", "invalid_document_offset")?.unwrap_or(0),
        limit: q.usize("limit", "invalid_document_limit")?.unwrap_or(20),
        fields: q.list("fields"),
        filter: match q.get("filter") {
            Some(f) => parse_filter(&Value::String(f.to_owned()), index)?,
            None => None,
        },
        sort: parse_sort(&q.list("sort").unwrap_or_default(), index)?,
        ids: q.list("ids"),
    };
    Ok(Reply::json(200, &run_fetch(index, &fetch)))
}

pub(crate) fn fetch(ctx: &Ctx, req: &Request, p: &Params) -> ApiResult<Reply> {
    let body = crate::params::json_body(req)?;
    let f = Fields::new(&body, "", "invalid_document_")?;
    f.deny_unknown(&[
        "offset",
        "limit",
        "fields",
        "retrieveVectors",
        "filter",
        "sort",
        "ids",
    ])?;
    f.bool("retrieveVectors")?;
    let ids = match f.get("ids") {
        None => None,
        Some(Value::Array(items)) => Some(
            items
                .iter()
                .enumerate()
                .map(|(i, v)| {
                    id_string(v).ok_or_else(|| {
                        ApiError::new(
                            400,
                            format!(
                                "Invalid value type at `.ids[{i}]`: expected a string or an integer, but found {}",
                                describe(v)
                            ),
                            "invalid_document_ids",
                        )
                    })
                })
                .collect::<ApiResult<Vec<String>>>()?,
        ),
        Some(v) => return Err(f.type_error("ids", "an array", v)),
    };
    let st = ctx.state();
    let index = st.index(p.get("uid"))?;
    let fetch = Fetch {
        offset: f.usize("offset")?.unwrap_or(0),
        limit: f.usize("limit")?.unwrap_or(20),
        fields: f.strings("fields")?,
        filter: match f.get("filter") {
            Some(v) => parse_filter(v, index)?,
            None => None,
        },
        sort: parse_sort(&f.strings("sort")?.unwrap_or_default(), index)?,
        ids,
    };
    Ok(Reply::json(200, &run_fetch(index, &fetch)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_parsing() {
        let docs = parse_csv(
            b"id,title,year:number,rating:number,director\n9001,Ghost Dog,1999,7.5,Jim Jarmusch\n9002,\"Paris, Texas\",1984,8.1,Wim Wenders\n9003,Stalker,1979,,Andrei Tarkovsky\n",
            b',',
        )
        .unwrap();
        assert_eq!(docs.len(), 3);
        assert_eq!(
            Value::Object(docs[1].clone()),
            json!({"id": "9002", "title": "Paris, Texas", "year": 1984, "rating": 8.1, "director": "Wim Wenders"})
        );
        assert_eq!(docs[2]["rating"], Value::Null);
        let docs = parse_csv(b"id;title;year:number\r\n9005;Semicolon;2001\r\n", b';').unwrap();
        assert_eq!(
            Value::Object(docs[0].clone()),
            json!({"id": "9005", "title": "Semicolon", "year": 2001})
        );
        let docs = parse_csv(b"id,q\n1,\"say \"\"hi\"\"\nthere\"\n", b',').unwrap();
        assert_eq!(docs[0]["q"], "say \"hi\"\nthere");
        assert!(parse_csv(b"id,n:number\n1,abc\n", b',').is_err());
        assert!(parse_csv(b"id,n\n1\n", b',').is_err());
    }

    #[test]
    fn inference() {
        let doc = |v: Value| v.as_object().unwrap().clone();
        assert_eq!(
            infer_primary_key(&doc(json!({"movieId": 1, "title": "x"}))).unwrap(),
            "movieId"
        );
        let e = infer_primary_key(&doc(json!({"title": "x"}))).unwrap_err();
        assert_eq!(e.code, "index_primary_key_no_candidate_found");
        let e = infer_primary_key(&doc(json!({"id": 1, "movie_id": 7, "title": "x"}))).unwrap_err();
        assert!(
            e.message
                .contains("found 2 fields ending with `id` in their names: 'id' and 'movie_id'."),
            "{}",
            e.message
        );
        let e = infer_primary_key(&doc(json!({"aid": 1, "bid": 7, "cid": 1}))).unwrap_err();
        assert!(
            e.message.contains("'aid', 'bid' and 'cid'"),
            "{}",
            e.message
        );
    }
}
