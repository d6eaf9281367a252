//! Query terms (exact, prefix, typo and synonym matches from the index dictionary) and the
//! ranking rules.

use std::collections::HashMap;
use std::ops::Bound;

use serde_json::{json, Map, Value};

use std::sync::Arc;

use crate::columns::Column;
use crate::index::{Index, Occ, SortKey, SortRule};
use crate::settings::TypoSettings;

// ---------------------------------------------------------------------------------------------
// Query terms

/// How a dictionary word matches a query term.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) struct WordMatch {
    pub(super) typos: u8,
    /// The word is the query term itself (or a synonym): no typo, no prefix.
    pub(super) exact: bool,
    /// Prefix match: number of characters of the term.
    pub(super) prefix_chars: Option<usize>,
}

pub(super) struct Term {
    /// Dictionary words matching the term.
    pub(super) words: HashMap<Box<str>, WordMatch>,
    /// Typos the term allows (for `maxTypoCount`).
    pub(super) allowed_typos: u8,
}

pub(super) fn allowed_typos(word: &str, typo: &TypoSettings) -> u8 {
    if !typo.enabled
        || typo.disable_on_words.iter().any(|w| w == word)
        || (typo.disable_on_numbers && word.chars().all(|c| c.is_ascii_digit()))
    {
        return 0;
    }
    let n = word.chars().count();
    if n >= typo.two_typos {
        2
    } else if n >= typo.one_typo {
        1
    } else {
        0
    }
}

/// Optimal string alignment distance, `None` when above `max`.
pub(super) fn typo_distance(a: &[char], b: &[char], max: usize) -> Option<usize> {
    if a.len().abs_diff(b.len()) > max {
        return None;
    }
    let mut prev2: Vec<usize> = Vec::new();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for i in 1..=a.len() {
        let mut cur = vec![i; b.len() + 1];
        let mut row_min = cur[0];
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut v = (prev[j] + 1).min(cur[j - 1] + 1).min(prev[j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                v = v.min(prev2[j - 2] + 1);
            }
            cur[j] = v;
            row_min = row_min.min(v);
        }
        if row_min > max {
            return None;
        }
        prev2 = std::mem::replace(&mut prev, cur);
    }
    (prev[b.len()] <= max).then_some(prev[b.len()])
}

pub(super) fn build_term(
    index: &Index,
    word: &str,
    is_last: bool,
    synonyms: &[(String, Vec<String>)],
) -> Term {
    let settings = &index.settings;
    let typo = settings.typo();
    let allowed = allowed_typos(word, &typo);
    let mut words: HashMap<Box<str>, WordMatch> = HashMap::new();
    if index.words.contains_key(word) {
        words.insert(
            word.into(),
            WordMatch {
                typos: 0,
                exact: true,
                prefix_chars: None,
            },
        );
    }
    for (_, alts) in synonyms.iter().filter(|(k, _)| k == word) {
        for alt in alts.iter().filter(|a| !a.contains(' ')) {
            if index.words.contains_key(alt.as_str()) {
                words.entry(alt.as_str().into()).or_insert(WordMatch {
                    typos: 0,
                    exact: true,
                    prefix_chars: None,
                });
            }
        }
    }
    if is_last && settings.prefix_search_enabled() {
        let range = index
            .words
            .range::<str, _>((Bound::Excluded(word), Bound::Unbounded));
        for (w, _) in range.take_while(|(w, _)| w.starts_with(word)) {
            words.entry(w.clone()).or_insert(WordMatch {
                typos: 0,
                exact: false,
                prefix_chars: Some(word.chars().count()),
            });
        }
    }
    if allowed > 0 {
        // A typo on the first letter counts double in Meilisearch: only look at words sharing it.
        let chars: Vec<char> = word.chars().collect();
        let first: String = chars[..1].iter().collect();
        let range = index
            .words
            .range::<str, _>((Bound::Included(first.as_str()), Bound::Unbounded));
        for (w, _) in range.take_while(|(w, _)| w.starts_with(first.as_str())) {
            if words.contains_key(w) {
                continue;
            }
            let wc: Vec<char> = w.chars().collect();
            if let Some(d) = typo_distance(&chars, &wc, usize::from(allowed)) {
                if d > 0 {
                    words.insert(
                        w.clone(),
                        WordMatch {
                            typos: d as u8,
                            exact: false,
                            prefix_chars: None,
                        },
                    );
                }
            }
        }
    }
    Term {
        words,
        allowed_typos: allowed,
    }
}

// ---------------------------------------------------------------------------------------------
// Ranking

#[derive(Clone, Debug, PartialEq)]
pub(super) enum Rule {
    Words,
    Typo,
    Proximity,
    AttributeRank,
    WordPosition,
    /// The legacy combined `attribute` rule.
    Attribute,
    Exactness,
    Sort(SortRule),
}

