//! Federated multi-search: which queries' results can be merged, and in what order — the rules
//! Meilisearch applies to a federated search (observed in fixture 130, and in its documented
//! error `invalid_multi_search_query_ranking_rules`).
//!
//! * [`QueryRules`]: a query's ranking rules *canonicalized* the way Meilisearch applies them —
//!   relevancy rules dropped for a placeholder search, `words` put before the first relevancy
//!   rule of a keyword search, duplicates dropped, `sort` expanded into the query's sort — with
//!   a note for every change (the error message quotes them).
//! * [`check_compatible`]: the queries' rules, coalesced (consecutive relevancy rules are one
//!   step), must compare step by step: relevancy with relevancy, sort with sort in the same
//!   direction, geo sort with geo sort. Otherwise a 400 naming the two rules.
//! * [`score_values`] / [`compare_hits`]: the key a federated hit is merged by — per step, the
//!   relevancy score (times the query's weight), the sort value, the geo distance or the vector
//!   similarity — read from `_rankingScore` and `_rankingScoreDetails`.
//!

use std::cmp::Ordering;
use std::collections::HashMap;
use std::fmt::Write as _;

use serde_json::Value;

/// What kind of search a query is, as far as its ranking rules go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueryKind {
    /// `q` missing or empty: relevancy rules do not apply.
    Placeholder,
    /// `q` set; `matching_all` when `matchingStrategy` is `"all"` (then `words` does not apply).
    Keyword { matching_all: bool },
    /// Semantic only (see the caller for Meilisearch's decision table).
    Vector,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Relevancy,
    AscSort,
    DescSort,
    AscGeoSort,
    DescGeoSort,
}

impl Kind {
    fn label(self) -> &'static str {
        match self {
            Kind::Relevancy => "relevancy",
            Kind::AscSort => "ascending sort",
            Kind::DescSort => "descending sort",
            Kind::AscGeoSort => "ascending geo sort",
            Kind::DescGeoSort => "descending geo sort",
        }
    }
}

/// Where a rule comes from: the index's `rankingRules`, or the query's `sort` (which sits
/// where the `sort` rule is).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    Rule(usize),
    Sort { rule: usize, sort: usize },
}

impl Source {
    fn position(self) -> String {
        match self {
            Source::Rule(i) => format!("#{i} in ranking rules"),
            Source::Sort { rule, sort } => {
                format!("#{sort} in `query.sort` (as `sort` is #{rule} in ranking rules)")
            }
        }
    }
}

/// A change canonicalization made, as Meilisearch words it.
#[derive(Debug, Clone)]
enum Note {
    PrependedWords { before: usize },
    RemovedDuplicate { earlier: Source, removed: Source },
    RemovedWordsPrepended { removed: usize },
    RemovedWordsAll { removed: usize },
    RemovedPlaceholder { removed: usize },
    RemovedSort { removed: usize },
    RemovedVector { vector: usize, removed: usize },
    TruncatedVector { vector: usize, from: usize },
}

/// Whether a ranking rule (or sort entry) is a sort rule: `<field>:asc|desc` or a geo point's.
pub fn is_sort_rule(rule: &str) -> bool {
    sort_entry(rule).is_some()
}

/// One entry of a sort list: a field, or a `_geoPoint(..)`.
fn sort_entry(entry: &str) -> Option<(Option<&str>, bool)> {
    let (target, dir) = entry.rsplit_once(':')?;
    let asc = match dir {
        "asc" => true,
        "desc" => false,
        _ => return None,
    };
    let field = (!target.starts_with("_geoPoint(")).then_some(target);
    Some((field, asc))
}

fn is_relevancy(rule: &str) -> bool {
    !rule.contains(':') && rule != "sort"
}

/// A query's canonical ranking rules and the notes on how they were derived.
#[derive(Debug, Clone)]
pub struct QueryRules {
    source_rules: Vec<String>,
    source_sort: Vec<String>,
    canonical_rules: Vec<String>,
    canonical_sort: Vec<String>,
    notes: Vec<Note>,
}

