//! Reading `_rankingScoreDetails` into a hit's rule-by-rule key ([`DetailsReader`]).
//!
//! Three readers, fastest first, each falling back to the next on anything it does not accept:
//!
//! 1. a [`Template`] learnt from the first compact details object of the merge: the bytes
//!    between the values (rule names, field names, `order`s) are the same in every hit of one
//!    search, so a later hit is matched against them and only its values are read — and only
//!    the values where its bytes differ from the previous hit of its node list ([`LastRead`]);
//! 2. a one-pass reader for the compact form Meilisearch writes (no whitespace, no escapes,
//!    each rule an object of scalars);
//! 3. the general reader on the structural scanner (any valid JSON).
//!
//! All three build the same key and accept the same objects (property test
//! `readers_agree`): numbers the key uses are validated, the other values are stepped over.

use crate::key::{fixed_at, read_sort_val, Comp, Num, SortVal, FIXED_ONE};
use crate::scan::Structurals;
use crate::walk::{skip_number, skip_plain_string, ws, ws_back, Bad, MAX_DEPTH, R};

fn direction_desc(rule: &[u8]) -> bool {
    rule.ends_with(b":desc")
}

/// The fields of one rule of `_rankingScoreDetails` that make its key component.
#[derive(Default)]
struct RuleFields<'a> {
    desc: bool,
    order: Option<u64>,
    score: Option<Num<'a>>,
    value: Option<(usize, usize)>,
    distance: Option<Num<'a>>,
    similarity: Option<Num<'a>>,
}

impl<'a> RuleFields<'a> {
    /// Records the field `key` whose value is `b[vs..ve]`; numbers the key uses are validated.
    #[inline(always)]
    fn field(&mut self, b: &'a [u8], key: &[u8], vs: usize, ve: usize) -> R<()> {
        match key {
            b"order" => self.order = number_at(b, vs, ve)?.map(|n| order_of(&n)),
            b"score" => self.score = number_at(b, vs, ve)?,
            b"value" => self.value = Some((vs, ve)),
            b"distance" => self.distance = number_at(b, vs, ve)?,
            b"similarity" => self.similarity = number_at(b, vs, ve)?,
            _ => {}
        }
        Ok(())
    }

    /// [`RuleFields::field`] for a compact value starting at `b[vs]`: returns the value's end,
    /// or `None` when the value is not a compact scalar or a number the key uses is invalid.
    /// Single-digit `order`s and fixed-point scores are read without a second pass.
    #[inline(always)]
    fn field_compact(&mut self, b: &'a [u8], key: &[u8], vs: usize) -> Option<usize> {
        match key {
            b"order" => {
                if let (Some(&d @ b'0'..=b'9'), Some(b',' | b'}')) = (b.get(vs), b.get(vs + 1)) {
                    self.order = Some(u64::from(d - b'0'));
                    return Some(vs + 1);
                }
            }
            b"score" => {
                if let Some((v, e)) = fixed_before_separator(b, vs) {
                    self.score = Some(Num::Fixed(v));
                    return Some(e);
                }
            }
            _ => {}
        }
        let ve = compact_scalar_end(b, vs)?;
        self.field(b, key, vs, ve).ok()?;
        Some(ve)
    }

    fn comp(self, b: &'a [u8]) -> R<Option<Comp<'a>>> {
        let desc = self.desc;
        Ok(Some(if let Some(d) = self.distance {
            Comp::Sort {
                desc,
                val: SortVal::Num(d),
            }
        } else if let Some((vs, ve)) = self.value {
            Comp::Sort {
                desc,
                val: read_sort_val(b, vs, ve, desc)?,
            }
        } else if let Some(sc) = self.score.or(self.similarity) {
            Comp::Rank(sc)
        } else {
            return Ok(None);
        }))
    }
}

/// The number that is exactly `b[vs..ve]`, validated; `None` when the value is not a number.
#[inline(always)]
fn number_at(b: &[u8], vs: usize, ve: usize) -> R<Option<Num<'_>>> {
    if let Some((v, end)) = fixed_at(b, vs) {
        if end == ve {
            return Ok(Some(Num::Fixed(v)));
        }
    }
    if !matches!(b.get(vs), Some(b'-' | b'0'..=b'9')) {
        return Ok(None);
    }
    if skip_number(b, vs)? != ve {
        return Err(Bad(vs));
    }
    Ok(b.get(vs..ve).map(Num::Raw))
}

/// A rule's `order` (a small integer).
fn order_of(n: &Num<'_>) -> u64 {
    match *n {
        Num::Fixed(v) => (v / u128::from(FIXED_ONE)) as u64,
        _ => n.get() as u64,
    }
}

/// The raw key of the member whose `:` is at `colon`; the member starts at or after `from`.
fn key_before(b: &[u8], from: usize, colon: usize) -> R<&[u8]> {
    let ks = ws(b, from);
    let ke = ws_back(b, colon);
    match (b.get(ks), b.get(ke.wrapping_sub(1))) {
        (Some(b'"'), Some(b'"')) if ke >= ks + 2 => b.get(ks + 1..ke - 1).ok_or(Bad(ks)),
        _ => Err(Bad(ks)),
    }
}

