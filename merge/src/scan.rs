//! Structural scanner: finds JSON's structural bytes (`{ } [ ] : ,`) outside strings, 64 bytes
//! at a time, the way simdjson's first stage does (quote and backslash bitmasks, escapes by
//! carry arithmetic, string interiors by prefix XOR).
//!
//! It does **not** validate: string contents, numbers, literals and the `:`/`,` between members
//! are not checked. The merge uses it for the bytes of node responses it does not interpret —
//! hit members it copies through unchanged, and the hits past the page, which it only has to
//! step over. Strings and brackets must still pair up, so a truncated or unbalanced body is an
//! error; the members the merge reads are validated by the walker (`walk.rs`).

use crate::walk::{ws_back, Bad, R};

const EVEN_BITS: u64 = 0x5555_5555_5555_5555;

/// Per-block bitmasks, bit `k` = byte `k` of the block.
#[derive(Default, Clone, Copy)]
struct RawMasks {
    quote: u64,
    backslash: u64,
    /// `{` or `[`.
    open: u64,
    /// `}` or `]`.
    close: u64,
    /// The bytes of the `EXTRA` class asked for ([`SEPARATORS`] or [`UNDERSCORES`]).
    extra: u64,
}

impl RawMasks {
    /// Adds one SIMD lane's compares at bit `shift`. `eq(c, folded)` is the lane's mask of the
    /// bytes equal to `c`, after setting bit 0x20 when `folded`: `{`/`[` and `}`/`]` differ only
    /// in that bit, so one compare finds each pair.
    #[inline(always)]
    fn add_lane<const EXTRA: u8>(&mut self, shift: usize, eq: impl Fn(u8, bool) -> u64) {
        self.quote |= eq(b'"', false) << shift;
        self.backslash |= eq(b'\\', false) << shift;
        self.open |= eq(b'{', true) << shift;
        self.close |= eq(b'}', true) << shift;
        if EXTRA == SEPARATORS {
            self.extra |= (eq(b':', false) | eq(b',', false)) << shift;
        } else if EXTRA == UNDERSCORES {
            self.extra |= eq(b'_', false) << shift;
        }
    }
}

/// `EXTRA` classes of [`raw_masks`]: nothing more, `:` and `,`, or `_`.
const NO_EXTRA: u8 = 0;
const SEPARATORS: u8 = 1;
const UNDERSCORES: u8 = 2;

/// Whether the AVX2 versions (which also use PCLMULQDQ) may be used (`is_x86_feature_detected`
/// caches its answer).
#[inline(always)]
pub(crate) fn has_avx2() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("pclmulqdq")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// `AVX2 = true` only where [`has_avx2`] said yes: the public scans check once and then run a
/// copy of themselves compiled for AVX2, so this inlines down to the compares.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn raw_masks<const AVX2: bool, const EXTRA: u8>(block: &[u8; 64]) -> RawMasks {
    if AVX2 {
        // SAFETY: instantiated with AVX2 = true only after `has_avx2()` returned true.
        unsafe { raw_masks_avx2::<EXTRA>(block) }
    } else {
        raw_masks_sse2::<EXTRA>(block)
    }
}

#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn raw_masks_sse2<const EXTRA: u8>(block: &[u8; 64]) -> RawMasks {
    use std::arch::x86_64::{
        __m128i, _mm_cmpeq_epi8, _mm_loadu_si128, _mm_movemask_epi8, _mm_or_si128, _mm_set1_epi8,
    };
    let mut m = RawMasks::default();
    // SAFETY: SSE2 is part of the x86_64 baseline, so these intrinsics are always available;
    // each load reads one 16-byte lane of the 64-byte array (`chunks_exact`), unaligned loads
    // being allowed by `_mm_loadu_si128`.
    unsafe {
        let eq = |v: __m128i, c: u8| -> u64 {
            u64::from(_mm_movemask_epi8(_mm_cmpeq_epi8(v, _mm_set1_epi8(c as i8))) as u16)
        };
        let fold = _mm_set1_epi8(0x20);
        for (k, lane) in block.chunks_exact(16).enumerate() {
            let v = _mm_loadu_si128(lane.as_ptr().cast::<__m128i>());
            let folded = _mm_or_si128(v, fold);
            m.add_lane::<EXTRA>(16 * k, |c, fold| eq(if fold { folded } else { v }, c));
        }
    }
    m
}

