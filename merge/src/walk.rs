//! A validating, allocation-free JSON walker over node bytes.
//!
//! It checks the full JSON grammar (strings with their escapes and control characters, UTF-8 of
//! every string that has non-ASCII bytes, numbers, literals, nesting up to [`MAX_DEPTH`]) while
//! reporting *where* things are: the byte ranges of object members and array elements. That is
//! what lets the merge pull hits lazily from several node bodies at once and cut members out by
//! byte range. It never indexes out of bounds and never panics; malformed input is [`Bad`] with
//! the byte offset where it was noticed.

use std::borrow::Cow;

/// Malformed JSON, noticed at this byte offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Bad(pub usize);

pub(crate) type R<T> = Result<T, Bad>;

/// Deepest nesting accepted (serde_json's default recursion limit).
pub(crate) const MAX_DEPTH: usize = 128;

/// Prefix of the fields Miroir adds to documents; never shown to clients.
pub(crate) const RESERVED_PREFIX: &str = "_miroir_";

/// Index of the first non-whitespace byte at or after `i` (may be `b.len()`).
#[inline]
pub(crate) fn ws(b: &[u8], mut i: usize) -> usize {
    while let Some(c) = b.get(i) {
        if matches!(c, b' ' | b'\n' | b'\r' | b'\t') {
            i += 1;
        } else {
            break;
        }
    }
    i
}

/// Index just after the last non-whitespace byte before `i`.
#[inline]
pub(crate) fn ws_back(b: &[u8], mut i: usize) -> usize {
    while i > 0 && matches!(b.get(i - 1), Some(b' ' | b'\n' | b'\r' | b'\t')) {
        i -= 1;
    }
    i
}

const LO: u64 = 0x0101_0101_0101_0101;
const HI: u64 = 0x8080_8080_8080_8080;

/// High bit set in each byte of `x` that equals `c` (exact for the first match, which is all
/// that is used).
#[inline(always)]
fn eq_mask(x: u64, c: u8) -> u64 {
    let y = x ^ (LO * u64::from(c));
    y.wrapping_sub(LO) & !y & HI
}

#[inline(always)]
fn load8(b: &[u8], j: usize) -> Option<u64> {
    let chunk: [u8; 8] = b.get(j..j + 8)?.try_into().ok()?;
    Some(u64::from_le_bytes(chunk))
}

/// The 1 to 7 bytes of `b` from `j`, zero-padded to 8; `None` when there are none.
#[inline(always)]
fn load_last(b: &[u8], j: usize) -> Option<u64> {
    let last = b.get(j..).filter(|last| !last.is_empty())?;
    let mut chunk = [0u8; 8];
    chunk.get_mut(..last.len())?.copy_from_slice(last);
    Some(u64::from_le_bytes(chunk))
}

/// `i` is at an opening quote; returns the index just after the closing quote. Validates
/// escapes, rejects control characters and checks UTF-8 when the string has non-ASCII bytes.
///
/// Fast path (inlined): plain ASCII strings without escapes, scanned 8 bytes at a time.
#[inline(always)]
pub(crate) fn skip_string(b: &[u8], i: usize) -> R<usize> {
    match skip_plain_string(b, i) {
        Some(end) => Ok(end),
        None => skip_string_slow(b, i),
    }
}

/// [`skip_string`], also telling whether the string is known to have no escapes (`false` means
/// "maybe").
#[inline(always)]
pub(crate) fn skip_string_escape_free(b: &[u8], i: usize) -> R<(usize, bool)> {
    match skip_plain_string(b, i) {
        Some(end) => Ok((end, true)),
        None => Ok((skip_string_slow(b, i)?, false)),
    }
}