impl QueryRules {
    /// The rules of a query of `kind` on an index with `ranking_rules`, sorting by `sort`.
    pub fn new(ranking_rules: &[String], sort: Option<&[String]>, kind: QueryKind) -> Self {
        let matching_all = match kind {
            QueryKind::Keyword { matching_all } => matching_all,
            QueryKind::Placeholder | QueryKind::Vector => false,
        };
        let mut r = QueryRules {
            source_rules: ranking_rules.to_vec(),
            source_sort: sort.unwrap_or(&[]).to_vec(),
            canonical_rules: Vec::new(),
            canonical_sort: Vec::new(),
            notes: Vec::new(),
        };
        // `words`: not seen, prepended, or at a position.
        let mut words: Option<Option<usize>> = None;
        let mut relevancy_seen: HashMap<&str, usize> = HashMap::new();
        let mut sort_at: Option<usize> = None;
        let mut sorted_fields: HashMap<String, Source> = HashMap::new();
        // Vector search: where the one relevancy rule kept (standing for `vector`) is.
        let mut vector_at: Option<usize> = None;
        for (i, rule) in ranking_rules.iter().enumerate() {
            let rule = rule.as_str();
            if rule == "sort" {
                if let Some(earlier) = sort_at {
                    r.notes.push(Note::RemovedDuplicate {
                        earlier: Source::Rule(earlier),
                        removed: Source::Rule(i),
                    });
                } else if let Some(sort) = sort {
                    sort_at = Some(i);
                    r.canonical_rules.push(rule.to_owned());
                    r.canonicalize_sort(sort, i, &mut sorted_fields);
                } else {
                    r.notes.push(Note::RemovedSort { removed: i });
                }
            } else if let Some((field, _)) = sort_entry(rule) {
                let field = field.unwrap_or(rule).to_owned();
                match sorted_fields.get(&field) {
                    Some(&earlier) => r.notes.push(Note::RemovedDuplicate {
                        earlier,
                        removed: Source::Rule(i),
                    }),
                    None => {
                        sorted_fields.insert(field, Source::Rule(i));
                        r.canonical_rules.push(rule.to_owned());
                    }
                }
            } else if kind == QueryKind::Placeholder {
                r.notes.push(Note::RemovedPlaceholder { removed: i });
            } else if kind == QueryKind::Vector {
                // The first relevancy rule becomes `vector`; later ones are dropped, or, once
                // a sort rule has been met, cut off with every rule after them.
                match vector_at {
                    None => {
                        vector_at = Some(i);
                        r.canonical_rules.push(rule.to_owned());
                    }
                    Some(vector) if sorted_fields.is_empty() => {
                        r.notes.push(Note::RemovedVector { vector, removed: i })
                    }
                    Some(vector) => {
                        r.notes.push(Note::TruncatedVector { vector, from: i });
                        break;
                    }
                }
            } else if rule == "words" {
                if matching_all {
                    r.notes.push(Note::RemovedWordsAll { removed: i });
                    continue;
                }
                match words {
                    Some(Some(earlier)) => {
                        r.notes.push(Note::RemovedDuplicate {
                            earlier: Source::Rule(earlier),
                            removed: Source::Rule(i),
                        });
                        continue;
                    }
                    // Meilisearch notes the removal and still keeps this `words` (the
                    // coalesced steps are the same either way).
                    Some(None) => r.notes.push(Note::RemovedWordsPrepended { removed: i }),
                    None => {}
                }
                words = Some(Some(i));
                r.canonical_rules.push(rule.to_owned());
            } else {
                if !matching_all && words.is_none() {
                    r.notes.push(Note::PrependedWords { before: i });
                    r.canonical_rules.push("words".to_owned());
                    words = Some(None);
                }
                match relevancy_seen.get(rule) {
                    Some(&earlier) => r.notes.push(Note::RemovedDuplicate {
                        earlier: Source::Rule(earlier),
                        removed: Source::Rule(i),
                    }),
                    None => {
                        relevancy_seen.insert(rule, i);
                        r.canonical_rules.push(rule.to_owned());
                    }
                }
            }
        }
        r
    }

    fn canonicalize_sort(
        &mut self,
        sort: &[String],
        rule: usize,
        sorted_fields: &mut HashMap<String, Source>,
    ) {
        let mut geo: Option<usize> = None;
        for (i, entry) in sort.iter().enumerate() {
            let here = Source::Sort { rule, sort: i };
            match sort_entry(entry) {
                Some((Some(field), _)) => match sorted_fields.get(field) {
                    Some(&earlier) => self.notes.push(Note::RemovedDuplicate {
                        earlier,
                        removed: here,
                    }),
                    None => {
                        sorted_fields.insert(field.to_owned(), here);
                        self.canonical_sort.push(entry.clone());
                    }
                },
                Some((None, _)) => match geo {
                    Some(earlier) => self.notes.push(Note::RemovedDuplicate {
                        earlier: Source::Sort {
                            rule,
                            sort: earlier,
                        },
                        removed: here,
                    }),
                    None => {
                        geo = Some(i);
                        self.canonical_sort.push(entry.clone());
                    }
                },
                // Invalid entries are the node's to reject.
                None => {}
            }
        }
    }

    /// Whether any rule applies at all (a placeholder search without sort has none).
    pub fn has_steps(&self) -> bool {
        !self.steps().is_empty()
    }

    /// Whether a sort or geo sort step is compared (hits then need their details).
    pub fn sorts(&self) -> bool {
        self.steps().iter().any(|s| s.kind != Kind::Relevancy)
    }

