//! Pure merge of per-node Meilisearch search responses into one response (no I/O, no clocks, no
//! threads). The target is the page one Meilisearch holding all the documents would answer, in
//! the same order (ties aside).
//!
//! # API
//!
//! * [`merge_search`]: node bodies (bytes) + the client's [`MergeRequest`] → the merged response
//!   body appended to `out`, plus [`MergeStats`]. Each node must have been asked `offset: 0`,
//!   `limit: offset + limit` (page mode: `limit: page * hitsPerPage`) and `showRankingScore:
//!   true`; when the client sends `sort` (or the index has custom `field:asc|desc` ranking
//!   rules), also `showRankingScoreDetails: true`.
//! * [`relay_search`]: the answer of a node that answered for every shard, asked the client's
//!   own parameters: relayed as it is, less the `_miroir_*` members, with Miroir's
//!   `requestUid` (no merge).
//! * [`merge_facet_search`]: facet-search responses → one (`facetHits` counts summed).
//! * [`merge_facet_stats`]: the `facetStats` of a federated search with `mergeFacets`.
//! * [`strip_reserved_fields`]: one document (single-document GET) without its `_miroir_*`
//!   fields; [`strip_reserved_fields_in_results`]: the same for every document of a
//!   `{"results": [...], ...}` body (document browsing/fetch).
//!
//! Malformed node JSON (or a body without `hits`) is a [`MergeError`], never a panic; on error
//! `out` is left as it was. See "Parsing" for which bytes are validated.
//!
//! # Order
//!
//! The node lists are already sorted; they are k-way merged with a binary heap over the list
//! heads. The key of a hit is chosen once per merge ([`Order`]):
//!
//! * [`Order::Details`] — every node's first hit has `_rankingScoreDetails`: the rules are walked
//!   in their `order`; rank rules (`words`, `typo`, `proximity`, `attributeRank`,
//!   `wordPosition`, `exactness`, legacy `attribute`, ...) compare by `score`, higher first; sort
//!   rules (`"<field>:asc|desc"`, from `sort` or custom ranking rules) by `value` in that
//!   direction with numbers before strings (compared lowercased) before null/missing, in **both**
//!   directions (fixtures 104/105; geo rules by `distance`). This is what reproduces the
//!   single-index order in 98–100 % of queries (README "Observed behaviour" B2), against 52–76 %
//!   for "sort values then `_rankingScore`".
//! * [`Order::SortFields`] — the client sent `sort` but hits carry no details: the sort
//!   fields' values read from the documents (same type order), then `_rankingScore`. A
//!   fallback only (worse, see B2; fields hidden by `attributesToRetrieve` count as missing).
//! * [`Order::Score`] — otherwise `_rankingScore` descending.
//!
//! Every key ends with `_rankingScore` desc, then node index, then position in the node list,
//! so the merge is stable and deterministic.
//!
//! # Output
//!
//! Keys in Meilisearch's order: `hits`, `query`, (`queryVector`), `processingTimeMs`, then
//! `limit, offset, estimatedTotalHits` or, in page mode, `hitsPerPage, page, totalPages,
//! totalHits`, then `facetDistribution` (counts summed, values present on one node only
//! included), `facetStats` (min of mins, max of maxes), `semanticHitCount` (summed), other
//! members from the first node that has them, `requestUid`. Totals are summed (at most
//! [`MergeRequest::max_total_hits`], which also cuts the window as Meilisearch does),
//! `processingTimeMs` is the max, `query`/`limit`/`offset` are the client's.
//!
//! Hits are written from the node bytes: each hit is copied with byte ranges cut out — every
//! `_miroir_*` member (also inside `_formatted` and `_matchesPosition`) and `_rankingScore` /
//! `_rankingScoreDetails` when the client did not ask for them. No DOM is rebuilt.
//!
//! # Parsing
//!
//! Each node body is read once, lazily. The top-level members before and after `hits` are read
//! by a small validating walker (`walk.rs`: the full JSON grammar — strings, escapes, control
//! characters, UTF-8, numbers, nesting ≤ 128 — reported as byte ranges, never a DOM). Hits are
//! pulled one at a time as the heap needs them, and read by a structural scanner (`scan.rs`,
//! simdjson's first stage: 64-byte quote/backslash/bracket masks, AVX2 + PCLMULQDQ when the CPU
//! has them, SSE2 otherwise) that follows brackets only and stops at member keys starting with
//! `_` (or an escape) — the only keys that can name a reserved field, the score, the details or
//! `_formatted`. Those members are read and validated by the walker, and must be followed by `,`
//! or `}`; the details key is read with the numbers it uses validated (sort-value strings only
//! checked for UTF-8) — see `details.rs` for its three readers. Hits past the page are not read
//! at all: the end of `hits` is found from the back of the body (`],"query":`, which valid JSON
//! can only have as structure; the members after it must then read as the rest of the top-level
//! object), else by the same bracket scan.
//!
//! **What is not validated:** the contents of hit members the merge copies through unchanged
//! (document fields) and the hits past the page. In the hits it emits, strings and brackets must
//! still pair up, and a truncated body is an error, but a node that sent, say, `"year":tru`
//! inside a document gets it relayed as sent — the trust a reverse proxy gives its upstream.
//! Instruction counts before and after each step are in perf/RESULTS.md. The output is valid
//! JSON whenever the node bodies are (property test `mutated_bodies_never_panic`). The facet
//! objects are decoded with serde_json.

