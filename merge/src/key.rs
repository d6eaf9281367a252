//! Sort keys of hits and their comparison.

use std::borrow::Cow;
use std::cmp::Ordering;

use crate::scan::Structurals;
use crate::walk::{
    decode_str, key_is, parse_f64, skip_number, skip_plain_string, ws, ws_back, Bad, Elements,
    Members, MAX_DEPTH, R,
};

/// A JSON number kept as its text until two differ: equal texts compare equal without parsing
/// (the common case for the rules before the deciding one).
#[derive(Debug, Clone, Copy)]
pub(crate) enum Num<'a> {
    Raw(&'a [u8]),
    F(f64),
    /// See [`fixed`]: exact, compared without parsing.
    Fixed(u128),
}

const FIXED_ONE: u64 = 1_000_000_000_000_000_000;

impl<'a> Num<'a> {
    /// A validated JSON number: [`Num::Fixed`] when it has that form, else its text.
    #[inline]
    pub(crate) fn from_raw(raw: &'a [u8]) -> Num<'a> {
        fixed(raw).map_or(Num::Raw(raw), Num::Fixed)
    }

    #[inline]
    pub(crate) fn get(&self) -> f64 {
        match *self {
            Num::Raw(r) => parse_f64(r).unwrap_or(f64::NAN),
            Num::F(v) => v,
            Num::Fixed(v) => {
                // Through the decimal text, so this is the f64 the number parses to (compared
                // with `Raw`/`F` numbers): `int + frac / 10¹⁸` in floats rounds twice and can
                // land one ulp off, on the other side of a neighbouring value.
                use std::io::Write;
                let one = u128::from(FIXED_ONE);
                let mut buf = [0u8; 40];
                let mut w = &mut buf[..];
                if write!(w, "{}.{:018}", v / one, v % one).is_err() {
                    return f64::NAN;
                }
                let len = 40 - w.len();
                buf.get(..len).and_then(parse_f64).unwrap_or(f64::NAN)
            }
        }
    }
}

/// A non-negative `int[.frac]` (≤ 19 integer digits, ≤ 18 fraction digits, no exponent: ranking
/// scores, years, prices) as `value × 10¹⁸`, exact.
#[inline]
fn fixed(raw: &[u8]) -> Option<u128> {
    fixed_at(raw, 0).and_then(|(v, end)| (end == raw.len()).then_some(v))
}

/// [`fixed`] of the number starting at `b[i]`: its value and the index just after its last
/// digit. The caller checks what follows (an exponent means it was not of that form).
#[inline]
pub(crate) fn fixed_at(b: &[u8], mut i: usize) -> Option<(u128, usize)> {
    let start = i;
    let mut int: u64 = 0;
    while let Some(&c) = b.get(i) {
        if !c.is_ascii_digit() {
            break;
        }
        int = int.wrapping_mul(10).wrapping_add(u64::from(c - b'0'));
        i += 1;
    }
    let int_len = i - start;
    if int_len == 0 || int_len > 19 || (int_len > 1 && b.get(start) == Some(&b'0')) {
        return None;
    }
    let mut frac: u64 = 0;
    let mut frac_len = 0usize;
    if b.get(i) == Some(&b'.') {
        i += 1;
        while let Some(&c) = b.get(i) {
            if !c.is_ascii_digit() {
                break;
            }
            if frac_len == 18 {
                return None;
            }
            frac = frac * 10 + u64::from(c - b'0');
            frac_len += 1;
            i += 1;
        }
        if frac_len == 0 {
            return None;
        }
    }
    let scale = POW10.get(18 - frac_len).copied()?;
    Some((
        u128::from(int) * u128::from(FIXED_ONE) + u128::from(frac) * u128::from(scale),
        i,
    ))
}

const POW10: [u64; 19] = {
    let mut t = [1u64; 19];
    let mut i = 1;
    while i < 19 {
        t[i] = t[i - 1] * 10;
        i += 1;
    }
    t
};

impl PartialEq for Num<'_> {
    fn eq(&self, other: &Self) -> bool {
        cmp_num(self, other) == Ordering::Equal
    }
}