/// The end of the string at `i` if it is plain ASCII without escapes; `None` means "use
/// [`skip_string_slow`]".
#[inline(always)]
pub(crate) fn skip_plain_string(b: &[u8], i: usize) -> Option<usize> {
    let mut j = i + 1;
    // The last bytes of `b` are read zero-padded (a node answer's last member, `requestUid`, ends
    // there): a zero is a control byte, which stops the scan like the end of `b`.
    while let Some(x) = load8(b, j).or_else(|| load_last(b, j)) {
        let quote = eq_mask(x, b'"');
        let other = eq_mask(x, b'\\') | (x.wrapping_sub(LO * 0x20) & !x) | x;
        let stop = quote | (other & HI);
        if stop == 0 {
            j += 8;
            continue;
        }
        let first = stop & stop.wrapping_neg();
        if quote & first != 0 {
            // The quote comes first; every byte before it is plain ASCII.
            return Some(j + (first.trailing_zeros() / 8) as usize + 1);
        }
        return None;
    }
    None
}

/// The general case: escapes, non-ASCII (UTF-8 checked), control bytes, the last 8 bytes.
#[cold]
#[inline(never)]
fn skip_string_slow(b: &[u8], i: usize) -> R<usize> {
    let start = i + 1;
    let mut j = start;
    let mut high = 0u8;
    loop {
        match b.get(j) {
            Some(b'"') => {
                if high & 0x80 != 0 {
                    let s = b.get(start..j).ok_or(Bad(j))?;
                    std::str::from_utf8(s).map_err(|e| Bad(start + e.valid_up_to()))?;
                }
                return Ok(j + 1);
            }
            Some(b'\\') => match b.get(j + 1) {
                Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => j += 2,
                Some(b'u') => {
                    let hex = b.get(j + 2..j + 6).ok_or(Bad(j))?;
                    if !hex.iter().all(u8::is_ascii_hexdigit) {
                        return Err(Bad(j));
                    }
                    j += 6;
                }
                _ => return Err(Bad(j)),
            },
            Some(&c) if c < 0x20 => return Err(Bad(j)),
            Some(&c) => {
                high |= c;
                j += 1;
            }
            None => return Err(Bad(j)),
        }
    }
}