mod details;
mod errors;
mod facets;
pub mod federation;
mod key;
mod node;
mod relay;
mod scan;
mod walk;

use std::fmt;

use details::{DetailsReader, LastRead};
pub use errors::hide_reserved_attributes;
pub use facets::facet_values_by_count;
use key::{cmp_comps, cmp_num, field_key, Comp, Num, SortField};
use node::{Node, OpenError, Tail};
pub use relay::relay_search;
use walk::{
    key_is, skip_value, strip_reserved_members, write_with_cuts, ws, ws_back, Bad, Members,
    RESERVED_PREFIX,
};

/// Page-mode pagination as the client sent it (`page`, `hitsPerPage`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    pub page: usize,
    pub hits_per_page: usize,
}

/// What the client asked, as far as the merge is concerned.
#[derive(Debug, Clone, Default)]
pub struct MergeRequest<'a> {
    /// Client's `offset` (offset mode).
    pub offset: usize,
    /// Client's `limit` (offset mode).
    pub limit: usize,
    /// Page mode: when set, `offset`/`limit` are ignored and the answer has
    /// `hitsPerPage, page, totalPages, totalHits`.
    pub page: Option<Page>,
    /// Client's `sort` (e.g. `["year:desc", "title:asc"]`); only used when hits carry no
    /// `_rankingScoreDetails` ([`Order::SortFields`]).
    pub sort: Option<&'a [String]>,
    pub show_ranking_score: bool,
    pub show_ranking_score_details: bool,
    /// Raw JSON of the client's `q` to echo (e.g. `"\"batman\""`); `None` echoes the first
    /// node's `query`.
    pub query: Option<&'a str>,
    /// `requestUid` to answer with (the UUID text); `None` takes the first node's.
    pub request_uid: Option<&'a str>,
    /// Truncate each merged facet to this many values (the index's `maxValuesPerFacet`).
    pub max_values_per_facet: Option<usize>,
    /// The distinct attribute of the search (the query's `distinct`, else the index's
    /// `distinctAttribute`). Each node answered one hit per value; across nodes the
    /// best-ranked hit is kept and the hits sharing a value with a kept one are left out, as
    /// Meilisearch's distinct does (numbers by value, strings lowercased, every value of an
    /// array). Hits that do not show the field are kept.
    pub distinct: Option<&'a str>,
    /// A top-level field the caller added to `attributesToRetrieve` (to read `distinct`):
    /// removed from every hit, and from its `_formatted` with `hidden_field_formatted` (when
    /// the client does not highlight or crop it, which would show it there).
    pub hidden_field: Option<&'a str>,
    pub hidden_field_formatted: bool,
    /// The index's `pagination.maxTotalHits`: as in Meilisearch, no hit past it is returned
    /// (the window is cut there, the offset answered is at most it) and the totals are at
    /// most it.
    pub max_total_hits: Option<usize>,
    /// The index's `faceting.sortFacetValuesBy` (`{"*": "alpha", "genres": "count"}`): which
    /// facets list their values by decreasing count ([`facet_values_by_count`]). `None`: the
    /// order the nodes' lists show (count only when every list is by count and one is not
    /// alphabetical).
    pub sort_facet_values_by: Option<&'a serde_json::Value>,
}

impl MergeRequest<'_> {
    /// Offset-mode request with everything else off.
    pub fn new(offset: usize, limit: usize) -> Self {
        MergeRequest {
            offset,
            limit,
            ..MergeRequest::default()
        }
    }

    /// `(hits to skip, hits to return)` in the merged list, within `max_total_hits`.
    pub fn window(&self) -> (usize, usize) {
        let (skip, take) = self.asked_window();
        match self.max_total_hits {
            Some(max) => {
                let skip = skip.min(max);
                (skip, take.min(max - skip))
            }
            None => (skip, take),
        }
    }

    /// The window the client asked for, `max_total_hits` aside.
    fn asked_window(&self) -> (usize, usize) {
        match self.page {
            Some(Page {
                page,
                hits_per_page,
            }) => {
                if page == 0 {
                    (0, 0)
                } else {
                    ((page - 1).saturating_mul(hits_per_page), hits_per_page)
                }
            }
            None => (self.offset, self.limit),
        }
    }

    /// The `limit` each node must be asked (with `offset: 0`).
    pub fn node_limit(&self) -> usize {
        let (skip, take) = self.window();
        skip.saturating_add(take)
    }
}

/// Which key ordered the merge (see the crate docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    Score,
    Details,
    SortFields,
}

/// Figures about one merge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MergeStats {
    /// Hits written.
    pub hits: usize,
    /// Summed `estimatedTotalHits` (or `totalHits`) of the nodes.
    pub total_hits: u64,
    /// A node's list ran out while hits were still to be written, and it held all the hits
    /// the node was asked for (its `limit`): the node may hold more that rank before what was
    /// written after. Only distinct can do this (one kept hit may cover several values): ask
    /// the nodes for more and merge again.
    pub node_ran_out: bool,
    pub order: Order,
}

