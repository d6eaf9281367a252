//! Search request parameters: JSON bodies (`POST`, multi-search queries) and query strings (`GET`).

use serde_json::{json, Map, Value};

use crate::params::{ApiError, ApiResult, Fields, QueryParams};

/// Search parameters in Meilisearch's order (fixture 122).
pub(crate) const SEARCH_FIELDS: &[&str] = &[
    "q",
    "offset",
    "limit",
    "page",
    "hitsPerPage",
    "attributesToRetrieve",
    "attributesToCrop",
    "cropLength",
    "cropMarker",
    "attributesToHighlight",
    "highlightPreTag",
    "highlightPostTag",
    "showMatchesPosition",
    "filter",
    "sort",
    "distinct",
    "facets",
    "matchingStrategy",
    "attributesToSearchOn",
    "rankingScoreThreshold",
    "locales",
    "hybrid",
    "vector",
    "retrieveVectors",
    "media",
    "personalize",
    "useNetwork",
    "showRankingScore",
    "showRankingScoreDetails",
    "showPerformanceDetails",
];

#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) enum Strategy {
    Last,
    All,
    Frequency,
}

/// A parsed search request.
#[derive(Clone, Debug)]
pub(crate) struct Query {
    pub(super) q: String,
    pub(super) offset: usize,
    pub(super) limit: usize,
    pub(super) page: Option<usize>,
    pub(super) hits_per_page: Option<usize>,
    pub(super) attributes_to_retrieve: Option<Vec<String>>,
    pub(super) attributes_to_crop: Option<Vec<String>>,
    pub(super) crop_length: usize,
    pub(super) crop_marker: String,
    pub(super) attributes_to_highlight: Option<Vec<String>>,
    pub(super) highlight_pre: String,
    pub(super) highlight_post: String,
    pub(super) show_matches_position: bool,
    pub(super) filter: Option<Value>,
    pub(super) sort: Option<Vec<String>>,
    pub(super) distinct: Option<String>,
    pub(super) facets: Option<Vec<String>>,
    pub(super) strategy: Strategy,
    pub(super) attributes_to_search_on: Option<Vec<String>>,
    pub(super) threshold: Option<f64>,
    pub(super) show_ranking_score: bool,
    pub(super) show_ranking_score_details: bool,
}