/// Index of the first non-digit at or after `i`.
#[inline(always)]
fn skip_digits(b: &[u8], mut i: usize) -> usize {
    while let Some(x) = load8(b, i) {
        // High bit set in every non-digit byte (>= '9'+1 by the add, < '0' by the subtract);
        // carries/borrows only start at a non-digit, so the lowest flag is exact.
        let t = (x.wrapping_add(LO * 0x46) | x.wrapping_sub(LO * 0x30)) & HI;
        if t != 0 {
            return i + (t.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    while matches!(b.get(i), Some(b'0'..=b'9')) {
        i += 1;
    }
    i
}

/// A JSON number starting at `i`; returns the index just after it.
#[inline(always)]
pub(crate) fn skip_number(b: &[u8], i: usize) -> R<usize> {
    let mut j = i;
    if b.get(j) == Some(&b'-') {
        j += 1;
    }
    match b.get(j) {
        Some(b'0') => j += 1,
        Some(b'1'..=b'9') => j = skip_digits(b, j + 1),
        _ => return Err(Bad(j)),
    }
    if b.get(j) == Some(&b'.') {
        let k = skip_digits(b, j + 1);
        if k == j + 1 {
            return Err(Bad(k));
        }
        j = k;
    }
    if matches!(b.get(j), Some(b'e' | b'E')) {
        j += 1;
        if matches!(b.get(j), Some(b'+' | b'-')) {
            j += 1;
        }
        let k = skip_digits(b, j);
        if k == j {
            return Err(Bad(k));
        }
        j = k;
    }
    Ok(j)
}

fn literal(b: &[u8], i: usize, lit: &[u8]) -> R<usize> {
    if b.get(i..i + lit.len()) == Some(lit) {
        Ok(i + lit.len())
    } else {
        Err(Bad(i))
    }
}

/// Validates the value at `i` (no leading whitespace) nested `depth` containers deep; returns the
/// index just after it.
#[inline]
pub(crate) fn skip_value(b: &[u8], i: usize, depth: usize) -> R<usize> {
    match b.get(i) {
        Some(b'"') => skip_string(b, i),
        Some(b'{') => skip_object(b, i, depth),
        Some(b'[') => skip_array(b, i, depth),
        _ => skip_scalar(b, i),
    }
}

/// A number or literal at `i`.
#[inline(always)]
fn skip_scalar(b: &[u8], i: usize) -> R<usize> {
    match b.get(i) {
        Some(b'-' | b'0'..=b'9') => skip_number(b, i),
        Some(b't') => literal(b, i, b"true"),
        Some(b'f') => literal(b, i, b"false"),
        Some(b'n') => literal(b, i, b"null"),
        _ => Err(Bad(i)),
    }
}

/// `i` is at `{`.
fn skip_object(b: &[u8], i: usize, depth: usize) -> R<usize> {
    if depth >= MAX_DEPTH {
        return Err(Bad(i));
    }
    let mut j = ws(b, i + 1);
    if b.get(j) == Some(&b'}') {
        return Ok(j + 1);
    }
    loop {
        if b.get(j) != Some(&b'"') {
            return Err(Bad(j));
        }
        j = ws(b, skip_string(b, j)?);
        if b.get(j) != Some(&b':') {
            return Err(Bad(j));
        }
        let v = ws(b, j + 1);
        // Strings and scalars inline; only containers recurse.
        let e = match b.get(v) {
            Some(b'"') => skip_string(b, v)?,
            Some(b'{') => skip_object(b, v, depth + 1)?,
            Some(b'[') => skip_array(b, v, depth + 1)?,
            _ => skip_scalar(b, v)?,
        };
        j = ws(b, e);
        match b.get(j) {
            Some(b',') => j = ws(b, j + 1),
            Some(b'}') => return Ok(j + 1),
            _ => return Err(Bad(j)),
        }
    }
}

/// `i` is at `[`.
fn skip_array(b: &[u8], i: usize, depth: usize) -> R<usize> {
    if depth >= MAX_DEPTH {
        return Err(Bad(i));
    }
    let mut j = ws(b, i + 1);
    if b.get(j) == Some(&b']') {
        return Ok(j + 1);
    }
    loop {
        let e = match b.get(j) {
            Some(b'"') => skip_string(b, j)?,
            Some(b'{') => skip_object(b, j, depth + 1)?,
            Some(b'[') => skip_array(b, j, depth + 1)?,
            _ => skip_scalar(b, j)?,
        };
        j = ws(b, e);
        match b.get(j) {
            Some(b',') => j = ws(b, j + 1),
            Some(b']') => return Ok(j + 1),
            _ => return Err(Bad(j)),
        }
    }
}

/// Validates a whole JSON text (whitespace around one value).
pub(crate) fn validate(b: &[u8]) -> R<()> {
    let i = ws(b, 0);
    let end = skip_value(b, i, 0)?;
    let end = ws(b, end);
    if end == b.len() {
        Ok(())
    } else {
        Err(Bad(end))
    }
}

/// A member key, before its value has been read.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Key<'a> {
    /// Index of the key's opening quote.
    pub key_start: usize,
    /// The key's raw bytes between the quotes (escapes not decoded).
    pub key: &'a [u8],
    /// Index of the value's first byte.
    pub value_start: usize,
}

/// One `"key": value` member of an object, as byte offsets into the walked slice.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Member<'a> {
    pub key_start: usize,
    pub key: &'a [u8],
    pub value_start: usize,
    /// Index just after the value.
    pub value_end: usize,
}

/// Position in an object or array being iterated: the part [`Members`] and [`Elements`] share.
#[derive(Clone)]
struct Container<'a> {
    b: &'a [u8],
    i: usize,
    /// Depth of the values inside this container.
    depth: usize,
    first: bool,
    done: bool,
}

