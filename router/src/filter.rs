//! The attributes a Meilisearch filter expression names, read without evaluating it: a client
//! filter naming one of Miroir's reserved fields is refused before it reaches a node (the nodes
//! have `_miroir_shard` filterable, so they would take it).

use crate::batch::RESERVED_PREFIX;

#[derive(Debug, PartialEq)]
enum Token<'a> {
    /// A bare word: an attribute, a value or a keyword (`AND`, `TO`, `_geoRadius`...).
    Word(&'a str),
    /// A quoted value or attribute, without its quotes (escapes kept: only its start matters).
    Quoted(&'a str),
    Open,
    Close,
    OpenList,
    CloseList,
    /// `,`, `=`, `!=`, `<`, `<=`, `>`, `>=`.
    Other,
}

/// Meilisearch's filter tokens: quoted strings (`'` or `"`, `\` escapes), brackets,
/// comparison operators and bare words.
fn tokens(filter: &str) -> impl Iterator<Item = Token<'_>> {
    let b = filter.as_bytes();
    let mut i = 0;
    std::iter::from_fn(move || {
        while b.get(i).is_some_and(u8::is_ascii_whitespace) {
            i += 1;
        }
        let start = i;
        let c = *b.get(i)?;
        i += 1;
        Some(match c {
            b'(' => Token::Open,
            b')' => Token::Close,
            b'[' => Token::OpenList,
            b']' => Token::CloseList,
            b',' | b'=' | b'!' | b'<' | b'>' => {
                if b.get(i) == Some(&b'=') {
                    i += 1;
                }
                Token::Other
            }
            b'\'' | b'"' => {
                // Unterminated: up to the end.
                let mut end = b.len();
                while let Some(&d) = b.get(i) {
                    if d == b'\\' {
                        i += 2;
                        continue;
                    }
                    i += 1;
                    if d == c {
                        end = i - 1;
                        break;
                    }
                }
                Token::Quoted(filter.get(start + 1..end).unwrap_or(""))
            }
            _ => {
                while b
                    .get(i)
                    .is_some_and(|d| !d.is_ascii_whitespace() && !b"()[],=!<>'\"".contains(d))
                {
                    i += 1;
                }
                Token::Word(filter.get(start..i).unwrap_or(""))
            }
        })
    })
}

/// The first attribute `filter` names that starts with `_miroir_` (a condition's first operand:
/// at the start, or after `(`, `AND`, `OR` or a leading `NOT`).
pub fn reserved_attribute(filter: &str) -> Option<&str> {
    if !filter.contains(RESERVED_PREFIX) {
        return None;
    }
    let mut expect_attribute = true;
    // Inside a value list `[…]` (`true`) or a geo function's arguments `(…)` (`false`): which,
    // and how many of its brackets are open.
    let mut skipping: Option<(bool, usize)> = None;
    let mut all = tokens(filter);
    while let Some(token) = all.next() {
        if let Some((list, depth)) = &mut skipping {
            match (token, *list) {
                (Token::OpenList, true) | (Token::Open, false) => *depth += 1,
                (Token::CloseList, true) | (Token::Close, false) => *depth -= 1,
                _ => {}
            }
            if *depth == 0 {
                skipping = None;
            }
            continue;
        }
        match token {
            Token::OpenList => skipping = Some((true, 1)),
            Token::Open => {}
            Token::Close => expect_attribute = false,
            Token::Word(w) if w.eq_ignore_ascii_case("AND") || w.eq_ignore_ascii_case("OR") => {
                expect_attribute = true
            }
            Token::Word(w) if expect_attribute && w.eq_ignore_ascii_case("NOT") => {}
            Token::Word(w) if expect_attribute && w.starts_with("_geo") => {
                // `_geoRadius(…)`, `_geoBoundingBox([…], […])`, `_geoPolygon(…)`.
                expect_attribute = false;
                if all.next() == Some(Token::Open) {
                    skipping = Some((false, 1));
                }
            }
            Token::Word(name) | Token::Quoted(name) if expect_attribute => {
                if name.starts_with(RESERVED_PREFIX) {
                    return Some(name);
                }
                expect_attribute = false;
            }
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::reserved_attribute;

    #[test]
    fn reserved_attributes_are_found_wherever_a_condition_starts() {
        for (filter, found) in [
            ("_miroir_shard = 1", Some("_miroir_shard")),
            (
                "genres = x AND _miroir_shard IN [1, 2]",
                Some("_miroir_shard"),
            ),
            ("(a = 1 OR (NOT _miroir_x EXISTS))", Some("_miroir_x")),
            ("\"_miroir_shard\" = 1", Some("_miroir_shard")),
            ("'_miroir_shard' = 1", Some("_miroir_shard")),
            ("a = 1 or _miroir_shard > 3", Some("_miroir_shard")),
            (
                "_geoRadius(1, 2, 3) AND _miroir_shard IS NULL",
                Some("_miroir_shard"),
            ),
            (
                "year 1 TO 5 AND _miroir_shard NOT IN ['!']",
                Some("_miroir_shard"),
            ),
            // Values, not attributes.
            ("title = _miroir_shard", None),
            ("title = '_miroir_shard'", None),
            ("title IN [_miroir_a, \"_miroir_b\"]", None),
            ("title != \"x AND _miroir_shard = 1\"", None),
            ("year 1 TO _miroir_x", None),
            ("genres = x", None),
            ("", None),
            ("'unterminated _miroir_x", None),
            ("a = '\\", None),
        ] {
            assert_eq!(reserved_attribute(filter), found, "{filter}");
        }
    }
}