/// The key components of one details object: collected in body order, put in `order` order
/// by [`RuleKeys::finish`].
struct RuleKeys<'c, 'a> {
    comps: &'c mut Vec<Comp<'a>>,
    orders: &'c mut Vec<(u64, usize)>,
    in_order: bool,
    last_order: u64,
}

impl<'c, 'a> RuleKeys<'c, 'a> {
    fn new(comps: &'c mut Vec<Comp<'a>>, orders: &'c mut Vec<(u64, usize)>) -> Self {
        comps.clear();
        orders.clear();
        RuleKeys {
            comps,
            orders,
            in_order: true,
            last_order: 0,
        }
    }

    fn push(&mut self, b: &'a [u8], rule: RuleFields<'a>) -> R<()> {
        let order = rule.order;
        if let Some(comp) = rule.comp(b)? {
            let order = order.unwrap_or(self.comps.len() as u64);
            if !self.comps.is_empty() && order < self.last_order {
                self.in_order = false;
            }
            self.last_order = order;
            self.orders.push((order, self.comps.len()));
            self.comps.push(comp);
        }
        Ok(())
    }

    /// Puts the components in `order` order; returns whether they already were.
    fn finish(self) -> bool {
        if self.in_order {
            return true;
        }
        self.orders.sort_by_key(|&(o, _)| o);
        let mut old: Vec<Option<Comp<'a>>> =
            std::mem::take(self.comps).into_iter().map(Some).collect();
        for &(_, i) in self.orders.iter() {
            if let Some(c) = old.get_mut(i).and_then(Option::take) {
                self.comps.push(c);
            }
        }
        false
    }
}

/// Reads details objects for one merge: scratch space, and the [`Template`] learnt from the
/// first compact object.
#[derive(Default)]
pub(crate) struct DetailsReader {
    orders: Vec<(u64, usize)>,
    /// The values of the last compact object read, while learning.
    spans: Vec<Span>,
    template: Option<Template>,
    learnt: bool,
}

impl DetailsReader {
    /// Reads the `_rankingScoreDetails` object at `b[s..]` (nested `depth` deep) and builds the
    /// rule-by-rule key from it in `comps`, walking the rules in their `order`. The fields the
    /// key uses are validated; the rest is only stepped over. Returns the object's end.
    ///
    /// `last` is what the template read of the previous hit of the same node list left (with
    /// `comps` still holding that hit's key): the bytes this object shares with it are not read
    /// again. Updated for the next hit.
    pub(crate) fn read<'a>(
        &mut self,
        b: &'a [u8],
        s: usize,
        depth: usize,
        comps: &mut Vec<Comp<'a>>,
        last: &mut LastRead<'a>,
    ) -> R<usize> {
        if depth >= MAX_DEPTH || b.get(s) != Some(&b'{') {
            return Err(Bad(s));
        }
        if let Some(end) = self
            .template
            .as_ref()
            .and_then(|t| t.read(b, s, comps, last))
        {
            return Ok(end);
        }
        last.forget();
        let learn = !self.learnt;
        let spans = learn.then_some(&mut self.spans);
        if let Some((end, in_order)) = details_key_compact(b, s, comps, &mut self.orders, spans) {
            if learn {
                self.learnt = true;
                if in_order {
                    self.template = Template::learn(b, s, end, &self.spans, comps.len());
                }
            }
            return Ok(end);
        }
        // The AVX2 block classifier is called per block rather than compiled into a copy of
        // this function: measured fewer instructions (callgrind, details_3x1000) than the copy.
        if crate::scan::has_avx2() {
            return details_key_in::<true>(b, s, comps, &mut self.orders);
        }
        details_key_in::<false>(b, s, comps, &mut self.orders)
    }
}

/// The last details object a [`Template`] read in one node list, and where each of its values
/// ended. A node list is sorted by the rules, so neighbouring hits mostly share their leading
/// rules' values: the next hit's details usually start with many of the same bytes (about 60 %
/// in the merge benches), and later values often repeat too (fields such as `matchType`,
/// `maxMatchingWords`). Values inside a run of equal bytes, already validated and read into
/// the key, are taken over instead of read again.
#[derive(Default)]
pub(crate) struct LastRead<'a> {
    /// The object's bytes; empty when the last hit was not read by the template.
    details: &'a [u8],
    /// Per value of the template: its end (relative to the object's start).
    value_ends: Vec<usize>,
}

impl LastRead<'_> {
    /// The next hit is read from scratch (the last one was not read by the template, or its key
    /// was not kept).
    pub(crate) fn forget(&mut self) {
        self.details = &[];
        self.value_ends.clear();
    }
}

