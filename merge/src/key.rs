//! Sort keys of hits and their comparison.

use std::borrow::Cow;
use std::cmp::Ordering;

use crate::walk::{decode_str, key_is, parse_f64, skip_number, Bad, Elements, Members, R};

/// A JSON number kept as its text until two differ: equal texts compare equal without parsing
/// (the common case for the rules before the deciding one).
#[derive(Debug, Clone, Copy)]
pub(crate) enum Num<'a> {
    Raw(&'a [u8]),
    F(f64),
    /// See [`fixed`]: exact, compared without parsing.
    Fixed(u128),
}

pub(crate) const FIXED_ONE: u64 = 1_000_000_000_000_000_000;

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
pub(crate) fn fixed_at(b: &[u8], i: usize) -> Option<(u128, usize)> {
    #[cfg(all(target_arch = "x86_64", target_feature = "sse4.1"))]
    if let Some(read) = fixed_at_sse(b, i) {
        return read;
    }
    fixed_at_scalar(b, i)
}

/// [`fixed_at`] 16 digits at a time (SSE4.1: part of x86-64-v2, the target of
/// `.cargo/config.toml`). Ranking scores carry 16–17 fraction digits, which the byte loop
/// reads one by one. `None` when it cannot decide: too near the end of `b`, or an integer
/// part of 16 digits or more (the byte loop then reads the number).
#[cfg(all(target_arch = "x86_64", target_feature = "sse4.1"))]
#[inline]
fn fixed_at_sse(b: &[u8], i: usize) -> Option<Option<(u128, usize)>> {
    // An integer part under 16 digits, the dot, 16 digits and the 2 bytes after them, and the
    // byte that must not be a 19th fraction digit: every byte read below is in `window`.
    let window = b.get(i..i + 35)?;
    let (_, int_len) = digit_run(window, 0);
    if int_len == 16 {
        return None;
    }
    if int_len == 0 || (int_len > 1 && window.first() == Some(&b'0')) {
        return Some(None);
    }
    // Usually 1 to 4 digits: cheaper one by one than through the vector (and a division).
    let int = window
        .iter()
        .take(int_len)
        .fold(0u64, |n, &c| n * 10 + u64::from(c - b'0'));
    let dot = int_len;
    let whole = u128::from(int) * u128::from(FIXED_ONE);
    if window.get(dot) != Some(&b'.') {
        return Some(Some((whole, i + dot)));
    }
    let (frac_digits, frac_len) = digit_run(window, dot + 1);
    if frac_len == 0 {
        return Some(None);
    }
    // The 16 digits read as an integer are the fraction × 10^(16 - frac_len).
    let mut frac = digits_value(frac_digits) * 100;
    let mut end = dot + 1 + frac_len;
    if frac_len == 16 {
        // The 17th and 18th digits; a 19th is more than the fixed point holds.
        for scale in [10, 1] {
            match window.get(end) {
                Some(&c) if c.is_ascii_digit() => {
                    frac += u64::from(c - b'0') * scale;
                    end += 1;
                }
                _ => return Some(Some((whole + u128::from(frac), i + end))),
            }
        }
        if window.get(end).is_some_and(u8::is_ascii_digit) {
            return Some(None);
        }
    }
    Some(Some((whole + u128::from(frac), i + end)))
}