impl Rule {
    pub(super) fn is_rank(&self) -> bool {
        !matches!(self, Rule::Sort(_))
    }
}

#[derive(Clone, Debug)]
pub(super) enum Key {
    Rank(u64, u64),
    Sort(SortKey, bool),
}

pub(super) fn compare_keys(a: &[Key], b: &[Key]) -> std::cmp::Ordering {
    use std::cmp::Ordering::Equal;
    for (x, y) in a.iter().zip(b) {
        let o = match (x, y) {
            (Key::Rank(r1, m1), Key::Rank(r2, m2)) => {
                (u128::from(*r2) * u128::from(*m1)).cmp(&(u128::from(*r1) * u128::from(*m2)))
            }
            (Key::Sort(k1, asc), Key::Sort(k2, _)) => k1.compare(k2, *asc),
            _ => Equal,
        };
        if o != Equal {
            return o;
        }
    }
    Equal
}

/// Meilisearch's global score: the rank rules as one mixed-radix number in (0, 1].
pub(super) fn global_score(keys: &[Key]) -> f64 {
    merged_score(keys.iter().filter_map(|k| match k {
        Key::Rank(r, m) => Some((*r, *m)),
        Key::Sort(..) => None,
    }))
}

/// One occurrence of a query term in a candidate document (see [`Cand`]).
#[derive(Clone, Copy, Debug)]
pub(super) struct Entry {
    pub(super) cand: u32,
    pub(super) term: u8,
    pub(super) occ: Occ,
    pub(super) wm: WordMatch,
}

/// A candidate of a text search: its occurrences are `arena[start..end]`, ordered by term.
#[derive(Clone, Copy, Debug)]
pub(super) struct Cand {
    /// Number of leading query terms the document contains (`words` rule).
    pub(super) k: usize,
    pub(super) start: usize,
    pub(super) end: usize,
}

impl Cand {
    /// Occurrences of each of the first `k` terms (at most 10 terms, so no allocation).
    pub(super) fn per_term<'a>(&self, arena: &'a [Entry]) -> [&'a [Entry]; 10] {
        let mut out: [&[Entry]; 10] = [&[]; 10];
        let all = &arena[self.start..self.end];
        for (t, slot) in out.iter_mut().enumerate().take(self.k) {
            let lo = all.partition_point(|e| usize::from(e.term) < t);
            let hi = all.partition_point(|e| usize::from(e.term) <= t);
            *slot = &all[lo..hi];
        }
        out
    }
}

/// A matching document with its ranking keys.
pub(super) struct Ranked {
    pub(super) seq: u64,
    /// Position in the index's columns.
    pub(super) pos: u32,
    pub(super) keys: Vec<Key>,
    pub(super) cand: Option<Cand>,
}

/// A search prepared against one index.
pub(super) struct Engine<'a> {
    pub(super) index: &'a Index,
    pub(super) terms: Vec<Term>,
    pub(super) rules: Vec<Rule>,
    /// Number of searchable attributes (1 with `["*"]`: every field has weight 0).
    pub(super) weights: u64,
    /// The column of each sort rule (same positions as `rules`).
    pub(super) columns: Vec<Option<Arc<Column>>>,
}

/// Meilisearch's word-pair proximity cap (v1.7+): proximities 1..=3 are distinguished.
const MAX_DISTANCE: u32 = 4;

/// milli's position cost of a word `distance` positions away from where the query has it.
fn cost_from_distance(distance: u32) -> u64 {
    match distance {
        0 => 0,
        1 => 1,
        2..=4 => 2,
        5..=7 => 3,
        8..=11 => 4,
        12..=16 => 5,
        17..=24 => 6,
        25..=64 => 7,
        65..=256 => 8,
        257..=1024 => 9,
        _ => 10,
    }
}

/// milli's `index_proximity`: word order matters (a reversed pair is one further).
fn proximity(lhs: u32, rhs: u32) -> u32 {
    if lhs <= rhs {
        (rhs - lhs).min(MAX_DISTANCE)
    } else {
        (lhs - rhs + 1).min(MAX_DISTANCE)
    }
}

/// One rule's outcome for a document: its rank(s) and, when asked for, the detail fields.
struct Outcome {
    /// One or two (rank, max) pairs (`exactness` of a non-exact match has two).
    ranks: [(u64, u64); 2],
    len: usize,
    extra: Option<Map<String, Value>>,
}

impl Outcome {
    fn one(rank: u64, max: u64, details: bool) -> Outcome {
        Outcome {
            ranks: [(rank, max), (1, 1)],
            len: 1,
            extra: details.then(Map::new),
        }
    }

