//! Search: query parsing (`POST`/`GET /indexes/{uid}/search`), candidate selection through the
//! inverted index, ranking rule by rule, facets, formatting of hits, plus multi-search
//! (plain and a simple federation) and facet search.
//!
//! Ranking model (simple, but self-consistent): every rank rule gives each document an integer
//! `rank` out of `max` (higher is better); documents are ordered lexicographically over the
//! index's `rankingRules` (where `sort` expands to the requested sort fields, and `attr:asc`
//! rules compare values with Meilisearch's type order), then by insertion order.
//! `_rankingScore` combines the rank rules like Meilisearch's `Rank::global_score` (a mixed-radix
//! number), so it never increases down the list unless a sort rule sits between rank rules.

mod facets;
mod query;
mod ranking;
mod routes;

use std::collections::{HashMap, HashSet};
use std::time::Instant;

use serde_json::{json, Map, Value};

use crate::filter::{self, Filter};
use crate::index::{select_fields, tokenize, Index, Occ, SortRule};
use crate::params::{ApiError, ApiResult};
use crate::settings::{attribute_matches, Settings};

use facets::{facet_names, facets};
pub(crate) use query::Query;
use query::Strategy;
use ranking::{
    build_term, compare_keys, global_score, Cand, Engine, Entry, Ranked, Rule, Term, WordMatch,
};
pub(crate) use routes::{facet_search, get, multi, post};

/// Meilisearch ignores query words past the 10th.
const MAX_TERMS: usize = 10;

// ---------------------------------------------------------------------------------------------
// Execution

/// The result of running a query: every matching document in order, with scores.
pub(crate) struct Executed<'a> {
    engine: Engine<'a>,
    query: Query,
    /// Ordered hits (after threshold and distinct).
    hits: Vec<Ranked>,
    /// Term occurrences of the candidates (see [`Cand`]).
    arena: Vec<Entry>,
    /// Hits before distinct (`estimatedTotalHits`).
    estimated: usize,
    /// Positions of the documents matching query and filter (the facet universe).
    universe: Vec<u32>,
    /// Matched words for highlighting.
    highlight_words: HashMap<Box<str>, WordMatch>,
    started: Instant,
}

fn filter_error(message: String) -> ApiError {
    ApiError::new(400, message, "invalid_search_filter")
}

