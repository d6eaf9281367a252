//! `facetDistribution` (counts summed per facet and value) and `facetStats` (min of mins, max of
//! maxes) across node responses.

use std::borrow::Cow;
use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::fmt;

use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;

use crate::key::cmp_lower;
use crate::walk::RESERVED_PREFIX;

/// A string that borrows from the input unless it had escapes.
struct CowStr<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for CowStr<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = CowStr<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: serde::de::Error>(
                self,
                v: &'de str,
            ) -> Result<Self::Value, E> {
                Ok(CowStr(Cow::Borrowed(v)))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(CowStr(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: serde::de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(CowStr(Cow::Owned(v)))
            }
        }
        d.deserialize_str(V)
    }
}

/// A JSON object kept as an ordered list of entries (Meilisearch's facet values are ordered).
struct Entries<'a, V>(Vec<(Cow<'a, str>, V)>);

impl<'de, V: Deserialize<'de>> Deserialize<'de> for Entries<'de, V> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Vis<V>(std::marker::PhantomData<V>);
        impl<'de, V: Deserialize<'de>> Visitor<'de> for Vis<V> {
            type Value = Entries<'de, V>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut v = Vec::with_capacity(map.size_hint().unwrap_or(8));
                while let Some((CowStr(k), val)) = map.next_entry::<CowStr<'de>, V>()? {
                    v.push((k, val));
                }
                Ok(Entries(v))
            }
        }
        d.deserialize_map(Vis(std::marker::PhantomData))
    }
}

#[derive(Default)]
struct FacetAcc<'a> {
    counts: BTreeMap<Cow<'a, str>, u64>,
    /// Every node listed this facet's values in Meilisearch's alphabetical order.
    all_alpha: bool,
    /// Every node listed this facet's values by decreasing count (`sortFacetValuesBy: count`).
    all_by_count: bool,
}

/// Whether an index whose `faceting.sortFacetValuesBy` is `sort_by` lists `facet`'s values by
/// decreasing count: the facet's own entry, else `*`, is `"count"` (else alphabetical).
pub fn facet_values_by_count(sort_by: &serde_json::Value, facet: &str) -> bool {
    let by = sort_by.get(facet).or_else(|| sort_by.get("*"));
    by.and_then(serde_json::Value::as_str) == Some("count")
}

/// A facet value as a number, when the facet has number values (`numbers`: it has stats;
/// without, every value is a string) and the value reads as a finite one.
fn facet_number(value: &str, numbers: bool) -> Option<f64> {
    numbers
        .then(|| value.parse::<f64>().ok().filter(|x| x.is_finite()))
        .flatten()
}

/// Meilisearch's default facet value order: numbers (numerically), then strings (lowercased).
fn cmp_alpha(a: &str, b: &str, numbers: bool) -> Ordering {
    match (facet_number(a, numbers), facet_number(b, numbers)) {
        (Some(x), Some(y)) => x.total_cmp(&y),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => cmp_lower(a, b).then_with(|| a.cmp(b)),
    }
}