/// Why a merge or strip failed. Node indices refer to the `node_bodies` slice.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum MergeError {
    /// The node body (or the document, `node: None`) is not valid JSON of the expected shape.
    Malformed { node: Option<usize>, reason: String },
    /// A node answered without `hits` (probably an error object).
    MissingHits { node: usize },
    /// The request's own raw JSON (`query`) is invalid.
    InvalidRequest(&'static str),
}

impl fmt::Display for MergeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MergeError::Malformed {
                node: Some(n),
                reason,
            } => write!(f, "malformed response from node {n}: {reason}"),
            MergeError::Malformed { node: None, reason } => {
                write!(f, "malformed document: {reason}")
            }
            MergeError::MissingHits { node } => write!(f, "node {node} answered without hits"),
            MergeError::InvalidRequest(what) => write!(f, "invalid merge request: {what}"),
        }
    }
}

impl std::error::Error for MergeError {}

fn malformed(node: usize, reason: impl Into<String>) -> MergeError {
    MergeError::Malformed {
        node: Some(node),
        reason: reason.into(),
    }
}

/// Per-node state of the k-way merge: the current head hit (a byte range of the node body),
/// its key and the byte ranges to cut when writing it.
struct Head<'a> {
    node: usize,
    b: &'a [u8],
    start: usize,
    end: usize,
    pos: usize,
    score: Num<'a>,
    has_details: bool,
    comps: Vec<Comp<'a>>,
    /// The details read of the previous hit of this node, whose key `comps` still holds until
    /// the next hit's details are read.
    last_details: LastRead<'a>,
    cuts: Vec<(usize, usize)>,
    /// Scratch for the cuts inside `_formatted` / `_matchesPosition`.
    nested: Vec<(usize, usize)>,
}

struct Ctx<'r> {
    show_score: bool,
    show_details: bool,
    hidden_field: Option<&'r str>,
    /// `hidden_field` when it also goes from `_formatted`.
    hidden_field_formatted: Option<&'r str>,
    /// `None` while the first heads are read (details keys are then always built).
    order: Option<Order>,
    fields: &'r [SortField],
}

impl<'a> Head<'a> {
    /// The head of node list `node` (body `b`), its hit at `start` not read yet.
    fn new(node: usize, b: &'a [u8], start: usize) -> Self {
        Head {
            node,
            b,
            start,
            end: start,
            pos: 0,
            score: Num::F(f64::NEG_INFINITY),
            has_details: false,
            comps: Vec::new(),
            last_details: LastRead::default(),
            cuts: Vec::new(),
            nested: Vec::new(),
        }
    }

    /// Reads the hit object at `self.start` (nested `depth` deep): its end, score, details key
    /// (when needed) and the cuts. The structural scanner steps over everything but the members
    /// whose key starts with `_` (or an escape); those are read — and validated — here.
    fn analyze(&mut self, ctx: &Ctx<'_>, depth: usize, details: &mut DetailsReader) -> walk::R<()> {
        let b = self.b;
        let Head {
            cuts,
            nested,
            comps,
            last_details,
            score,
            has_details,
            ..
        } = self;
        cuts.clear();
        // `comps` keeps the previous hit's key until the details are read.
        let mut key_read = false;
        *score = Num::F(f64::NEG_INFINITY);
        *has_details = false;
        let want_details = matches!(ctx.order, None | Some(Order::Details));
        let vd = depth + 1;
        if vd > walk::MAX_DEPTH {
            return Err(Bad(self.start));
        }
        // End of the last cut, to know whether a removed member's leading comma is still free.
        let mut last_cut_end = 0usize;
        let end = scan::scan_object(b, self.start, |key_start| {
            let (member, vs) = match HitMember::compact_at(b, key_start) {
                Some(known) => known,
                None => HitMember::read_key(b, key_start)?,
            };
            let (value_end, remove) = match member {
                HitMember::Score => {
                    // Usually `0.ddd…`: read and validated in one pass.
                    let fast = key::fixed_at(b, vs).filter(|&(_, end)| {
                        matches!(b.get(end), Some(b',' | b'}' | b' ' | b'\n' | b'\r' | b'\t'))
                    });
                    let ve = match fast {
                        Some((v, end)) => {
                            *score = Num::Fixed(v);
                            end
                        }
                        None => {
                            let ve = skip_value(b, vs, vd)?;
                            let raw = b.get(vs..ve).ok_or(Bad(vs))?;
                            if matches!(raw.first(), Some(b'-' | b'0'..=b'9')) {
                                *score = Num::from_raw(raw);
                            }
                            ve
                        }
                    };
                    (ve, !ctx.show_score)
                }
                HitMember::Details => {
                    let ve = if b.get(vs) == Some(&b'{') {
                        *has_details = true;
                        if want_details {
                            key_read = true;
                            details.read(b, vs, vd, comps, last_details)?
                        } else {
                            skip_value(b, vs, vd)?
                        }
                    } else {
                        skip_value(b, vs, vd)?
                    };
                    (ve, !ctx.show_details)
                }
                HitMember::Formatted { matches_position } if b.get(vs) == Some(&b'{') => {
                    nested.clear();
                    // `_matchesPosition` covers every displayed field, whatever is retrieved.
                    let also = ctx.hidden_field_formatted.filter(|_| !matches_position);
                    let ve = strip_reserved_members(b, vs, vd, also, nested)?;
                    cuts.extend_from_slice(nested);
                    if let Some(&(_, e)) = nested.last() {
                        last_cut_end = e;
                    }
                    (ve, false)
                }
                HitMember::Reserved => {
                    let ve = match plain_reserved_value(b, vs) {
                        Some(end) => end,
                        None => skip_value(b, vs, vd)?,
                    };
                    (ve, true)
                }
                HitMember::Formatted { .. } | HitMember::Other => (skip_value(b, vs, vd)?, false),
            };
            // A member the merge reads must be followed by the next member or the hit's end.
            if !matches!(b.get(ws(b, value_end)), Some(b',' | b'}')) {
                return Err(Bad(value_end));
            }
            if remove {
                let cut = member_cut(b, key_start, value_end, last_cut_end);
                // Removed members in a row (`_miroir_shard`, `_rankingScore`, details) make one
                // cut.
                match cuts.last_mut() {
                    Some(prev) if prev.1 == cut.0 => prev.1 = cut.1,
                    _ => cuts.push(cut),
                }
                last_cut_end = cut.1;
            }
            Ok(value_end)
        })?;
        self.end = end;
        if !key_read {
            self.comps.clear();
            self.last_details.forget();
        }
        if let Some(field) = ctx.hidden_field {
            cut_member_too(b, self.start, depth, field, cuts)?;
        }
        Ok(())
    }