    fn two(a: (u64, u64), b: (u64, u64), details: bool) -> Outcome {
        Outcome {
            ranks: [a, b],
            len: 2,
            extra: details.then(Map::new),
        }
    }

    fn ranks(&self) -> &[(u64, u64)] {
        &self.ranks[..self.len]
    }

    /// Adds a detail field (computed only when details are asked for).
    fn with(mut self, key: &str, value: impl FnOnce() -> Value) -> Outcome {
        if let Some(extra) = &mut self.extra {
            extra.insert(key.to_owned(), value());
        }
        self
    }
}

/// `Rank::global_score` of milli: ranks merged as one mixed-radix integer, then divided.
pub(super) fn merged_score(ranks: impl Iterator<Item = (u64, u64)>) -> f64 {
    let (mut rank, mut max): (u128, u128) = (1, 1);
    let mut lo = 0.0;
    let mut width = 1.0;
    let mut exact = true;
    for (r, m) in ranks {
        let m = m.max(1);
        lo += width * (r as f64 - 1.0) / m as f64;
        width /= m as f64;
        match max.checked_mul(u128::from(m)) {
            Some(new_max) if exact && new_max < (1 << 100) => {
                rank = (rank - 1) * u128::from(m) + u128::from(r);
                max = new_max;
            }
            _ => exact = false,
        }
    }
    if exact {
        rank as f64 / max as f64
    } else {
        lo + width
    }
}

impl<'a> Engine<'a> {
    /// The ranking keys of a document, and its `_rankingScoreDetails` when `details`.
    pub(super) fn rank_parts(
        &self,
        c: Option<&Cand>,
        arena: &[Entry],
        pos: u32,
        details: bool,
    ) -> (Vec<Key>, Map<String, Value>) {
        let per_term = c.map(|c| c.per_term(arena));
        let matched: &[&[Entry]] = match (&per_term, c) {
            (Some(p), Some(c)) => &p[..c.k],
            _ => &[],
        };
        let mut keys = Vec::with_capacity(self.rules.len() + 1);
        let mut out = Map::new();
        let mut order = 0;
        for (i, rule) in self.rules.iter().enumerate() {
            match (rule, c) {
                (Rule::Sort(s), _) => {
                    let k = match self.columns[i]
                        .as_ref()
                        .and_then(|col| col.cells.get(pos as usize))
                    {
                        Some(cell) => SortKey::from_cell(cell, s.asc),
                        None => SortKey::Null,
                    };
                    if details {
                        out.insert(s.name(), json!({"order": order, "value": k.to_json()}));
                    }
                    keys.push(Key::Sort(k, s.asc));
                }
                (_, None) => continue,
                (rule, Some(c)) => {
                    let _ = c;
                    let outcome = self.rank(rule, matched, details);
                    if let Some(extra) = &outcome.extra {
                        let mut obj = Map::new();
                        obj.insert("order".into(), json!(order));
                        obj.extend(extra.clone());
                        obj.insert(
                            "score".into(),
                            json!(merged_score(outcome.ranks().iter().copied())),
                        );
                        out.insert(rule_name(rule).to_owned(), Value::Object(obj));
                    }
                    keys.extend(outcome.ranks().iter().map(|(r, m)| Key::Rank(*r, *m)));
                }
            }
            order += 1;
        }
        (keys, out)
    }