/// Merges the raw `facetDistribution` objects (already validated by the first pass) and writes
/// the merged object. Facet names come out sorted (Meilisearch uses a `BTreeMap`); values keep
/// the nodes' order: alphabetical, or by count when every node listed them by count.
/// `numeric`: the facets that have number values (those with `facetStats`); only their values
/// that read as numbers are numbers to the count order.
pub(crate) fn merge_distribution(
    raws: &[(usize, &[u8])],
    max_values: Option<usize>,
    sort_by: Option<&serde_json::Value>,
    numeric: &[&str],
    out: &mut Vec<u8>,
) -> Result<(), (usize, String)> {
    let mut facets: BTreeMap<Cow<'_, str>, FacetAcc<'_>> = BTreeMap::new();
    for &(node, raw) in raws {
        let parsed: Entries<'_, Entries<'_, u64>> =
            serde_json::from_slice(raw).map_err(|e| (node, format!("facetDistribution: {e}")))?;
        for (name, values) in parsed.0 {
            // `_miroir_shard` is filterable on the nodes, so `facets: ["*"]` lists it.
            if name.starts_with(RESERVED_PREFIX) {
                continue;
            }
            let has_numbers = numeric.contains(&name.as_ref());
            let acc = facets.entry(name).or_insert_with(|| FacetAcc {
                all_alpha: true,
                all_by_count: true,
                ..FacetAcc::default()
            });
            let number = |k: &str| facet_number(k, has_numbers).is_some();
            for w in values.0.windows(2) {
                if let [(ka, ca), (kb, cb)] = w {
                    if cmp_alpha(ka, kb, has_numbers) == Ordering::Greater {
                        acc.all_alpha = false;
                    }
                    // By count, the numbers come first and the strings' counts start over.
                    if ca < cb && number(ka) == number(kb) {
                        acc.all_by_count = false;
                    }
                }
            }
            for (value, count) in values.0 {
                let c = acc.counts.entry(value).or_insert(0);
                *c = c.saturating_add(count);
            }
        }
    }
    out.push(b'{');
    let mut sorted: Vec<(Cow<'_, str>, u64)> = Vec::new();
    for (i, (name, acc)) in facets.into_iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_str(out, &name);
        out.extend_from_slice(b":{");
        let by_count = match sort_by {
            Some(sort_by) => facet_values_by_count(sort_by, &name),
            None => acc.all_by_count && !acc.all_alpha,
        };
        sorted.clear();
        sorted.extend(acc.counts);
        let has_numbers = numeric.contains(&name.as_ref());
        if by_count {
            // As Meilisearch lists them by count: the number values, then the string values,
            // each by decreasing count, equal counts by decreasing value.
            let number = |k: &str| facet_number(k, has_numbers).is_some();
            sorted.sort_by(|(ka, ca), (kb, cb)| {
                number(kb)
                    .cmp(&number(ka))
                    .then(cb.cmp(ca))
                    .then_with(|| cmp_alpha(kb, ka, has_numbers))
            });
        } else {
            sorted.sort_by(|(ka, _), (kb, _)| cmp_alpha(ka, kb, has_numbers));
        }
        let n = max_values.unwrap_or(usize::MAX);
        for (j, (value, count)) in sorted.iter().take(n).enumerate() {
            if j > 0 {
                out.push(b',');
            }
            write_str(out, value);
            out.push(b':');
            write_u64(out, *count);
        }
        out.push(b'}');
    }
    out.push(b'}');
    Ok(())
}

/// One facet's merged stats: the least min and the greatest max, with their number text.
pub(crate) struct Stats<'a> {
    min: f64,
    min_raw: &'a [u8],
    max: f64,
    max_raw: &'a [u8],
}

#[derive(serde::Deserialize)]
struct RawStats<'a> {
    #[serde(borrow)]
    min: &'a RawValue,
    #[serde(borrow)]
    max: &'a RawValue,
}

fn num(r: &RawValue) -> Result<f64, String> {
    r.get()
        .parse::<f64>()
        .map_err(|_| format!("facetStats value {} is not a number", r.get()))
}

/// Merged `facetStats`, by facet name.
pub(crate) type MergedStats<'a> = BTreeMap<Cow<'a, str>, Stats<'a>>;

/// Merges raw `facetStats` objects: min of the mins and max of the maxes, each kept with the
/// winning node's own number text.
pub(crate) fn merge_stats<'a>(
    raws: &[(usize, &'a [u8])],
) -> Result<MergedStats<'a>, (usize, String)> {
    let mut all: MergedStats<'a> = BTreeMap::new();
    for &(node, raw) in raws {
        let parsed: Entries<'_, RawStats<'_>> =
            serde_json::from_slice(raw).map_err(|e| (node, format!("facetStats: {e}")))?;
        for (name, s) in parsed.0 {
            if name.starts_with(RESERVED_PREFIX) {
                continue;
            }
            let (min, max) = (
                num(s.min).map_err(|e| (node, e))?,
                num(s.max).map_err(|e| (node, e))?,
            );
            let (min_raw, max_raw) = (s.min.get().as_bytes(), s.max.get().as_bytes());
            match all.get_mut(&name) {
                Some(cur) => {
                    if min < cur.min {
                        cur.min = min;
                        cur.min_raw = min_raw;
                    }
                    if max > cur.max {
                        cur.max = max;
                        cur.max_raw = max_raw;
                    }
                }
                None => {
                    all.insert(
                        name,
                        Stats {
                            min,
                            min_raw,
                            max,
                            max_raw,
                        },
                    );
                }
            }
        }
    }
    Ok(all)
}