/// The same as [`raw_masks_sse2`], 32 bytes per compare.
///
/// # Safety
/// The CPU must support AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,pclmulqdq")]
#[inline]
unsafe fn raw_masks_avx2<const EXTRA: u8>(block: &[u8; 64]) -> RawMasks {
    use std::arch::x86_64::{
        __m256i, _mm256_cmpeq_epi8, _mm256_loadu_si256, _mm256_movemask_epi8, _mm256_or_si256,
        _mm256_set1_epi8,
    };
    let mut m = RawMasks::default();
    let eq = |v: __m256i, c: u8| -> u64 {
        u64::from(_mm256_movemask_epi8(_mm256_cmpeq_epi8(v, _mm256_set1_epi8(c as i8))) as u32)
    };
    let fold = _mm256_set1_epi8(0x20);
    for (k, lane) in block.chunks_exact(32).enumerate() {
        // SAFETY: `lane` is 32 readable bytes; unaligned loads are allowed.
        let v = unsafe { _mm256_loadu_si256(lane.as_ptr().cast::<__m256i>()) };
        let folded = _mm256_or_si256(v, fold);
        m.add_lane::<EXTRA>(32 * k, |c, fold| eq(if fold { folded } else { v }, c));
    }
    m
}

#[cfg(not(target_arch = "x86_64"))]
#[inline(always)]
fn raw_masks<const AVX2: bool, const EXTRA: u8>(block: &[u8; 64]) -> RawMasks {
    raw_masks_scalar::<EXTRA>(block)
}

/// One byte at a time: the portable version, and the reference for the SIMD ones.
#[cfg(any(test, not(target_arch = "x86_64")))]
fn raw_masks_scalar<const EXTRA: u8>(block: &[u8; 64]) -> RawMasks {
    let mut m = RawMasks::default();
    for (k, &c) in block.iter().enumerate() {
        let bit = 1u64 << k;
        match c {
            b'"' => m.quote |= bit,
            b'\\' => m.backslash |= bit,
            b'{' | b'[' => m.open |= bit,
            b'}' | b']' => m.close |= bit,
            b':' | b',' if EXTRA == SEPARATORS => m.extra |= bit,
            b'_' if EXTRA == UNDERSCORES => m.extra |= bit,
            _ => {}
        }
    }
    m
}

/// Bits of the bytes escaped by a backslash (simdjson's branchless `find_escaped`).
/// `prev_escaped` carries "the first byte of the next block is escaped" (0 or 1).
#[inline(always)]
fn escaped(backslash: u64, prev_escaped: &mut u64) -> u64 {
    if backslash == 0 {
        return std::mem::take(prev_escaped);
    }
    let backslash = backslash & !*prev_escaped;
    let follows_escape = (backslash << 1) | *prev_escaped;
    let odd_starts = backslash & !EVEN_BITS & !follows_escape;
    let (even_starts, overflow) = odd_starts.overflowing_add(backslash);
    *prev_escaped = u64::from(overflow);
    let invert = even_starts << 1;
    (EVEN_BITS ^ invert) & follows_escape
}

/// [`prefix_xor`] in one carry-less multiplication by all ones.
///
/// # Safety
/// The CPU must support PCLMULQDQ.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "pclmulqdq")]
#[inline]
unsafe fn prefix_xor_clmul(x: u64) -> u64 {
    use std::arch::x86_64::{
        _mm_clmulepi64_si128, _mm_cvtsi128_si64, _mm_set1_epi8, _mm_set_epi64x,
    };
    let product = _mm_clmulepi64_si128(_mm_set_epi64x(0, x as i64), _mm_set1_epi8(-1), 0);
    _mm_cvtsi128_si64(product) as u64
}

/// Bit `k` = XOR of bits `0..=k`.
#[inline(always)]
fn prefix_xor(mut x: u64) -> u64 {
    x ^= x << 1;
    x ^= x << 2;
    x ^= x << 4;
    x ^= x << 8;
    x ^= x << 16;
    x ^= x << 32;
    x
}