/// The length of the common prefix of `x` and `y`: 16 bytes at a time on x86_64, 32 with
/// `AVX2` (only in code compiled for it, after [`crate::scan::has_avx2`] said yes).
#[inline(always)]
fn common_prefix<const AVX2: bool>(x: &[u8], y: &[u8]) -> usize {
    let n = x.len().min(y.len());
    #[cfg(target_arch = "x86_64")]
    if n >= 16 {
        let mut k = 0;
        if AVX2 {
            while k + 32 <= n {
                // SAFETY: `k + 32 <= n`, the shorter length; AVX2 = true only in functions
                // compiled for AVX2, run after `has_avx2()`.
                let equal = unsafe { equal_bytes32(x, y, k) };
                if equal != u32::MAX {
                    return k + (!equal).trailing_zeros() as usize;
                }
                k += 32;
            }
        }
        while k + 16 <= n {
            // SAFETY: `k + 16 <= n`, the shorter length.
            let equal = unsafe { equal_bytes16(x, y, k) };
            if equal != 0xFFFF {
                return k + (!equal).trailing_zeros() as usize;
            }
            k += 16;
        }
        // The last 16 bytes, overlapping bytes already found equal.
        // SAFETY: `n >= 16`, so `n - 16 + 16 <= n`.
        let equal = unsafe { equal_bytes16(x, y, n - 16) };
        return if equal == 0xFFFF {
            n
        } else {
            n - 16 + (!equal).trailing_zeros() as usize
        };
    }
    x.iter().zip(y).take_while(|(a, b)| a == b).count()
}

/// Bit `k` set when `x[at + k] == y[at + k]`, for the 16 bytes at `at`.
///
/// # Safety
/// `at + 16` must be at most the length of both slices.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn equal_bytes16(x: &[u8], y: &[u8], at: usize) -> u32 {
    use std::arch::x86_64::{__m128i, _mm_cmpeq_epi8, _mm_loadu_si128, _mm_movemask_epi8};
    // SAFETY: both loads read 16 bytes inside their slices (the caller's guarantee); SSE2 is
    // part of the x86_64 baseline and `_mm_loadu_si128` allows unaligned loads.
    unsafe {
        _mm_movemask_epi8(_mm_cmpeq_epi8(
            _mm_loadu_si128(x.as_ptr().add(at).cast::<__m128i>()),
            _mm_loadu_si128(y.as_ptr().add(at).cast::<__m128i>()),
        )) as u32
    }
}

/// [`equal_bytes16`] for 32 bytes.
///
/// # Safety
/// `at + 32` must be at most the length of both slices, and the CPU must support AVX2.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn equal_bytes32(x: &[u8], y: &[u8], at: usize) -> u32 {
    use std::arch::x86_64::{__m256i, _mm256_cmpeq_epi8, _mm256_loadu_si256, _mm256_movemask_epi8};
    // SAFETY: both loads read 32 bytes inside their slices and the CPU has AVX2 (the caller's
    // guarantees); `_mm256_loadu_si256` allows unaligned loads.
    unsafe {
        _mm256_movemask_epi8(_mm256_cmpeq_epi8(
            _mm256_loadu_si256(x.as_ptr().add(at).cast::<__m256i>()),
            _mm256_loadu_si256(y.as_ptr().add(at).cast::<__m256i>()),
        )) as u32
    }
}

/// End of the scalar at `b[i]` in compact JSON: the characters of a number, a plain ASCII string
/// without escapes, `true`, `false` or `null`; `None` for anything else (containers, whitespace).
/// Numbers are not validated here: the ones a key uses are, by [`RuleFields::field`].
#[inline(always)]
fn compact_scalar_end(b: &[u8], i: usize) -> Option<usize> {
    match *b.get(i)? {
        b'"' => skip_plain_string(b, i),
        b'-' | b'0'..=b'9' => {
            let mut j = i + 1;
            while matches!(
                b.get(j),
                Some(b'0'..=b'9' | b'.' | b'e' | b'E' | b'+' | b'-')
            ) {
                j += 1;
            }
            Some(j)
        }
        b't' => (b.get(i..i + 4)? == b"true").then_some(i + 4),
        b'f' => (b.get(i..i + 5)? == b"false").then_some(i + 5),
        b'n' => (b.get(i..i + 4)? == b"null").then_some(i + 4),
        _ => None,
    }
}