/// Writes merged stats as a `facetStats` object.
pub(crate) fn write_stats(all: &MergedStats<'_>, out: &mut Vec<u8>) {
    out.push(b'{');
    for (i, (name, s)) in all.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_str(out, name);
        out.extend_from_slice(b":{\"min\":");
        out.extend_from_slice(s.min_raw);
        out.extend_from_slice(b",\"max\":");
        out.extend_from_slice(s.max_raw);
        out.push(b'}');
    }
    out.push(b'}');
}

#[derive(serde::Deserialize)]
struct FacetHit<'a> {
    #[serde(borrow)]
    value: Cow<'a, str>,
    count: u64,
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct FacetSearch<'a> {
    #[serde(borrow)]
    facet_hits: Vec<FacetHit<'a>>,
    #[serde(borrow)]
    facet_query: Option<&'a RawValue>,
    processing_time_ms: Option<u64>,
}

/// Merges facet-search responses (`{facetHits: [{value, count}], facetQuery,
/// processingTimeMs}`): counts summed per value, values only one node has included, ordered
/// alphabetically or, with `by_count` (the index's order for the facet; `None`: the order the
/// nodes' lists show), by decreasing count, equal counts by decreasing value as Meilisearch's
/// facet search lists them; `facetQuery` from the first node, `processingTimeMs` the max. The
/// bodies must already be validated.
pub(crate) fn merge_facet_search(
    bodies: &[&[u8]],
    max_hits: Option<usize>,
    by_count: Option<bool>,
    out: &mut Vec<u8>,
) -> Result<(), (usize, String)> {
    let mut counts: BTreeMap<Cow<'_, str>, u64> = BTreeMap::new();
    let (mut all_alpha, mut all_by_count) = (true, true);
    let mut query: Option<&RawValue> = None;
    let mut time = 0u64;
    for (node, body) in bodies.iter().enumerate() {
        let parsed: FacetSearch<'_> =
            serde_json::from_slice(body).map_err(|e| (node, format!("facet search: {e}")))?;
        for w in parsed.facet_hits.windows(2) {
            if let [a, b] = w {
                if cmp_alpha(&a.value, &b.value, false) == Ordering::Greater {
                    all_alpha = false;
                }
                if a.count < b.count {
                    all_by_count = false;
                }
            }
        }
        for h in parsed.facet_hits {
            let c = counts.entry(h.value).or_insert(0);
            *c = c.saturating_add(h.count);
        }
        query = query.or(parsed.facet_query);
        time = time.max(parsed.processing_time_ms.unwrap_or(0));
    }
    let mut sorted: Vec<(Cow<'_, str>, u64)> = counts.into_iter().collect();
    if by_count == Some(true) {
        sorted.sort_by(|(ka, ca), (kb, cb)| cb.cmp(ca).then_with(|| kb.cmp(ka)));
    } else if by_count.is_none() && all_by_count && !all_alpha {
        sorted.sort_by(|(ka, ca), (kb, cb)| cb.cmp(ca).then_with(|| cmp_alpha(ka, kb, false)));
    } else {
        sorted.sort_by(|(ka, _), (kb, _)| cmp_alpha(ka, kb, false));
    }
    out.extend_from_slice(b"{\"facetHits\":[");
    for (i, (value, count)) in sorted
        .iter()
        .take(max_hits.unwrap_or(usize::MAX))
        .enumerate()
    {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(b"{\"value\":");
        write_str(out, value);
        out.extend_from_slice(b",\"count\":");
        write_u64(out, *count);
        out.push(b'}');
    }
    out.extend_from_slice(b"],\"facetQuery\":");
    out.extend_from_slice(query.map_or("null", |q| q.get()).as_bytes());
    out.extend_from_slice(b",\"processingTimeMs\":");
    write_u64(out, time);
    out.push(b'}');
    Ok(())
}

/// Writes `s` as a JSON string.
pub(crate) fn write_str(out: &mut Vec<u8>, s: &str) {
    let needs_escape = s.bytes().any(|c| c < 0x20 || c == b'"' || c == b'\\');
    if !needs_escape {
        out.push(b'"');
        out.extend_from_slice(s.as_bytes());
        out.push(b'"');
        return;
    }
    out.push(b'"');
    for ch in s.chars() {
        match ch {
            '"' => out.extend_from_slice(b"\\\""),
            '\\' => out.extend_from_slice(b"\\\\"),
            '\n' => out.extend_from_slice(b"\\n"),
            '\r' => out.extend_from_slice(b"\\r"),
            '\t' => out.extend_from_slice(b"\\t"),
            c if (c as u32) < 0x20 => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                let v = c as usize;
                out.extend_from_slice(b"\\u00");
                out.push(HEX[(v >> 4) & 0xf]);
                out.push(HEX[v & 0xf]);
            }
            c => {
                let mut buf = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            }
        }
    }
    out.push(b'"');
}