/// State carried from one block to the next.
#[derive(Default, Clone, Copy)]
struct Carry {
    /// All ones when the previous block ended inside a string.
    in_string: u64,
    prev_escaped: u64,
}

/// Masks of one block: brackets outside strings, and the `EXTRA` class (outside strings for
/// separators; as found for underscores, which matter right after an opening quote).
#[derive(Clone, Copy)]
struct Masks {
    open: u64,
    close: u64,
    extra: u64,
    /// Quotes that open a string.
    opening_quotes: u64,
}

#[inline(always)]
fn classify<const AVX2: bool, const EXTRA: u8>(block: &[u8; 64], carry: &mut Carry) -> Masks {
    let raw = raw_masks::<AVX2, EXTRA>(block);
    let quotes = raw.quote & !escaped(raw.backslash, &mut carry.prev_escaped);
    #[cfg(target_arch = "x86_64")]
    let inside = if AVX2 {
        // SAFETY: AVX2 = true only after `has_avx2()`, which also checked PCLMULQDQ.
        unsafe { prefix_xor_clmul(quotes) }
    } else {
        prefix_xor(quotes)
    };
    #[cfg(not(target_arch = "x86_64"))]
    let inside = prefix_xor(quotes);
    // Set from an opening quote up to (not including) its closing quote.
    let in_string = inside ^ carry.in_string;
    carry.in_string = ((in_string as i64) >> 63) as u64;
    let outside = !in_string;
    Masks {
        open: raw.open & outside,
        close: raw.close & outside,
        extra: if EXTRA == SEPARATORS {
            raw.extra & outside
        } else {
            raw.extra | raw.backslash
        },
        opening_quotes: quotes & in_string,
    }
}

/// The 64 bytes at `at`; past the end of `b` padded with spaces (never structural).
#[inline(always)]
fn block<'a>(b: &'a [u8], at: usize, pad: &'a mut [u8; 64]) -> &'a [u8; 64] {
    if let Some(Ok(full)) = b.get(at..at + 64).map(<&[u8; 64]>::try_from) {
        return full;
    }
    *pad = [b' '; 64];
    if let Some(rest) = b.get(at..) {
        if let Some(dst) = pad.get_mut(..rest.len()) {
            dst.copy_from_slice(rest);
        }
    }
    pad
}

/// `pos` is outside any string, inside `depth` (≥ 1) open containers. Returns the index just
/// after the bracket that closes the outermost of them, or `None` when the body ends first.
pub(crate) fn skip_to_close(b: &[u8], pos: usize, depth: usize) -> Option<usize> {
    #[cfg(target_arch = "x86_64")]
    if has_avx2() {
        // SAFETY: the CPU has AVX2.
        return unsafe { skip_to_close_avx2(b, pos, depth) };
    }
    skip_to_close_in::<false>(b, pos, depth)
}

/// # Safety
/// The CPU must support AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,pclmulqdq")]
unsafe fn skip_to_close_avx2(b: &[u8], pos: usize, depth: usize) -> Option<usize> {
    skip_to_close_in::<true>(b, pos, depth)
}

#[inline(always)]
fn skip_to_close_in<const AVX2: bool>(b: &[u8], pos: usize, mut depth: usize) -> Option<usize> {
    if depth == 0 {
        return Some(pos);
    }
    let mut carry = Carry::default();
    let mut pad = [0u8; 64];
    let mut at = pos;
    while at < b.len() {
        let m = classify::<AVX2, NO_EXTRA>(block(b, at, &mut pad), &mut carry);
        let closes = m.close.count_ones() as usize;
        if closes < depth {
            // Depth cannot reach zero inside this block.
            depth = depth + m.open.count_ones() as usize - closes;
        } else {
            let mut bits = m.open | m.close;
            while bits != 0 {
                let k = bits.trailing_zeros();
                bits &= bits - 1;
                if m.open & (1 << k) != 0 {
                    depth += 1;
                } else {
                    depth -= 1;
                    if depth == 0 {
                        return Some(at + k as usize + 1);
                    }
                }
            }
        }
        at += 64;
    }
    None
}

