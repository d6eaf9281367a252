//! `facetDistribution` / `facetStats`.

use std::collections::HashMap;

use serde_json::{json, Map, Value};

use crate::columns::Leaf;
use crate::index::Index;
use crate::params::{ApiError, ApiResult};
use crate::settings::attribute_matches;
use crate::util::{number_key, FxBuild};

use super::available_filterable;

// ---------------------------------------------------------------------------------------------
// Facets

/// Normalized key of a leaf (distinct, facet grouping).
pub(super) fn leaf_key(leaf: &Leaf) -> String {
    match leaf {
        Leaf::Num(f) => number_key(*f),
        Leaf::Str { lower, .. } => lower.to_string(),
        Leaf::Bool(b) => b.to_string(),
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

/// A facet value as found in a document (borrowed: counting allocates nothing per document).
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
enum Raw<'a> {
    /// `f64` bits (-0.0 folded into 0.0).
    Num(u64),
    /// (raw, lowercased)
    Str(&'a str, &'a str),
    Bool(bool),
}

impl Raw<'_> {
    /// Same facet value (strings compare case-insensitively).
    fn same(&self, other: &Raw<'_>) -> bool {
        match (self, other) {
            (Raw::Str(_, a), Raw::Str(_, b)) => a == b,
            (a, b) => a == b,
        }
    }
}

pub(super) fn facet_values(index: &Index, positions: &[u32], attr: &str) -> FacetValues {
    let mut fv = FacetValues {
        counts: HashMap::new(),
        numbers: HashMap::new(),
        min: None,
        max: None,
    };
    let column = index.column(attr);
    // raw value → (documents, first seen)
    let mut raw: HashMap<Raw<'_>, (usize, usize), FxBuild> = HashMap::default();
    let mut local: Vec<Raw<'_>> = Vec::new();
    for pos in positions {
        let Some(cell) = column.cells.get(*pos as usize) else {
            continue;
        };
        local.clear();
        for leaf in cell.leaves.iter() {
            let r = match leaf {
                Leaf::Num(f) => {
                    fv.min = Some(fv.min.map_or(*f, |m: f64| m.min(*f)));
                    fv.max = Some(fv.max.map_or(*f, |m: f64| m.max(*f)));
                    Raw::Num(if *f == 0.0 { 0 } else { f.to_bits() })
                }
                Leaf::Str { raw, lower } => Raw::Str(raw, lower),
                Leaf::Bool(b) => Raw::Bool(*b),
            };
            if !local.iter().any(|x| x.same(&r)) {
                local.push(r);
            }
        }
        for r in local.drain(..) {
            let order = raw.len();
            raw.entry(r).or_insert((0, order)).0 += 1;
        }
    }
    let mut merged: Vec<(Raw<'_>, (usize, usize))> = raw.into_iter().collect();
    merged.sort_by_key(|(_, (_, first))| *first);
    for (r, (count, _)) in merged {
        let (key, display) = match r {
            Raw::Num(bits) => {
                let f = f64::from_bits(bits);
                let k = number_key(f);
                fv.numbers.insert(k.clone(), f);
                (k.clone(), k)
            }
            Raw::Str(raw, lower) => (lower.to_owned(), raw.to_owned()),
            Raw::Bool(b) => (b.to_string(), b.to_string()),
        };
        fv.counts.entry(key).or_insert((display, 0)).1 += count;
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
    positions: &[u32],
    names: &[String],
) -> (Map<String, Value>, Map<String, Value>) {
    let mut distribution = Map::new();
    let mut stats = Map::new();
    for attr in names {
        let fv = facet_values(index, positions, attr);
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
