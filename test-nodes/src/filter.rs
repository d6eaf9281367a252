//! Meilisearch filter expressions: a small parser for the string syntax (`a = 1 AND (b IN [x,
//! y] OR c EXISTS)`, `NOT`, `TO`, `IS NULL`, ...) and the array syntax (outer AND, inner OR),
//! the filterable-attribute check, and evaluation against a document.
//!
//! Errors carry Meilisearch's `\n{start}:{end} {filter}` suffix (1-based character columns).

#[cfg(test)]
use serde_json::Map;
use serde_json::Value;

use std::sync::Arc;

use crate::columns::{Cell, Column, Leaf};
use crate::index::Index;
use crate::settings::Settings;
use crate::util::describe;

#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Filter {
    And(Vec<Filter>),
    Or(Vec<Filter>),
    Not(Box<Filter>),
    Cond(Cond),
}

#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Cond {
    pub(crate) attr: String,
    /// Character range of the attribute in `source` (0-based, end exclusive).
    pub(crate) span: (usize, usize),
    /// The filter string this condition comes from (for error messages).
    pub(crate) source: String,
    pub(crate) op: Op,
}

/// A filter operand: raw text, lowercased text and numeric value.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Operand {
    pub(crate) raw: String,
    lower: String,
    num: Option<f64>,
}

