//! A search one node answered for every shard of the index: that node was asked the client's own
//! parameters (page, scores, distinct, facets), so its answer already is the page one
//! Meilisearch holding all the documents gives. It is relayed byte for byte, less Miroir's own
//! members, with no k-way merge and no rewritten tail.

use crate::details::DetailsReader;
use crate::facets::write_str;
use crate::walk::{
    key_name, skip_value, strip_reserved_members, write_with_cuts, ws, Bad, Elements, Members, R,
};
use crate::{bad_json, Ctx, Head, MergeError, Order};

/// Appends the node's search answer `body` to `out` without any `_miroir_*` member (of the
/// hits, of their `_formatted` and `_matchesPosition`, of `facetDistribution` and
/// `facetStats`), with `requestUid` set to `request_uid` when given (added last when the node
/// sent none). Everything else is the node's, in its order (whitespace around the object
/// left out, so the answer starts with `{`). The body is validated as
/// [`crate::merge_search`] validates a node's: the top-level members in full, the hits'
/// structure and the members whose key starts with `_`. On error `out` is left as it was.
pub fn relay_search(
    body: &[u8],
    request_uid: Option<&str>,
    out: &mut Vec<u8>,
) -> Result<(), MergeError> {
    let start = out.len();
    let relayed = relay_into(body, request_uid, out);
    if !matches!(relayed, Ok(true)) {
        out.truncate(start);
    }
    match relayed {
        Ok(true) => Ok(()),
        Ok(false) => Err(MergeError::MissingHits { node: 0 }),
        Err(e) => Err(bad_json(0, e)),
    }
}

