//! Meilisearch-shaped errors and typed access to request parameters (JSON bodies and query
//! strings) with the error messages of Meilisearch's deserializer (`deserr`).

use serde_json::{json, Map, Value};

use crate::server::{Reply, Request};
use crate::util::{backticked, describe, snake_case};

/// A Meilisearch error: `{message, code, type, link}` plus the HTTP status.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct ApiError {
    pub(crate) status: u16,
    pub(crate) message: String,
    pub(crate) code: String,
    pub(crate) kind: &'static str,
}

impl ApiError {
    /// An `invalid_request` error.
    pub(crate) fn new(status: u16, message: impl Into<String>, code: impl Into<String>) -> Self {
        ApiError {
            status,
            message: message.into(),
            code: code.into(),
            kind: "invalid_request",
        }
    }

    pub(crate) fn auth(status: u16, message: impl Into<String>, code: &str) -> Self {
        ApiError {
            status,
            message: message.into(),
            code: code.to_owned(),
            kind: "auth",
        }
    }

    pub(crate) fn internal(message: impl Into<String>) -> Self {
        ApiError {
            status: 500,
            message: message.into(),
            code: "internal".to_owned(),
            kind: "internal",
        }
    }

    pub(crate) fn bad_request(message: impl Into<String>) -> Self {
        ApiError::new(400, message, "bad_request")
    }

    /// `Index `uid` not found.` (404).
    pub(crate) fn index_not_found(uid: &str) -> Self {
        ApiError::new(404, format!("Index `{uid}` not found."), "index_not_found")
    }

    pub(crate) fn invalid_api_key() -> Self {
        ApiError::auth(403, "The provided API key is invalid.", "invalid_api_key")
    }

    /// Prepends `prefix` to the message (`Index `movies`: ...`, `Inside `.queries[1]`: ...`).
    pub(crate) fn prefixed(mut self, prefix: &str) -> Self {
        self.message = format!("{prefix}{}", self.message);
        self
    }

    pub(crate) fn with_code(mut self, code: &str) -> Self {
        self.code = code.to_owned();
        self
    }

    pub(crate) fn with_status(mut self, status: u16) -> Self {
        self.status = status;
        self
    }

    pub(crate) fn json(&self) -> Value {
        json!({
            "message": self.message,
            "code": self.code,
            "type": self.kind,
            "link": format!("https://docs.meilisearch.com/errors#{}", self.code),
        })
    }

    pub(crate) fn reply(&self) -> Reply {
        Reply::json(self.status, &self.json())
    }
}

impl From<ApiError> for Reply {
    fn from(e: ApiError) -> Reply {
        e.reply()
    }
}

pub(crate) type ApiResult<T> = Result<T, ApiError>;

/// Meilisearch's index uid rule: 1..=512 bytes of `[a-zA-Z0-9_-]`.
pub(crate) fn valid_index_uid(uid: &str) -> bool {
    !uid.is_empty()
        && uid.len() <= 512
        && uid
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

pub(crate) fn invalid_index_uid(uid: &str, at: Option<&str>) -> ApiError {
    let at = at
        .map(|p| format!("Invalid value at `{p}`: "))
        .unwrap_or_default();
    ApiError::new(
        400,
        format!(
            "{at}`{uid}` is not a valid index uid. Index uid can be an integer or a string containing only alphanumeric characters, hyphens (-) and underscores (_), and can not be more than 512 bytes."
        ),
        "invalid_index_uid",
    )
}

pub(crate) fn check_index_uid(uid: &str) -> ApiResult<()> {
    if valid_index_uid(uid) {
        Ok(())
    } else {
        Err(invalid_index_uid(uid, None))
    }
}

// ---------------------------------------------------------------------------------------------
// JSON bodies

/// The media type of the `content-type` header (lowercased, parameters dropped).
pub(crate) fn media_type(req: &Request) -> Option<String> {
    req.header("content-type").map(|ct| {
        ct.split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase()
    })
}

/// The body of a JSON route: `application/json` required (415 otherwise), non-empty, valid JSON.
pub(crate) fn json_body(req: &Request) -> ApiResult<Value> {
    const ACCEPTED: &str = "Accepted values for the Content-Type header are: `application/json`";
    match media_type(req).as_deref() {
        None => {
            return Err(ApiError::new(
                415,
                format!("A Content-Type header is missing. {ACCEPTED}"),
                "missing_content_type",
            ))
        }
        Some("application/json") => {}
        Some(_) => {
            return Err(ApiError::new(
                415,
                format!(
                    "The Content-Type `{}` is invalid. {ACCEPTED}",
                    req.header("content-type").unwrap_or("")
                ),
                "invalid_content_type",
            ))
        }
    }
    if req.body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::new(
            400,
            "A json payload is missing.",
            "missing_payload",
        ));
    }
    serde_json::from_slice(&req.body).map_err(|e| {
        ApiError::new(
            400,
            format!("The json payload provided is malformed. `{e}`."),
            "malformed_payload",
        )
    })
}

/// Typed access to the fields of a JSON object, with deserr-style errors: the code of a field
/// error is `code_prefix` + the field name in snake case (`invalid_search_limit`).
pub(crate) struct Fields<'a> {
    pub(crate) map: &'a Map<String, Value>,
    /// JSON path of the object (`""` for the body, `.queries[0]` inside multi-search).
    path: String,
    code_prefix: &'static str,
}