/// [`DetailsReader::read`] for the compact form Meilisearch writes — no whitespace, ASCII keys
/// without escapes, each rule an object of scalars — read in one pass. `None` when the
/// object is not of that form or a number the key uses is invalid: the caller then reads it
/// with the general reader, which decides (so both accept and reject the same bodies, and
/// build the same key).
///
/// Returns the end and whether the rules came in `order`. With `spans`, records every value
/// read and what it is to the key (for [`Template::learn`]).
fn details_key_compact<'a>(
    b: &'a [u8],
    s: usize,
    comps: &mut Vec<Comp<'a>>,
    orders: &mut Vec<(u64, usize)>,
    mut spans: Option<&mut Vec<Span>>,
) -> Option<(usize, bool)> {
    let mut keys = RuleKeys::new(comps, orders);
    if let Some(sp) = spans.as_deref_mut() {
        sp.clear();
    }
    let mut i = s + 1;
    if *b.get(i)? == b'}' {
        return Some((i + 1, true));
    }
    loop {
        if *b.get(i)? != b'"' {
            return None;
        }
        let rule_end = skip_plain_string(b, i)?;
        let mut rule = RuleFields {
            desc: direction_desc(b.get(i + 1..rule_end - 1)?),
            ..RuleFields::default()
        };
        if b.get(rule_end..rule_end + 2)? != b":{" {
            return None;
        }
        i = rule_end + 2;
        let rule_spans = spans.as_deref().map_or(0, Vec::len);
        if *b.get(i)? != b'}' {
            loop {
                if *b.get(i)? != b'"' {
                    return None;
                }
                let key_end = skip_plain_string(b, i)?;
                let key = b.get(i + 1..key_end - 1)?;
                if *b.get(key_end)? != b':' {
                    return None;
                }
                let vs = key_end + 1;
                i = rule.field_compact(b, key, vs)?;
                if let Some(sp) = spans.as_deref_mut() {
                    sp.push(Span {
                        start: vs,
                        end: i,
                        field: Field::of(key),
                        slot: Slot::Skip,
                    });
                }
                match *b.get(i)? {
                    b',' => i += 1,
                    b'}' => break,
                    _ => return None,
                }
            }
        }
        if let Some(sp) = spans.as_deref_mut() {
            mark_key_slot(sp.get_mut(rule_spans..)?, rule.desc);
        }
        keys.push(b, rule).ok()?;
        i += 1;
        match *b.get(i)? {
            b',' => i += 1,
            b'}' => return Some((i + 1, keys.finish())),
            _ => return None,
        }
    }
}

/// What a details field is to the key.
#[derive(Clone, Copy, PartialEq, Debug)]
enum Field {
    Order,
    Score,
    Value,
    Distance,
    Similarity,
    Other,
}

impl Field {
    fn of(key: &[u8]) -> Field {
        match key {
            b"order" => Field::Order,
            b"score" => Field::Score,
            b"value" => Field::Value,
            b"distance" => Field::Distance,
            b"similarity" => Field::Similarity,
            _ => Field::Other,
        }
    }
}

/// How a [`Template`] reads one value.
#[derive(Clone, Copy, PartialEq, Debug)]
enum Slot {
    /// Stepped over (a field the key does not use).
    Skip,
    /// A number the key does not use but the other readers validate (a `score` beside a
    /// `distance`, say).
    Number,
    /// The rule's key: `score` or `similarity` of a rank rule.
    Rank,
    /// The rule's key: `value` of a sort rule.
    Value { desc: bool },
    /// The rule's key: `distance` of a geo sort rule.
    Distance { desc: bool },
}

/// One value of a compact details object, as read while learning a [`Template`].
struct Span {
    start: usize,
    end: usize,
    field: Field,
    slot: Slot,
}

/// Sets the slots of one rule's spans the way [`RuleFields::comp`] picks its key: `distance`,
/// else `value`, else `score`, else `similarity` (the last of equal fields, as it keeps the
/// last); the other numbers it reads are [`Slot::Number`].
fn mark_key_slot(rule: &mut [Span], desc: bool) {
    let pick = [
        (Field::Distance, Slot::Distance { desc }),
        (Field::Value, Slot::Value { desc }),
        (Field::Score, Slot::Rank),
        (Field::Similarity, Slot::Rank),
    ]
    .into_iter()
    .find_map(|(f, slot)| rule.iter().rposition(|s| s.field == f).map(|i| (i, slot)));
    for s in rule.iter_mut() {
        if matches!(s.field, Field::Score | Field::Distance | Field::Similarity) {
            s.slot = Slot::Number;
        }
    }
    if let Some((i, slot)) = pick {
        if let Some(s) = rule.get_mut(i) {
            s.slot = slot;
        }
    }
}

/// The layout of a compact details object: the bytes between its values and how to read each
/// value. In one search every hit's details have the same rules, fields and `order`s, so a
/// later hit is read by comparing those bytes and parsing only its values.
pub(crate) struct Template {
    /// The literal bytes, one run before each value and one after the last.
    bytes: Vec<u8>,
    /// Per value: the end in `bytes` of the run before it, how to read it, and the index of
    /// its key component (when it makes one).
    values: Vec<(usize, Slot, usize)>,
    /// Key components per object.
    comps: usize,
}

impl Template {
    /// The template of the compact object `b[s..end]` whose values are `spans` (rules in
    /// `order`), read into `comps` components. `order` values become part of the literal
    /// bytes. `None` when a rule has no key component (the template could not tell such a rule
    /// apart from a keyed one).
    fn learn(b: &[u8], s: usize, end: usize, spans: &[Span], comps: usize) -> Option<Template> {
        let mut bytes = Vec::with_capacity(end - s);
        let mut values = Vec::with_capacity(spans.len());
        let mut from = s;
        let mut keyed = 0;
        for sp in spans.iter().filter(|sp| sp.field != Field::Order) {
            bytes.extend_from_slice(b.get(from..sp.start)?);
            values.push((bytes.len(), sp.slot, keyed));
            if !matches!(sp.slot, Slot::Skip | Slot::Number) {
                keyed += 1;
            }
            from = sp.end;
        }
        bytes.extend_from_slice(b.get(from..end)?);
        let rules = spans.iter().filter(|sp| sp.field == Field::Order).count();
        // Every rule keyed, every keyed value a component (a `null` score is none, and a later
        // number there would shift the rules), and at least one value to read.
        (keyed > 0 && keyed >= rules && keyed == comps).then_some(Template {
            bytes,
            values,
            comps,
        })
    }