impl<'a> Container<'a> {
    /// `start` is at the `open` bracket (or whitespace before it); `depth` is the nesting depth
    /// of the container itself.
    fn open(b: &'a [u8], start: usize, depth: usize, open: u8) -> R<Self> {
        let i = ws(b, start);
        if b.get(i) != Some(&open) || depth >= MAX_DEPTH {
            return Err(Bad(i));
        }
        Ok(Container {
            b,
            i: i + 1,
            depth: depth + 1,
            first: true,
            done: false,
        })
    }

    /// Start of the next item, past its `,`; `None` at the `close` bracket.
    #[inline]
    fn next_item(&mut self, close: u8) -> R<Option<usize>> {
        if self.done {
            return Ok(None);
        }
        let b = self.b;
        let mut i = ws(b, self.i);
        match b.get(i) {
            Some(&c) if c == close => {
                self.done = true;
                self.i = i + 1;
                return Ok(None);
            }
            Some(b',') if !self.first => i = ws(b, i + 1),
            Some(_) if self.first => {}
            _ => return Err(Bad(i)),
        }
        self.first = false;
        Ok(Some(i))
    }
}

/// Iterates the members of the object at `start`. Either [`Members::next_member`] (which
/// validates and skips each value), or [`Members::next_key`] followed by reading the value
/// yourself and [`Members::resume`] with its end.
#[derive(Clone)]
pub(crate) struct Members<'a>(Container<'a>);

impl<'a> Members<'a> {
    /// `start` is at the object's `{` (or whitespace before it); `depth` is the nesting depth of
    /// the object itself.
    pub(crate) fn new(b: &'a [u8], start: usize, depth: usize) -> R<Self> {
        Container::open(b, start, depth, b'{').map(Members)
    }

    /// Nesting depth for values read by the caller after [`Members::next_key`].
    pub(crate) fn value_depth(&self) -> usize {
        self.0.depth
    }

    #[inline]
    pub(crate) fn next_key(&mut self) -> R<Option<Key<'a>>> {
        let Some(i) = self.0.next_item(b'}')? else {
            return Ok(None);
        };
        let b = self.0.b;
        if b.get(i) != Some(&b'"') {
            return Err(Bad(i));
        }
        let key_end = match skip_plain_string(b, i) {
            Some(e) => e,
            None => skip_string_slow(b, i)?,
        };
        let key = b.get(i + 1..key_end - 1).ok_or(Bad(i))?;
        let colon = ws(b, key_end);
        if b.get(colon) != Some(&b':') {
            return Err(Bad(colon));
        }
        let value_start = ws(b, colon + 1);
        Ok(Some(Key {
            key_start: i,
            key,
            value_start,
        }))
    }

    /// Continue after a value the caller read itself, ending at `value_end`.
    #[inline]
    pub(crate) fn resume(&mut self, value_end: usize) {
        self.0.i = value_end;
    }

    #[inline]
    pub(crate) fn next_member(&mut self) -> R<Option<Member<'a>>> {
        let Some(k) = self.next_key()? else {
            return Ok(None);
        };
        let value_end = skip_value(self.0.b, k.value_start, self.0.depth)?;
        self.resume(value_end);
        Ok(Some(Member {
            key_start: k.key_start,
            key: k.key,
            value_start: k.value_start,
            value_end,
        }))
    }

    /// Index just after the closing `}` (once iteration returned `None`).
    pub(crate) fn end(&self) -> usize {
        self.0.i
    }
}

/// Iterates the elements of the array at `start`, like [`Members`].
pub(crate) struct Elements<'a>(Container<'a>);

impl<'a> Elements<'a> {
    pub(crate) fn new(b: &'a [u8], start: usize, depth: usize) -> R<Self> {
        Container::open(b, start, depth, b'[').map(Elements)
    }

