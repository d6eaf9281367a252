//! One node's search response, read lazily: the top-level members up to `hits`, then hits one at
//! a time as the merge pulls them, then (in [`Node::finish`]) the members after the hits. The
//! hits the merge never pulls are not looked at: the end of the hits array is found from the back
//! of the body (or, failing that, by the structural scanner); only hits that reach the head of
//! their list get their members looked at.

use std::borrow::Cow;

use crate::walk::{decode_str, key_name, skip_value, ws, Bad, Elements, Members, R};

/// Top-level members other than `hits`, as raw (validated) slices or decoded numbers.
#[derive(Default, Clone)]
pub(crate) struct Tail<'a> {
    pub query: Option<&'a [u8]>,
    pub query_vector: Option<&'a [u8]>,
    pub processing_time_ms: Option<u64>,
    /// The `limit` the node was asked (offset mode).
    pub limit: Option<u64>,
    pub estimated_total_hits: Option<u64>,
    pub total_hits: Option<u64>,
    pub semantic_hit_count: Option<u64>,
    pub facet_distribution: Option<&'a [u8]>,
    pub facet_stats: Option<&'a [u8]>,
    pub request_uid: Option<&'a [u8]>,
    /// Members the merge does not interpret, in body order.
    pub other: Vec<(Cow<'a, str>, &'a [u8])>,
}

pub(crate) enum OpenError {
    Bad(Bad),
    NoHits,
}

impl From<Bad> for OpenError {
    fn from(b: Bad) -> Self {
        OpenError::Bad(b)
    }
}

pub(crate) struct Node<'a> {
    pub b: &'a [u8],
    top: Members<'a>,
    hits: Elements<'a>,
    pub tail: Tail<'a>,
}

/// A JSON number (already validated) that is a `u64`: digits only, no overflow.
fn uint(raw: &[u8], at: usize) -> R<u64> {
    if raw.is_empty() {
        return Err(Bad(at));
    }
    raw.iter()
        .try_fold(0u64, |n, &c| {
            let digit = c.checked_sub(b'0').filter(|d| *d < 10)?;
            n.checked_mul(10)?.checked_add(u64::from(digit))
        })
        .ok_or(Bad(at))
}

impl<'a> Tail<'a> {
    fn record(&mut self, key: &'a [u8], key_at: usize, raw: &'a [u8], at: usize) -> R<()> {
        // Meilisearch's own keys are plain ASCII, matched on their raw bytes; an escaped key is
        // decoded first, and a key kept in `other` is decoded (and so validated) there.
        match key_name(key, key_at)?.as_ref() {
            b"query" => self.query = Some(raw),
            b"queryVector" => self.query_vector = Some(raw),
            b"processingTimeMs" => self.processing_time_ms = Some(uint(raw, at)?),
            b"estimatedTotalHits" => self.estimated_total_hits = Some(uint(raw, at)?),
            b"totalHits" => self.total_hits = Some(uint(raw, at)?),
            b"semanticHitCount" => {
                self.semantic_hit_count = if raw == b"null" {
                    None
                } else {
                    Some(uint(raw, at)?)
                }
            }
            b"facetDistribution" => self.facet_distribution = Some(raw),
            b"facetStats" => self.facet_stats = Some(raw),
            b"requestUid" => self.request_uid = Some(raw),
            b"limit" => self.limit = Some(uint(raw, at)?),
            // Re-derived from the client's request by the merge; a repeated `hits` is ignored.
            b"offset" | b"hitsPerPage" | b"page" | b"totalPages" | b"hits" => {}
            _ => self.other.push((decode_str(key).ok_or(Bad(key_at))?, raw)),
        }
        Ok(())
    }
}