/// The 16 bytes at `w[at..]` as digit values, those from the first non-digit on set to zero,
/// and how many digits lead (0–16). `w` holds at least `at + 16` bytes.
#[cfg(all(target_arch = "x86_64", target_feature = "sse4.1"))]
#[inline(always)]
fn digit_run(w: &[u8], at: usize) -> (std::arch::x86_64::__m128i, usize) {
    use std::arch::x86_64::{
        _mm_and_si128, _mm_cmpeq_epi8, _mm_cmpgt_epi8, _mm_loadu_si128, _mm_min_epu8,
        _mm_movemask_epi8, _mm_set1_epi8, _mm_setr_epi8, _mm_setzero_si128, _mm_sub_epi8,
    };
    let Some(lane) = w.get(at..at + 16) else {
        // Unreachable for the callers' windows; no digits is the safe answer.
        // SAFETY: SSE2 is part of the x86_64 baseline.
        return (unsafe { _mm_setzero_si128() }, 0);
    };
    // SAFETY: SSE2/SSE4.1 are enabled for this build (cfg above); `lane` is 16 readable bytes
    // and `_mm_loadu_si128` allows unaligned loads.
    unsafe {
        let v = _mm_loadu_si128(lane.as_ptr().cast());
        let d = _mm_sub_epi8(v, _mm_set1_epi8(b'0' as i8));
        let is_digit = _mm_cmpeq_epi8(_mm_min_epu8(d, _mm_set1_epi8(9)), d);
        let len = (!(_mm_movemask_epi8(is_digit) as u32)).trailing_zeros() as usize;
        let lanes = _mm_setr_epi8(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
        let keep = _mm_cmpgt_epi8(_mm_set1_epi8(len as i8), lanes);
        (_mm_and_si128(d, keep), len)
    }
}

/// The 16 digit values (0–9, most significant first) as one integer.
#[cfg(all(target_arch = "x86_64", target_feature = "sse4.1"))]
#[inline(always)]
fn digits_value(d: std::arch::x86_64::__m128i) -> u64 {
    use std::arch::x86_64::{
        _mm_cvtsi128_si32, _mm_extract_epi32, _mm_madd_epi16, _mm_maddubs_epi16, _mm_packus_epi32,
        _mm_setr_epi16, _mm_setr_epi8,
    };
    // SAFETY: SSSE3/SSE4.1 are enabled for this build (cfg above).
    unsafe {
        let pairs = _mm_maddubs_epi16(
            d,
            _mm_setr_epi8(10, 1, 10, 1, 10, 1, 10, 1, 10, 1, 10, 1, 10, 1, 10, 1),
        );
        let quads = _mm_madd_epi16(pairs, _mm_setr_epi16(100, 1, 100, 1, 100, 1, 100, 1));
        let quads = _mm_packus_epi32(quads, quads);
        let eights = _mm_madd_epi16(
            quads,
            _mm_setr_epi16(10000, 1, 10000, 1, 10000, 1, 10000, 1),
        );
        let hi = _mm_cvtsi128_si32(eights) as u32;
        let lo = _mm_extract_epi32(eights, 1) as u32;
        u64::from(hi) * 100_000_000 + u64::from(lo)
    }
}

/// [`fixed_at`] a byte at a time: the portable version, and the reference for the SIMD one.
fn fixed_at_scalar(b: &[u8], mut i: usize) -> Option<(u128, usize)> {
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
        // Numbers (the usual sort values) without the call to `cmp_sort_val`.
        (
            Comp::Sort {
                desc,
                val: SortVal::Num(x),
            },
            Comp::Sort {
                val: SortVal::Num(y),
                ..
            },
        ) => {
            if *desc {
                cmp_num(y, x)
            } else {
                cmp_num(x, y)
            }
        }
        (Comp::Sort { desc, val: x }, Comp::Sort { val: y, .. }) => cmp_sort_val(x, y, *desc),
        (Comp::Rank(_), Comp::Sort { .. }) => Ordering::Less,
        (Comp::Sort { .. }, Comp::Rank(_)) => Ordering::Greater,
    }
}

/// Lexicographic over the rules; a hit missing a rule ranks after one that has it.
pub(crate) fn cmp_comps(a: &[Comp<'_>], b: &[Comp<'_>]) -> Ordering {
    for (x, y) in a.iter().zip(b) {
        // Most rules before the deciding one hold the same fixed-point number on both sides:
        // stepped over without the full comparison.
        match (x, y) {
            (Comp::Rank(Num::Fixed(p)), Comp::Rank(Num::Fixed(q)))
            | (
                Comp::Sort {
                    val: SortVal::Num(Num::Fixed(p)),
                    ..
                },
                Comp::Sort {
                    val: SortVal::Num(Num::Fixed(q)),
                    ..
                },
            ) if p == q => continue,
            _ => {}
        }
        let o = cmp_comp(x, y);
        if o != Ordering::Equal {
            return o;
        }
    }
    b.len().cmp(&a.len())
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
pub(crate) fn lookup(hit: &[u8], s: usize, path: &str, depth: usize) -> R<Option<(usize, usize)>> {
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
        fn fixed_at_reads_like_the_byte_loop(
            text in "[0-9]{0,20}([.][0-9]{0,21})?[eE,}.a-]?[0-9]{0,3}",
            lead in 0usize..3,
            tail in 0usize..40,
        ) {
            // Every start position, with the body ending anywhere from right after the number
            // to well past the SIMD window: both paths must read the same value and end.
            let body = format!("{}{text}{}", "0".repeat(lead), " ".repeat(tail));
            let b = body.as_bytes();
            for i in 0..b.len() {
                proptest::prop_assert_eq!(fixed_at(b, i), fixed_at_scalar(b, i), "{:?} at {}", body, i);
            }
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

    #[test]
    fn dotted_lookup() {
        let hit = br#"{"a":{"b":{"c":5}},"a.x":"y"}"#;
        assert_eq!(lookup(hit, 0, "a.b.c", 0), Ok(Some((15, 16))));
        assert_eq!(lookup(hit, 0, "a.x", 0), Ok(Some((25, 28))));
        assert_eq!(lookup(hit, 0, "a.z", 0), Ok(None));
    }
}