    pub(crate) fn value_depth(&self) -> usize {
        self.0.depth
    }

    /// Start of the next element (read it, then [`Elements::resume`]), or `None` at `]`.
    #[inline]
    pub(crate) fn next_start(&mut self) -> R<Option<usize>> {
        self.0.next_item(b']')
    }

    #[inline]
    pub(crate) fn resume(&mut self, value_end: usize) {
        self.0.i = value_end;
    }

    /// Steps over the remaining elements without reading them (structural scan, not validated).
    pub(crate) fn skip_rest(&mut self) -> R<()> {
        let c = &mut self.0;
        if !c.done {
            c.i = crate::scan::skip_to_close(c.b, c.i, 1).ok_or(Bad(c.b.len()))?;
            c.done = true;
        }
        Ok(())
    }

    /// Whether the closing `]` has been reached.
    pub(crate) fn done(&self) -> bool {
        self.0.done
    }

    /// Declares the array closed at `end` (just after its `]`), found by the caller.
    pub(crate) fn close_at(&mut self, end: usize) {
        self.0.i = end;
        self.0.done = true;
    }

    pub(crate) fn next_element(&mut self) -> R<Option<(usize, usize)>> {
        let Some(s) = self.next_start()? else {
            return Ok(None);
        };
        let e = skip_value(self.0.b, s, self.0.depth)?;
        self.resume(e);
        Ok(Some((s, e)))
    }

    pub(crate) fn end(&self) -> usize {
        self.0.i
    }
}

/// Decodes the raw bytes between a string's quotes. Borrows unless there are escapes.
pub(crate) fn decode_str(raw: &[u8]) -> Option<Cow<'_, str>> {
    if memchr::memchr(b'\\', raw).is_none() {
        return std::str::from_utf8(raw).ok().map(Cow::Borrowed);
    }
    let mut quoted = Vec::with_capacity(raw.len() + 2);
    quoted.push(b'"');
    quoted.extend_from_slice(raw);
    quoted.push(b'"');
    serde_json::from_slice::<String>(&quoted)
        .ok()
        .map(Cow::Owned)
}

/// A member key's name: its raw bytes, decoded first when it holds an escape (`at`: where the
/// key is, for the error).
pub(crate) fn key_name(raw: &[u8], at: usize) -> R<Cow<'_, [u8]>> {
    if raw.contains(&b'\\') {
        let decoded = decode_str(raw).ok_or(Bad(at))?;
        Ok(Cow::Owned(decoded.into_owned().into_bytes()))
    } else {
        Ok(Cow::Borrowed(raw))
    }
}

/// Whether a raw (undecoded) key equals `name`.
#[inline]
pub(crate) fn key_is(raw: &[u8], name: &str) -> bool {
    if raw == name.as_bytes() {
        return true;
    }
    // Keys are short: a plain loop beats a memchr call.
    raw.contains(&b'\\') && decode_str(raw).is_some_and(|k| k == name)
}

/// Whether a raw (undecoded) key starts with `prefix`.
#[inline]
pub(crate) fn key_starts_with(raw: &[u8], prefix: &str) -> bool {
    if raw.starts_with(prefix.as_bytes()) {
        return true;
    }
    raw.contains(&b'\\') && decode_str(raw).is_some_and(|k| k.starts_with(prefix))
}

/// Parses an (already validated) JSON number slice as `f64`.
#[inline]
pub(crate) fn parse_f64(raw: &[u8]) -> Option<f64> {
    std::str::from_utf8(raw).ok()?.parse::<f64>().ok()
}

/// Collects byte ranges to cut out of an object so that removing some members leaves valid JSON.
///
/// Feed it every member of one object in order ([`CutBuilder::member`]), then call
/// [`CutBuilder::finish`]. A removed member takes the comma *before* it when a kept member
/// precedes it, otherwise everything up to the next member's key (its own trailing comma).
/// Cuts come out sorted and disjoint as long as nested cuts of a kept member are pushed after
/// its `member` call.
#[derive(Default)]
pub(crate) struct CutBuilder {
    kept_before: bool,
    pending: Option<usize>,
    prev_end: usize,
    last_removed_end: usize,
}