/// Walks the object whose `{` is at `start` and returns the index just after its closing `}`.
/// Only brackets are followed, 64 bytes at a time; the one place it stops is a member key of
/// this object (nesting depth 1) whose first byte is `_` or `\\` — the only keys that can name
/// a member the merge reads or removes. `on_key` gets the key's opening quote, reads that member
/// itself and returns the index just after its value, where the walk resumes.
pub(crate) fn scan_object<F: FnMut(usize) -> R<usize>>(
    b: &[u8],
    start: usize,
    on_key: F,
) -> R<usize> {
    #[cfg(target_arch = "x86_64")]
    if has_avx2() {
        // SAFETY: the CPU has AVX2.
        return unsafe { scan_object_avx2(b, start, on_key) };
    }
    scan_object_in::<false, F>(b, start, on_key)
}

/// # Safety
/// The CPU must support AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,pclmulqdq")]
unsafe fn scan_object_avx2<F: FnMut(usize) -> R<usize>>(
    b: &[u8],
    start: usize,
    on_key: F,
) -> R<usize> {
    scan_object_in::<true, F>(b, start, on_key)
}

#[inline(always)]
fn scan_object_in<const AVX2: bool, F: FnMut(usize) -> R<usize>>(
    b: &[u8],
    start: usize,
    mut on_key: F,
) -> R<usize> {
    if b.get(start) != Some(&b'{') {
        return Err(Bad(start));
    }
    let mut carry = Carry::default();
    let mut pad = [0u8; 64];
    let mut depth = 1usize;
    let mut at = start + 1;
    'blocks: while at < b.len() {
        let m = classify::<AVX2, UNDERSCORES>(block(b, at, &mut pad), &mut carry);
        // `_` or `\\` right after an opening quote (the byte after this block counts for bit 63).
        let next_is_special = matches!(b.get(at + 64), Some(b'_' | b'\\'));
        let special_next = (m.extra >> 1) | (u64::from(next_is_special) << 63);
        let candidates = m.opening_quotes & special_next;
        let closes = m.close.count_ones() as usize;
        if candidates == 0 && closes < depth {
            // Neither a key to read nor the object's end in this block.
            depth = depth + m.open.count_ones() as usize - closes;
            at += 64;
            continue;
        }
        let mut bits = m.open | m.close | candidates;
        while bits != 0 {
            let k = bits.trailing_zeros() as usize;
            let bit = 1u64 << k;
            bits &= bits - 1;
            let pos = at + k;
            if m.open & bit != 0 {
                depth += 1;
            } else if m.close & bit != 0 {
                depth -= 1;
                if depth == 0 {
                    return if b.get(pos) == Some(&b'}') {
                        Ok(pos + 1)
                    } else {
                        Err(Bad(pos))
                    };
                }
            } else if depth == 1
                && matches!(b.get(ws_back(b, pos).wrapping_sub(1)), Some(b'{' | b','))
            {
                // A key (a string at depth 1 after `{` or `,`, not after `:`).
                let mut resume = on_key(pos)?;
                if resume <= pos {
                    return Err(Bad(pos));
                }
                // The members right after it that are read too (`_rankingScore` and its details
                // follow `_miroir_shard`) are read at once, without classifying their bytes;
                // when the last one read is the object's last, the object ends there.
                loop {
                    let after = crate::walk::ws(b, resume);
                    match b.get(after) {
                        Some(b'}') => return Ok(after + 1),
                        Some(b',') => {
                            let key = crate::walk::ws(b, after + 1);
                            if b.get(key) == Some(&b'"')
                                && matches!(b.get(key + 1), Some(b'_' | b'\\'))
                            {
                                let next = on_key(key)?;
                                if next <= key {
                                    return Err(Bad(key));
                                }
                                resume = next;
                                continue;
                            }
                        }
                        _ => {}
                    }
                    break;
                }
                if resume < at + 64 {
                    // Still in this block, whose masks hold (its strings were followed through
                    // the member): go on from `resume`.
                    bits &= u64::MAX << (resume - at);
                    continue;
                }
                carry = Carry::default();
                at = resume;
                continue 'blocks;
            }
        }
        at += 64;
    }
    Err(Bad(b.len()))
}

