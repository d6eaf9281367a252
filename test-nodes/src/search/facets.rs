//! `facetDistribution` / `facetStats`.

use std::collections::{HashMap, HashSet};

use serde_json::{json, Map, Value};

use crate::index::{leaves_at, Index};
use crate::params::{ApiError, ApiResult};
use crate::settings::attribute_matches;
use crate::util::number_key;

use super::available_filterable;

// ---------------------------------------------------------------------------------------------
// Facets

/// Normalized facet key and display value of a scalar.
pub(super) fn facet_key(v: &Value) -> Option<(String, String)> {
    match v {
        Value::Number(n) => {
            let k = number_key(n.as_f64()?);
            Some((k.clone(), k))
        }
        Value::String(s) => Some((s.to_lowercase(), s.clone())),
        Value::Bool(b) => Some((b.to_string(), b.to_string())),
        _ => None,
    }
}

/// Requested facets, `*` expanded; each must be filterable.
pub(super) fn facet_names(index: &Index, requested: &[String]) -> ApiResult<Vec<String>> {
    let settings = &index.settings;
    let mut out: Vec<String> = Vec::new();
    for f in requested {
        if f == "*" {
            for p in settings.filterable() {
                if p.contains('*') {
                    let mut fields: Vec<String> = Vec::new();
                    for doc in index.docs.values() {
                        for (path, _) in crate::index::flatten(&doc.value) {
                            if attribute_matches(&p, &path) && !fields.contains(&path) {
                                fields.push(path);
                            }
                        }
                    }
                    out.extend(fields);
                } else {
                    out.push(p);
                }
            }
        } else if settings.is_filterable(f) {
            out.push(f.clone());
        } else {
            return Err(ApiError::new(
                400,
                format!(
                    "Index `{}`: Invalid facet distribution: Attribute `{f}` is not filterable. {}",
                    index.uid,
                    available_filterable(settings)
                ),
                "invalid_search_facets",
            ));
        }
    }
    out.sort();
    out.dedup();
    Ok(out)
}

pub(super) struct FacetValues {
    /// normalized key → (display, count)
    pub(super) counts: HashMap<String, (String, usize)>,
    pub(super) numbers: HashMap<String, f64>,
    pub(super) min: Option<f64>,
    pub(super) max: Option<f64>,
}

pub(super) fn facet_values(index: &Index, seqs: &[u64], attr: &str) -> FacetValues {
    let mut fv = FacetValues {
        counts: HashMap::new(),
        numbers: HashMap::new(),
        min: None,
        max: None,
    };
    for seq in seqs {
        let Some(doc) = index.docs.get(seq) else {
            continue;
        };
        let mut seen: HashSet<String> = HashSet::new();
        for v in leaves_at(&doc.value, attr) {
            let Some((key, display)) = facet_key(v) else {
                continue;
            };
            if let Some(f) = v.as_f64() {
                fv.min = Some(fv.min.map_or(f, |m: f64| m.min(f)));
                fv.max = Some(fv.max.map_or(f, |m: f64| m.max(f)));
                fv.numbers.insert(key.clone(), f);
            }
            if seen.insert(key.clone()) {
                fv.counts.entry(key).or_insert((display, 0)).1 += 1;
            }
        }
    }
    fv
}

/// Values in display order, limited to `maxValuesPerFacet`.
pub(super) fn ordered_values(index: &Index, attr: &str, fv: &FacetValues) -> Vec<(String, usize)> {
    let mut entries: Vec<(&String, &(String, usize))> = fv.counts.iter().collect();
    let by_count = index.settings.facet_sort_by_count(attr);
    entries.sort_by(|(ka, (_, ca)), (kb, (_, cb))| {
        let alpha = match (fv.numbers.get(*ka), fv.numbers.get(*kb)) {
            (Some(a), Some(b)) => a.total_cmp(b),
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (None, None) => ka.cmp(kb),
        };
        if by_count {
            cb.cmp(ca).then(alpha)
        } else {
            alpha
        }
    });
    entries
        .into_iter()
        .take(index.settings.max_values_per_facet())
        .map(|(_, (display, count))| (display.clone(), *count))
        .collect()
}

/// `(facetDistribution, facetStats)` over `seqs`.
pub(super) fn facets(
    index: &Index,
    seqs: &[u64],
    names: &[String],
) -> (Map<String, Value>, Map<String, Value>) {
    let mut distribution = Map::new();
    let mut stats = Map::new();
    for attr in names {
        let fv = facet_values(index, seqs, attr);
        let values: Map<String, Value> = ordered_values(index, attr, &fv)
            .into_iter()
            .map(|(k, c)| (k, json!(c)))
            .collect();
        distribution.insert(attr.clone(), Value::Object(values));
        if let (Some(min), Some(max)) = (fv.min, fv.max) {
            stats.insert(attr.clone(), json!({"min": min, "max": max}));
        }
    }
    (distribution, stats)
}