impl Operand {
    fn new(raw: String) -> Operand {
        Operand {
            lower: raw.to_lowercase(),
            num: raw.trim().parse::<f64>().ok().filter(|f| f.is_finite()),
            raw,
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Op {
    Eq(Operand),
    Ne(Operand),
    Gt(Operand),
    Ge(Operand),
    Lt(Operand),
    Le(Operand),
    To(Operand, Operand),
    In(Vec<Operand>),
    NotIn(Vec<Operand>),
    Exists,
    NotExists,
    IsNull,
    IsNotNull,
    IsEmpty,
    IsNotEmpty,
    Contains(Operand),
    NotContains(Operand),
    StartsWith(Operand),
    NotStartsWith(Operand),
}

/// A filter error: the message (with the position suffix when there is one).
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct FilterError(pub(crate) String);

fn at(message: &str, start: usize, end: usize, source: &str) -> FilterError {
    FilterError(format!("{message}\n{}:{} {source}", start + 1, end + 1))
}

// ---------------------------------------------------------------------------------------------
// Lexer

#[derive(Clone, Debug, PartialEq)]
enum Tok {
    /// Unquoted word (attribute, value or keyword).
    Word(String),
    Quoted(String),
    LParen,
    RParen,
    LBracket,
    RBracket,
    Comma,
    Cmp(&'static str),
}

const SPECIAL: &[char] = &['(', ')', '[', ']', ',', '=', '!', '<', '>', '\'', '"'];

fn lex(src: &[char], source: &str) -> Result<Vec<(Tok, usize, usize)>, FilterError> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < src.len() {
        let c = src[i];
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        let start = i;
        let tok = match c {
            '(' => Tok::LParen,
            ')' => Tok::RParen,
            '[' => Tok::LBracket,
            ']' => Tok::RBracket,
            ',' => Tok::Comma,
            '=' => Tok::Cmp("="),
            '!' if src.get(i + 1) == Some(&'=') => {
                i += 1;
                Tok::Cmp("!=")
            }
            '>' | '<' => {
                if src.get(i + 1) == Some(&'=') {
                    i += 1;
                    Tok::Cmp(if c == '>' { ">=" } else { "<=" })
                } else {
                    Tok::Cmp(if c == '>' { ">" } else { "<" })
                }
            }
            '\'' | '"' => {
                let mut s = String::new();
                let mut j = i + 1;
                loop {
                    match src.get(j) {
                        None => {
                            let text: String = src[start..].iter().collect();
                            return Err(at(
                                &format!(
                                    "Expression `{text}` is missing the following closing delimiter: `{c}`."
                                ),
                                start,
                                src.len(),
                                source,
                            ));
                        }
                        Some('\\') if j + 1 < src.len() => {
                            s.push(src[j + 1]);
                            j += 2;
                        }
                        Some(&d) if d == c => break,
                        Some(&d) => {
                            s.push(d);
                            j += 1;
                        }
                    }
                }
                i = j;
                Tok::Quoted(s)
            }
            '!' => {
                return Err(at(
                    "Was expecting an operation `=`, `!=`, `>=`, `>`, `<=`, `<`, `IN`, `NOT IN`, `TO`, `EXISTS`, `NOT EXISTS`, `IS NULL`, `IS NOT NULL`, `IS EMPTY`, `IS NOT EMPTY`, `CONTAINS`, `NOT CONTAINS`, `STARTS WITH`, `NOT STARTS WITH`, `_geoRadius`, or `_geoBoundingBox`.",
                    i,
                    i + 1,
                    source,
                ))
            }
            _ => {
                let mut j = i;
                while j < src.len() && !src[j].is_whitespace() && !SPECIAL.contains(&src[j]) {
                    j += 1;
                }
                let w: String = src[i..j].iter().collect();
                i = j - 1;
                Tok::Word(w)
            }
        };
        i += 1;
        out.push((tok, start, i));
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// Parser

const OPERATION_EXPECTED: &str = "Was expecting an operation `=`, `!=`, `>=`, `>`, `<=`, `<`, `IN`, `NOT IN`, `TO`, `EXISTS`, `NOT EXISTS`, `IS NULL`, `IS NOT NULL`, `IS EMPTY`, `IS NOT EMPTY`, `CONTAINS`, `NOT CONTAINS`, `STARTS WITH`, `NOT STARTS WITH`, `_geoRadius`, or `_geoBoundingBox`";

const KEYWORDS: &[&str] = &["AND", "OR", "NOT", "TO", "IN"];

struct Parser<'a> {
    toks: Vec<(Tok, usize, usize)>,
    pos: usize,
    len: usize,
    chars: &'a [char],
    source: &'a str,
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos).map(|(t, _, _)| t)
    }

    fn peek_at(&self, n: usize) -> Option<&Tok> {
        self.toks.get(self.pos + n).map(|(t, _, _)| t)
    }

    fn is_word(&self, n: usize, kw: &str) -> bool {
        matches!(self.peek_at(n), Some(Tok::Word(w)) if w == kw)
    }

    /// Start of the next token (or the end of input).
    fn here(&self) -> usize {
        self.toks.get(self.pos).map(|t| t.1).unwrap_or(self.len)
    }

    fn err(&self, message: &str, start: usize, end: usize) -> FilterError {
        at(message, start, end, self.source)
    }

    fn rest_text(&self, start: usize) -> String {
        self.chars[start.min(self.len)..].iter().collect()
    }

    fn or(&mut self) -> Result<Filter, FilterError> {
        let mut items = vec![self.and()?];
        while self.is_word(0, "OR") {
            self.pos += 1;
            items.push(self.and()?);
        }
        Ok(if items.len() == 1 {
            items.pop().unwrap_or(Filter::And(Vec::new()))
        } else {
            Filter::Or(items)
        })
    }

    fn and(&mut self) -> Result<Filter, FilterError> {
        let mut items = vec![self.not()?];
        while self.is_word(0, "AND") {
            self.pos += 1;
            items.push(self.not()?);
        }
        Ok(if items.len() == 1 {
            items.pop().unwrap_or(Filter::And(Vec::new()))
        } else {
            Filter::And(items)
        })
    }

    fn not(&mut self) -> Result<Filter, FilterError> {
        if self.is_word(0, "NOT") {
            self.pos += 1;
            return Ok(Filter::Not(Box::new(self.not()?)));
        }
        self.primary()
    }

    fn primary(&mut self) -> Result<Filter, FilterError> {
        if self.peek() == Some(&Tok::LParen) {
            let open = self.here();
            self.pos += 1;
            let inner = self.or()?;
            if self.peek() != Some(&Tok::RParen) {
                let text = self.rest_text(open);
                return Err(self.err(
                    &format!(
                        "Expression `{}` is missing the following closing delimiter: `)`.",
                        text.trim_end()
                    ),
                    open,
                    self.len,
                ));
            }
            self.pos += 1;
            return Ok(inner);
        }
        self.condition()
    }

    fn value(&mut self) -> Result<Operand, FilterError> {
        match self.toks.get(self.pos) {
            Some((Tok::Word(w), _, _)) if !KEYWORDS.contains(&w.as_str()) => {
                let w = w.clone();
                self.pos += 1;
                Ok(Operand::new(w))
            }
            Some((Tok::Quoted(s), _, _)) => {
                let s = s.clone();
                self.pos += 1;
                Ok(Operand::new(s))
            }
            _ => {
                let p = self.here();
                Err(self.err("Was expecting a value but instead got nothing.", p, p))
            }
        }
    }

    fn list(&mut self) -> Result<Vec<Operand>, FilterError> {
        if self.peek() != Some(&Tok::LBracket) {
            let p = self.here();
            return Err(self.err(
                "Expected `[` after `IN` keyword.",
                p,
                self.toks.get(self.pos).map(|t| t.2).unwrap_or(p),
            ));
        }
        let open = self.here();
        self.pos += 1;
        let mut items = Vec::new();
        loop {
            if self.peek() == Some(&Tok::RBracket) {
                self.pos += 1;
                return Ok(items);
            }
            if !items.is_empty() {
                if self.peek() != Some(&Tok::Comma) {
                    return Err(self.err(
                        &format!(
                            "Expected matching `]` after the list of values{}",
                            if self.peek().is_none() { "." } else { "" }
                        ),
                        open,
                        self.len,
                    ));
                }
                self.pos += 1;
                if self.peek() == Some(&Tok::RBracket) {
                    self.pos += 1;
                    return Ok(items);
                }
            }
            items.push(self.value()?);
        }
    }

    fn condition(&mut self) -> Result<Filter, FilterError> {
        let (attr, start, end) = match self.toks.get(self.pos) {
            Some((Tok::Word(w), s, e)) => (w.clone(), *s, *e),
            Some((Tok::Quoted(q), s, e)) => (q.clone(), s + 1, e - 1),
            _ => {
                let p = self.here();
                let end = self.toks.get(self.pos).map(|t| t.2).unwrap_or(p);
                return Err(self.err(
                    &format!("{OPERATION_EXPECTED} at `{}`.", self.rest_text(p).trim()),
                    p,
                    end.max(p),
                ));
            }
        };
        if attr.starts_with("_geo") {
            return Err(self.err("The test double does not support geo filters.", start, end));
        }
        self.pos += 1;
        let op = match self.peek().cloned() {
            Some(Tok::Cmp(c)) => {
                self.pos += 1;
                let v = self.value()?;
                match c {
                    "=" => Op::Eq(v),
                    "!=" => Op::Ne(v),
                    ">" => Op::Gt(v),
                    ">=" => Op::Ge(v),
                    "<" => Op::Lt(v),
                    _ => Op::Le(v),
                }
            }
            Some(Tok::Word(w)) => match w.as_str() {
                "IN" => {
                    self.pos += 1;
                    Op::In(self.list()?)
                }
                "EXISTS" => {
                    self.pos += 1;
                    Op::Exists
                }
                "CONTAINS" => {
                    self.pos += 1;
                    Op::Contains(self.value()?)
                }
                "STARTS" if self.is_word(1, "WITH") => {
                    self.pos += 2;
                    Op::StartsWith(self.value()?)
                }
                "IS" => {
                    let not = self.is_word(1, "NOT");
                    let k = if not { 2 } else { 1 };
                    let op = if self.is_word(k, "NULL") {
                        if not {
                            Op::IsNotNull
                        } else {
                            Op::IsNull
                        }
                    } else if self.is_word(k, "EMPTY") {
                        if not {
                            Op::IsNotEmpty
                        } else {
                            Op::IsEmpty
                        }
                    } else {
                        return Err(self.op_expected(start));
                    };
                    self.pos += k + 1;
                    op
                }
                "NOT" => {
                    if self.is_word(1, "IN") {
                        self.pos += 2;
                        Op::NotIn(self.list()?)
                    } else if self.is_word(1, "EXISTS") {
                        self.pos += 2;
                        Op::NotExists
                    } else if self.is_word(1, "CONTAINS") {
                        self.pos += 2;
                        Op::NotContains(self.value()?)
                    } else if self.is_word(1, "STARTS") && self.is_word(2, "WITH") {
                        self.pos += 3;
                        Op::NotStartsWith(self.value()?)
                    } else {
                        return Err(self.op_expected(start));
                    }
                }
                _ if self.is_word(1, "TO") => {
                    let from = self.value()?;
                    self.pos += 1;
                    let to = self.value()?;
                    Op::To(from, to)
                }
                _ => return Err(self.op_expected(start)),
            },
            Some(Tok::Quoted(_)) if self.is_word(1, "TO") => {
                let from = self.value()?;
                self.pos += 1;
                let to = self.value()?;
                Op::To(from, to)
            }
            _ => return Err(self.op_expected(start)),
        };
        Ok(Filter::Cond(Cond {
            attr,
            span: (start, end),
            source: self.source.to_owned(),
            op,
        }))
    }

    fn op_expected(&self, start: usize) -> FilterError {
        let text = self.rest_text(start);
        self.err(
            &format!("{OPERATION_EXPECTED} at `{}`.", text.trim()),
            start,
            self.len,
        )
    }
}

/// Parses one filter string; `None` for an empty filter.
pub(crate) fn parse(source: &str) -> Result<Option<Filter>, FilterError> {
    let chars: Vec<char> = source.chars().collect();
    let toks = lex(&chars, source)?;
    if toks.is_empty() {
        return Ok(None);
    }
    let mut p = Parser {
        toks,
        pos: 0,
        len: chars.len(),
        chars: &chars,
        source,
    };
    let f = p.or()?;
    if p.pos < p.toks.len() {
        let start = p.here();
        return Err(p.err(
            &format!(
                "Found unexpected characters at the end of the filter: `{}`. You probably forgot an `OR` or an `AND` rule.",
                p.rest_text(start)
            ),
            start,
            p.len,
        ));
    }
    Ok(Some(f))
}

/// Parses the `filter` parameter: a string, or an array of strings / arrays of strings
/// (outer AND, inner OR), or null.
pub(crate) fn from_json(v: &Value) -> Result<Option<Filter>, FilterError> {
    let wrong = |v: &Value| {
        FilterError(format!(
            "Invalid syntax for the filter parameter: `expected String, Array, found: {}`.",
            describe(v)
        ))
    };
    match v {
        Value::Null => Ok(None),
        Value::String(s) => parse(s),
        Value::Array(items) => {
            let mut and = Vec::new();
            for item in items {
                match item {
                    Value::String(s) => and.extend(parse(s)?),
                    Value::Array(inner) => {
                        let mut or = Vec::new();
                        for x in inner {
                            match x {
                                Value::String(s) => or.extend(parse(s)?),
                                other => return Err(wrong(other)),
                            }
                        }
                        if !or.is_empty() {
                            and.push(Filter::Or(or));
                        }
                    }
                    other => return Err(wrong(other)),
                }
            }
            Ok((!and.is_empty()).then_some(Filter::And(and)))
        }
        other => Err(wrong(other)),
    }
}

impl Filter {
    fn conditions<'a>(&'a self, out: &mut Vec<&'a Cond>) {
        match self {
            Filter::And(v) | Filter::Or(v) => v.iter().for_each(|f| f.conditions(out)),
            Filter::Not(f) => f.conditions(out),
            Filter::Cond(c) => out.push(c),
        }
    }

    /// Checks that every attribute is filterable; the error message is Meilisearch's
    /// (`Attribute `x` is not filterable. ...`), without any `Index `uid`: ` prefix.
    pub(crate) fn check_filterable(&self, settings: &Settings) -> Result<(), FilterError> {
        let mut conds = Vec::new();
        self.conditions(&mut conds);
        let patterns = settings.filterable();
        for c in conds {
            if patterns
                .iter()
                .any(|p| crate::settings::attribute_matches(p, &c.attr))
            {
                continue;
            }
            let what = if patterns.is_empty() {
                "This index does not have configured filterable attributes.".to_owned()
            } else {
                let mut sorted: Vec<&str> = patterns.iter().map(String::as_str).collect();
                sorted.sort();
                format!(
                    "Available filterable attribute patterns are: {}.",
                    crate::util::backticked(&sorted)
                )
            };
            return Err(at(
                &format!("Attribute `{}` is not filterable. {what}", c.attr),
                c.span.0,
                c.span.1,
                &c.source,
            ));
        }
        Ok(())
    }

    /// Evaluates against one document (tests; searches use [`Filter::compile`]).
    #[cfg(test)]
    pub(crate) fn matches(&self, doc: &Map<String, Value>) -> bool {
        match self {
            Filter::And(v) => v.iter().all(|f| f.matches(doc)),
            Filter::Or(v) => v.iter().any(|f| f.matches(doc)),
            Filter::Not(f) => !f.matches(doc),
            Filter::Cond(c) => c.matches(doc),
        }
    }
}

fn leaf_eq(l: &Leaf, o: &Operand) -> bool {
    match l {
        Leaf::Num(f) => o.num == Some(*f),
        Leaf::Str { lower, .. } => **lower == *o.lower,
        Leaf::Bool(b) => o.lower == if *b { "true" } else { "false" },
    }
}

/// A leaf compared with an operand: numerically if the operand is a number, else as
/// lowercase strings.
fn leaf_cmp(l: &Leaf, o: &Operand) -> Option<std::cmp::Ordering> {
    match (l, o.num) {
        (Leaf::Num(f), Some(x)) => f.partial_cmp(&x),
        (Leaf::Str { lower, .. }, None) => Some((**lower).cmp(o.lower.as_str())),
        _ => None,
    }
}

fn cell_matches(cell: &Cell, op: &Op) -> bool {
    use std::cmp::Ordering::*;
    let leaves = cell.leaves.iter();
    let any_cmp = |o: &Operand, ok: fn(std::cmp::Ordering) -> bool| {
        cell.leaves.iter().any(|l| leaf_cmp(l, o).is_some_and(ok))
    };
    let strings = |o: &Operand, f: fn(&str, &str) -> bool| {
        cell.leaves.iter().any(|l| match l {
            Leaf::Str { lower, .. } => f(lower, &o.lower),
            _ => false,
        })
    };
    match op {
        Op::Eq(o) => cell.leaves.iter().any(|l| leaf_eq(l, o)),
        Op::Ne(o) => !cell.leaves.iter().any(|l| leaf_eq(l, o)),
        Op::Gt(o) => any_cmp(o, |c| c == Greater),
        Op::Ge(o) => any_cmp(o, |c| c != Less),
        Op::Lt(o) => any_cmp(o, |c| c == Less),
        Op::Le(o) => any_cmp(o, |c| c != Greater),
        Op::To(a, b) => leaves.clone().any(|l| {
            leaf_cmp(l, a).is_some_and(|c| c != Less)
                && leaf_cmp(l, b).is_some_and(|c| c != Greater)
        }),
        Op::In(list) => leaves.clone().any(|l| list.iter().any(|o| leaf_eq(l, o))),
        Op::NotIn(list) => !leaves.clone().any(|l| list.iter().any(|o| leaf_eq(l, o))),
        Op::Exists => cell.present,
        Op::NotExists => !cell.present,
        Op::IsNull => cell.null,
        Op::IsNotNull => !cell.null,
        Op::IsEmpty => cell.empty,
        Op::IsNotEmpty => !cell.empty,
        Op::Contains(o) => strings(o, |s, q| s.contains(q)),
        Op::NotContains(o) => !strings(o, |s, q| s.contains(q)),
        Op::StartsWith(o) => strings(o, |s, q| s.starts_with(q)),
        Op::NotStartsWith(o) => !strings(o, |s, q| s.starts_with(q)),
    }
}

impl Cond {
    #[cfg(test)]
    fn matches(&self, doc: &Map<String, Value>) -> bool {
        cell_matches(&Cell::of(doc, &self.attr), &self.op)
    }
}

/// A filter bound to the columns of one index: evaluated per document position.
pub(crate) enum Compiled {
    And(Vec<Compiled>),
    Or(Vec<Compiled>),
    Not(Box<Compiled>),
    Cond(Arc<Column>, Op),
}

impl Filter {
    pub(crate) fn compile(&self, index: &Index) -> Compiled {
        match self {
            Filter::And(v) => Compiled::And(v.iter().map(|f| f.compile(index)).collect()),
            Filter::Or(v) => Compiled::Or(v.iter().map(|f| f.compile(index)).collect()),
            Filter::Not(f) => Compiled::Not(Box::new(f.compile(index))),
            Filter::Cond(c) => Compiled::Cond(index.column(&c.attr), c.op.clone()),
        }
    }
}

impl Compiled {
    /// Whether the document at `pos` (see [`Index::order`]) matches.
    pub(crate) fn matches(&self, pos: usize) -> bool {
        match self {
            Compiled::And(v) => v.iter().all(|f| f.matches(pos)),
            Compiled::Or(v) => v.iter().any(|f| f.matches(pos)),
            Compiled::Not(f) => !f.matches(pos),
            Compiled::Cond(col, op) => col.cells.get(pos).is_some_and(|c| cell_matches(c, op)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn doc(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    fn check(filter: &str, d: &Value) -> bool {
        parse(filter).unwrap().unwrap().matches(&doc(d.clone()))
    }

    #[test]
    fn operators() {
        let d = json!({"year": 1998, "genres": ["Drama", "Comedy"], "director": null,
                       "title": "The Dark Half", "empty": [], "flag": true, "n": "10"});
        assert!(check("year = 1998", &d));
        assert!(check("year != 1999", &d));
        assert!(check(
            "year > 1997 AND year >= 1998 AND year < 1999 AND year <= 1998",
            &d
        ));
        assert!(!check("year > 1998", &d));
        assert!(check("year 1990 TO 2000", &d));
        assert!(!check("year 1999 TO 2000", &d));
        assert!(check("genres = drama", &d));
        assert!(check("genres IN [Horror, comedy]", &d));
        assert!(check("genres NOT IN [Horror, Western]", &d));
        assert!(check("director EXISTS AND missing NOT EXISTS", &d));
        assert!(check("director IS NULL AND year IS NOT NULL", &d));
        assert!(check("empty IS EMPTY AND title IS NOT EMPTY", &d));
        assert!(check("title = 'The Dark Half'", &d));
        assert!(check("title = \"the dark half\"", &d));
        assert!(check("title CONTAINS dark AND title STARTS WITH the", &d));
        assert!(check(
            "title NOT CONTAINS light AND title NOT STARTS WITH dark",
            &d
        ));
        assert!(check("NOT year = 2000 AND (genres = x OR flag = true)", &d));
        assert!(check("n = 10", &d));
        assert!(check("missing != 3", &d));
        assert!(!check("NOT (year = 1998)", &d));
        assert!(check("year = 1 OR year = 2 OR year = 1998", &d));
        // AND binds tighter than OR
        assert!(check("year = 1 AND year = 2 OR year = 1998", &d));
    }

    #[test]
    fn array_syntax() {
        let f = from_json(&json!([
            ["genres = Comedy", "genres = Horror"],
            "year < 1980"
        ]))
        .unwrap()
        .unwrap();
        assert!(f.matches(&doc(json!({"genres": ["Comedy"], "year": 1979}))));
        assert!(!f.matches(&doc(json!({"genres": ["Drama"], "year": 1979}))));
        assert!(!f.matches(&doc(json!({"genres": ["Horror"], "year": 1990}))));
        assert_eq!(from_json(&json!(null)).unwrap(), None);
        assert_eq!(from_json(&json!("  ")).unwrap(), None);
        assert!(from_json(&json!(true)).is_err());
    }

    #[test]
    fn syntax_errors_point_where_meilisearch_does() {
        // fixtures 047 / 068 / 097
        assert_eq!(
            parse("year >").unwrap_err().0,
            "Was expecting a value but instead got nothing.\n7:7 year >"
        );
        assert_eq!(
            parse("year >> 2000").unwrap_err().0,
            "Was expecting a value but instead got nothing.\n7:7 year >> 2000"
        );
        assert!(parse("(year > 1")
            .unwrap_err()
            .0
            .contains("closing delimiter"));
        assert!(parse("year > 1 year")
            .unwrap_err()
            .0
            .contains("unexpected characters"));
        assert!(parse("year IN [1, 2").is_err());
        assert!(parse("year")
            .unwrap_err()
            .0
            .starts_with("Was expecting an operation"));
        assert!(parse("title = 'x").is_err());
    }

    #[test]
    fn filterable_check_messages() {
        let mut s = Settings::default();
        let f = parse("year > 2000").unwrap().unwrap();
        assert_eq!(
            f.check_filterable(&s).unwrap_err().0,
            "Attribute `year` is not filterable. This index does not have configured filterable attributes.\n1:5 year > 2000"
        );
        s.apply(
            &crate::settings::validate_patch(&json!({"filterableAttributes": ["year", "genres"]}))
                .unwrap(),
        );
        assert!(f.check_filterable(&s).is_ok());
        let f = parse("genres = x AND title = Heat").unwrap().unwrap();
        assert_eq!(
            f.check_filterable(&s).unwrap_err().0,
            "Attribute `title` is not filterable. Available filterable attribute patterns are: `genres`, `year`.\n16:21 genres = x AND title = Heat"
        );
    }
}