/// Positions of `{ } [ ] : ,` outside strings, in order, from a starting point outside any
/// string. `AVX2 = true` only after [`has_avx2`] said yes (see [`Structurals::new`]).
pub(crate) struct Structurals<'a, const AVX2: bool> {
    b: &'a [u8],
    base: usize,
    bits: u64,
    carry: Carry,
}

impl<'a, const AVX2: bool> Structurals<'a, AVX2> {
    /// # Safety
    /// With `AVX2 = true` the CPU must support AVX2 and PCLMULQDQ ([`has_avx2`]).
    #[inline(always)]
    pub(crate) unsafe fn new(b: &'a [u8], pos: usize) -> Self {
        let mut s = Structurals {
            b,
            base: pos,
            bits: 0,
            carry: Carry::default(),
        };
        s.load();
        s
    }

    #[inline(always)]
    fn load(&mut self) {
        if self.base >= self.b.len() {
            self.bits = 0;
            return;
        }
        let mut pad = [0u8; 64];
        let m = classify::<AVX2, SEPARATORS>(block(self.b, self.base, &mut pad), &mut self.carry);
        self.bits = m.open | m.close | m.extra;
    }

    /// The next structural byte's position, or `None` at the end of the body.
    #[inline(always)]
    pub(crate) fn next_pos(&mut self) -> Option<usize> {
        while self.bits == 0 {
            self.base += 64;
            if self.base >= self.b.len() {
                return None;
            }
            self.load();
        }
        let k = self.bits.trailing_zeros() as usize;
        self.bits &= self.bits - 1;
        Some(self.base + k)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Byte-at-a-time reference: structural positions outside strings. Like the scanner, it
    /// lets a backslash escape the next quote or backslash even outside strings (invalid JSON either way).
    fn reference(b: &[u8], from: usize) -> Vec<usize> {
        let mut out = Vec::new();
        let mut in_str = false;
        let mut esc = false;
        for (i, &c) in b.iter().enumerate().skip(from) {
            let escaped = std::mem::take(&mut esc);
            if c == b'\\' && !escaped {
                esc = true;
            } else if c == b'"' && !escaped {
                in_str = !in_str;
            } else if !in_str && matches!(c, b'{' | b'}' | b'[' | b']' | b':' | b',') {
                out.push(i);
            }
        }
        out
    }

    fn scanned(b: &[u8], from: usize) -> Vec<usize> {
        // SAFETY: the portable version has no CPU requirement.
        let mut s = unsafe { Structurals::<false>::new(b, from) };
        std::iter::from_fn(|| s.next_pos()).collect()
    }

    fn json_bytes() -> impl Strategy<Value = Vec<u8>> {
        prop::collection::vec(
            prop::sample::select(vec![
                b'"', b'\\', b'{', b'}', b'[', b']', b':', b',', b'a', b' ', b'1', 0xc3,
            ]),
            0..400,
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]
        #[test]
        fn matches_the_byte_at_a_time_reference(b in json_bytes()) {
            prop_assert_eq!(scanned(&b, 0), reference(&b, 0));
        }

        #[test]
        fn skip_to_close_finds_the_matching_bracket(doc in prop::collection::vec("[a-z\"\\\\{}\\[\\]]{0,8}", 0..40)) {
            let inner = serde_json::to_string(&doc).unwrap();
            let body = format!("[{inner},{{\"k\":{inner}}}] ,\"tail\":1}}");
            let end = skip_to_close(body.as_bytes(), 1, 1);
            prop_assert_eq!(end, Some(body.find(" ,\"tail\"").unwrap()));
        }
    }

    #[cfg(target_arch = "x86_64")]
    proptest! {
        #[test]
        fn sse2_and_avx2_masks_agree(bytes in prop::collection::vec(any::<u8>(), 64)) {
            let block: [u8; 64] = bytes.try_into().unwrap();
            for extra in [SEPARATORS, UNDERSCORES] {
                let (sse2, scalar) = match extra {
                    SEPARATORS => (raw_masks_sse2::<SEPARATORS>(&block), raw_masks_scalar::<SEPARATORS>(&block)),
                    _ => (raw_masks_sse2::<UNDERSCORES>(&block), raw_masks_scalar::<UNDERSCORES>(&block)),
                };
                let fields = |m: RawMasks| [m.quote, m.backslash, m.open, m.close, m.extra];
                prop_assert_eq!(fields(sse2), fields(scalar));
                if std::is_x86_feature_detected!("avx2") {
                    // SAFETY: AVX2 checked just above.
                    let avx2 = unsafe {
                        match extra {
                            SEPARATORS => raw_masks_avx2::<SEPARATORS>(&block),
                            _ => raw_masks_avx2::<UNDERSCORES>(&block),
                        }
                    };
                    prop_assert_eq!(fields(avx2), fields(scalar));
                }
            }
        }
    }

    #[cfg(target_arch = "x86_64")]
    proptest! {
        #[test]
        fn clmul_prefix_xor_matches(x in any::<u64>()) {
            if has_avx2() {
                // SAFETY: checked just above.
                prop_assert_eq!(unsafe { prefix_xor_clmul(x) }, prefix_xor(x));
            }
        }
    }

    #[test]
    fn escapes_across_blocks() {
        for pad in 0..70 {
            let mut s = "x".repeat(pad);
            s = format!("[\"{s}\\\\\\\"]\\\\\",{{}}]");
            let b = s.as_bytes();
            assert_eq!(scanned(b, 0), reference(b, 0), "{s}");
            assert_eq!(skip_to_close(b, 1, 1), Some(b.len()), "{s}");
        }
    }

    /// Top-level keys `scan_object` stops at, with the portable (`false`) or AVX2 masks.
    fn keys_seen<const AVX2: bool>(b: &[u8]) -> (R<usize>, Vec<usize>) {
        let mut seen = Vec::new();
        let end = scan_object_in::<AVX2, _>(b, 0, |k| {
            seen.push(k);
            let colon = crate::walk::ws(b, crate::walk::skip_string(b, k)?);
            let value = crate::walk::ws(b, colon + 1);
            crate::walk::skip_value(b, value, 1)
        });
        (end, seen)
    }

    proptest! {
        // Both mask implementations must drive the scans to the same answers; the AVX2 one is
        // what the merge's property tests exercise on this machine, so the portable one is
        // checked against it (and both against the expected keys).
        #[test]
        fn portable_and_avx2_scans_agree(
            members in prop::collection::vec(
                (prop::sample::select(vec!["a", "_b", "_miroir_c", "d\\\"", "\\u005fe", "_"]),
                 prop::sample::select(vec!["1", "\"_x\"", "{\"_y\":[1,{\"_z\":\"}\"}]}", "\"\\\\\"", "[\"]\",{}]"])),
                0..10),
            pad in 0usize..80,
        ) {
            let mut seen_keys = std::collections::HashSet::new();
            let body: Vec<String> = members
                .iter()
                .filter(|(k, _)| seen_keys.insert(*k))
                .map(|(k, v)| format!("\"{k}\":{v}"))
                .collect();
            let text = format!("{{\"pad\":\"{}\",{}}} ,", "p".repeat(pad), body.join(","));
            let text = text.replace(",}", "}");
            let b = text.as_bytes();
            let want_keys = body.iter().filter(|m| m.starts_with("\"_") || m.starts_with("\"\\")).count();
            let (end, seen) = keys_seen::<false>(b);
            prop_assert_eq!(end, Ok(text.len() - 2), "{}", text);
            prop_assert_eq!(seen.len(), want_keys, "{}", text);
            prop_assert_eq!(skip_to_close_in::<false>(b, 1, 1), Some(text.len() - 2));
            if has_avx2() {
                prop_assert_eq!(keys_seen::<true>(b), (end, seen));
                prop_assert_eq!(skip_to_close_in::<true>(b, 1, 1), Some(text.len() - 2));
                // SAFETY: checked just above.
                let mut avx2 = unsafe { Structurals::<true>::new(b, 0) };
                prop_assert_eq!(std::iter::from_fn(|| avx2.next_pos()).collect::<Vec<_>>(), scanned(b, 0));
            }
        }
    }

    #[test]
    fn unbalanced_is_none() {
        assert_eq!(skip_to_close(b"[1,[2]", 1, 1), None);
        assert_eq!(skip_to_close(b"\"]\"", 0, 1), None);
    }
}