    /// The key of the details object at `b[s..]` if it has this layout (same bytes between
    /// the values, values of the same kinds); its end. `None`: read it another way (`last`
    /// and `comps` are then left half-written: the caller forgets them).
    ///
    /// When `last` holds the previous hit of the node list, only the values that differ from
    /// it are read ([`Template::read_changes`]); otherwise all of them.
    fn read<'a>(
        &self,
        b: &'a [u8],
        s: usize,
        comps: &mut Vec<Comp<'a>>,
        last: &mut LastRead<'a>,
    ) -> Option<usize> {
        if !last.details.is_empty()
            && last.value_ends.len() == self.values.len()
            && comps.len() == self.comps
        {
            return self.read_changes(b, s, comps, last);
        }
        comps.clear();
        last.value_ends.clear();
        let mut i = s;
        let mut run = 0;
        for &(run_end, slot, _) in &self.values {
            i = literal_at(b, i, self.bytes.get(run..run_end)?)?;
            run = run_end;
            let (end, comp) = read_value(b, i, slot)?;
            if let Some(c) = comp {
                comps.push(c);
            }
            i = end;
            last.value_ends.push(i - s);
        }
        let end = literal_at(b, i, self.bytes.get(run..)?)?;
        last.details = b.get(s..end)?;
        Some(end)
    }

    /// [`Template::read`] against the previous hit's details (`last`, whose key `comps` holds):
    /// the two are compared 16 bytes at a time, and the values inside a run of equal bytes
    /// (the separator after them included) are the same values, already checked and read, so
    /// their components stay. Only a value where the bytes part is read; the comparison then
    /// resumes after it, aligned on the previous hit's end of that value. A difference in the
    /// bytes between values means another layout.
    fn read_changes<'a>(
        &self,
        b: &'a [u8],
        s: usize,
        comps: &mut [Comp<'a>],
        last: &mut LastRead<'a>,
    ) -> Option<usize> {
        #[cfg(target_arch = "x86_64")]
        if crate::scan::has_avx2() {
            // SAFETY: the CPU has AVX2.
            return unsafe { self.read_changes_avx2(b, s, comps, last) };
        }
        self.read_changes_in::<false>(b, s, comps, last)
    }

    /// # Safety
    /// The CPU must support AVX2.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    unsafe fn read_changes_avx2<'a>(
        &self,
        b: &'a [u8],
        s: usize,
        comps: &mut [Comp<'a>],
        last: &mut LastRead<'a>,
    ) -> Option<usize> {
        self.read_changes_in::<true>(b, s, comps, last)
    }

    #[inline(always)]
    fn read_changes_in<'a, const AVX2: bool>(
        &self,
        b: &'a [u8],
        s: usize,
        comps: &mut [Comp<'a>],
        last: &mut LastRead<'a>,
    ) -> Option<usize> {
        let prev = last.details;
        let body = b.get(s..)?;
        // Offsets from the objects' starts: `p` in the previous object, `i` in this one, at the
        // same point of the layout; `j` is the next value, and `prev_before` where the previous
        // object's value `j - 1` ended.
        let (mut p, mut i, mut j, mut prev_before) = (0usize, 0usize, 0usize, 0usize);
        loop {
            let reach = p + common_prefix::<AVX2>(prev.get(p..)?, body.get(i..)?);
            // This object's offsets are the previous one's plus `i - p` up to `reach`.
            let shift = i.wrapping_sub(p);
            while let Some(end) = last.value_ends.get_mut(j) {
                if *end >= reach {
                    break;
                }
                prev_before = *end;
                *end = end.wrapping_add(shift);
                j += 1;
            }
            let Some(&(run_end, slot, comp_at)) = self.values.get(j) else {
                // Every value read or the same: so is the rest, if it is inside the equal bytes.
                if reach != prev.len() {
                    return None;
                }
                let end = s + prev.len().wrapping_add(shift);
                last.details = b.get(s..end)?;
                return Some(end);
            };
            let run_start = match j.checked_sub(1) {
                Some(k) => self.values.get(k)?.0,
                None => 0,
            };
            let value_start = prev_before + (run_end - run_start);
            if reach < value_start {
                return None;
            }
            let (end, comp) = read_value(b, s + value_start.wrapping_add(shift), slot)?;
            if let Some(c) = comp {
                *comps.get_mut(comp_at)? = c;
            }
            let value_end = last.value_ends.get_mut(j)?;
            p = *value_end;
            prev_before = p;
            i = end - s;
            *value_end = i;
            j += 1;
        }
    }
}