impl CutBuilder {
    #[inline]
    pub(crate) fn member(
        &mut self,
        key_start: usize,
        value_end: usize,
        remove: bool,
        cuts: &mut Vec<(usize, usize)>,
    ) {
        if let Some(p) = self.pending.take() {
            cuts.push((p, key_start));
        }
        if remove {
            if self.kept_before {
                cuts.push((self.prev_end, value_end));
            } else {
                self.pending = Some(key_start);
            }
            self.last_removed_end = value_end;
        } else {
            self.kept_before = true;
        }
        self.prev_end = value_end;
    }

    #[inline]
    pub(crate) fn finish(&mut self, cuts: &mut Vec<(usize, usize)>) {
        if let Some(p) = self.pending.take() {
            cuts.push((p, self.last_removed_end));
        }
    }
}

/// Appends `b[start..end]` to `out` without the (sorted, disjoint, inside) `cuts`.
pub(crate) fn write_with_cuts(
    b: &[u8],
    start: usize,
    end: usize,
    cuts: &[(usize, usize)],
    out: &mut Vec<u8>,
) -> R<()> {
    let mut pos = start;
    for &(s, e) in cuts {
        if s < pos || e < s {
            return Err(Bad(s));
        }
        out.extend_from_slice(b.get(pos..s).ok_or(Bad(pos))?);
        pos = e;
    }
    out.extend_from_slice(b.get(pos..end).ok_or(Bad(pos))?);
    Ok(())
}