/// Checks the query against the index and runs it.
pub(crate) fn execute<'a>(index: &'a Index, query: &Query) -> ApiResult<Executed<'a>> {
    let started = Instant::now();
    let settings = &index.settings;
    let prefix = format!("Index `{}`: ", index.uid);
    let filter: Option<Filter> = match &query.filter {
        Some(v) => filter::from_json(v).map_err(|e| filter_error(e.0))?,
        None => None,
    };
    if let Some(f) = &filter {
        f.check_filterable(settings)
            .map_err(|e| filter_error(e.0).prefixed(&prefix))?;
    }
    let sort = parse_sort(index, query.sort.as_deref().unwrap_or(&[]))?;
    if let Some(facets) = &query.facets {
        facet_names(index, facets)?;
    }
    let distinct = match &query.distinct {
        Some(d) => {
            if !settings.is_filterable(d) {
                return Err(ApiError::new(
                    400,
                    format!(
                        "{prefix}Attribute `{d}` is not filterable and thus, cannot be used as distinct attribute. {}",
                        available_filterable(settings)
                    ),
                    "invalid_search_distinct",
                ));
            }
            Some(d.clone())
        }
        None => settings.distinct(),
    };
    let searchable = settings.searchable();
    if let Some(on) = &query.attributes_to_search_on {
        if let Some(list) = &searchable {
            if let Some(bad) = on
                .iter()
                .find(|a| !list.iter().any(|s| attribute_matches(s, a)))
            {
                return Err(ApiError::new(
                    400,
                    format!(
                        "{prefix}Attribute `{bad}` is not searchable. Available searchable attributes are: `{}`.",
                        list.join(", ")
                    ),
                    "invalid_search_attributes_to_search_on",
                ));
            }
        }
    }

    // Ranking rules, with `sort` expanded to the requested sort.
    let mut rules = Vec::new();
    let mut sort_placed = false;
    for r in settings.ranking_rules() {
        match r.as_str() {
            "words" => rules.push(Rule::Words),
            "typo" => rules.push(Rule::Typo),
            "proximity" => rules.push(Rule::Proximity),
            "attributeRank" => rules.push(Rule::AttributeRank),
            "wordPosition" => rules.push(Rule::WordPosition),
            "attribute" => rules.push(Rule::Attribute),
            "exactness" => rules.push(Rule::Exactness),
            "sort" => {
                sort_placed = true;
                rules.extend(sort.iter().cloned().map(Rule::Sort));
            }
            other => {
                if let Some(s) = SortRule::parse(other) {
                    rules.push(Rule::Sort(s));
                }
            }
        }
    }
    if !sort.is_empty() && !sort_placed {
        return Err(ApiError::new(
            400,
            format!("{prefix}You must specify where `sort` is listed in the rankingRules setting to use the sort parameter at search time."),
            "invalid_search_sort",
        ));
    }

    // Query terms; words after a `-` leave out the documents containing them.
    let (positive_q, negative) = split_negative(&query.q);
    // A document is left out when it has a negative part: its word, or its phrase's words one
    // after the other in one field.
    let mut excluded: HashSet<u64> = HashSet::new();
    for words in negative.iter().filter(|w| !w.is_empty()) {
        let postings: Vec<_> = words.iter().map(|w| index.words.get(w.as_str())).collect();
        let (Some(Some(first)), Some(rest)) = (postings.first(), postings.get(1..)) else {
            continue;
        };
        for (seq, occs) in first.iter() {
            let phrase_at = |o: &Occ| {
                rest.iter().enumerate().all(|(k, p)| {
                    p.and_then(|p| p.get(seq)).is_some_and(|later| {
                        later
                            .iter()
                            .any(|l| l.field == o.field && l.pos == o.pos + k as u32 + 1)
                    })
                })
            };
            if occs.iter().any(phrase_at) {
                excluded.insert(*seq);
            }
        }
    }
    let stop_words = settings.stop_words();
    let mut words: Vec<String> = tokenize(&positive_q).into_iter().map(|t| t.word).collect();
    if words.iter().any(|w| !stop_words.contains(w)) {
        words.retain(|w| !stop_words.contains(w));
    }
    words.truncate(MAX_TERMS);
    let ends_with_separator = positive_q
        .chars()
        .last()
        .is_some_and(|c| !c.is_alphanumeric());
    let synonyms = settings.synonyms();
    let terms: Vec<Term> = words
        .iter()
        .enumerate()
        .map(|(i, w)| {
            build_term(
                index,
                w,
                i + 1 == words.len() && !ends_with_separator,
                &synonyms,
            )
        })
        .collect();
    let placeholder = terms.is_empty();
    if placeholder {
        rules.retain(|r| !r.is_rank());
    }
    let weights = searchable.as_ref().map_or(1, |l| l.len().max(1)) as u64;
    let columns = rules
        .iter()
        .map(|r| match r {
            Rule::Sort(s) => Some(index.column(&s.field)),
            _ => None,
        })
        .collect();
    let engine = Engine {
        index,
        terms,
        rules,
        weights,
        columns,
    };
    let compiled = filter.as_ref().map(|f| f.compile(index));
    let order = index.order();

    // Candidates.
    let mut ranked: Vec<Ranked> = Vec::new();
    let mut arena: Vec<Entry> = Vec::new();
    if placeholder {
        for (pos, seq) in order.iter().enumerate() {
            if !excluded.contains(seq) && compiled.as_ref().is_none_or(|f| f.matches(pos)) {
                ranked.push(Ranked {
                    seq: *seq,
                    pos: pos as u32,
                    keys: Vec::new(),
                    cand: None,
                });
            }
        }
    } else {
        let positions = index.positions();
        let n = engine.terms.len();
        // Candidates contain the first term; a slot table maps internal ids to them.
        let mut slot: Vec<u32> = vec![u32::MAX; index.seq_bound() as usize];
        let mut seqs: Vec<u64> = Vec::new();
        for (i, term) in engine.terms.iter().enumerate() {
            for (word, wm) in &term.words {
                let Some(postings) = index.words.get(word) else {
                    continue;
                };
                for (seq, occs) in postings {
                    let s = &mut slot[*seq as usize];
                    if *s == u32::MAX {
                        if i > 0 {
                            continue;
                        }
                        *s = seqs.len() as u32;
                        seqs.push(*seq);
                    }
                    let cand = *s;
                    let keep = |o: &Occ| match &query.attributes_to_search_on {
                        None => true,
                        Some(on) => index.docs.get(seq).is_some_and(|d| {
                            d.fields
                                .get(usize::from(o.field))
                                .is_some_and(|f| on.iter().any(|a| attribute_matches(a, &f.path)))
                        }),
                    };
                    arena.extend(occs.iter().filter(|o| keep(o)).map(|o| Entry {
                        cand,
                        term: i as u8,
                        occ: *o,
                        wm: *wm,
                    }));
                }
            }
        }
        arena.sort_by_key(|e| (e.cand, e.term));
        let mut start = 0;
        while start < arena.len() {
            let cand = arena[start].cand;
            let mut end = start;
            let mut present = 0u32;
            while end < arena.len() && arena[end].cand == cand {
                present |= 1 << arena[end].term;
                end += 1;
            }
            let k = (!present).trailing_zeros() as usize;
            let seq = seqs[cand as usize];
            let pos = positions[seq as usize];
            let keep = match query.strategy {
                Strategy::All => k == n,
                Strategy::Last | Strategy::Frequency => k > 0,
            };
            if keep
                && pos != u32::MAX
                && !excluded.contains(&seq)
                && compiled.as_ref().is_none_or(|f| f.matches(pos as usize))
            {
                ranked.push(Ranked {
                    seq,
                    pos,
                    keys: Vec::new(),
                    cand: Some(Cand { k, start, end }),
                });
            }
            start = end;
        }
        // Same order as the placeholder path: by internal id.
        ranked.sort_by_key(|r| r.pos);
    }
    let universe: Vec<u32> = ranked.iter().map(|r| r.pos).collect();

    // Order.
    if !engine.rules.is_empty() {
        for r in &mut ranked {
            r.keys = engine.rank_parts(r.cand.as_ref(), &arena, r.pos, false).0;
        }
        if let Some(t) = query.threshold {
            ranked.retain(|r| global_score(&r.keys) >= t);
        }
        let cmp = |a: &Ranked, b: &Ranked| compare_keys(&a.keys, &b.keys).then(a.pos.cmp(&b.pos));
        let need = window_end(query, settings);
        if distinct.is_none() && need < ranked.len() / 2 {
            if need == 0 {
                ranked.sort_by(cmp);
            } else {
                // Only the first `need` hits are shown: order those, keep the rest for counts.
                ranked.select_nth_unstable_by(need - 1, cmp);
                ranked[..need].sort_by(cmp);
            }
        } else {
            ranked.sort_by(cmp);
        }
    } else if let Some(t) = query.threshold {
        // placeholder without rules: every score is 1.0
        if t > 1.0 {
            ranked.clear();
        }
    }
    let mut estimated = ranked.len();
    if let Some(d) = &distinct {
        let column = index.column(d);
        let key_of = |r: &Ranked| {
            column
                .cells
                .get(r.pos as usize)
                .and_then(|c| c.leaves.first())
                .map(facets::leaf_key)
        };
        let mut counts: HashMap<String, usize> = HashMap::new();
        for r in &ranked {
            if let Some(k) = key_of(r) {
                *counts.entry(k).or_default() += 1;
            }
        }
        let mut seen = HashSet::new();
        ranked.retain(|r| match key_of(r) {
            Some(key) => seen.insert(key),
            None => true,
        });
        // Like Meilisearch's offset-mode estimate (fixture 115): only the duplicates of the
        // documents that fill the requested window are taken out of the count.
        let window = window_end(query, settings);
        for r in ranked.iter().take(window) {
            if let Some(k) = key_of(r) {
                estimated -= counts.get(&k).copied().unwrap_or(1) - 1;
            }
        }
    }
    let mut highlight_words: HashMap<Box<str>, WordMatch> = HashMap::new();
    for t in &engine.terms {
        for (w, m) in &t.words {
            highlight_words
                .entry(w.clone())
                .and_modify(|x| {
                    if m.exact {
                        *x = *m
                    }
                })
                .or_insert(*m);
        }
    }
    Ok(Executed {
        engine,
        query: query.clone(),
        hits: ranked,
        arena,
        estimated,
        universe,
        highlight_words,
        started,
    })
}