    fn rank(&self, rule: &Rule, matched: &[&[Entry]], details: bool) -> Outcome {
        let n = self.terms.len() as u64;
        let k = matched.len();
        let k64 = k as u64;
        match rule {
            Rule::Words => Outcome::one(k64, n, details)
                .with("matchingWords", || json!(k))
                .with("maxMatchingWords", || json!(n)),
            Rule::Typo => {
                let typos: u64 = matched
                    .iter()
                    .map(|o| o.iter().map(|e| u64::from(e.wm.typos)).min().unwrap_or(0))
                    .sum();
                let max: u64 = self.terms[..k]
                    .iter()
                    .map(|t| u64::from(t.allowed_typos.max(1)))
                    .sum();
                let t = typos.min(max);
                Outcome::one(max + 1 - t, max + 1, details)
                    .with("typoCount", || json!(t))
                    .with("maxTypoCount", || json!(max))
            }
            Rule::Proximity => {
                let per_pair = u64::from(MAX_DISTANCE - 1);
                let max = per_pair * k64.saturating_sub(1);
                let mut cost = 0u64;
                for pair in matched.windows(2) {
                    let mut best = MAX_DISTANCE;
                    for a in pair[0] {
                        for b in pair[1].iter().filter(|b| b.occ.field == a.occ.field) {
                            best = best.min(proximity(a.occ.pos, b.occ.pos));
                        }
                    }
                    cost += u64::from(best - 1);
                }
                Outcome::one(max + 1 - cost, max + 1, details)
            }
            Rule::AttributeRank => {
                let (r, m) = self.fid(matched);
                Outcome::one(r, m, details)
            }
            Rule::WordPosition => {
                let (r, m) = word_position(matched);
                Outcome::one(r, m, details)
            }
            Rule::Attribute => {
                let fid = self.fid(matched);
                let pos = word_position(matched);
                Outcome::two(fid, pos, details)
                    .with("attributeRankingOrderScore", || {
                        json!(fid.0 as f64 / fid.1 as f64)
                    })
                    .with("queryWordDistanceScore", || {
                        json!(pos.0 as f64 / pos.1 as f64)
                    })
            }
            Rule::Exactness => {
                // exactAttribute: a field equal to / starting with the matched words, in order,
                // without typos; then, for the others, the number of words matched exactly.
                let mut kind = 0; // 0 none, 1 starts, 2 exact
                if let Some(first) = matched.first() {
                    for occ in first
                        .iter()
                        .filter(|e| e.wm.exact && e.occ.pos == 0)
                        .map(|e| e.occ)
                    {
                        let starts = matched.iter().enumerate().all(|(i, o)| {
                            o.iter().any(|x| {
                                x.wm.exact && x.occ.field == occ.field && x.occ.pos == i as u32
                            })
                        });
                        if starts {
                            kind = kind.max(if occ.len == k as u32 { 2 } else { 1 });
                        }
                    }
                }
                match kind {
                    2 => Outcome::one(3, 3, details).with("matchType", || json!("exactMatch")),
                    1 => Outcome::one(2, 3, details).with("matchType", || json!("matchesStart")),
                    _ => {
                        let exact_words = matched
                            .iter()
                            .filter(|o| o.iter().any(|e| e.wm.exact))
                            .count() as u64;
                        Outcome::two((1, 3), (exact_words + 1, k64 + 1), details)
                            .with("matchType", || json!("noExactMatch"))
                            .with("matchingWords", || json!(exact_words))
                            .with("maxMatchingWords", || json!(k))
                    }
                }
            }
            Rule::Sort(_) => Outcome::one(1, 1, details),
        }
    }

    /// `attributeRank`: the weight (rank in `searchableAttributes`) of the best field of each
    /// matched term, summed.
    fn fid(&self, matched: &[&[Entry]]) -> (u64, u64) {
        let top = self.weights - 1;
        let max = top * matched.len() as u64;
        let cost: u64 = matched
            .iter()
            .map(|o| {
                o.iter()
                    .map(|e| u64::from(e.occ.weight))
                    .min()
                    .unwrap_or(top)
                    .min(top)
            })
            .sum();
        (max + 1 - cost, max + 1)
    }
}

/// `wordPosition`: how far each matched term is from where the query has it.
pub(super) fn word_position(matched: &[&[Entry]]) -> (u64, u64) {
    let max = 10 * matched.len() as u64;
    let cost: u64 = matched
        .iter()
        .enumerate()
        .map(|(i, o)| {
            o.iter()
                .map(|e| cost_from_distance(e.occ.pos.abs_diff(i as u32)))
                .min()
                .unwrap_or(10)
        })
        .sum();
    (max + 1 - cost, max + 1)
}

pub(super) fn rule_name(rule: &Rule) -> &'static str {
    match rule {
        Rule::Words => "words",
        Rule::Typo => "typo",
        Rule::Proximity => "proximity",
        Rule::AttributeRank => "attributeRank",
        Rule::WordPosition => "wordPosition",
        Rule::Attribute => "attribute",
        Rule::Exactness => "exactness",
        Rule::Sort(_) => "sort",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typo_distances() {
        let c = |s: &str| s.chars().collect::<Vec<_>>();
        assert_eq!(typo_distance(&c("godfater"), &c("godfather"), 1), Some(1));
        assert_eq!(typo_distance(&c("godfather"), &c("godfather"), 1), Some(0));
        assert_eq!(typo_distance(&c("abcd"), &c("abdc"), 1), Some(1));
        assert_eq!(typo_distance(&c("kubsick"), &c("kubrick"), 1), Some(1));
        assert_eq!(typo_distance(&c("abc"), &c("xyz"), 2), None);
    }

    #[test]
    fn global_score_is_lexicographic() {
        let a = [Key::Rank(2, 2), Key::Rank(1, 3)];
        let b = [Key::Rank(1, 2), Key::Rank(3, 3)];
        assert!(global_score(&a) > global_score(&b));
        assert_eq!(global_score(&[Key::Rank(1, 2)]), 0.5);
        assert_eq!(global_score(&[]), 1.0);
        assert_eq!(global_score(&[Key::Rank(4, 4), Key::Rank(7, 7)]), 1.0);
    }
}
