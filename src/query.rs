//! Query strings: `a=1&b=x%20y` → decoded pairs.

pub fn pairs(query: &str) -> impl Iterator<Item = (String, String)> + '_ {
    query.split('&').filter(|p| !p.is_empty()).map(|p| {
        let (k, v) = p.split_once('=').unwrap_or((p, ""));
        (decode(k), decode(v))
    })
}

pub fn get(query: &str, name: &str) -> Option<String> {
    pairs(query).find(|(k, _)| k == name).map(|(_, v)| v)
}

/// Percent-decoding with `+` as space; invalid escapes are kept as is.
pub fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3])
                    .ok()
                    .and_then(|h| u8::from_str_radix(h, 16).ok());
                match hex {
                    Some(b) => {
                        out.push(b);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Percent-encodes a query value.
pub fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A 400 `miroir_reserved_field` when `params` (search, facet-search, document fetch or
/// delete-by-filter parameters) name one of Miroir's `_miroir_*` fields where the nodes would
/// take it: a `filter` attribute (the nodes have `_miroir_shard` filterable), a `facets` name,
/// `distinct` or `facetName`.
pub fn reserved_field_error(
    params: &serde_json::Map<String, serde_json::Value>,
) -> Option<miroir_io::Response> {
    use miroir_router::batch::RESERVED_PREFIX;
    use serde_json::Value;
    fn in_filter(filter: &Value) -> Option<&str> {
        match filter {
            Value::String(s) => miroir_router::filter::reserved_attribute(s),
            Value::Array(parts) => parts.iter().find_map(in_filter),
            _ => None,
        }
    }
    fn reserved(v: &Value) -> Option<&str> {
        v.as_str().filter(|name| name.starts_with(RESERVED_PREFIX))
    }
    let (name, parameter): (&str, &str) = params
        .get("filter")
        .and_then(in_filter)
        .map(|name| (name, "filter"))
        .or_else(|| {
            let facets = params.get("facets").and_then(Value::as_array)?;
            Some((facets.iter().find_map(reserved)?, "facets"))
        })
        .or_else(|| Some((reserved(params.get("distinct")?)?, "distinct")))
        .or_else(|| Some((reserved(params.get("facetName")?)?, "facetName")))?;
    Some(reserved_field(name, &format!("`{parameter}`")))
}

/// 400 `miroir_reserved_field`: `name`, one of Miroir's `_miroir_*` fields, cannot be used in
/// `used_in`.
pub fn reserved_field(name: &str, used_in: &str) -> miroir_io::Response {
    let prefix = miroir_router::batch::RESERVED_PREFIX;
    miroir_io::Response::error(
        400,
        "miroir_reserved_field",
        "invalid_request",
        &format!("Attribute `{name}` is reserved: fields starting with `{prefix}` are managed by Miroir and cannot be used in {used_in}."),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_and_encodes() {
        assert_eq!(
            get("primaryKey=id&csvDelimiter=%3B", "csvDelimiter").as_deref(),
            Some(";")
        );
        assert_eq!(decode("a+b%20c%zz%4"), "a b c%zz%4");
        assert_eq!(encode("a b;c"), "a%20b%3Bc");
        assert_eq!(get("flag", "flag").as_deref(), Some(""));
    }
}