/// The value of `slot` at `b[i]`: its end, and the key component it makes, if any.
#[inline(always)]
fn read_value(b: &[u8], i: usize, slot: Slot) -> Option<(usize, Option<Comp<'_>>)> {
    Some(match slot {
        Slot::Skip => (compact_scalar_end(b, i)?, None),
        Slot::Number => (compact_number(b, i)?.1, None),
        Slot::Rank => {
            let (n, e) = compact_number(b, i)?;
            (e, Some(Comp::Rank(n?)))
        }
        Slot::Distance { desc } => {
            let (n, e) = compact_number(b, i)?;
            let val = SortVal::Num(n?);
            (e, Some(Comp::Sort { desc, val }))
        }
        Slot::Value { desc } => {
            let (val, e) = match fixed_before_separator(b, i) {
                Some((v, e)) => (SortVal::Num(Num::Fixed(v)), e),
                None => {
                    let e = compact_scalar_end(b, i)?;
                    (read_sort_val(b, i, e, desc).ok()?, e)
                }
            };
            (e, Some(Comp::Sort { desc, val }))
        }
    })
}

/// `b[i..]` starts with `lit`: the index after it. Eight bytes at a time (runs here are mostly
/// 8–40 bytes; a `memcmp` call costs more than the compare).
#[inline(always)]
fn literal_at(b: &[u8], i: usize, lit: &[u8]) -> Option<usize> {
    let n = lit.len();
    let have = b.get(i..i + n)?;
    if n < 8 {
        return (have == lit).then_some(i + n);
    }
    let word = |x: &[u8], k: usize| -> Option<u64> {
        Some(u64::from_le_bytes(x.get(k..k + 8)?.try_into().ok()?))
    };
    let mut k = 0;
    while k + 8 < n {
        if word(have, k)? != word(lit, k)? {
            return None;
        }
        k += 8;
    }
    // The last 8 bytes (overlapping the previous word when `n` is not a multiple of 8).
    (word(have, n - 8)? == word(lit, n - 8)?).then_some(i + n)
}

/// A fixed-point number at `b[i]` followed by the next member or the end of the object.
#[inline(always)]
fn fixed_before_separator(b: &[u8], i: usize) -> Option<(u128, usize)> {
    fixed_at(b, i).filter(|&(_, e)| matches!(b.get(e), Some(b',' | b'}')))
}

/// The compact value at `b[i]` as the key reads a number: `Some(number)` validated, `None` when
/// it is not a number (`null`, say); and its end. `None` overall when it is an invalid number
/// or not a compact scalar.
#[inline(always)]
fn compact_number(b: &[u8], i: usize) -> Option<(Option<Num<'_>>, usize)> {
    if let Some((v, e)) = fixed_before_separator(b, i) {
        return Some((Some(Num::Fixed(v)), e));
    }
    let e = compact_scalar_end(b, i)?;
    Some((number_at(b, i, e).ok()?, e))
}