/// Copies `b` to `out` as it reads it, each cut left out where it is found; `false` when the
/// object has no `hits`.
fn relay_into(b: &[u8], request_uid: Option<&str>, out: &mut Vec<u8>) -> R<bool> {
    // Every score and detail the node sent was asked for by the client: kept. No key is built.
    let ctx = Ctx {
        show_score: true,
        show_details: true,
        hidden_field: None,
        hidden_field_formatted: None,
        order: Some(Order::Score),
        fields: &[],
    };
    let mut head = Head::new(0, b, 0);
    let mut details = DetailsReader::default();
    // The first byte of `b` not yet copied (whitespace around the object is left out).
    let mut copied = ws(b, 0);
    let mut uid_written = request_uid.is_none();
    let mut has_hits = false;
    let mut top = Members::new(b, 0, 0)?;
    while let Some(k) = top.next_key()? {
        let (vs, vd) = (k.value_start, top.value_depth());
        let end = match key_name(k.key, k.key_start)?.as_ref() {
            b"hits" => {
                has_hits = true;
                let mut hits = Elements::new(b, vs, vd)?;
                while let Some(start) = hits.next_start()? {
                    if b.get(start) != Some(&b'{') {
                        return Err(Bad(start));
                    }
                    head.start = start;
                    head.analyze(&ctx, hits.value_depth(), &mut details)?;
                    write_with_cuts(b, copied, head.end, &head.cuts, out)?;
                    copied = head.end;
                    hits.resume(head.end);
                }
                hits.end()
            }
            b"facetDistribution" | b"facetStats" if b.get(vs) == Some(&b'{') => {
                head.nested.clear();
                let end = strip_reserved_members(b, vs, vd, None, &mut head.nested)?;
                write_with_cuts(b, copied, end, &head.nested, out)?;
                copied = end;
                end
            }
            b"requestUid" if !uid_written => {
                let end = skip_value(b, vs, vd)?;
                write_with_cuts(b, copied, vs, &[], out)?;
                write_str(out, request_uid.unwrap_or_default());
                uid_written = true;
                copied = end;
                end
            }
            _ => skip_value(b, vs, vd)?,
        };
        top.resume(end);
    }
    let end = top.end();
    if ws(b, end) != b.len() {
        return Err(Bad(ws(b, end)));
    }
    if let Some(uid) = request_uid.filter(|_| !uid_written) {
        // Before the closing `}`.
        write_with_cuts(b, copied, end - 1, &[], out)?;
        out.extend_from_slice(b",\"requestUid\":");
        write_str(out, uid);
        copied = end - 1;
    }
    write_with_cuts(b, copied, end, &[], out)?;
    Ok(has_hits)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn relay(body: &str, uid: Option<&str>) -> Result<String, MergeError> {
        let mut out = b"kept".to_vec();
        let r = relay_search(body.as_bytes(), uid, &mut out);
        if r.is_err() {
            assert_eq!(out, b"kept", "out is left as it was on error");
        }
        r.map(|()| String::from_utf8(out[4..].to_vec()).expect("UTF-8"))
    }

    #[test]
    fn reserved_members_go_and_everything_else_stays_in_the_nodes_order() {
        let body = concat!(
            r#"{"hits":[{"_miroir_shard":"(","id":1,"_rankingScore":0.5,"#,
            r#""_formatted":{"_miroir_shard":"(","id":"1"},"_matchesPosition":{"_miroir_x":[]}},"#,
            r#"{"id":2,"_miroir_shard":"!"}],"query":"q","processingTimeMs":3,"#,
            r#""hitsPerPage":2,"page":1,"totalPages":1,"totalHits":2,"#,
            r#""facetDistribution":{"_miroir_shard":{"(":1,"!":1},"genres":{"a":2}},"#,
            r#""facetStats":{"year":{"min":1,"max":2},"_miroir_n":{"min":0,"max":0}},"#,
            r#""requestUid":"node-uid"}"#
        );
        assert_eq!(
            relay(body, Some("miroir-uid")).unwrap(),
            concat!(
                r#"{"hits":[{"id":1,"_rankingScore":0.5,"_formatted":{"id":"1"},"#,
                r#""_matchesPosition":{}},{"id":2}],"query":"q","processingTimeMs":3,"#,
                r#""hitsPerPage":2,"page":1,"totalPages":1,"totalHits":2,"#,
                r#""facetDistribution":{"genres":{"a":2}},"facetStats":{"year":{"min":1,"max":2}},"#,
                r#""requestUid":"miroir-uid"}"#
            )
        );
    }

    #[test]
    fn request_uid_is_replaced_added_or_kept() {
        let body = r#"{"requestUid":"n","hits":[],"limit":0}"#;
        assert_eq!(
            relay(body, Some("m")).unwrap(),
            r#"{"requestUid":"m","hits":[],"limit":0}"#
        );
        assert_eq!(relay(body, None).unwrap(), body);
        assert_eq!(
            relay(" {\"hits\":[{\"_miroir_shard\":\"!\"}] }\n", Some("m")).unwrap(),
            "{\"hits\":[{}] ,\"requestUid\":\"m\"}"
        );
        assert_eq!(relay("\n{\"hits\":[]}\n", None).unwrap(), "{\"hits\":[]}");
    }

    #[test]
    fn malformed_answers_are_errors() {
        for body in [
            r#"{"message":"no hits","code":"x"}"#,
            r#"{"hits":[1]}"#,
            r#"{"hits":[{"id":1]}"#,
            r#"{"hits":[],"query":tru}"#,
            r#"{"hits":[]} x"#,
            r#"{"hits":[{"_miroir_shard":"!"}],"facetStats":{"a":}}"#,
            "",
        ] {
            assert!(relay(body, Some("m")).is_err(), "{body}");
        }
        assert_eq!(
            relay(r#"{"hits":{}}"#, None),
            Err(MergeError::Malformed {
                node: Some(0),
                reason: "invalid JSON at byte 8".into()
            })
        );
        assert_eq!(
            relay(r#"{"estimatedTotalHits":0}"#, None),
            Err(MergeError::MissingHits { node: 0 })
        );
    }
}