/// Numeric total order.
#[inline]
pub(crate) fn cmp_num(a: &Num<'_>, b: &Num<'_>) -> Ordering {
    match (a, b) {
        (Num::Fixed(x), Num::Fixed(y)) => match x.cmp(y) {
            Ordering::Equal => Ordering::Equal,
            o => {
                // Meilisearch compares f64s: two values within an ulp or two of each other
                // (integers past 2^53, say) may be the same f64, a tie the next rule decides.
                let (hi, lo) = if o == Ordering::Greater {
                    (x, y)
                } else {
                    (y, x)
                };
                if hi - lo > hi >> 51 {
                    o
                } else {
                    a.get().total_cmp(&b.get())
                }
            }
        },
        (Num::Raw(x), Num::Raw(y)) if x == y => Ordering::Equal,
        _ => a.get().total_cmp(&b.get()),
    }
}

/// A sort value, ordered like Meilisearch orders `sort` values (fixtures 104/105): numbers, then
/// strings (compared lowercased), then null/missing — for **both** directions.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum SortVal<'a> {
    Num(Num<'a>),
    Str(Cow<'a, str>),
    Null,
}

/// One ranking rule's contribution to a hit's key.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Comp<'a> {
    /// A rank rule (`words`, `typo`, ..., `exactness`, legacy `attribute`): higher score first.
    Rank(Num<'a>),
    /// A sort rule (`"field:asc"`/`"field:desc"` from `sort` or a custom ranking rule).
    Sort { desc: bool, val: SortVal<'a> },
}

fn type_rank(v: &SortVal<'_>) -> u8 {
    match v {
        SortVal::Num(_) => 0,
        SortVal::Str(_) => 1,
        SortVal::Null => 2,
    }
}

/// Lowercased string comparison (ASCII fast path, Unicode lowercase otherwise).
pub(crate) fn cmp_lower(a: &str, b: &str) -> Ordering {
    if a.is_ascii() && b.is_ascii() {
        let x = a.bytes().map(|c| c.to_ascii_lowercase());
        let y = b.bytes().map(|c| c.to_ascii_lowercase());
        x.cmp(y)
    } else {
        let x = a.chars().flat_map(char::to_lowercase);
        let y = b.chars().flat_map(char::to_lowercase);
        x.cmp(y)
    }
}

fn cmp_sort_val(a: &SortVal<'_>, b: &SortVal<'_>, desc: bool) -> Ordering {
    let ord = match (a, b) {
        (SortVal::Num(x), SortVal::Num(y)) => cmp_num(x, y),
        (SortVal::Str(x), SortVal::Str(y)) => cmp_lower(x, y).then_with(|| x.cmp(y)),
        _ => return type_rank(a).cmp(&type_rank(b)),
    };
    if desc {
        ord.reverse()
    } else {
        ord
    }
}

/// `Less` = `a` ranks first.
pub(crate) fn cmp_comp(a: &Comp<'_>, b: &Comp<'_>) -> Ordering {
    match (a, b) {
        (Comp::Rank(x), Comp::Rank(y)) => cmp_num(y, x),
        (Comp::Sort { desc, val: x }, Comp::Sort { val: y, .. }) => cmp_sort_val(x, y, *desc),
        (Comp::Rank(_), Comp::Sort { .. }) => Ordering::Less,
        (Comp::Sort { .. }, Comp::Rank(_)) => Ordering::Greater,
    }
}

/// Lexicographic over the rules; a hit missing a rule ranks after one that has it.
pub(crate) fn cmp_comps(a: &[Comp<'_>], b: &[Comp<'_>]) -> Ordering {
    for (x, y) in a.iter().zip(b) {
        let o = cmp_comp(x, y);
        if o != Ordering::Equal {
            return o;
        }
    }
    b.len().cmp(&a.len())
}

fn direction_desc(rule: &[u8]) -> bool {
    rule.ends_with(b":desc")
}

/// Reads one (already validated) sort value — a details `value` or a document field — at
/// `b[s..e]`. Arrays sort by their smallest (asc) / largest (desc) number, else string;
/// booleans as the strings `"true"`/`"false"` (fixture 104).
pub(crate) fn read_sort_val<'a>(b: &'a [u8], s: usize, e: usize, desc: bool) -> R<SortVal<'a>> {
    let raw = b.get(s..e).ok_or(Bad(s))?;
    Ok(match raw.first() {
        Some(b'"') => {
            let inner = raw.get(1..raw.len() - 1).ok_or(Bad(s))?;
            SortVal::Str(decode_str(inner).ok_or(Bad(s))?)
        }
        Some(b'-' | b'0'..=b'9') => {
            // Values are compared, so they are validated.
            if skip_number(b, s)? != e {
                return Err(Bad(s));
            }
            SortVal::Num(Num::from_raw(raw))
        }
        Some(b't') => SortVal::Str(Cow::Borrowed("true")),
        Some(b'f') => SortVal::Str(Cow::Borrowed("false")),
        Some(b'[') => {
            let mut best: Option<SortVal<'a>> = None;
            let mut els = Elements::new(b, s, 0)?;
            while let Some((es, ee)) = els.next_element()? {
                let v = match b.get(es) {
                    Some(b'[') | Some(b'{') => continue,
                    _ => read_sort_val(b, es, ee, desc)?,
                };
                if matches!(v, SortVal::Null) {
                    continue;
                }
                best = Some(match best {
                    None => v,
                    Some(cur) => {
                        // Numbers beat strings in both directions; within a type pick the
                        // value that sorts first in this direction.
                        if cmp_sort_val(&v, &cur, desc) == Ordering::Less {
                            v
                        } else {
                            cur
                        }
                    }
                });
            }
            best.unwrap_or(SortVal::Null)
        }
        _ => SortVal::Null,
    })
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
        let followed = |e: usize| matches!(b.get(e), Some(b',' | b'}'));
        match key {
            b"order" => {
                if let (Some(&d @ b'0'..=b'9'), true) = (b.get(vs), followed(vs + 1)) {
                    self.order = Some(u64::from(d - b'0'));
                    return Some(vs + 1);
                }
            }
            b"score" => {
                if let Some((v, e)) = fixed_at(b, vs).filter(|&(_, e)| followed(e)) {
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

    fn finish(self) {
        if self.in_order {
            return;
        }
        self.orders.sort_by_key(|&(o, _)| o);
        let mut old: Vec<Option<Comp<'a>>> =
            std::mem::take(self.comps).into_iter().map(Some).collect();
        for &(_, i) in self.orders.iter() {
            if let Some(c) = old.get_mut(i).and_then(Option::take) {
                self.comps.push(c);
            }
        }
    }
}

/// Reads the `_rankingScoreDetails` object at `b[s..]` (nested `depth` deep) and builds the
/// rule-by-rule key from it, walking the rules in their `order`. The fields the key uses are
/// validated; the rest is only stepped over. Returns the object's end.
///
/// Compact objects (what Meilisearch writes) take [`details_key_compact`]; anything else (or
/// anything that one does not accept) the structural scanner.
pub(crate) fn details_key<'a>(
    b: &'a [u8],
    s: usize,
    depth: usize,
    comps: &mut Vec<Comp<'a>>,
    orders: &mut Vec<(u64, usize)>,
) -> R<usize> {
    if depth >= MAX_DEPTH || b.get(s) != Some(&b'{') {
        return Err(Bad(s));
    }
    if let Some(end) = details_key_compact(b, s, comps, orders) {
        return Ok(end);
    }
    // The AVX2 block classifier is called per block rather than compiled into a copy of this
    // function: measured fewer instructions (callgrind, details_3x1000) than the copy.
    if crate::scan::has_avx2() {
        return details_key_in::<true>(b, s, comps, orders);
    }
    details_key_in::<false>(b, s, comps, orders)
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

/// [`details_key`] for the compact form Meilisearch writes — no whitespace, keys without
/// escapes, each rule an object of scalars — read byte by byte in one pass. `None` when the
/// object is not of that form or a number the key uses is invalid: the caller then reads it
/// with the general reader, which decides (so both accept and reject the same bodies, and
/// build the same key).
fn details_key_compact<'a>(
    b: &'a [u8],
    s: usize,
    comps: &mut Vec<Comp<'a>>,
    orders: &mut Vec<(u64, usize)>,
) -> Option<usize> {
    let mut keys = RuleKeys::new(comps, orders);
    let mut i = s + 1;
    if *b.get(i)? == b'}' {
        return Some(i + 1);
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
                i = rule.field_compact(b, key, key_end + 1)?;
                match *b.get(i)? {
                    b',' => i += 1,
                    b'}' => break,
                    _ => return None,
                }
            }
        }
        keys.push(b, rule).ok()?;
        i += 1;
        match *b.get(i)? {
            b',' => i += 1,
            b'}' => {
                keys.finish();
                return Some(i + 1);
            }
            _ => return None,
        }
    }
}