#[inline(always)]
fn details_key_in<'a, const AVX2: bool>(
    b: &'a [u8],
    s: usize,
    comps: &mut Vec<Comp<'a>>,
    orders: &mut Vec<(u64, usize)>,
) -> R<usize> {
    let mut keys = RuleKeys::new(comps, orders);
    // SAFETY: AVX2 = true only after `has_avx2()` said yes (in `DetailsReader::read`).
    let mut st = unsafe { Structurals::<AVX2>::new(b, s + 1) };
    // Containers open: 1 = inside the details object, 2 = inside a rule's value.
    let mut d = 1usize;
    // Just after the `{` or `,` that precedes the current member (at level 1 or 2).
    let mut from = s + 1;
    // The rule whose key was just read, until its value opens.
    let mut rule_key_desc: Option<bool> = None;
    // The rule object being read (level 2), and the field whose value is being read.
    let mut rule: Option<RuleFields<'a>> = None;
    let mut field: Option<(&'a [u8], usize)> = None;
    let end = loop {
        let p = st.next_pos().ok_or(Bad(b.len()))?;
        let c = b.get(p).copied().ok_or(Bad(p))?;
        if d > 2 {
            match c {
                b'{' | b'[' => d += 1,
                b'}' | b']' => d -= 1,
                _ => {}
            }
            continue;
        }
        match c {
            b'{' | b'[' => {
                if d == 1 && c == b'{' {
                    if let Some(desc) = rule_key_desc.take() {
                        rule = Some(RuleFields {
                            desc,
                            ..RuleFields::default()
                        });
                        from = p + 1;
                    }
                }
                d += 1;
            }
            b':' if d == 1 => rule_key_desc = Some(direction_desc(key_before(b, from, p)?)),
            b':' if rule.is_some() => field = Some((key_before(b, from, p)?, ws(b, p + 1))),
            b',' | b'}' | b']' => {
                if d == 2 {
                    if let (Some(r), Some((key, vs))) = (rule.as_mut(), field.take()) {
                        r.field(b, key, vs, ws_back(b, p))?;
                    }
                    if c != b',' {
                        if let Some(r) = rule.take() {
                            keys.push(b, r)?;
                        }
                    }
                }
                if c == b',' {
                    from = p + 1;
                } else {
                    d -= 1;
                    if d == 0 {
                        if c != b'}' {
                            return Err(Bad(p));
                        }
                        break p + 1;
                    }
                }
                if d == 1 {
                    rule_key_desc = None;
                }
            }
            _ => {}
        }
    };
    keys.finish();
    Ok(end)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::key::cmp_comps;
    use std::cmp::Ordering;

    fn key(details: &str) -> Vec<Comp<'_>> {
        let mut comps = Vec::new();
        let end = DetailsReader::default()
            .read(
                details.as_bytes(),
                0,
                0,
                &mut comps,
                &mut LastRead::default(),
            )
            .unwrap();
        assert_eq!(end, details.len());
        comps
    }

    #[test]
    fn mixed_types_order_like_fixture_104_105() {
        // Fixture 104 (asc) / 105 (desc) detail values, in Meilisearch's output order.
        let asc = [
            "-1.0",
            "2.5",
            "3.0",
            "10.0",
            "\"10\"",
            "\"apple\"",
            "\"banana\"",
            "\"true\"",
            "null",
        ];
        let desc = [
            "10.0",
            "3.0",
            "2.5",
            "-1.0",
            "\"true\"",
            "\"banana\"",
            "\"apple\"",
            "\"10\"",
            "null",
        ];
        for (vals, dir) in [(asc, "asc"), (desc, "desc")] {
            let ds: Vec<String> = vals
                .iter()
                .map(|v| format!(r#"{{"v:{dir}":{{"order":0,"value":{v}}}}}"#))
                .collect();
            let keys: Vec<_> = ds.iter().map(|d| key(d)).collect();
            for w in keys.windows(2) {
                assert_eq!(cmp_comps(&w[0], &w[1]), Ordering::Less, "{w:?}");
            }
        }
    }

    #[test]
    fn walks_in_order_field() {
        let k = key(r#"{"b:desc":{"order":1,"value":2.0},"words":{"order":0,"score":0.5}}"#);
        assert_eq!(
            k,
            vec![
                Comp::Rank(Num::F(0.5)),
                Comp::Sort {
                    desc: true,
                    val: SortVal::Num(Num::F(2.0))
                }
            ]
        );
    }

    /// A details object: rules in a shuffled body order, each a rank rule (`score`) or a sort
    /// rule (`value`), with fields the key ignores, compact or with whitespace.
    fn details_json() -> impl proptest::strategy::Strategy<Value = String> {
        use proptest::prelude::*;
        let value = prop_oneof![
            (0u32..3000, 0u32..100).prop_map(|(a, b)| format!("{a}.{b}")),
            (-50i32..50).prop_map(|a| a.to_string()),
            Just("1e3".to_string()),
            Just("1.2.3".to_string()),
            "[a-z\\\\\"é ]{0,6}".prop_map(|s| serde_json::to_string(&s).unwrap_or_default()),
            Just("null".to_string()),
            Just("true".to_string()),
            Just("[3,\"x\",1]".to_string()),
        ];
        let rule = (
            any::<bool>(),
            value,
            0u32..=1000,
            any::<bool>(),
            any::<bool>(),
        );
        (
            prop::collection::vec(rule, 0..6),
            any::<u64>(),
            any::<bool>(),
        )
            .prop_map(|(rules, seed, spaced)| {
                let n = rules.len();
                let mut idx: Vec<usize> = (0..n).collect();
                // For odd seeds a fixed shuffle: body order differs from `order`.
                if seed % 2 == 1 {
                    for i in (1..n).rev() {
                        idx.swap(i, (seed as usize >> (i % 16)) % (i + 1));
                    }
                }
                let sep = if spaced { " , " } else { "," };
                let members: Vec<String> = idx
                    .iter()
                    .map(|&o| {
                        let (sort, value, score, desc, extra) = &rules[o];
                        let (name, field) = if *sort {
                            let dir = if *desc { "desc" } else { "asc" };
                            (format!("f{o}:{dir}"), format!("\"value\":{value}"))
                        } else {
                            (
                                format!("rank{o}"),
                                format!("\"score\":{}", f64::from(*score) / 1000.0),
                            )
                        };
                        let extra = if *extra {
                            format!("\"matchType\":\"x\"{sep}")
                        } else {
                            String::new()
                        };
                        format!("\"{name}\":{{{extra}\"order\":{o}{sep}{field}}}")
                    })
                    .collect();
                format!("{{{}}}", members.join(sep))
            })
    }

    #[test]
    fn no_template_from_a_rule_without_component() {
        // The first hit's rule `a` has no score, so it makes no component; a template learnt
        // from it would read the next hit's `a` as a component in body order.
        let first = br#"{"a":{"order":1,"score":null},"b":{"order":0,"score":0.5}}, "more": 1}"#;
        let next = br#"{"a":{"order":1,"score":0.3},"b":{"order":0,"score":0.5}}, "more": 1}"#;
        let mut reader = DetailsReader::default();
        let (mut got, mut want, mut last) = (Vec::new(), Vec::new(), LastRead::default());
        reader.read(first, 0, 0, &mut got, &mut last).unwrap();
        reader.read(next, 0, 0, &mut got, &mut last).unwrap();
        details_key_in::<false>(next, 0, &mut want, &mut Vec::new()).unwrap();
        assert_eq!(got, want);
    }

    /// # Safety
    /// The CPU must support AVX2.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    unsafe fn common_prefix_avx2(x: &[u8], y: &[u8]) -> usize {
        common_prefix::<true>(x, y)
    }

    proptest::proptest! {
        #[test]
        fn common_prefix_ends_at_the_first_difference(
            x in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..80),
            at in 0usize..80,
            flip in 1u8..=255,
            keep in 0usize..80,
        ) {
            let mut y = x.clone();
            if let Some(c) = y.get_mut(at) {
                *c ^= flip;
            }
            y.truncate(keep);
            let want = x.iter().zip(&y).take_while(|(a, b)| a == b).count();
            proptest::prop_assert_eq!(common_prefix::<false>(&x, &y), want);
            proptest::prop_assert_eq!(common_prefix::<false>(&y, &x), want);
            #[cfg(target_arch = "x86_64")]
            if crate::scan::has_avx2() {
                // SAFETY: the CPU has AVX2.
                let (a, b) = unsafe { (common_prefix_avx2(&x, &y), common_prefix_avx2(&y, &x)) };
                proptest::prop_assert_eq!(a, want);
                proptest::prop_assert_eq!(b, want);
            }
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2000))]
        #[test]
        fn readers_agree(
            d in details_json(),
            cut in 1usize..400,
            byte in proptest::prelude::any::<u8>(),
            digit_at in 0usize..60,
            digit in b'0'..=b'9',
        ) {
            // A hit continues after its details (the plain-string scan reads 8 bytes at a time).
            let whole = format!("{d}}}, \"more\": 1}}");
            let mut mutated = whole.clone().into_bytes();
            if let Some(c) = mutated.get_mut(cut) {
                *c = byte;
            }
            // Another hit of the same search: one digit changed.
            let mut other = whole.clone().into_bytes();
            let digits: Vec<usize> = (0..d.len()).filter(|&i| other[i].is_ascii_digit()).collect();
            // And one with a digit added after that one: a value the last one's bytes start.
            let mut longer = whole.clone().into_bytes();
            if !digits.is_empty() {
                let at = digits[digit_at % digits.len()];
                other[at] = digit;
                longer.insert(at + 1, digit);
            }
            let (mut comps, mut orders, mut spans) = (Vec::new(), Vec::new(), Vec::new());
            let template = match details_key_compact(whole.as_bytes(), 0, &mut comps, &mut orders, Some(&mut spans)) {
                Some((end, true)) => Template::learn(whole.as_bytes(), 0, end, &spans, comps.len()),
                _ => None,
            };
            if let Some(t) = &template {
                proptest::prop_assert!(t.read(whole.as_bytes(), 0, &mut comps, &mut LastRead::default()).is_some(), "template refused {}", d);
            }
            for body in [whole.as_bytes(), &mutated[..], &other[..]] {
                let (mut want, mut got) = (Vec::new(), Vec::new());
                let general = details_key_in::<false>(body, 0, &mut want, &mut orders);
                if let Some((end, _)) = details_key_compact(body, 0, &mut got, &mut orders, None) {
                    proptest::prop_assert_eq!(Ok(end), general);
                    proptest::prop_assert_eq!(&got, &want);
                } else if !d.contains([' ', '\\', '[']) && d.is_ascii() && body == whole.as_bytes() && general.is_ok() {
                    // Compact, ASCII, escape-free, scalars only and valid: the fast path must
                    // take it.
                    proptest::prop_assert!(false, "compact path refused {}", d);
                }
                let fresh = &mut LastRead::default();
                if let Some(end) = template.as_ref().and_then(|t| t.read(body, 0, &mut got, fresh)) {
                    proptest::prop_assert_eq!(Ok(end), general, "{}", String::from_utf8_lossy(body));
                    proptest::prop_assert_eq!(&got, &want);
                }
            }
            // All three behind the one entry point, learning from the first body, each body
            // read after another one (what a node list's next hit shares with the last is not
            // read again).
            let mut reader = DetailsReader::default();
            let (mut got, mut last) = (Vec::new(), LastRead::default());
            for body in [whole.as_bytes(), &other[..], &mutated[..], whole.as_bytes(), &longer[..], &other[..], &other[..]] {
                let mut want = Vec::new();
                let general = details_key_in::<false>(body, 0, &mut want, &mut orders);
                let read = reader.read(body, 0, 0, &mut got, &mut last);
                proptest::prop_assert_eq!(read, general);
                if read.is_ok() {
                    proptest::prop_assert_eq!(&got, &want);
                }
            }
        }
    }
}
