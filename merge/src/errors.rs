//! Node error messages without Miroir's reserved attributes.
//!
//! The nodes have `_miroir_shard` among their filterable attributes (Miroir filters on it), so
//! their "not filterable" errors list it: ``Available filterable attribute patterns are:
//! `_miroir_shard`, `genres`.``, or ``...patterns are: `_miroir_shard, genres`.``. The client
//! gets the list without it, and Meilisearch's wording for an empty list when it was the only
//! one.

use std::borrow::Cow;

use crate::walk::RESERVED_PREFIX;

/// The sentences naming a list that held only a reserved attribute, and Meilisearch's words
/// for an index without any.
const ONLY_RESERVED: [(&str, &str); 3] = [
    (
        "Available filterable attribute patterns are: `",
        "This index does not have configured filterable attributes.",
    ),
    (
        "Available filterable attributes patterns are: `",
        "This index does not have configured filterable attributes.",
    ),
    (
        "Available facet-searchable attributes patterns are: `",
        "This index does not have configured facet-searchable attributes.",
    ),
];

fn is_name_byte(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

/// `text` (an error body or message) with every reserved attribute left out of the attribute
/// lists it shows; borrowed when there is none. A reserved name the text shows otherwise (the
/// client's own, as in "Attribute `_miroir_shard` is not sortable") is kept.
pub fn hide_reserved_attributes(text: &str) -> Cow<'_, str> {
    if !text.contains(RESERVED_PREFIX) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(RESERVED_PREFIX) {
        out.push_str(&rest[..at]);
        let from = &rest[at..];
        let name_len = from.bytes().take_while(|&c| is_name_byte(c)).count();
        let (name, after) = from.split_at(name_len);
        let skip = leave_out_of_list(&mut out, after);
        if skip.is_none() {
            out.push_str(name);
        }
        rest = &after[skip.unwrap_or(0)..];
    }
    out.push_str(rest);
    Cow::Owned(out)
}

/// Leaves a reserved name out of the list it is an item of, `out` being the text before it and
/// `after` the text after it: trims `out` and returns how much of `after` to skip, or `None`
/// when the name is not a list item.
fn leave_out_of_list(out: &mut String, after: &str) -> Option<usize> {
    let trim = |out: &mut String, n: usize| out.truncate(out.len() - n);
    if out.ends_with('`') && after.starts_with("`, `") {
        // The first of several backticked names: `_miroir_shard`, `genres`.
        return Some(4);
    }
    if out.ends_with(", `") && after.starts_with('`') {
        // A later backticked name: `genres`, `_miroir_shard`.
        trim(out, 3);
        return Some(1);
    }
    if out.ends_with('`') && after.starts_with(", ") {
        // The first name of a list in one pair of backticks: `_miroir_shard, genres`.
        return Some(2);
    }
    if out.ends_with(", ") && (after.starts_with('`') || after.starts_with(", ")) {
        // A later name of such a list: `genres, _miroir_shard`.
        trim(out, 2);
        return Some(0);
    }
    if out.ends_with('`') && after.starts_with("`.") {
        // The only name: Meilisearch's sentence for an index without any.
        for (sentence, none) in ONLY_RESERVED {
            if out.ends_with(sentence) {
                trim(out, sentence.len());
                out.push_str(none);
                return Some(2);
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::hide_reserved_attributes as hide;

    #[test]
    fn reserved_names_leave_the_lists() {
        let cases = [
            (
                "Attribute `title` is not filterable. Available filterable attribute patterns are: `_miroir_shard`, `genres`, `year`.\n1:6 title = x",
                "Attribute `title` is not filterable. Available filterable attribute patterns are: `genres`, `year`.\n1:6 title = x",
            ),
            (
                "patterns are: `Genre`, `_miroir_shard`, `year`.",
                "patterns are: `Genre`, `year`.",
            ),
            ("patterns are: `Genre`, `_miroir_shard`.", "patterns are: `Genre`."),
            (
                "Invalid facet distribution: Attribute `title` is not filterable. Available filterable attributes patterns are: `_miroir_shard, genres, year`.",
                "Invalid facet distribution: Attribute `title` is not filterable. Available filterable attributes patterns are: `genres, year`.",
            ),
            ("are: `Genre, _miroir_shard, year`.", "are: `Genre, year`."),
            ("are: `Genre, _miroir_shard`.", "are: `Genre`."),
            (
                "Attribute `title` is not filterable. Available filterable attribute patterns are: `_miroir_shard`.\n1:6 title = x",
                "Attribute `title` is not filterable. This index does not have configured filterable attributes.\n1:6 title = x",
            ),
            (
                "Invalid facet distribution: Attribute `title` is not filterable. Available filterable attributes patterns are: `_miroir_shard`.",
                "Invalid facet distribution: Attribute `title` is not filterable. This index does not have configured filterable attributes.",
            ),
            (
                "Attribute `title` is not facet-searchable. Available facet-searchable attributes patterns are: `_miroir_shard`. To make it facet-searchable add it to the `filterableAttributes` index settings.",
                "Attribute `title` is not facet-searchable. This index does not have configured facet-searchable attributes. To make it facet-searchable add it to the `filterableAttributes` index settings.",
            ),
            (
                "Attribute `title` is not facet-searchable. Available facet-searchable attributes patterns are: `_miroir_shard, genres`. To make it facet-searchable add it to the `filterableAttributes` index settings.",
                "Attribute `title` is not facet-searchable. Available facet-searchable attributes patterns are: `genres`. To make it facet-searchable add it to the `filterableAttributes` index settings.",
            ),
            // Named by the client, not listed: kept.
            (
                "Attribute `_miroir_shard` is not sortable. Available sortable attributes are: `year`.",
                "Attribute `_miroir_shard` is not sortable. Available sortable attributes are: `year`.",
            ),
            ("no list here", "no list here"),
        ];
        for (text, want) in cases {
            assert_eq!(hide(text), want, "{text}");
        }
    }

    #[test]
    fn a_whole_error_body_stays_valid_json() {
        let body = r#"{"message":"Index `movies`: Attribute `title` is not filterable. Available filterable attribute patterns are: `_miroir_shard`, `genres`.\n1:6 title = x","code":"invalid_search_filter","type":"invalid_request","link":"https://docs.meilisearch.com/errors#invalid_search_filter"}"#;
        let hidden = hide(body);
        let v: serde_json::Value = serde_json::from_str(&hidden).unwrap();
        assert_eq!(
            v["message"],
            "Index `movies`: Attribute `title` is not filterable. Available filterable attribute patterns are: `genres`.\n1:6 title = x"
        );
        assert_eq!(v["code"], "invalid_search_filter");
    }
}