    fn finish_key(&mut self, ctx: &Ctx<'_>) -> walk::R<()> {
        match ctx.order {
            Some(Order::Details) | None => Ok(()),
            Some(Order::SortFields) => field_key(self.b, self.start, ctx.fields, &mut self.comps),
            Some(Order::Score) => {
                self.comps.clear();
                Ok(())
            }
        }
    }
}

/// What a top-level member of a hit is to the merge.
#[derive(Clone, Copy)]
enum HitMember {
    /// `_rankingScore`.
    Score,
    /// `_rankingScoreDetails`.
    Details,
    /// `_formatted` (or `_matchesPosition`), whose reserved members are cut.
    Formatted { matches_position: bool },
    /// A `_miroir_*` member: always cut.
    Reserved,
    /// Anything else: copied as it is.
    Other,
}

impl HitMember {
    /// The members every hit has, as Meilisearch writes them (`"name":`, no escapes or
    /// whitespace), recognised with one 16-byte comparison: the member and its value's start.
    #[inline(always)]
    fn compact_at(b: &[u8], key_start: usize) -> Option<(HitMember, usize)> {
        let head = b.get(key_start..key_start + 16)?;
        let (member, colon_end) = if head == b"\"_rankingScore\":" {
            (HitMember::Score, key_start + 16)
        } else if head == b"\"_miroir_shard\":" {
            (HitMember::Reserved, key_start + 16)
        } else if head == b"\"_rankingScoreDe"
            && b.get(key_start + 16..key_start + 23) == Some(b"tails\":")
        {
            (HitMember::Details, key_start + 23)
        } else {
            return None;
        };
        Some((member, ws(b, colon_end)))
    }

    /// Any member key at `b[key_start]` (validated, escapes decoded): the member and its
    /// value's start.
    fn read_key(b: &[u8], key_start: usize) -> walk::R<(HitMember, usize)> {
        let (key_end, escape_free) = walk::skip_string_escape_free(b, key_start)?;
        let colon = ws(b, key_end);
        if b.get(colon) != Some(&b':') {
            return Err(Bad(colon));
        }
        let key = b.get(key_start + 1..key_end - 1).ok_or(Bad(key_start))?;
        // Escaped keys (rare) are decoded once; plain ones compared as they are.
        let decoded;
        let name: &[u8] = if !escape_free && key.contains(&b'\\') {
            decoded = walk::decode_str(key).ok_or(Bad(key_start))?;
            decoded.as_bytes()
        } else {
            key
        };
        let member = match name {
            b"_rankingScore" => HitMember::Score,
            b"_rankingScoreDetails" => HitMember::Details,
            b"_formatted" => HitMember::Formatted {
                matches_position: false,
            },
            b"_matchesPosition" => HitMember::Formatted {
                matches_position: true,
            },
            _ if name.starts_with(RESERVED_PREFIX.as_bytes()) => HitMember::Reserved,
            _ => HitMember::Other,
        };
        Ok((member, ws(b, colon + 1)))
    }
}

/// The byte range that removes the member `b[key_start..value_end]` from its object and leaves
/// valid JSON: with the comma before it when there is one that no earlier cut (ending at
/// `last_cut_end`) has taken, else with the comma after it, else alone (the only member).
fn member_cut(b: &[u8], key_start: usize, value_end: usize, last_cut_end: usize) -> (usize, usize) {
    let before = ws_back(b, key_start);
    if b.get(before.wrapping_sub(1)) == Some(&b',') && last_cut_end != key_start {
        return (ws_back(b, before - 1), value_end);
    }
    let after = ws(b, value_end);
    if b.get(after) == Some(&b',') {
        (key_start, ws(b, after + 1))
    } else {
        (key_start, value_end)
    }
}