    /// The rule's text in the client's terms (index rules or query sort).
    fn source_name(&self, source: Source) -> String {
        let name = match source {
            Source::Rule(i) => self.source_rules.get(i),
            Source::Sort { sort, .. } => self.source_sort.get(sort),
        };
        match name {
            // Meilisearch names a geo sort of the query without its point.
            Some(n) if matches!(source, Source::Sort { .. }) => match sort_entry(n) {
                Some((None, true)) => "_geo(..):asc".into(),
                Some((None, false)) => "_geo(..):desc".into(),
                _ => n.clone(),
            },
            Some(n) => n.clone(),
            None => "unknown".into(),
        }
    }

    fn notes_text(&self) -> String {
        let mut text = String::new();
        for (n, note) in self.notes.iter().enumerate() {
            let n = n + 1;
            let _ = match note {
                Note::PrependedWords { before } => writeln!(
                    text,
                    "    {n}. Prepended rule `words` before first relevancy rule `{}` at position {}",
                    self.source_name(Source::Rule(*before)),
                    Source::Rule(*before).position()
                ),
                Note::RemovedDuplicate { earlier, removed } => writeln!(
                    text,
                    "    {n}. Removed duplicate rule `{}` at position {} as it already appears at position {}",
                    self.source_name(*earlier),
                    removed.position(),
                    earlier.position()
                ),
                Note::RemovedWordsPrepended { removed } => writeln!(
                    text,
                    "    {n}. Removed rule `words` at position {} because it was previously prepended",
                    Source::Rule(*removed).position()
                ),
                Note::RemovedWordsAll { removed } => writeln!(
                    text,
                    "    {n}. Removed rule `words` at position {} because `query.matchingWords` is set to `all`",
                    Source::Rule(*removed).position()
                ),
                Note::RemovedPlaceholder { removed } => writeln!(
                    text,
                    "    {n}. Removed relevancy rule `{}` at position {} because the query is a placeholder search (`q`: \"\")",
                    self.source_name(Source::Rule(*removed)),
                    Source::Rule(*removed).position()
                ),
                Note::RemovedVector { vector, removed } => writeln!(
                    text,
                    "    {n}. Removed relevancy rule `{}` at position {} because the query is a vector search and `vector` was already inserted at position {}",
                    self.source_name(Source::Rule(*removed)),
                    Source::Rule(*removed).position(),
                    Source::Rule(*vector).position()
                ),
                Note::TruncatedVector { vector, from } => writeln!(
                    text,
                    "    {n}. Truncated relevancy rule `{}` at position {} and later rules because the query is a vector search and `vector` was inserted at position {}",
                    self.source_name(Source::Rule(*from)),
                    Source::Rule(*from).position(),
                    Source::Rule(*vector).position()
                ),
                // Three spaces, as Meilisearch writes it.
                Note::RemovedSort { removed } => writeln!(
                    text,
                    "   {n}. Removed rule `sort` at position {} because `query.sort` is empty",
                    Source::Rule(*removed).position()
                ),
            };
        }
        text
    }

    /// The comparison steps: canonical rules with `sort` expanded into the canonical sort,
    /// consecutive relevancy rules coalesced. Positions index the canonical rules.
    fn steps(&self) -> Vec<Step> {
        let mut steps: Vec<Step> = Vec::new();
        for (i, rule) in self.canonical_rules.iter().enumerate() {
            if rule == "sort" {
                for (s, entry) in self.canonical_sort.iter().enumerate() {
                    if let Some((field, asc)) = sort_entry(entry) {
                        let kind = match (field.is_some(), asc) {
                            (true, true) => Kind::AscSort,
                            (true, false) => Kind::DescSort,
                            (false, true) => Kind::AscGeoSort,
                            (false, false) => Kind::DescGeoSort,
                        };
                        steps.push(Step {
                            kind,
                            at: StepAt::Sort { rule: i, sort: s },
                        });
                    }
                }
                continue;
            }
            let kind = match sort_entry(rule) {
                None if is_relevancy(rule) => Kind::Relevancy,
                Some((field, asc)) => {
                    let geo = field == Some("_geo");
                    match (geo, asc) {
                        (false, true) => Kind::AscSort,
                        (false, false) => Kind::DescSort,
                        (true, true) => Kind::AscGeoSort,
                        (true, false) => Kind::DescGeoSort,
                    }
                }
                None => continue,
            };
            match steps.last_mut() {
                Some(Step {
                    kind: Kind::Relevancy,
                    at: StepAt::Rules(_, end),
                }) if kind == Kind::Relevancy => *end = i,
                _ => steps.push(Step {
                    kind,
                    at: StepAt::Rules(i, i),
                }),
            }
        }
        steps
    }