impl<'a> Fields<'a> {
    pub(crate) fn new(v: &'a Value, path: &str, code_prefix: &'static str) -> ApiResult<Self> {
        match v {
            Value::Object(map) => Ok(Fields {
                map,
                path: path.to_owned(),
                code_prefix,
            }),
            other => {
                let at = if path.is_empty() {
                    String::new()
                } else {
                    format!(" at `{path}`")
                };
                Err(ApiError::bad_request(format!(
                    "Invalid value type{at}: expected an object, but found {}",
                    describe(other)
                )))
            }
        }
    }

    /// `Unknown field `x`: expected one of ...` (400 bad_request) for fields not in `allowed`.
    pub(crate) fn deny_unknown(&self, allowed: &[&str]) -> ApiResult<()> {
        if let Some(k) = self.map.keys().find(|k| !allowed.contains(&k.as_str())) {
            let inside = if self.path.is_empty() {
                String::new()
            } else {
                format!(" inside `{}`", self.path)
            };
            return Err(ApiError::bad_request(format!(
                "Unknown field `{k}`{inside}: expected one of {}",
                backticked(allowed)
            )));
        }
        Ok(())
    }

    pub(crate) fn code(&self, key: &str) -> String {
        format!("{}{}", self.code_prefix, snake_case(key))
    }

    pub(crate) fn at(&self, key: &str) -> String {
        format!("{}.{key}", self.path)
    }

    pub(crate) fn type_error(&self, key: &str, expected: &str, found: &Value) -> ApiError {
        ApiError::new(
            400,
            format!(
                "Invalid value type at `{}`: expected {expected}, but found {}",
                self.at(key),
                describe(found)
            ),
            self.code(key),
        )
    }

    pub(crate) fn missing(&self, key: &str, code: &str) -> ApiError {
        ApiError::new(400, format!("Missing field `{key}`"), code)
    }

    /// The value, `None` when absent or `null`.
    pub(crate) fn get(&self, key: &str) -> Option<&'a Value> {
        self.map.get(key).filter(|v| !v.is_null())
    }

    pub(crate) fn usize(&self, key: &str) -> ApiResult<Option<usize>> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Number(n)) if n.is_u64() => Ok(Some(n.as_u64().unwrap_or(0) as usize)),
            Some(v) => Err(self.type_error(key, "a positive integer", v)),
        }
    }

    pub(crate) fn bool(&self, key: &str) -> ApiResult<Option<bool>> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(v) => Err(self.type_error(key, "a boolean", v)),
        }
    }

    pub(crate) fn f64(&self, key: &str) -> ApiResult<Option<f64>> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Number(n)) => Ok(n.as_f64()),
            Some(v) => Err(self.type_error(key, "a number", v)),
        }
    }

    pub(crate) fn string(&self, key: &str) -> ApiResult<Option<String>> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(v) => Err(self.type_error(key, "a string", v)),
        }
    }

    /// An array of strings.
    pub(crate) fn strings(&self, key: &str) -> ApiResult<Option<Vec<String>>> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Array(items)) => items
                .iter()
                .enumerate()
                .map(|(i, item)| match item {
                    Value::String(s) => Ok(s.clone()),
                    other => Err(ApiError::new(
                        400,
                        format!(
                            "Invalid value type at `{}[{i}]`: expected a string, but found {}",
                            self.at(key),
                            describe(other)
                        ),
                        self.code(key),
                    )),
                })
                .collect::<ApiResult<Vec<String>>>()
                .map(Some),
            Some(v) => Err(self.type_error(key, "an array", v)),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Query strings

/// Decoded query-string parameters with deserr-style errors.
pub(crate) struct QueryParams {
    pub(crate) pairs: Vec<(String, String)>,
}

impl QueryParams {
    pub(crate) fn of(req: &Request) -> QueryParams {
        QueryParams {
            pairs: req.query_pairs(),
        }
    }

    pub(crate) fn deny_unknown(&self, allowed: &[&str]) -> ApiResult<()> {
        if let Some((k, _)) = self
            .pairs
            .iter()
            .find(|(k, _)| !allowed.contains(&k.as_str()))
        {
            return Err(ApiError::bad_request(format!(
                "Unknown parameter `{k}`: expected one of {}",
                backticked(allowed)
            )));
        }
        Ok(())
    }

    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub(crate) fn has(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    pub(crate) fn usize(&self, name: &str, code: &str) -> ApiResult<Option<usize>> {
        match self.get(name) {
            None => Ok(None),
            Some(v) => v.trim().parse::<usize>().map(Some).map_err(|_| {
                ApiError::new(
                    400,
                    format!(
                        "Invalid value in parameter `{name}`: could not parse `{v}` as a positive integer"
                    ),
                    code,
                )
            }),
        }
    }

    pub(crate) fn bool(&self, name: &str, code: &str) -> ApiResult<Option<bool>> {
        match self.get(name) {
            None => Ok(None),
            Some("true") => Ok(Some(true)),
            Some("false") => Ok(Some(false)),
            Some(v) => Err(ApiError::new(
                400,
                format!(
                    "Invalid value in parameter `{name}`: could not parse `{v}` as a boolean, expected either `true` or `false`"
                ),
                code,
            )),
        }
    }

    /// A comma-separated list (empty items dropped).
    pub(crate) fn list(&self, name: &str) -> Option<Vec<String>> {
        self.get(name).map(|v| {
            v.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect()
        })
    }
}