/// Writes a decimal integer.
pub(crate) fn write_u64(out: &mut Vec<u8>, mut v: u64) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    out.extend_from_slice(&buf[i..]);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn merged(raws: &[&str]) -> String {
        let raws: Vec<(usize, &[u8])> = raws
            .iter()
            .enumerate()
            .map(|(i, r)| (i, r.as_bytes()))
            .collect();
        let mut out = Vec::new();
        // `f` has number values (stats), the other facets strings only.
        merge_distribution(&raws, None, None, &["f"], &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn value_order() {
        // Alphabetical: numbers numerically, then strings case-insensitively.
        assert_eq!(
            merged(&[r#"{"f":{"5":1,"Banana":1}}"#, r#"{"f":{"10":2,"apple":1}}"#]),
            r#"{"f":{"5":1,"10":2,"apple":1,"Banana":1}}"#
        );
        // Every node listed by count (sortFacetValuesBy: count): by summed count, equal counts
        // by decreasing value.
        assert_eq!(
            merged(&[r#"{"f":{"b":5,"a":1}}"#, r#"{"f":{"c":9,"a":8}}"#]),
            r#"{"f":{"c":9,"a":9,"b":5}}"#
        );
        // By count, numbers come before strings (Meilisearch lists each kind in turn).
        let by = serde_json::json!({"*": "count"});
        let mut out = Vec::new();
        let raws: Vec<(usize, &[u8])> = vec![(0, br#"{"f":{"a":2,"5":1,"b":1,"7":1}}"#.as_slice())];
        merge_distribution(&raws, None, Some(&by), &["f"], &mut out).unwrap();
        assert_eq!(
            String::from_utf8(out.clone()).unwrap(),
            r#"{"f":{"7":1,"5":1,"a":2,"b":1}}"#
        );
        // Without number values (no `facetStats`), "10" is a string: alphabetically before "9".
        out.clear();
        let raws: Vec<(usize, &[u8])> = vec![(0, br#"{"size":{"10":1,"9":3}}"#.as_slice())];
        merge_distribution(&raws, None, None, &[], &mut out).unwrap();
        assert_eq!(
            String::from_utf8(out.clone()).unwrap(),
            r#"{"size":{"10":1,"9":3}}"#
        );
        // And by count like "M".
        out.clear();
        let raws: Vec<(usize, &[u8])> = vec![(0, br#"{"size":{"M":50,"10":3}}"#.as_slice())];
        merge_distribution(&raws, Some(1), Some(&by), &[], &mut out).unwrap();
        assert_eq!(
            String::from_utf8(out.clone()).unwrap(),
            r#"{"size":{"M":50}}"#
        );
        // Read from the nodes' lists: numbers by count, then strings by count, is by count.
        out.clear();
        let raws: Vec<(usize, &[u8])> = vec![(0, br#"{"f":{"7":1,"5":1,"b":3,"a":1}}"#.as_slice())];
        merge_distribution(&raws, None, None, &["f"], &mut out).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            r#"{"f":{"7":1,"5":1,"b":3,"a":1}}"#
        );
        // Facet names sorted, values only one node has kept, counts summed.
        assert_eq!(
            merged(&[r#"{"z":{"x":1},"a":{"q\"":2}}"#, r#"{"a":{"q\"":3,"r":1}}"#]),
            r#"{"a":{"q\"":5,"r":1},"z":{"x":1}}"#
        );
    }

    #[test]
    fn truncates_to_max_values() {
        let raws: Vec<(usize, &[u8])> = vec![(0, br#"{"f":{"a":1,"b":2,"c":3}}"#.as_slice())];
        let mut out = Vec::new();
        merge_distribution(&raws, Some(2), None, &[], &mut out).unwrap();
        assert_eq!(out, br#"{"f":{"a":1,"b":2}}"#);
    }

    #[test]
    fn the_index_setting_decides_the_order() {
        // Every node's list reads both ways; the index orders `f` by count, `g` alphabetically.
        let raws: Vec<(usize, &[u8])> = vec![
            (0, br#"{"f":{"a":1,"c":1},"g":{"b":3,"a":1}}"#.as_slice()),
            (1, br#"{"f":{"c":1},"g":{"a":1}}"#.as_slice()),
        ];
        let by = serde_json::json!({"*": "alpha", "f": "count"});
        let mut out = Vec::new();
        merge_distribution(&raws, Some(1), Some(&by), &[], &mut out).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            r#"{"f":{"c":2},"g":{"a":2}}"#
        );
        assert!(facet_values_by_count(
            &serde_json::json!({"*": "count"}),
            "x"
        ));
        assert!(!facet_values_by_count(
            &serde_json::json!({"*": "count", "x": "alpha"}),
            "x"
        ));
        assert!(!facet_values_by_count(&serde_json::json!({}), "x"));
    }

    #[test]
    fn facet_search_by_count_as_the_index_says() {
        let bodies: [&[u8]; 2] = [
            br#"{"facetHits":[{"value":"a","count":2},{"value":"b","count":1}],"facetQuery":null,"processingTimeMs":1}"#,
            br#"{"facetHits":[{"value":"c","count":1},{"value":"d","count":3}],"facetQuery":null,"processingTimeMs":2}"#,
        ];
        let hits = |by_count| {
            let mut out = Vec::new();
            merge_facet_search(&bodies, Some(3), by_count, &mut out).unwrap();
            let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
            v["facetHits"]
                .as_array()
                .unwrap()
                .iter()
                .map(|h| h["value"].as_str().unwrap().to_owned())
                .collect::<Vec<_>>()
        };
        // Equal counts by decreasing value, as Meilisearch's facet search lists them.
        assert_eq!(hits(Some(true)), ["d", "a", "c"]);
        assert_eq!(hits(Some(false)), ["a", "b", "c"]);
        // Unknown: the nodes' lists do not all read by count.
        assert_eq!(hits(None), ["a", "b", "c"]);
    }

    #[test]
    fn stats_keep_number_text() {
        let raws: Vec<(usize, &[u8])> = vec![
            (0, br#"{"y":{"min":1915.0,"max":2000.0}}"#.as_slice()),
            (
                1,
                br#"{"y":{"min":1920.0,"max":2010.0},"r":{"min":1.5,"max":9}}"#.as_slice(),
            ),
        ];
        let mut out = Vec::new();
        write_stats(&merge_stats(&raws).unwrap(), &mut out);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            r#"{"r":{"min":1.5,"max":9},"y":{"min":1915.0,"max":2010.0}}"#
        );
    }
}
