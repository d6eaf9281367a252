//! How much of each hit's `_rankingScoreDetails` the previous hit of the same node list shares,
//! in the `details_3x1000` bench input (the figures quoted in perf/RESULTS.md):
//! `cargo run --release -p miroir-benches --example details_prefix`.
//!
//! Counts, per neighbour pair, the common prefix of the two details objects, and the values
//! (other than `order`, which the template reads as text) that do not end inside it: the ones
//! the template reader still reads.

#[path = "../benches/merge_data/mod.rs"]
mod merge_data;

use merge_data::{node_bodies, Shape};

const KEY: &str = "\"_rankingScoreDetails\":";

/// The compact details object starting at `s` (values are scalars, rules are objects).
fn details_at(s: &str) -> &str {
    let mut depth = 0usize;
    for (i, c) in s.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    return &s[..=i];
                }
            }
            _ => {}
        }
    }
    s
}

/// End offsets of the values in a compact details object, `order` values left out.
fn value_ends(d: &str) -> Vec<usize> {
    let b = d.as_bytes();
    let mut ends = Vec::new();
    let mut i = 0;
    // A key ends with `":` (rule names such as `year:desc` hold a `:` of their own).
    while let Some(colon) = d[i..].find("\":").map(|c| c + i + 1) {
        let key_start = d[..colon - 1].rfind('"').unwrap_or(0);
        let key = &d[key_start + 1..colon - 1];
        let mut end = colon + 1;
        if b.get(end) == Some(&b'{') {
            i = end;
            continue;
        }
        if b.get(end) == Some(&b'"') {
            end += 1 + d[end + 1..].find('"').unwrap_or(0) + 1;
        } else {
            while !matches!(b.get(end), Some(b',' | b'}') | None) {
                end += 1;
            }
        }
        if key != "order" {
            ends.push(end);
        }
        i = end;
    }
    ends
}

fn main() {
    let (mut pairs, mut shared, mut total, mut left) = (0usize, 0usize, 0usize, 0usize);
    let mut by_tenth = [0usize; 11];
    let mut values_per_object = 0;
    for body in node_bodies(3, 1000, Shape::Details) {
        let text = String::from_utf8(body).expect("bench bodies are UTF-8");
        let details: Vec<&str> = text
            .match_indices(KEY)
            .map(|(at, _)| details_at(&text[at + KEY.len()..]))
            .collect();
        for pair in details.windows(2) {
            let (prev, next) = (pair[0], pair[1]);
            let p = prev
                .bytes()
                .zip(next.bytes())
                .take_while(|(a, b)| a == b)
                .count();
            let ends = value_ends(next);
            values_per_object = ends.len();
            pairs += 1;
            shared += p;
            total += next.len();
            left += ends.iter().filter(|&&e| e >= p).count();
            by_tenth[p * 10 / next.len()] += 1;
        }
    }
    println!(
        "{pairs} neighbour pairs: {:.1} of {:.1} bytes shared on average ({:.0} %); \
         values left to read: {:.2} of {values_per_object}",
        shared as f64 / pairs as f64,
        total as f64 / pairs as f64,
        100.0 * shared as f64 / total as f64,
        left as f64 / pairs as f64,
    );
    println!("pairs by shared tenth (0–10 %, 10–20 %, …, 100 %): {by_tenth:?}");
}