    /// "`queries[0].sort[0]`, `movies.rankingRules[4]`: descending sort rule(s) on field `year`"
    fn describe(&self, step: &Step, query: usize, index_uid: &str) -> String {
        let (source, rules) = match step.at {
            StepAt::Rules(b, e) => {
                let names = self.canonical_rules.get(b..=e).unwrap_or(&[]).join(", ");
                let at = if b == e {
                    format!("`queries[{query}]`, `{index_uid}.rankingRules[{b}]`")
                } else {
                    format!("`queries[{query}]`, `{index_uid}.rankingRules[{b}..={e}]`")
                };
                let names = if names.is_empty() {
                    "default".to_owned()
                } else {
                    names
                };
                (at, names)
            }
            StepAt::Sort { rule, sort } => {
                let field = self
                    .canonical_sort
                    .get(sort)
                    .and_then(|e| sort_entry(e))
                    .and_then(|(f, _)| f)
                    .map_or_else(|| "default".to_owned(), |f| format!("on field `{f}`"));
                (
                    format!("`queries[{query}].sort[{sort}]`, `{index_uid}.rankingRules[{rule}]`"),
                    field,
                )
            }
        };
        format!("{source}: {} rule(s) {rules}", step.kind.label())
    }
}

#[derive(Debug, Clone, Copy)]
enum StepAt {
    /// Canonical rules `begin..=end`.
    Rules(usize, usize),
    Sort {
        rule: usize,
        sort: usize,
    },
}

#[derive(Debug, Clone, Copy)]
struct Step {
    kind: Kind,
    at: StepAt,
}

fn reason(previous: Kind, current: Kind) -> &'static str {
    use Kind::*;
    match (previous, current) {
        (Relevancy, AscSort | DescSort) | (AscSort | DescSort, Relevancy) => {
            "cannot compare a relevancy rule with a sort rule"
        }
        (Relevancy, AscGeoSort | DescGeoSort) | (AscGeoSort | DescGeoSort, Relevancy) => {
            "cannot compare a relevancy rule with a geosort rule"
        }
        (AscSort, DescSort) | (DescSort, AscSort) => {
            "cannot compare two sort rules in opposite directions"
        }
        (AscSort | DescSort, AscGeoSort | DescGeoSort)
        | (AscGeoSort | DescGeoSort, AscSort | DescSort) => {
            "cannot compare a sort rule with a geosort rule"
        }
        (AscGeoSort, DescGeoSort) | (DescGeoSort, AscGeoSort) => {
            "cannot compare two geosort rules in opposite directions"
        }
        _ => "internal error, comparison should be possible",
    }
}

/// One query of a federated search, for [`check_compatible`].
pub struct FederatedQuery<'a> {
    pub position: usize,
    pub index_uid: &'a str,
    pub rules: &'a QueryRules,
}