impl<'a> Node<'a> {
    /// Reads the top-level members before `hits` and stops at the start of the hits array.
    pub(crate) fn open(b: &'a [u8]) -> Result<Node<'a>, OpenError> {
        let mut top = Members::new(b, 0, 0)?;
        let mut tail = Tail::default();
        while let Some(k) = top.next_key()? {
            if k.key == b"hits" {
                let hits = Elements::new(b, k.value_start, top.value_depth())?;
                return Ok(Node { b, top, hits, tail });
            }
            let end = skip_value(b, k.value_start, top.value_depth())?;
            top.resume(end);
            let raw = b.get(k.value_start..end).ok_or(Bad(end))?;
            tail.record(k.key, k.key_start, raw, k.value_start)?;
        }
        Err(OpenError::NoHits)
    }

    /// Nesting depth of a hit object.
    pub(crate) fn hit_depth(&self) -> usize {
        self.hits.value_depth()
    }

    /// Start of the next hit (which must be an object); the caller reads it and reports its end
    /// with [`Node::hit_done`].
    pub(crate) fn next_hit_start(&mut self) -> R<Option<usize>> {
        match self.hits.next_start()? {
            Some(s) if self.b.get(s) == Some(&b'{') => Ok(Some(s)),
            Some(s) => Err(Bad(s)),
            None => Ok(None),
        }
    }

    pub(crate) fn hit_done(&mut self, end: usize) {
        self.hits.resume(end);
    }

    /// Finds the end of the hits the merge did not need and reads the members after `hits`.
    pub(crate) fn finish(&mut self) -> R<()> {
        if !self.hits.done() {
            if let Some(end) = self.hits_end_from_back() {
                let saved = (self.top.clone(), self.tail.clone());
                self.top.resume(end);
                // Meilisearch's tail always has `processingTimeMs`; requiring it read here keeps a
                // guess inside a truncated body's last hit from passing for the tail.
                if self.read_tail().is_ok()
                    && saved.1.processing_time_ms.is_none()
                    && self.tail.processing_time_ms.is_some()
                {
                    self.hits.close_at(end);
                    return Ok(());
                }
                (self.top, self.tail) = saved;
            }
            self.hits.skip_rest()?;
        }
        self.top.resume(self.hits.end());
        self.read_tail()
    }

    /// Just after the `]` that closes `hits`, found from the back: Meilisearch writes `query`
    /// right after `hits`, and in valid JSON `],"query":` is always structural (a `"` inside a
    /// string is escaped), so its last occurrence closes the last top-level array. Only a guess
    /// until [`Node::read_tail`] has read from there to the end of the body as top-level
    /// members: a `],"query":` nested any deeper leaves brackets to close after that object.
    /// The hits in between are neither read nor emitted, so they are not checked either.
    fn hits_end_from_back(&self) -> Option<usize> {
        const AFTER: &[u8] = b",\"query\":";
        let from = self.hits.end();
        // The tail is short: step back through its `]`s (a `memmem` searcher costs more to set
        // up than this).
        let mut to = self.b.len();
        loop {
            let at = from + memchr::memrchr(b']', self.b.get(from..to)?)?;
            if self.b.get(at + 1..at + 1 + AFTER.len()) == Some(AFTER) {
                return Some(at + 1);
            }
            to = at;
        }
    }

    /// Reads the top-level members from the current position to the end of the body.
    fn read_tail(&mut self) -> R<()> {
        let b = self.b;
        while let Some(k) = self.top.next_key()? {
            let end = skip_value(b, k.value_start, self.top.value_depth())?;
            self.top.resume(end);
            let raw = b.get(k.value_start..end).ok_or(Bad(end))?;
            self.tail.record(k.key, k.key_start, raw, k.value_start)?;
        }
        let end = ws(b, self.top.end());
        if end == b.len() {
            Ok(())
        } else {
            Err(Bad(end))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::uint;

    #[test]
    fn uint_reads_what_u64_parsing_reads() {
        for raw in [
            "0",
            "7",
            "1234567890",
            "18446744073709551615",
            "18446744073709551616",
            "99999999999999999999",
            "1.5",
            "-1",
            "1e3",
            "",
            " 1",
        ] {
            let want = raw.parse::<u64>().ok();
            assert_eq!(uint(raw.as_bytes(), 0).ok(), want, "{raw:?}");
        }
    }
}