impl Query {
    /// From a JSON object at `path` (`""` for a body, `.queries[i]` in multi-search);
    /// `extra` = additional accepted fields.
    pub(crate) fn from_json(v: &Value, path: &str, extra: &[&str]) -> ApiResult<Query> {
        let f = Fields::new(v, path, "invalid_search_")?;
        let mut allowed: Vec<&str> = extra.to_vec();
        allowed.extend_from_slice(SEARCH_FIELDS);
        f.deny_unknown(&allowed)?;
        let strategy = match f.get("matchingStrategy") {
            None => Strategy::Last,
            Some(Value::String(s)) => match s.as_str() {
                "last" => Strategy::Last,
                "all" => Strategy::All,
                "frequency" => Strategy::Frequency,
                other => {
                    return Err(ApiError::new(
                        400,
                        format!(
                            "Unknown value `{other}` at `{}`: expected one of `last`, `all`, `frequency`",
                            f.at("matchingStrategy")
                        ),
                        "invalid_search_matching_strategy",
                    ))
                }
            },
            Some(v) => return Err(f.type_error("matchingStrategy", "a string", v)),
        };
        let threshold = f.f64("rankingScoreThreshold")?;
        if threshold.is_some_and(|t| !(0.0..=1.0).contains(&t)) {
            return Err(ApiError::new(
                400,
                format!(
                    "Invalid value at `{}`: the value of `rankingScoreThreshold` is invalid, expected a float between `0.0` and `1.0`.",
                    f.at("rankingScoreThreshold")
                ),
                "invalid_search_ranking_score_threshold",
            ));
        }
        let filter = match f.get("filter") {
            None => None,
            Some(v @ (Value::String(_) | Value::Array(_))) => Some(v.clone()),
            Some(v) => {
                return Err(ApiError::new(
                    400,
                    format!(
                        "Invalid value type at `{}`: expected a string or an array, but found {}",
                        f.at("filter"),
                        crate::util::describe(v)
                    ),
                    "invalid_search_filter",
                ))
            }
        };
        for flag in ["retrieveVectors", "useNetwork", "showPerformanceDetails"] {
            f.bool(flag)?;
        }
        Ok(Query {
            q: f.string("q")?.unwrap_or_default(),
            offset: f.usize("offset")?.unwrap_or(0),
            limit: f.usize("limit")?.unwrap_or(20),
            page: f.usize("page")?,
            hits_per_page: f.usize("hitsPerPage")?,
            attributes_to_retrieve: f.strings("attributesToRetrieve")?,
            attributes_to_crop: f.strings("attributesToCrop")?,
            crop_length: f.usize("cropLength")?.unwrap_or(10),
            crop_marker: f.string("cropMarker")?.unwrap_or_else(|| "…".to_owned()),
            attributes_to_highlight: f.strings("attributesToHighlight")?,
            highlight_pre: f
                .string("highlightPreTag")?
                .unwrap_or_else(|| "<em>".to_owned()),
            highlight_post: f
                .string("highlightPostTag")?
                .unwrap_or_else(|| "</em>".to_owned()),
            show_matches_position: f.bool("showMatchesPosition")?.unwrap_or(false),
            filter,
            sort: f.strings("sort")?,
            distinct: f.string("distinct")?,
            facets: f.strings("facets")?,
            strategy,
            attributes_to_search_on: f.strings("attributesToSearchOn")?,
            threshold,
            show_ranking_score: f.bool("showRankingScore")?.unwrap_or(false),
            show_ranking_score_details: f.bool("showRankingScoreDetails")?.unwrap_or(false),
        })
    }

    /// From `GET /indexes/{uid}/search?...` parameters (lists are comma-separated).
    pub(super) fn from_query_string(q: &QueryParams) -> ApiResult<Query> {
        let allowed: Vec<&str> = SEARCH_FIELDS
            .iter()
            .copied()
            .filter(|f| !matches!(*f, "hybrid" | "vector" | "media" | "personalize"))
            .collect();
        q.deny_unknown(&allowed)?;
        let mut m = Map::new();
        for (name, _) in &q.pairs {
            let code = format!("invalid_search_{}", crate::util::snake_case(name));
            let value = match name.as_str() {
                "offset" | "limit" | "page" | "hitsPerPage" | "cropLength" => {
                    json!(q.usize(name, &code)?)
                }
                "showMatchesPosition"
                | "showRankingScore"
                | "showRankingScoreDetails"
                | "retrieveVectors"
                | "useNetwork"
                | "showPerformanceDetails" => {
                    json!(q.bool(name, &code)?)
                }
                "attributesToRetrieve"
                | "attributesToCrop"
                | "attributesToHighlight"
                | "sort"
                | "facets"
                | "attributesToSearchOn"
                | "locales" => json!(q.list(name)),
                "rankingScoreThreshold" => {
                    let v = q.get(name).unwrap_or("");
                    json!(v.parse::<f64>().map_err(|_| ApiError::new(
                        400,
                        format!(
                            "Invalid value in parameter `rankingScoreThreshold`: could not parse `{v}` as a float"
                        ),
                        code,
                    ))?)
                }
                _ => json!(q.get(name)),
            };
            m.insert(name.clone(), value);
        }
        Query::from_json(&Value::Object(m), "", &[])
    }

    pub(super) fn formatted(&self) -> bool {
        self.attributes_to_highlight
            .as_ref()
            .is_some_and(|a| !a.is_empty())
            || self
                .attributes_to_crop
                .as_ref()
                .is_some_and(|a| !a.is_empty())
    }
}