/// Rebuilds the cuts of the hit at `b[start..]` so that the top-level member `name` goes too:
/// the members `cuts` removed stay removed, the cuts inside kept members stay, and every
/// removed member takes one comma (the scan's cuts chose theirs without knowing of `name`).
fn cut_member_too(
    b: &[u8],
    start: usize,
    depth: usize,
    name: &str,
    cuts: &mut Vec<(usize, usize)>,
) -> walk::R<()> {
    let before = std::mem::take(cuts);
    let mut members = Members::new(b, start, depth)?;
    let mut builder = walk::CutBuilder::default();
    while let Some(m) = members.next_member()? {
        let was_cut = before
            .iter()
            .any(|&(s, e)| s <= m.key_start && m.value_end <= e);
        let remove = was_cut || key_is(m.key, name);
        builder.member(m.key_start, m.value_end, remove, cuts);
        if !remove {
            cuts.extend(
                before
                    .iter()
                    .filter(|&&(s, e)| m.key_start < s && e <= m.value_end),
            );
        }
    }
    builder.finish(cuts);
    Ok(())
}

/// The values a hit's `field` holds for distinct, as Meilisearch stores facet values
/// (dotted paths followed through objects): numbers by value; strings trimmed and lowercased
/// (Meilisearch also applies compatibility decomposition, which this does not), an empty one
/// being no value; booleans as the strings `true`/`false`; each scalar of an array. None when
/// the hit does not show the field (or it is `null`).
fn distinct_values(b: &[u8], start: usize, depth: usize, field: &str) -> walk::R<Vec<String>> {
    let mut values = Vec::new();
    if let Some((vs, ve)) = key::lookup(b, start, field, depth)? {
        let mut push = |s: usize, e: usize| -> walk::R<()> {
            let raw = b.get(s..e).ok_or(Bad(s))?;
            match raw.first() {
                Some(b'"') => {
                    let inner = raw.get(1..raw.len() - 1).ok_or(Bad(s))?;
                    let text = walk::decode_str(inner).ok_or(Bad(s))?;
                    let text = text.trim();
                    if !text.is_empty() {
                        values.push(format!("s{}", text.to_lowercase()));
                    }
                }
                Some(b'-' | b'0'..=b'9') => {
                    let n = walk::parse_f64(raw).ok_or(Bad(s))?;
                    values.push(format!("n{}", n + 0.0));
                }
                Some(b't' | b'f') => values.push(format!("s{}", raw == b"true")),
                _ => {}
            }
            Ok(())
        };
        if b.get(vs) == Some(&b'[') {
            let mut els = walk::Elements::new(b, vs, depth + 1)?;
            while let Some((es, ee)) = els.next_element()? {
                push(es, ee)?;
            }
        } else {
            push(vs, ve)?;
        }
    }
    Ok(values)
}

/// `Less` = `a` comes first.
#[inline]
fn cmp_heads(a: &Head<'_>, b: &Head<'_>) -> std::cmp::Ordering {
    cmp_comps(&a.comps, &b.comps)
        .then_with(|| cmp_num(&b.score, &a.score))
        .then_with(|| a.node.cmp(&b.node))
        .then_with(|| a.pos.cmp(&b.pos))
}