/// Index of the last hit a response can show (offset+limit, capped by maxTotalHits).
fn window_end(query: &Query, settings: &Settings) -> usize {
    let (offset, limit) = match (query.page, query.hits_per_page) {
        (None, None) => (query.offset, query.limit),
        (page, hpp) => {
            let hpp = hpp.unwrap_or(20);
            (page.unwrap_or(1).saturating_sub(1).saturating_mul(hpp), hpp)
        }
    };
    offset.saturating_add(limit).min(settings.max_total_hits())
}

fn parse_sort(index: &Index, list: &[String]) -> ApiResult<Vec<SortRule>> {
    let prefix = format!("Index `{}`: ", index.uid);
    list.iter()
        .map(|s| {
            let rule = SortRule::parse(s).ok_or_else(|| {
                ApiError::new(
                    400,
                    format!(
                        "Invalid syntax for the sort parameter: expected expression ending by `:asc` or `:desc`, found `{s}`."
                    ),
                    "invalid_search_sort",
                )
            })?;
            if !index.settings.is_sortable(&rule.field) {
                return Err(ApiError::new(
                    400,
                    format!("{prefix}{}", crate::documents::not_sortable(&rule.field, index)),
                    "invalid_search_sort",
                ));
            }
            Ok(rule)
        })
        .collect()
}