/// Checks that the queries' results can be merged, in the order given (Meilisearch goes index
/// by index, indexes by uid, then queries in input order): each query's steps against the
/// reference query's — the latest one with the most steps so far. `Err((position, message))`
/// names the query the message is about (Meilisearch prefixes it with
/// "Inside `.queries[position]`: ").
pub fn check_compatible(queries: &[FederatedQuery<'_>]) -> Result<(), (usize, String)> {
    // The reference query and its steps.
    let mut reference: Option<(&FederatedQuery<'_>, Vec<Step>)> = None;
    for q in queries {
        let steps = q.rules.steps();
        if let Some((prev, prev_steps)) = &reference {
            for (cur, old) in steps.iter().zip(prev_steps) {
                if cur.kind != old.kind {
                    return Err((q.position, incompatible(prev, old, q, cur)));
                }
            }
            if prev_steps.len() > steps.len() {
                continue;
            }
        }
        reference = Some((q, steps));
    }
    Ok(())
}

fn incompatible(
    prev: &FederatedQuery<'_>,
    prev_step: &Step,
    cur: &FederatedQuery<'_>,
    cur_step: &Step,
) -> String {
    let mut msg = format!(
        "The results of queries #{} and #{} are incompatible: \n  1. {}\n  2. {}\n  - {}\n",
        prev.position,
        cur.position,
        prev.rules
            .describe(prev_step, prev.position, prev.index_uid),
        cur.rules.describe(cur_step, cur.position, cur.index_uid),
        reason(prev_step.kind, cur_step.kind)
    );
    for q in [prev, cur] {
        if !q.rules.notes.is_empty() {
            let _ = write!(
                msg,
                "  - note: The ranking rules of query #{} were modified during canonicalization:\n{}",
                q.position,
                q.rules.notes_text()
            );
        }
    }
    msg
}

/// One step of a federated hit's key.
#[derive(Debug, Clone, PartialEq)]
pub enum ScoreValue {
    /// Coalesced relevancy rules: their score times the query's weight.
    Score(f64),
    /// A sort rule's value.
    Sort { asc: bool, value: Value },
    /// A geo sort rule's distance.
    GeoSort { asc: bool, distance: Option<f64> },
    /// Vector similarity times the query's weight.
    Vector(f64),
}

/// A rule's rank out of its maximum (`rank / max` is its score), Meilisearch's form.
#[derive(Clone, Copy)]
struct Rank {
    rank: f64,
    max: f64,
}

impl Rank {
    /// Meilisearch's merge of two consecutive rules into one: the outer rule first, the inner
    /// rule breaking its ties.
    fn merge(self, inner: Rank) -> Rank {
        Rank {
            rank: (self.rank - 1.0).max(0.0) * inner.max + inner.rank,
            max: self.max * inner.max,
        }
    }

    fn score(self) -> f64 {
        if self.max > 0.0 {
            self.rank / self.max
        } else {
            0.0
        }
    }
}

/// Ranks of a rule whose details give only a score: as if out of 2^20, so that merging it
/// with the next rule orders by this rule first and the next one second (the exact maximum is
/// not in the details).
fn rank_of_score(score: f64) -> Rank {
    const MAX: f64 = (1u32 << 20) as f64;
    Rank {
        rank: (score * MAX).round(),
        max: MAX,
    }
}

/// The ranks a relevancy rule's details stand for (exactness may be two Meilisearch rules).
fn ranks(name: &str, d: &Value) -> Vec<Rank> {
    let num = |k: &str| d.get(k).and_then(Value::as_f64);
    match name {
        "words" => match (num("matchingWords"), num("maxMatchingWords")) {
            (Some(r), Some(m)) => vec![Rank { rank: r, max: m }],
            _ => vec![rank_of_score(num("score").unwrap_or(0.0))],
        },
        "typo" => match (num("typoCount"), num("maxTypoCount")) {
            (Some(t), Some(m)) => vec![Rank {
                rank: (m + 1.0 - t).max(0.0),
                max: m + 1.0,
            }],
            _ => vec![rank_of_score(num("score").unwrap_or(0.0))],
        },
        "exactness" => {
            let attribute = match d.get("matchType").and_then(Value::as_str) {
                Some("exactMatch") => 3.0,
                Some("matchesStart") => 2.0,
                Some("noExactMatch") => 1.0,
                _ => return vec![rank_of_score(num("score").unwrap_or(0.0))],
            };
            let mut out = vec![Rank {
                rank: attribute,
                max: 3.0,
            }];
            if let (Some(r), Some(m)) = (num("matchingWords"), num("maxMatchingWords")) {
                out.push(Rank {
                    rank: r + 1.0,
                    max: m + 1.0,
                });
            }
            out
        }
        "skipped" => vec![Rank {
            rank: 0.0,
            max: 1.0,
        }],
        _ => vec![rank_of_score(num("score").unwrap_or(0.0))],
    }
}

/// The steps of a hit's federated key, from its `_rankingScoreDetails` (rules in `order`):
/// consecutive relevancy rules make one score (merged from their details), then sort values,
/// geo distances and vector similarities. Scores are multiplied by `weight`.
///
/// `ranking_score` is the hit's `_rankingScore`: Meilisearch's score over *all* relevancy
/// rules, so it stands in for the single relevancy group of details that have only one (and
/// no vector score), where it is exact and the details may not be. Without details the key is
/// that score alone; a query with no steps at all (a placeholder search without sort) has the
/// empty key — the caller knows which, [`QueryRules::has_steps`].
pub fn score_values(details: Option<&Value>, ranking_score: f64, weight: f64) -> Vec<ScoreValue> {
    let Some(rules) = details.and_then(Value::as_object) else {
        return vec![ScoreValue::Score(ranking_score * weight)];
    };
    let mut ordered: Vec<(&String, &Value)> = rules.iter().collect();
    ordered.sort_by_key(|(_, d)| d.get("order").and_then(Value::as_u64).unwrap_or(u64::MAX));
    let mut out = Vec::with_capacity(ordered.len());
    let mut group: Option<Rank> = None;
    let close = |group: &mut Option<Rank>, out: &mut Vec<ScoreValue>| {
        if let Some(g) = group.take() {
            out.push(ScoreValue::Score(g.score() * weight));
        }
    };
    for (name, d) in ordered {
        // A sort rule is one with a `value` (a hidden one, `<hidden-rule-N>`, has no direction
        // in its name); a geo sort one with a `distance`.
        let direction = sort_entry(name).map(|(_, asc)| asc);
        if d.get("distance").is_some() || (direction.is_some() && d.get("value").is_none()) {
            close(&mut group, &mut out);
            out.push(ScoreValue::GeoSort {
                asc: direction.unwrap_or(true),
                distance: d.get("distance").and_then(Value::as_f64),
            });
        } else if direction.is_some() || d.get("value").is_some() {
            close(&mut group, &mut out);
            out.push(ScoreValue::Sort {
                asc: direction.unwrap_or(false),
                value: d.get("value").cloned().unwrap_or(Value::Null),
            });
        } else if name == "vectorSort" {
            close(&mut group, &mut out);
            let similarity = d.get("similarity").and_then(Value::as_f64).unwrap_or(0.0);
            out.push(ScoreValue::Vector(similarity * weight));
        } else {
            for r in ranks(name, d) {
                group = Some(match group {
                    Some(g) => g.merge(r),
                    None => r,
                });
            }
        }
    }
    close(&mut group, &mut out);
    let mut scores = out
        .iter_mut()
        .filter(|v| !matches!(v, ScoreValue::Sort { .. } | ScoreValue::GeoSort { .. }));
    if let (Some(ScoreValue::Score(only)), None) = (scores.next(), scores.next()) {
        *only = ranking_score * weight;
    }
    out
}

/// Meilisearch's order of sort values across queries: null last, numbers before strings,
/// then by value in the direction (strings compared as they are). `Greater` = `a` first.
fn compare_sort_values(asc: bool, a: &Value, b: &Value) -> Ordering {
    let order = match (a, b) {
        (Value::Null, Value::Null) => return Ordering::Equal,
        (Value::Null, _) => return Ordering::Less,
        (_, Value::Null) => return Ordering::Greater,
        (Value::Number(_), Value::String(_)) => return Ordering::Greater,
        (Value::String(_), Value::Number(_)) => return Ordering::Less,
        (Value::Number(x), Value::Number(y)) => x
            .as_f64()
            .partial_cmp(&y.as_f64())
            .unwrap_or(Ordering::Equal),
        (Value::String(x), Value::String(y)) => x.cmp(y),
        _ => return Ordering::Equal,
    };
    if asc {
        order.reverse()
    } else {
        order
    }
}

fn cmp_f64(a: f64, b: f64) -> Ordering {
    a.partial_cmp(&b).unwrap_or(Ordering::Equal)
}

/// Compares two federated hits by their [`score_values`] as Meilisearch does (`Greater` = `a`
/// comes first); `a_score`/`b_score` are their weighted global scores, which decide when the
/// steps cannot be compared.
pub fn compare_hits(a: &[ScoreValue], a_score: f64, b: &[ScoreValue], b_score: f64) -> Ordering {
    for i in 0..=a.len().max(b.len()) {
        let (x, y) = match (a.get(i), b.get(i)) {
            (None, None) => return Ordering::Equal,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(x), Some(y)) => (x, y),
        };
        match (x, y) {
            (
                ScoreValue::Score(x) | ScoreValue::Vector(x),
                ScoreValue::Score(y) | ScoreValue::Vector(y),
            ) => {
                if (x - y).abs() > f64::EPSILON {
                    return cmp_f64(*x, *y);
                }
            }
            (
                ScoreValue::Sort { asc, value: x },
                ScoreValue::Sort {
                    asc: y_asc,
                    value: y,
                },
            ) => {
                if asc != y_asc {
                    return cmp_f64(a_score, b_score);
                }
                match compare_sort_values(*asc, x, y) {
                    Ordering::Equal => {}
                    o => return o,
                }
            }
            (
                ScoreValue::GeoSort { asc, distance: x },
                ScoreValue::GeoSort {
                    asc: y_asc,
                    distance: y,
                },
            ) => {
                if asc != y_asc {
                    continue;
                }
                match (x, y) {
                    (None, None) => {}
                    (None, Some(_)) => return Ordering::Less,
                    (Some(_), None) => return Ordering::Greater,
                    (Some(x), Some(y)) => {
                        if (x - y).abs() > f64::EPSILON {
                            return cmp_f64(*x, *y);
                        }
                    }
                }
            }
            // Steps of different kinds: the hit with more steps left first, then the score.
            _ => {
                return (a.len() - i)
                    .cmp(&(b.len() - i))
                    .then_with(|| cmp_f64(a_score, b_score))
            }
        }
    }
    Ordering::Equal
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rules(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    /// Meilisearch's default ranking rules, as recorded in fixture 024.
    fn default_rules() -> Vec<String> {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/024.json");
        let fixture: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        serde_json::from_value(fixture["response"]["body"]["rankingRules"].clone()).unwrap()
    }

    fn check(a: &QueryRules, b: &QueryRules) -> Result<(), (usize, String)> {
        check_compatible(&[
            FederatedQuery {
                position: 0,
                index_uid: "a",
                rules: a,
            },
            FederatedQuery {
                position: 1,
                index_uid: "b",
                rules: b,
            },
        ])
    }

    #[test]
    fn placeholder_sort_against_keyword_sort() {
        let sort = rules(&["year:desc"]);
        let placeholder = QueryRules::new(&default_rules(), Some(&sort), QueryKind::Placeholder);
        let keyword = QueryRules::new(
            &default_rules(),
            Some(&sort),
            QueryKind::Keyword {
                matching_all: false,
            },
        );
        let (at, msg) = check(&placeholder, &keyword).unwrap_err();
        assert_eq!(at, 1);
        assert!(msg.starts_with("The results of queries #0 and #1 are incompatible: \n  1. `queries[0].sort[0]`, `a.rankingRules[0]`: descending sort rule(s) on field `year`\n  2. `queries[1]`, `b.rankingRules[0..=3]`: relevancy rule(s) words, typo, proximity, attributeRank\n  - cannot compare a relevancy rule with a sort rule\n"), "{msg}");
        assert!(msg.contains("  - note: The ranking rules of query #0 were modified during canonicalization:\n    1. Removed relevancy rule `words` at position #0 in ranking rules because the query is a placeholder search (`q`: \"\")\n"), "{msg}");
        assert!(
            msg.contains("    6. Removed relevancy rule `exactness` at position #6"),
            "{msg}"
        );
        // Two placeholder searches sorting the same way merge.
        assert!(check(&placeholder, &placeholder).is_ok());
    }

    #[test]
    fn later_queries_compare_with_the_latest_widest_one() {
        let keyword = QueryKind::Keyword {
            matching_all: false,
        };
        let with_sort = |s: &str| QueryRules::new(&default_rules(), Some(&rules(&[s])), keyword);
        let (year, rating, asc) = (
            with_sort("year:desc"),
            with_sort("rating:desc"),
            with_sort("year:asc"),
        );
        let plain = QueryRules::new(&default_rules(), None, keyword);
        let query = |position, rules| FederatedQuery {
            position,
            index_uid: "i",
            rules,
        };
        // Same number of steps: the later query becomes the reference.
        let err =
            check_compatible(&[query(0, &year), query(1, &rating), query(2, &asc)]).unwrap_err();
        assert_eq!(err.0, 2);
        assert!(
            err.1.starts_with("The results of queries #1 and #2"),
            "{}",
            err.1
        );
        // Fewer steps: the earlier, wider query stays the reference.
        let err =
            check_compatible(&[query(0, &year), query(1, &plain), query(2, &asc)]).unwrap_err();
        assert!(
            err.1.starts_with("The results of queries #0 and #2"),
            "{}",
            err.1
        );
    }

    #[test]
    fn words_prepended_and_sort_removed_notes() {
        let r = QueryRules::new(
            &rules(&["typo", "sort", "words", "price:asc"]),
            None,
            QueryKind::Keyword {
                matching_all: false,
            },
        );
        assert_eq!(
            r.canonical_rules,
            rules(&["words", "typo", "words", "price:asc"])
        );
        assert_eq!(
            r.notes_text(),
            "    1. Prepended rule `words` before first relevancy rule `typo` at position #0 in ranking rules\n   2. Removed rule `sort` at position #1 in ranking rules because `query.sort` is empty\n    3. Removed rule `words` at position #2 in ranking rules because it was previously prepended\n"
        );
        let geo = QueryRules::new(
            &default_rules(),
            Some(&rules(&["_geoPoint(1,2):asc", "_geoPoint(3,4):desc"])),
            QueryKind::Keyword {
                matching_all: false,
            },
        );
        assert_eq!(
            geo.notes_text(),
            "    1. Removed duplicate rule `_geo(..):asc` at position #1 in `query.sort` (as `sort` is #4 in ranking rules) as it already appears at position #0 in `query.sort` (as `sort` is #4 in ranking rules)\n"
        );
        let all = QueryRules::new(
            &rules(&["words", "typo"]),
            None,
            QueryKind::Keyword { matching_all: true },
        );
        assert_eq!(all.canonical_rules, rules(&["typo"]));
        // Vector search: the first relevancy rule stands for `vector`; the others go, and once
        // a sort rule is met, the rest is cut.
        let vector = QueryRules::new(
            &default_rules(),
            Some(&rules(&["year:desc"])),
            QueryKind::Vector,
        );
        assert_eq!(vector.canonical_rules, rules(&["words", "sort"]));
        assert_eq!(
            vector.notes_text(),
            "    1. Removed relevancy rule `typo` at position #1 in ranking rules because the query is a vector search and `vector` was already inserted at position #0 in ranking rules\n    2. Removed relevancy rule `proximity` at position #2 in ranking rules because the query is a vector search and `vector` was already inserted at position #0 in ranking rules\n    3. Removed relevancy rule `attributeRank` at position #3 in ranking rules because the query is a vector search and `vector` was already inserted at position #0 in ranking rules\n    4. Truncated relevancy rule `wordPosition` at position #5 in ranking rules and later rules because the query is a vector search and `vector` was inserted at position #0 in ranking rules\n"
        );
    }

    #[test]
    fn key_steps_from_details() {
        let details = json!({
            "words": {"order": 0, "matchingWords": 1, "maxMatchingWords": 1, "score": 1.0},
            "typo": {"order": 1, "typoCount": 0, "maxTypoCount": 1, "score": 1.0},
            "year:desc": {"order": 2, "value": 2001.0},
            "typo2": {"order": 3, "score": 0.5},
            "exactness": {"order": 4, "matchType": "noExactMatch", "matchingWords": 0, "maxMatchingWords": 1, "score": 0.2},
            "_geoPoint(1, 2):asc": {"order": 5, "value": null, "distance": 12.5}
        });
        // Two relevancy groups: `_rankingScore` (0.9, over all of them) stands for neither;
        // the first is words 1/1 then typo 2/2 = 1.0, times the weight.
        let v = score_values(Some(&details), 0.9, 2.0);
        assert_eq!(v.len(), 4, "{v:?}");
        assert_eq!(v[0], ScoreValue::Score(2.0));
        assert_eq!(
            v[1],
            ScoreValue::Sort {
                asc: false,
                value: json!(2001.0)
            }
        );
        // 0.5 (out of 2^20) then noExactMatch (1 of 3) then 0 of 1 exact words (1 of 2).
        let ScoreValue::Score(s) = v[2] else {
            panic!("{v:?}")
        };
        assert!((s / 2.0 - 0.5).abs() < 1e-5 && s / 2.0 < 0.5, "{s}");
        assert_eq!(
            v[3],
            ScoreValue::GeoSort {
                asc: true,
                distance: Some(12.5)
            }
        );
        assert_eq!(score_values(None, 0.5, 3.0), vec![ScoreValue::Score(1.5)]);
        // A hidden sort rule is a sort step, not a relevancy rule.
        let hidden = json!({
            "words": {"order": 0, "matchingWords": 1, "maxMatchingWords": 1, "score": 1.0},
            "<hidden-rule-1>": {"order": 1, "value": "<hidden>"},
            "typo": {"order": 2, "typoCount": 0, "maxTypoCount": 1, "score": 1.0}
        });
        let v = score_values(Some(&hidden), 1.0, 1.0);
        assert_eq!(v.len(), 3, "{v:?}");
        assert!(
            matches!(&v[1], ScoreValue::Sort { value, .. } if value == "<hidden>"),
            "{v:?}"
        );
        // One relevancy group: `_rankingScore` is that group's exact score.
        let one = json!({
            "words": {"order": 0, "matchingWords": 1, "maxMatchingWords": 2, "score": 0.5},
            "proximity": {"order": 1, "score": 0.25},
            "year:desc": {"order": 2, "value": 2001.0}
        });
        let v = score_values(Some(&one), 0.4375, 2.0);
        assert_eq!(v[0], ScoreValue::Score(0.875));
        assert_eq!(score_values(Some(&json!({})), 1.0, 1.0), vec![]);
    }

    #[test]
    fn hits_compare_like_meilisearch_federation() {
        let sort =
            |asc: bool, value: Value| vec![ScoreValue::Score(1.0), ScoreValue::Sort { asc, value }];
        let cmp = |a: &[ScoreValue], b: &[ScoreValue]| compare_hits(a, 1.0, b, 0.5);
        // Descending: larger first; null last; numbers before strings.
        assert_eq!(
            cmp(&sort(false, json!(2001)), &sort(false, json!(1999))),
            Ordering::Greater
        );
        assert_eq!(
            cmp(&sort(false, json!(null)), &sort(false, json!(1))),
            Ordering::Less
        );
        assert_eq!(
            cmp(&sort(true, json!(1)), &sort(true, json!("a"))),
            Ordering::Greater
        );
        assert_eq!(
            cmp(&sort(true, json!("B")), &sort(true, json!("a"))),
            Ordering::Greater
        );
        assert_eq!(
            cmp(&sort(true, json!(1)), &sort(true, json!(2))),
            Ordering::Greater
        );
        // Opposite directions: the global scores decide.
        assert_eq!(
            cmp(&sort(true, json!(1)), &sort(false, json!(2))),
            Ordering::Greater
        );
        // Scores within f64::EPSILON tie and the next step decides.
        let a = vec![ScoreValue::Score(0.5), ScoreValue::Score(0.7)];
        let b = vec![
            ScoreValue::Score(0.5 + f64::EPSILON / 2.0),
            ScoreValue::Score(0.6),
        ];
        assert_eq!(cmp(&a, &b), Ordering::Greater);
        // Steps of different kinds: more steps left first.
        let c = vec![ScoreValue::Score(0.1), ScoreValue::Score(0.1)];
        let d = vec![
            ScoreValue::Score(0.1),
            sort(true, json!(1))[1].clone(),
            ScoreValue::Score(0.1),
        ];
        assert_eq!(cmp(&c, &d), Ordering::Less);
    }
}