#[inline(always)]
fn details_key_in<'a, const AVX2: bool>(
    b: &'a [u8],
    s: usize,
    comps: &mut Vec<Comp<'a>>,
    orders: &mut Vec<(u64, usize)>,
) -> R<usize> {
    let mut keys = RuleKeys::new(comps, orders);
    // SAFETY: AVX2 = true only after `has_avx2()` said yes (in `details_key`).
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

/// A client sort rule (`"year:desc"`, `"a.b:asc"`) used when hits carry no details.
#[derive(Debug, Clone)]
pub(crate) struct SortField {
    pub path: String,
    pub desc: bool,
}

impl SortField {
    pub(crate) fn parse(rule: &str) -> Option<SortField> {
        let (path, dir) = rule.rsplit_once(':')?;
        let desc = match dir.trim() {
            "desc" => true,
            "asc" => false,
            _ => return None,
        };
        let path = path.trim();
        if path.is_empty() || path.starts_with("_geo") {
            return None;
        }
        Some(SortField {
            path: path.to_owned(),
            desc,
        })
    }
}

/// Finds the value of a (possibly dotted) field path in the object at `hit[s..]`.
fn lookup(hit: &[u8], s: usize, path: &str, depth: usize) -> R<Option<(usize, usize)>> {
    let mut members = Members::new(hit, s, depth)?;
    while let Some(m) = members.next_member()? {
        if key_is(m.key, path) {
            return Ok(Some((m.value_start, m.value_end)));
        }
        if depth < 8 && hit.get(m.value_start) == Some(&b'{') {
            let key = decode_str(m.key).ok_or(Bad(m.key_start))?;
            if let Some(rest) = path
                .strip_prefix(key.as_ref())
                .and_then(|r| r.strip_prefix('.'))
            {
                if let Some(found) = lookup(hit, m.value_start, rest, depth + 1)? {
                    return Ok(Some(found));
                }
            }
        }
    }
    Ok(None)
}

/// Fallback key from the documents' own field values (no `_rankingScoreDetails`); the hit
/// object starts at `b[s]`.
pub(crate) fn field_key<'a>(
    b: &'a [u8],
    s: usize,
    fields: &[SortField],
    comps: &mut Vec<Comp<'a>>,
) -> R<()> {
    comps.clear();
    for f in fields {
        let val = match lookup(b, s, &f.path, 0)? {
            Some((vs, ve)) => read_sort_val(b, vs, ve, f.desc)?,
            None => SortVal::Null,
        };
        comps.push(Comp::Sort { desc: f.desc, val });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(details: &str) -> Vec<Comp<'_>> {
        let mut comps = Vec::new();
        let end = details_key(details.as_bytes(), 0, 0, &mut comps, &mut Vec::new()).unwrap();
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

    #[test]
    fn arrays_sort_by_their_number() {
        let b = br#"[3,"x",1]"#;
        assert_eq!(
            read_sort_val(b, 0, b.len(), false),
            Ok(SortVal::Num(Num::F(1.0)))
        );
        assert_eq!(
            read_sort_val(b, 0, b.len(), true),
            Ok(SortVal::Num(Num::F(3.0)))
        );
    }

    #[test]
    fn fixed_numbers_compare_like_their_values() {
        let nums = [
            "0",
            "0.0",
            "0.5",
            "0.50",
            "0.05",
            "0.9999999",
            "1",
            "1.0",
            "1.25",
            "9.75",
            "0.9848484848484849",
            "0.123456789012345678",
            "10",
            "1995",
            "1995.0",
            "2001.25",
            "123456789012345678.5",
            "-0.5",
            "1e-7",
            "100.001",
        ];
        for a in nums {
            for b in nums {
                let want = a
                    .parse::<f64>()
                    .unwrap()
                    .total_cmp(&b.parse::<f64>().unwrap());
                let (x, y) = (Num::from_raw(a.as_bytes()), Num::from_raw(b.as_bytes()));
                assert_eq!(cmp_num(&x, &y), want, "{a} {b}");
            }
        }
        assert!(matches!(
            Num::from_raw(b"0.75"),
            Num::Fixed(750_000_000_000_000_000)
        ));
        assert!(
            matches!(Num::from_raw(b"1995.5"), Num::Fixed(v) if v == 1_995_500_000_000_000_000_000)
        );
        for other in [
            "-1",
            "1e5",
            "0.",
            "01",
            "0.1234567890123456789",
            "12345678901234567890",
        ] {
            assert!(
                matches!(Num::from_raw(other.as_bytes()), Num::Raw(_)),
                "{other}"
            );
        }
    }

    #[test]
    fn fixed_against_other_numbers_by_value() {
        // ≤ 18 fraction digits (`Fixed`) against 19 (`Raw`), the next lower f64: the `Fixed`
        // side must convert to its own f64, not to that neighbour (which made them tie).
        let (a, b) = (
            Num::from_raw(b"0.009479021860480701"),
            Num::from_raw(b"0.0094790218604807000"),
        );
        assert!(matches!((a, b), (Num::Fixed(_), Num::Raw(_))));
        assert_eq!(a.get(), 0.009479021860480701);
        assert_eq!(cmp_num(&a, &b), Ordering::Greater);
        assert_eq!(cmp_num(&b, &a), Ordering::Less);
    }

    #[test]
    fn fixed_numbers_that_are_the_same_f64_tie() {
        // Integers past 2^53 (document values in the sort-fields fallback): Meilisearch sorts
        // by f64, so these tie and the next rule decides, as it did when compared as text.
        for (a, b) in [
            ("123456789012345678", "123456789012345679"),
            ("9007199254740992", "9007199254740993"),
            ("1700000000123456789", "1700000000123456790.5"),
        ] {
            let (x, y) = (Num::from_raw(a.as_bytes()), Num::from_raw(b.as_bytes()));
            assert!(matches!((x, y), (Num::Fixed(_), Num::Fixed(_))));
            assert_eq!(cmp_num(&x, &y), Ordering::Equal, "{a} {b}");
        }
    }

    proptest::proptest! {
        #[test]
        fn fixed_numbers_compare_like_their_f64(a in 0u64..u64::MAX / 2, d in 0u64..4000, f in 0u32..100) {
            let (x, y) = (a.to_string(), format!("{}.{f:02}", a + d));
            let want = x.parse::<f64>().unwrap().total_cmp(&y.parse::<f64>().unwrap());
            let (p, q) = (Num::from_raw(x.as_bytes()), Num::from_raw(y.as_bytes()));
            proptest::prop_assert_eq!(cmp_num(&p, &q), want, "{} {}", x, y);
            proptest::prop_assert_eq!(cmp_num(&q, &p), want.reverse(), "{} {}", x, y);
        }

        #[test]
        fn fixed_converts_to_the_parsed_f64(m in 1.0f64..10.0, scale in -6i32..22) {
            let x = m * 10f64.powi(scale);
            let text = format!("{x}");
            let n = Num::from_raw(text.as_bytes());
            if x.is_finite() && matches!(n, Num::Fixed(_)) {
                proptest::prop_assert_eq!(n.get(), x, "{}", text);
            }
        }
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
                // A fixed shuffle per seed: body order differs from `order`.
                for i in (1..n).rev() {
                    idx.swap(i, (seed as usize >> (i % 16)) % (i + 1));
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

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2000))]
        #[test]
        fn compact_reader_agrees_with_the_general_one(d in details_json(), cut in 0usize..400, byte in proptest::prelude::any::<u8>()) {
            // A hit continues after its details (the plain-string scan reads 8 bytes at a time).
            let whole = format!("{d}}}, \"more\": 1}}");
            let mut mutated = whole.clone().into_bytes();
            if let Some(c) = mutated.get_mut(cut) {
                *c = byte;
            }
            for body in [whole.as_bytes(), &mutated[..]] {
                let (mut c1, mut o1, mut c2, mut o2) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
                let general = details_key_in::<false>(body, 0, &mut c2, &mut o2);
                if let Some(end) = details_key_compact(body, 0, &mut c1, &mut o1) {
                    proptest::prop_assert_eq!(Ok(end), general);
                    proptest::prop_assert_eq!(&c1, &c2);
                } else if !d.contains([' ', '\\', '[']) && d.is_ascii() && body == whole.as_bytes() && general.is_ok() {
                    // Compact, ASCII, escape-free, scalars only and valid: the fast path must
                    // take it.
                    proptest::prop_assert!(false, "compact path refused {}", d);
                }
            }
        }
    }

    #[test]
    fn dotted_lookup() {
        let hit = br#"{"a":{"b":{"c":5}},"a.x":"y"}"#;
        assert_eq!(lookup(hit, 0, "a.b.c", 0), Ok(Some((15, 16))));
        assert_eq!(lookup(hit, 0, "a.x", 0), Ok(Some((25, 28))));
        assert_eq!(lookup(hit, 0, "a.z", 0), Ok(None));
    }
}