/// `heads[x]` comes before `heads[y]`.
fn head_less(heads: &[Head<'_>], x: usize, y: usize) -> bool {
    match (heads.get(x), heads.get(y)) {
        (Some(a), Some(b)) => cmp_heads(a, b) == std::cmp::Ordering::Less,
        _ => false,
    }
}

/// Restores the heap after its root's head changed. `best_child` is the position of the root's
/// better child when it is known: the children stay as they are while the root keeps winning,
/// so a node list that wins several times in a row costs one comparison per hit, not two.
fn sift_root(heap: &mut [usize], heads: &[Head<'_>], best_child: &mut Option<usize>) {
    let child = |c: usize| heap.get(c).copied();
    let best = match *best_child {
        Some(c) => c,
        None => match (child(1), child(2)) {
            (Some(l), Some(r)) if head_less(heads, r, l) => 2,
            (Some(_), _) => 1,
            (None, _) => return,
        },
    };
    match (child(best), heap.first().copied()) {
        (Some(c), Some(root)) if head_less(heads, c, root) => {
            heap.swap(0, best);
            sift_down(heap, heads, best);
            *best_child = None;
        }
        _ => *best_child = Some(best),
    }
}

/// Binary min-heap of head indices.
fn sift_down(heap: &mut [usize], heads: &[Head<'_>], mut i: usize) {
    let less = |x: usize, y: usize| head_less(heads, x, y);
    loop {
        let l = 2 * i + 1;
        let r = l + 1;
        let mut best = i;
        if let (Some(&hl), Some(&hb)) = (heap.get(l), heap.get(best)) {
            if less(hl, hb) {
                best = l;
            }
        }
        if let (Some(&hr), Some(&hb)) = (heap.get(r), heap.get(best)) {
            if less(hr, hb) {
                best = r;
            }
        }
        if best == i {
            return;
        }
        heap.swap(i, best);
        i = best;
    }
}

/// The end of a reserved member's value starting at `vs` when it has the form Miroir writes and
/// is valid as it is: `_miroir_shard`'s short string of printable ASCII without escapes. Any
/// other value is left to the walker.
fn plain_reserved_value(b: &[u8], vs: usize) -> Option<usize> {
    let body = b.get(vs..)?.strip_prefix(b"\"")?;
    let len = body.iter().take(16).position(|&c| c == b'"')?;
    let plain = body[..len]
        .iter()
        .all(|&c| (0x20..0x7f).contains(&c) && c != b'\\');
    plain.then_some(vs + len + 2)
}

/// Merges node search responses into the client's response (appended to `out`).
/// See the crate docs for the order and the output shape.
pub fn merge_search(
    req: &MergeRequest<'_>,
    node_bodies: &[&[u8]],
    out: &mut Vec<u8>,
) -> Result<MergeStats, MergeError> {
    let start_len = out.len();
    let r = merge_inner(req, node_bodies, out);
    if r.is_err() {
        out.truncate(start_len);
    }
    r
}

fn bad_json(node: usize, Bad(at): Bad) -> MergeError {
    malformed(node, format!("invalid JSON at byte {at}"))
}

fn merge_inner(
    req: &MergeRequest<'_>,
    node_bodies: &[&[u8]],
    out: &mut Vec<u8>,
) -> Result<MergeStats, MergeError> {
    if let Some(q) = req.query {
        if walk::validate(q.as_bytes()).is_err() {
            return Err(MergeError::InvalidRequest("query is not valid JSON"));
        }
    }
    let mut nodes = Vec::with_capacity(node_bodies.len());
    for (i, body) in node_bodies.iter().enumerate() {
        match Node::open(body) {
            Ok(n) => nodes.push(n),
            Err(OpenError::Bad(e)) => return Err(bad_json(i, e)),
            Err(OpenError::NoHits) => return Err(MergeError::MissingHits { node: i }),
        }
    }

    let fields: Vec<SortField> = req
        .sort
        .unwrap_or(&[])
        .iter()
        .filter_map(|r| SortField::parse(r))
        .collect();
    let mut ctx = Ctx {
        show_score: req.show_ranking_score,
        show_details: req.show_ranking_score_details,
        hidden_field: req.hidden_field,
        hidden_field_formatted: req.hidden_field.filter(|_| req.hidden_field_formatted),
        order: None,
        fields: &fields,
    };
    let mut details = DetailsReader::default();

    // The first hit of every node: its layout, and its details key in case they all have one.
    let mut heads: Vec<Head<'_>> = Vec::with_capacity(nodes.len());
    for (i, node) in nodes.iter_mut().enumerate() {
        if let Some(start) = node.next_hit_start().map_err(|e| bad_json(i, e))? {
            let mut h = Head::new(i, node.b, start);
            // Room for the usual 7–10 ranking rules, so keys do not regrow per hit.
            h.comps.reserve(16);
            h.analyze(&ctx, node.hit_depth(), &mut details)
                .map_err(|e| bad_json(i, e))?;
            node.hit_done(h.end);
            heads.push(h);
        }
    }
    let order = if !heads.is_empty() && heads.iter().all(|h| h.has_details) {
        Order::Details
    } else if !fields.is_empty() {
        Order::SortFields
    } else {
        Order::Score
    };
    ctx.order = Some(order);
    for h in &mut heads {
        h.finish_key(&ctx).map_err(|e| bad_json(h.node, e))?;
    }
    let mut heap: Vec<usize> = (0..heads.len()).collect();
    for i in (0..heap.len() / 2).rev() {
        sift_down(&mut heap, &heads, i);
    }

    let (skip, take) = req.window();
    let total = skip.saturating_add(take);
    out.extend_from_slice(b"{\"hits\":[");
    let mut emitted = 0usize;
    // Distinct: the values of the hits kept so far.
    let mut seen: std::collections::HashSet<String> = std::collections::HashSet::new();
    let mut duplicates = 0u64;
    // Nodes whose list ended before the window was written: (node, hits it gave).
    let mut ended_early: Vec<(usize, u64)> = Vec::new();
    let mut n = 0usize;
    let mut best_child = None;
    while n < total {
        let Some(&top) = heap.first() else { break };
        let Some(h) = heads.get_mut(top) else { break };
        let Some(node) = nodes.get_mut(h.node) else {
            break;
        };
        let duplicate = match req.distinct {
            Some(field) => {
                let values = distinct_values(h.b, h.start, node.hit_depth(), field)
                    .map_err(|e| bad_json(h.node, e))?;
                let duplicate = values.iter().any(|v| seen.contains(v));
                if duplicate {
                    duplicates += 1;
                } else {
                    seen.extend(values);
                }
                duplicate
            }
            None => false,
        };
        if !duplicate {
            if n >= skip {
                if emitted > 0 {
                    out.push(b',');
                }
                write_with_cuts(h.b, h.start, h.end, &h.cuts, out)
                    .map_err(|e| bad_json(h.node, e))?;
                emitted += 1;
            }
            n += 1;
        }
        match node.next_hit_start().map_err(|e| bad_json(h.node, e))? {
            Some(start) => {
                h.start = start;
                h.pos += 1;
                h.analyze(&ctx, node.hit_depth(), &mut details)
                    .map_err(|e| bad_json(h.node, e))?;
                node.hit_done(h.end);
                h.finish_key(&ctx).map_err(|e| bad_json(h.node, e))?;
            }
            None => {
                if n < total {
                    ended_early.push((h.node, h.pos as u64 + 1));
                }
                if let Some(last) = heap.pop() {
                    if let Some(root) = heap.first_mut() {
                        *root = last;
                    }
                }
                best_child = None;
            }
        }
        sift_root(&mut heap, &heads, &mut best_child);
    }
    out.push(b']');

    // Validate what the merge did not need and read the members after `hits`.
    for (i, node) in nodes.iter_mut().enumerate() {
        node.finish().map_err(|e| bad_json(i, e))?;
    }
    let tails: Vec<&Tail<'_>> = nodes.iter().map(|n| &n.tail).collect();
    let total = total_hits(req, &tails, duplicates);
    write_tail(req, &tails, total, out)?;
    let node_ran_out = ended_early
        .iter()
        .any(|&(node, gave)| nodes.get(node).is_some_and(|n| n.tail.limit == Some(gave)));
    Ok(MergeStats {
        hits: emitted,
        total_hits: total,
        node_ran_out,
        order,
    })
}

/// The nodes' totals summed, less the `duplicates` distinct left out across nodes (each
/// node's estimate already leaves out the duplicates of the hits it answered, Meilisearch's
/// estimate), at most `max_total_hits`.
fn total_hits(req: &MergeRequest<'_>, tails: &[&Tail<'_>], duplicates: u64) -> u64 {
    let total = tails
        .iter()
        .map(|t| t.estimated_total_hits.or(t.total_hits).unwrap_or(0))
        .fold(0u64, u64::saturating_add)
        .saturating_sub(duplicates);
    req.max_total_hits.map_or(total, |max| {
        total.min(u64::try_from(max).unwrap_or(u64::MAX))
    })
}

/// Everything after `hits`.
fn write_tail<'a>(
    req: &MergeRequest<'_>,
    scans: &[&Tail<'a>],
    total: u64,
    out: &mut Vec<u8>,
) -> Result<(), MergeError> {
    use facets::{write_str, write_u64};

    out.extend_from_slice(b",\"query\":");
    match (
        req.query,
        scans
            .iter()
            .enumerate()
            .find_map(|(i, s)| Some((i, s.query?))),
    ) {
        (Some(q), _) => out.extend_from_slice(q.trim().as_bytes()),
        (None, Some((_, q))) => out.extend_from_slice(q),
        (None, None) => out.extend_from_slice(b"\"\""),
    }
    if let Some(v) = scans.iter().find_map(|s| s.query_vector) {
        out.extend_from_slice(b",\"queryVector\":");
        out.extend_from_slice(v);
    }
    out.extend_from_slice(b",\"processingTimeMs\":");
    write_u64(
        out,
        scans
            .iter()
            .filter_map(|s| s.processing_time_ms)
            .max()
            .unwrap_or(0),
    );
    match req.page {
        Some(Page {
            page,
            hits_per_page,
        }) => {
            let hpp = hits_per_page as u64;
            let pages = total
                .checked_add(hpp.saturating_sub(1))
                .and_then(|t| t.checked_div(hpp))
                .unwrap_or(0);
            out.extend_from_slice(b",\"hitsPerPage\":");
            write_u64(out, hpp);
            out.extend_from_slice(b",\"page\":");
            write_u64(out, page as u64);
            out.extend_from_slice(b",\"totalPages\":");
            write_u64(out, pages);
            out.extend_from_slice(b",\"totalHits\":");
            write_u64(out, total);
        }
        None => {
            out.extend_from_slice(b",\"limit\":");
            write_u64(out, req.limit as u64);
            // The offset the window starts at (Meilisearch's, cut to `maxTotalHits`).
            out.extend_from_slice(b",\"offset\":");
            write_u64(out, req.window().0 as u64);
            out.extend_from_slice(b",\"estimatedTotalHits\":");
            write_u64(out, total);
        }
    }
    // Each node's raw member (by node index), where it has one that is not `null`.
    let present = |member: fn(&Tail<'a>) -> Option<&'a [u8]>| -> Vec<(usize, &'a [u8])> {
        scans
            .iter()
            .enumerate()
            .filter_map(|(i, s)| Some((i, member(s)?)))
            .filter(|(_, r)| r != b"null")
            .collect()
    };
    let dist = present(|s| s.facet_distribution);
    let stats = present(|s| s.facet_stats);
    let merged_stats = facets::merge_stats(&stats).map_err(|(n, e)| malformed(n, e))?;
    if !dist.is_empty() {
        // Facets with number values: those with stats.
        let numeric: Vec<&str> = merged_stats.keys().map(|name| name.as_ref()).collect();
        out.extend_from_slice(b",\"facetDistribution\":");
        facets::merge_distribution(
            &dist,
            req.max_values_per_facet,
            req.sort_facet_values_by,
            &numeric,
            out,
        )
        .map_err(|(n, e)| malformed(n, e))?;
    }
    if !stats.is_empty() {
        out.extend_from_slice(b",\"facetStats\":");
        facets::write_stats(&merged_stats, out);
    }
    if scans.iter().any(|s| s.semantic_hit_count.is_some()) {
        out.extend_from_slice(b",\"semanticHitCount\":");
        write_u64(
            out,
            scans
                .iter()
                .filter_map(|s| s.semantic_hit_count)
                .fold(0u64, u64::saturating_add),
        );
    }
    let mut seen: Vec<&str> = Vec::new();
    for s in scans {
        for (k, v) in &s.other {
            if seen.contains(&k.as_ref()) {
                continue;
            }
            seen.push(k);
            out.push(b',');
            write_str(out, k);
            out.push(b':');
            out.extend_from_slice(v);
        }
    }
    match (
        req.request_uid,
        scans
            .iter()
            .enumerate()
            .find_map(|(i, s)| Some((i, s.request_uid?))),
    ) {
        (Some(uid), _) => {
            out.extend_from_slice(b",\"requestUid\":");
            write_str(out, uid);
        }
        (None, Some((_, uid))) => {
            out.extend_from_slice(b",\"requestUid\":");
            out.extend_from_slice(uid);
        }
        (None, None) => {}
    }
    out.push(b'}');
    Ok(())
}

/// Merges `facetStats` objects into one, appended to `out`: min of the mins, max of the maxes,
/// each kept as its number text.
pub fn merge_facet_stats(objects: &[&[u8]], out: &mut Vec<u8>) -> Result<(), MergeError> {
    let raws: Vec<(usize, &[u8])> = objects.iter().copied().enumerate().collect();
    let merged = facets::merge_stats(&raws).map_err(|(n, e)| malformed(n, e))?;
    facets::write_stats(&merged, out);
    Ok(())
}

/// Merges facet-search responses (`POST /indexes/{uid}/facet-search`) into the client's answer,
/// appended to `out`: `facetHits` counts summed per value (values only one node has included),
/// ordered alphabetically like Meilisearch (numbers numerically, then strings
/// case-insensitively) or, when `by_count` (the index orders the facet by count; `None`: when
/// every node listed them by count), by decreasing count; truncated to `max_hits` (the index's
/// `maxValuesPerFacet`, 100 by default) when given; `facetQuery` from the first node;
/// `processingTimeMs` the max.
pub fn merge_facet_search(
    node_bodies: &[&[u8]],
    max_hits: Option<usize>,
    by_count: Option<bool>,
    out: &mut Vec<u8>,
) -> Result<(), MergeError> {
    for (i, body) in node_bodies.iter().enumerate() {
        walk::validate(body).map_err(|e| bad_json(i, e))?;
    }
    let start = out.len();
    facets::merge_facet_search(node_bodies, max_hits, by_count, out).map_err(|(n, e)| {
        out.truncate(start);
        malformed(n, e)
    })
}

fn doc_error(Bad(at): Bad) -> MergeError {
    MergeError::Malformed {
        node: None,
        reason: format!("invalid JSON at byte {at}"),
    }
}

/// Appends `doc` (one JSON object) to `out` without its top-level `_miroir_*` members.
pub fn strip_reserved_fields(doc: &[u8], out: &mut Vec<u8>) -> Result<(), MergeError> {
    let mut cuts = Vec::new();
    let end = strip_reserved_members(doc, 0, 0, None, &mut cuts).map_err(doc_error)?;
    let trailing = walk::ws(doc, end);
    if trailing != doc.len() {
        return Err(doc_error(Bad(trailing)));
    }
    write_with_cuts(doc, 0, doc.len(), &cuts, out).map_err(doc_error)
}

/// Appends `body` (an object with a `results` array of documents, like `GET
/// /indexes/{uid}/documents`) to `out` with the `_miroir_*` members of every document removed.
pub fn strip_reserved_fields_in_results(body: &[u8], out: &mut Vec<u8>) -> Result<(), MergeError> {
    let mut cuts = Vec::new();
    let mut members = Members::new(body, 0, 0).map_err(doc_error)?;
    while let Some(k) = members.next_key().map_err(doc_error)? {
        let vd = members.value_depth();
        let end = if key_is(k.key, "results") && body.get(k.value_start) == Some(&b'[') {
            let mut els = walk::Elements::new(body, k.value_start, vd).map_err(doc_error)?;
            while let Some(s) = els.next_start().map_err(doc_error)? {
                let e = if body.get(s) == Some(&b'{') {
                    strip_reserved_members(body, s, els.value_depth(), None, &mut cuts)
                } else {
                    skip_value(body, s, els.value_depth())
                }
                .map_err(doc_error)?;
                els.resume(e);
            }
            els.end()
        } else {
            skip_value(body, k.value_start, vd).map_err(doc_error)?
        };
        members.resume(end);
    }
    let trailing = walk::ws(body, members.end());
    if trailing != body.len() {
        return Err(doc_error(Bad(trailing)));
    }
    write_with_cuts(body, 0, body.len(), &cuts, out).map_err(doc_error)
}