pub(super) fn available_filterable(settings: &Settings) -> String {
    let mut f = settings.filterable();
    f.sort();
    if f.is_empty() {
        "This index does not have configured filterable attributes.".to_owned()
    } else {
        format!(
            "Available filterable attributes patterns are: `{}`.",
            f.join(", ")
        )
    }
}

// ---------------------------------------------------------------------------------------------
// Rendering

impl Executed<'_> {
    fn total(&self) -> usize {
        self.hits.len()
    }

    /// (offset, limit) of the hits to show.
    fn window(&self) -> (usize, usize) {
        let q = &self.query;
        match (q.page, q.hits_per_page) {
            (None, None) => (q.offset, q.limit),
            (page, hpp) => {
                let hpp = hpp.unwrap_or(20);
                match page.unwrap_or(1) {
                    0 => (0, 0),
                    p => ((p - 1).saturating_mul(hpp), hpp),
                }
            }
        }
    }

    fn score(&self, r: &Ranked) -> f64 {
        global_score(&r.keys)
    }

    /// One hit as returned (`_formatted`, `_matchesPosition`, `_rankingScore[Details]`).
    fn render_hit(&self, r: &Ranked) -> Map<String, Value> {
        let index = self.engine.index;
        let q = &self.query;
        let doc = &index.docs[&r.seq];
        let mut hit = match index.settings.displayed() {
            Some(d) => select_fields(&doc.value, &d),
            None => doc.value.clone(),
        };
        if let Some(a) = &q.attributes_to_retrieve {
            hit = select_fields(&hit, a);
        }
        let matches_position = q.show_matches_position.then(|| self.matches_position(&hit));
        if q.formatted() {
            let formatted = self.format(&hit);
            hit.insert("_formatted".into(), Value::Object(formatted));
        }
        if let Some(mp) = matches_position {
            hit.insert("_matchesPosition".into(), Value::Object(mp));
        }
        if q.show_ranking_score {
            hit.insert("_rankingScore".into(), json!(self.score(r)));
        }
        if q.show_ranking_score_details {
            let (_, details) = self
                .engine
                .rank_parts(r.cand.as_ref(), &self.arena, r.pos, true);
            hit.insert("_rankingScoreDetails".into(), Value::Object(details));
        }
        hit
    }

    /// Matched byte ranges of a text: (start, len).
    fn matched_ranges(&self, text: &str) -> Vec<(usize, usize)> {
        if self.highlight_words.is_empty() {
            return Vec::new();
        }
        tokenize(text)
            .into_iter()
            .filter_map(|t| {
                let (s, e) = (t.start, t.end);
                let m = self.highlight_words.get(t.word.as_str())?;
                let len = match m.prefix_chars {
                    Some(n) => text[s..e].char_indices().nth(n).map_or(e - s, |(i, _)| i),
                    None => e - s,
                };
                Some((s, len))
            })
            .collect()
    }

    fn matches_position(&self, hit: &Map<String, Value>) -> Map<String, Value> {
        let mut out = Map::new();
        for (k, v) in hit {
            let mut list = Vec::new();
            match v {
                Value::String(s) => {
                    for (start, length) in self.matched_ranges(s) {
                        list.push(json!({"start": start, "length": length}));
                    }
                }
                Value::Array(items) => {
                    for (i, item) in items.iter().enumerate() {
                        if let Value::String(s) = item {
                            for (start, length) in self.matched_ranges(s) {
                                list.push(
                                    json!({"start": start, "length": length, "indices": [i]}),
                                );
                            }
                        }
                    }
                }
                _ => {}
            }
            if !list.is_empty() {
                out.insert(k.clone(), Value::Array(list));
            }
        }
        out
    }

    fn highlight(&self, text: &str) -> String {
        let q = &self.query;
        let mut out = String::with_capacity(text.len() + 16);
        let mut last = 0;
        for (start, len) in self.matched_ranges(text) {
            out.push_str(&text[last..start]);
            out.push_str(&q.highlight_pre);
            out.push_str(&text[start..start + len]);
            out.push_str(&q.highlight_post);
            last = start + len;
        }
        out.push_str(&text[last..]);
        out
    }

    fn crop(&self, text: &str, words: usize) -> String {
        let tokens = tokenize(text);
        if tokens.len() <= words {
            return text.to_owned();
        }
        if words == 0 {
            return String::new();
        }
        let first = tokens
            .iter()
            .position(|t| self.highlight_words.contains_key(t.word.as_str()))
            .unwrap_or(0);
        let start = first
            .saturating_sub((words - 1) / 2)
            .min(tokens.len() - words);
        let end = start + words;
        let mut out = String::new();
        if start > 0 {
            out.push_str(&self.query.crop_marker);
        }
        out.push_str(&text[tokens[start].start..tokens[end - 1].end]);
        if end < tokens.len() {
            out.push_str(&self.query.crop_marker);
        }
        out
    }

    fn format(&self, hit: &Map<String, Value>) -> Map<String, Value> {
        let q = &self.query;
        let wants = |list: &Option<Vec<String>>, k: &str| -> Option<Option<usize>> {
            list.as_ref()?.iter().find_map(|a| {
                let (name, len) = match a.rsplit_once(':') {
                    Some((n, l)) if l.parse::<usize>().is_ok() => (n, l.parse().ok()),
                    _ => (a.as_str(), None),
                };
                (name == "*" || name == k).then_some(len)
            })
        };
        hit.iter()
            .map(|(k, v)| {
                let highlight = wants(&q.attributes_to_highlight, k).is_some();
                let crop = wants(&q.attributes_to_crop, k).map(|l| l.unwrap_or(q.crop_length));
                (k.clone(), self.format_value(v, highlight, crop))
            })
            .collect()
    }

    fn format_value(&self, v: &Value, highlight: bool, crop: Option<usize>) -> Value {
        match v {
            Value::String(s) => {
                let cropped = match crop {
                    Some(n) => self.crop(s, n),
                    None => s.clone(),
                };
                Value::String(if highlight {
                    self.highlight(&cropped)
                } else {
                    cropped
                })
            }
            Value::Number(n) => Value::String(n.to_string()),
            Value::Array(items) => Value::Array(
                items
                    .iter()
                    .map(|i| self.format_value(i, highlight, crop))
                    .collect(),
            ),
            Value::Object(m) => Value::Object(
                m.iter()
                    .map(|(k, x)| (k.clone(), self.format_value(x, highlight, crop)))
                    .collect(),
            ),
            other => other.clone(),
        }
    }

    #[cfg(test)]
    pub(crate) fn response_for_tests(&self) -> Map<String, Value> {
        self.response()
    }

    /// The search response body (without `requestUid`).
    fn response(&self) -> Map<String, Value> {
        let index = self.engine.index;
        let q = &self.query;
        let max_total = index.settings.max_total_hits();
        let total = self.total().min(max_total);
        let estimated = self.estimated.min(max_total);
        let (offset, limit) = self.window();
        let end = offset.saturating_add(limit).min(total);
        let hits: Vec<Value> = self
            .hits
            .get(offset.min(end)..end)
            .unwrap_or(&[])
            .iter()
            .map(|r| Value::Object(self.render_hit(r)))
            .collect();
        let mut out = Map::new();
        out.insert("hits".into(), Value::Array(hits));
        out.insert("query".into(), json!(q.q));
        out.insert(
            "processingTimeMs".into(),
            json!(self.started.elapsed().as_millis() as u64),
        );
        match (q.page, q.hits_per_page) {
            (None, None) => {
                out.insert("limit".into(), json!(q.limit));
                out.insert("offset".into(), json!(q.offset));
                out.insert("estimatedTotalHits".into(), json!(estimated));
            }
            _ => {
                let hpp = q.hits_per_page.unwrap_or(20);
                out.insert("hitsPerPage".into(), json!(hpp));
                out.insert("page".into(), json!(q.page.unwrap_or(1)));
                out.insert(
                    "totalPages".into(),
                    json!(if hpp == 0 { 0 } else { total.div_ceil(hpp) }),
                );
                out.insert("totalHits".into(), json!(total));
            }
        }
        if let Some(requested) = &q.facets {
            let names = facet_names(index, requested).unwrap_or_default();
            let (distribution, stats) = facets(index, &self.universe, &names);
            out.insert("facetDistribution".into(), Value::Object(distribution));
            out.insert("facetStats".into(), Value::Object(stats));
        }
        out
    }
}