/// Validates the object at `start` and cuts every member whose key starts with `_miroir_`, and
/// the member `also` when given. Returns the index just after the object.
pub(crate) fn strip_reserved_members(
    b: &[u8],
    start: usize,
    depth: usize,
    also: Option<&str>,
    cuts: &mut Vec<(usize, usize)>,
) -> R<usize> {
    let mut members = Members::new(b, start, depth)?;
    let mut cb = CutBuilder::default();
    while let Some(m) = members.next_member()? {
        let remove =
            key_starts_with(m.key, RESERVED_PREFIX) || also.is_some_and(|name| key_is(m.key, name));
        cb.member(m.key_start, m.value_end, remove, cuts);
    }
    cb.finish(cuts);
    Ok(members.end())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strip(s: &str) -> String {
        let mut cuts = Vec::new();
        let end = strip_reserved_members(s.as_bytes(), 0, 0, None, &mut cuts).unwrap();
        let mut out = Vec::new();
        write_with_cuts(s.as_bytes(), 0, end, &cuts, &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn cuts_keep_valid_json() {
        assert_eq!(strip(r#"{"a":1,"_miroir_x":2}"#), r#"{"a":1}"#);
        assert_eq!(strip(r#"{"_miroir_x":2,"a":1}"#), r#"{"a":1}"#);
        assert_eq!(strip(r#"{"_miroir_x":2}"#), r#"{}"#);
        assert_eq!(
            strip(r#"{"_miroir_x":2,"_miroir_y":[1,{"}":"]"}]}"#),
            r#"{}"#
        );
        assert_eq!(
            strip(r#"{"_miroir_x":2,"_miroir_y":3,"a":1,"_miroir_z":4,"b":"\"","_miroir_w":{}}"#),
            r#"{"a":1,"b":"\""}"#
        );
        assert_eq!(
            strip("{ \"a\" : 1 , \"_miroir_x\" : 2 , \"b\" : 3 }"),
            "{ \"a\" : 1 , \"b\" : 3 }"
        );
        assert_eq!(strip(r#"{"\u005fmiroir_x":1,"a":2}"#), r#"{"a":2}"#);
        assert_eq!(strip("{}"), "{}");
    }

    #[test]
    fn strings() {
        assert_eq!(skip_string(br#""a\"b\\" , 1"#, 0), Ok(8));
        assert_eq!(
            skip_string("\"héllo wörld, long enough\"".as_bytes(), 0),
            Ok(28)
        );
        assert!(skip_string(b"\"ab\xffcdefghijk\"", 0).is_err());
        assert!(skip_string(b"\"abcdefghij\x01\"", 0).is_err());
        assert!(skip_string(br#""\x""#, 0).is_err());
        assert!(skip_string(br#""\u12G4""#, 0).is_err());
        assert_eq!(skip_string(br#""\u12aF""#, 0), Ok(8));
        assert!(skip_string(br#""abc"#, 0).is_err());
    }

    #[test]
    fn plain_strings_end_where_the_general_reader_says_at_any_distance_from_the_end() {
        for body in [
            &br#""01a21968-ab49-7e53-b0ab-16ba21444fb0"}"#[..],
            br#""batman","x":1}"#,
            br#""a\"b","#,
            "\"héllo\"}".as_bytes(),
            b"\"ab\x01c\"}",
            br#""unterminated"#,
            br#""""#,
        ] {
            // The body cut at every length: the fast path, where it answers, agrees with the
            // general reader, and answers for every plain string.
            for len in 1..=body.len() {
                let b = &body[..len];
                let general = skip_string_slow(b, 0);
                let plain_string = general.is_ok_and(|end| {
                    b[1..end - 1]
                        .iter()
                        .all(|&c| (0x20..0x80).contains(&c) && c != b'\\')
                });
                match skip_plain_string(b, 0) {
                    Some(end) => assert_eq!(Ok(end), general, "{b:?}"),
                    None => assert!(!plain_string, "{b:?}"),
                }
            }
        }
    }

    #[test]
    fn digits() {
        for s in [
            "",
            "1",
            "12345678",
            "123456789012345678901",
            "1234567a",
            "1234567/",
            "12:",
            "9\u{ff}",
        ] {
            let b = s.as_bytes();
            let want = b
                .iter()
                .position(|c| !c.is_ascii_digit())
                .unwrap_or(b.len());
            assert_eq!(skip_digits(b, 0), want, "{s:?}");
            let padded = format!("{s}xxxxxxxxxxxxxxxx");
            assert_eq!(skip_digits(padded.as_bytes(), 0), want, "{s:?}");
        }
    }

    #[test]
    fn values() {
        assert_eq!(skip_value(br#"{"a":"}\"","b":[1,"]"]} x"#, 0, 0), Ok(23));
        assert_eq!(skip_value(b"-1.5e+3,", 0, 0), Ok(7));
        assert!(skip_value(b"{\"a\":1", 0, 0).is_err());
        for ok in [
            "0",
            "-0",
            "1e5",
            "1E-5",
            "0.25",
            "[]",
            "{}",
            " [ 1 , {} ] ",
            "\"\"",
            "null",
        ] {
            assert_eq!(validate(ok.as_bytes()), Ok(()), "{ok}");
        }
        for bad in [
            "01",
            "1.",
            ".5",
            "+1",
            "-",
            "1e",
            "[1,]",
            "{,}",
            "{\"a\"}",
            "tru",
            "nul",
            "[1 2]",
            "{\"a\":1,}",
            "",
            " ",
        ] {
            assert!(validate(bad.as_bytes()).is_err(), "{bad}");
        }
        let deep = "[".repeat(MAX_DEPTH) + &"]".repeat(MAX_DEPTH);
        assert_eq!(validate(deep.as_bytes()), Ok(()));
        let too_deep = "[".repeat(MAX_DEPTH + 1) + &"]".repeat(MAX_DEPTH + 1);
        assert!(validate(too_deep.as_bytes()).is_err());
    }
}