/// `q` as Meilisearch reads negation: a `-` at the start or after a space makes the next word,
/// or the next quoted phrase, negative (a document containing it is left out). Returns the
/// positive text, the negative parts blanked out (so the last word is a prefix only when it
/// ends `q`), and the words of each negative part. A query of negative parts only is a
/// placeholder search.
fn split_negative(q: &str) -> (String, Vec<Vec<String>>) {
    let chars: Vec<(usize, char)> = q.char_indices().collect();
    let mut positive = String::with_capacity(q.len());
    let mut negative = Vec::new();
    // Inside a quoted phrase a `-` is no negation.
    let mut quoted = false;
    let mut i = 0;
    while let Some(&(at, c)) = chars.get(i) {
        let starts = i == 0 || chars.get(i - 1).is_some_and(|&(_, p)| p.is_whitespace());
        let next = chars.get(i + 1).map(|&(_, n)| n);
        if c == '"' {
            quoted = !quoted;
        }
        if c == '-' && starts && !quoted && next.is_some_and(|n| n.is_alphanumeric() || n == '"') {
            let mut j = i + 1;
            if next == Some('"') {
                j += 1;
                while chars.get(j).is_some_and(|&(_, n)| n != '"') {
                    j += 1;
                }
                j = (j + 1).min(chars.len());
            } else {
                while chars.get(j).is_some_and(|&(_, n)| n.is_alphanumeric()) {
                    j += 1;
                }
            }
            let to = chars.get(j).map_or(q.len(), |&(end, _)| end);
            negative.push(
                tokenize(&q[at + 1..to])
                    .into_iter()
                    .map(|t| t.word)
                    .collect(),
            );
            positive.extend(std::iter::repeat_n(' ', to - at));
            i = j;
            continue;
        }
        positive.push(c);
        i += 1;
    }
    (positive, negative)
}

#[cfg(test)]
mod negation_tests {
    use super::split_negative;

    #[test]
    fn only_the_next_word_or_phrase_is_negative() {
        let words = |v: &[&str]| v.iter().map(|w| w.to_string()).collect::<Vec<_>>();
        let (positive, negative) = split_negative("bat -robin");
        assert_eq!(positive.trim_end(), "bat");
        assert!(positive.ends_with(' '), "bat is not the query's last word");
        assert_eq!(negative, [words(&["robin"])]);
        let (positive, negative) = split_negative("-spider-man");
        assert_eq!(positive.trim(), "-man");
        assert_eq!(negative, [words(&["spider"])]);
        let (positive, negative) = split_negative(r#"-"bat man" robin spider-man"#);
        assert_eq!(positive.trim(), "robin spider-man");
        assert_eq!(negative, [words(&["bat", "man"])]);
        let (positive, negative) = split_negative("- bat");
        assert_eq!(positive, "- bat");
        assert!(negative.is_empty());
        // A `-` inside a quoted phrase is part of it.
        let (positive, negative) = split_negative(r#""spider -man""#);
        assert_eq!(positive, r#""spider -man""#);
        assert!(negative.is_empty());
    }
}
