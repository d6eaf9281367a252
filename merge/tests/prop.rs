//! Property tests: the merged page equals "concatenate all hits, sort globally, slice" for random
//! node lists, pages tile, facet sums include one-node keys, reserved fields never leak, and
//! malformed node bodies are errors (never panics).

use std::cmp::Ordering;
use std::collections::BTreeMap;

use miroir_merge::{merge_search, relay_search, MergeError, MergeRequest, Order, Page};
use proptest::prelude::*;
use serde_json::Value;

#[derive(Debug, Clone, Copy, PartialEq)]
enum Rule {
    Rank,
    Sort { desc: bool },
}

#[derive(Debug, Clone, PartialEq)]
enum SV {
    Num(i32),
    Str(&'static str),
    Null,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Mode {
    /// `_rankingScore` only, no sort.
    Score,
    /// `_rankingScoreDetails` on every hit.
    Details,
    /// Client `sort`, no details: values read from the documents.
    Fields,
}

#[derive(Debug, Clone)]
struct GenHit {
    node: usize,
    score: f64,
    /// One entry per rule: rank score (for Rank) — ignored for Sort.
    ranks: Vec<f64>,
    /// One entry per rule: sort value (for Sort) — ignored for Rank.
    sorts: Vec<SV>,
    /// Where `_miroir_shard` goes among the members (None = absent).
    miroir_at: Option<usize>,
    formatted: bool,
    /// Omit null sort fields from the document instead of writing `null` (Fields mode).
    omit_nulls: bool,
}

#[derive(Debug, Clone)]
struct Case {
    k: usize,
    mode: Mode,
    rules: Vec<Rule>,
    hits: Vec<GenHit>,
    reverse_details: bool,
    pretty: bool,
}

fn sv() -> impl Strategy<Value = SV> {
    prop_oneof![
        (-3i32..6).prop_map(SV::Num),
        prop::sample::select(vec![
            "apple", "Apple", "banana", "Zebra", "10", "true", "Émile", "éclair"
        ])
        .prop_map(SV::Str),
        Just(SV::Null),
    ]
}

fn score() -> impl Strategy<Value = f64> {
    prop_oneof![
        Just(1.0),
        Just(0.5),
        Just(0.25),
        (0u32..100).prop_map(|x| f64::from(x) / 100.0)
    ]
}

fn case() -> impl Strategy<Value = Case> {
    (
        1usize..=5,
        prop_oneof![Just(Mode::Score), Just(Mode::Details), Just(Mode::Fields)],
        prop::collection::vec(
            prop_oneof![
                Just(Rule::Rank),
                any::<bool>().prop_map(|desc| Rule::Sort { desc })
            ],
            1..4,
        ),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_flat_map(|(k, mode, rules, reverse_details, pretty)| {
            let n = rules.len();
            let hit = (
                0..k,
                score(),
                prop::collection::vec(prop::sample::select(vec![0.0, 0.5, 1.0]), n),
                prop::collection::vec(sv(), n),
                prop::option::of(0usize..4),
                any::<bool>(),
                any::<bool>(),
            )
                .prop_map(
                    |(node, score, ranks, sorts, miroir_at, formatted, omit_nulls)| GenHit {
                        node,
                        score,
                        ranks,
                        sorts,
                        miroir_at,
                        formatted,
                        omit_nulls,
                    },
                );
            (
                Just(k),
                Just(mode),
                Just(rules),
                prop::collection::vec(hit, 0..60),
                Just(reverse_details),
                Just(pretty),
            )
        })
        .prop_map(|(k, mode, rules, hits, reverse_details, pretty)| Case {
            k,
            mode,
            rules,
            hits,
            reverse_details,
            pretty,
        })
}

// ---- reference order (independent of the crate's implementation) ----

fn lower(s: &str) -> String {
    s.to_lowercase()
}

fn ref_sort_cmp(a: &SV, b: &SV, desc: bool) -> Ordering {
    let rank = |v: &SV| match v {
        SV::Num(_) => 0,
        SV::Str(_) => 1,
        SV::Null => 2,
    };
    let o = match (a, b) {
        (SV::Num(x), SV::Num(y)) => x.cmp(y),
        (SV::Str(x), SV::Str(y)) => lower(x).cmp(&lower(y)).then_with(|| x.cmp(y)),
        _ => return rank(a).cmp(&rank(b)),
    };
    if desc {
        o.reverse()
    } else {
        o
    }
}

fn ref_cmp(c: &Case, a: &GenHit, b: &GenHit) -> Ordering {
    if c.mode != Mode::Score {
        for (i, r) in c.rules.iter().enumerate() {
            let o = match r {
                Rule::Rank if c.mode == Mode::Details => b.ranks[i].total_cmp(&a.ranks[i]),
                Rule::Rank => Ordering::Equal,
                Rule::Sort { desc } => ref_sort_cmp(&a.sorts[i], &b.sorts[i], *desc),
            };
            if o != Ordering::Equal {
                return o;
            }
        }
    }
    b.score.total_cmp(&a.score)
}

/// Node lists sorted like a node would (stable: generation order = insertion order).
fn node_lists(c: &Case) -> Vec<Vec<(usize, &GenHit)>> {
    let mut lists: Vec<Vec<(usize, &GenHit)>> = vec![Vec::new(); c.k];
    for (id, h) in c.hits.iter().enumerate() {
        lists[h.node].push((id, h));
    }
    for l in &mut lists {
        l.sort_by(|x, y| ref_cmp(c, x.1, y.1));
    }
    lists
}

/// "Concatenate all hits, sort globally, slice": ids in merged order.
fn expected_ids(c: &Case, skip: usize, take: usize) -> Vec<usize> {
    let lists = node_lists(c);
    let mut all: Vec<(usize, usize, usize, &GenHit)> = Vec::new();
    for (node, l) in lists.iter().enumerate() {
        for (pos, (id, h)) in l.iter().enumerate() {
            all.push((node, pos, *id, h));
        }
    }
    all.sort_by(|x, y| ref_cmp(c, x.3, y.3).then(x.0.cmp(&y.0)).then(x.1.cmp(&y.1)));
    all.into_iter().skip(skip).take(take).map(|x| x.2).collect()
}

// ---- rendering node bodies ----

fn sv_json(v: &SV) -> String {
    match v {
        SV::Num(n) => format!("{n}.0"),
        SV::Str(s) => serde_json::to_string(s).unwrap(),
        SV::Null => "null".into(),
    }
}

fn render_hit(c: &Case, id: usize, h: &GenHit) -> String {
    let mut members: Vec<String> = vec![
        format!("\"id\":{id}"),
        format!("\"title\":\"Movie {id} \\\"quoted\\\" }}]\""),
    ];
    if c.mode == Mode::Fields {
        for (i, r) in c.rules.iter().enumerate() {
            if let Rule::Sort { .. } = r {
                if h.sorts[i] == SV::Null && h.omit_nulls {
                    continue;
                }
                members.push(format!("\"f{i}\":{}", sv_json(&h.sorts[i])));
            }
        }
    }
    members.push(format!("\"_rankingScore\":{:?}", h.score));
    if c.mode == Mode::Details {
        let mut entries: Vec<String> = c
            .rules
            .iter()
            .enumerate()
            .map(|(i, r)| match r {
                Rule::Rank => format!(
                    "\"rank{i}\":{{\"order\":{i},\"matchingWords\":1,\"score\":{:?}}}",
                    h.ranks[i]
                ),
                Rule::Sort { desc } => format!(
                    "\"f{i}:{}\":{{\"order\":{i},\"value\":{}}}",
                    if *desc { "desc" } else { "asc" },
                    sv_json(&h.sorts[i])
                ),
            })
            .collect();
        if c.reverse_details {
            entries.reverse();
        }
        members.push(format!(
            "\"_rankingScoreDetails\":{{{}}}",
            entries.join(",")
        ));
    }
    if h.formatted {
        members.push(format!(
            "\"_formatted\":{{\"_miroir_shard\":\"{}\",\"id\":\"{id}\",\"_miroir_updated_at\":\"1\"}}",
            id % 7
        ));
    }
    if let Some(at) = h.miroir_at {
        let at = at.min(members.len());
        members.insert(at, format!("\"_miroir_shard\":{}", id % 7));
        members.push("\"_miroir_expires_at\":null".into());
    }
    format!("{{{}}}", members.join(","))
}

fn render_bodies(c: &Case) -> Vec<Vec<u8>> {
    node_lists(c)
        .iter()
        .enumerate()
        .map(|(node, l)| {
            let hits: Vec<String> = l.iter().map(|(id, h)| render_hit(c, *id, h)).collect();
            let body = format!(
                "{{\"hits\":[{}],\"query\":\"q\",\"processingTimeMs\":{},\"limit\":1000,\"offset\":0,\"estimatedTotalHits\":{},\"requestUid\":\"uid-{node}\"}}",
                hits.join(","),
                node * 3 + 1,
                l.len() + node,
            );
            if c.pretty {
                let v: Value = serde_json::from_str(&body).unwrap();
                serde_json::to_vec_pretty(&v).unwrap()
            } else {
                body.into_bytes()
            }
        })
        .collect()
}

fn sort_param(c: &Case) -> Vec<String> {
    c.rules
        .iter()
        .enumerate()
        .filter_map(|(i, r)| match r {
            Rule::Sort { desc } => Some(format!("f{i}:{}", if *desc { "desc" } else { "asc" })),
            Rule::Rank => None,
        })
        .collect()
}

fn req_for<'s>(c: &Case, sort: &'s [String], offset: usize, limit: usize) -> MergeRequest<'s> {
    let mut r = MergeRequest::new(offset, limit);
    if c.mode == Mode::Fields && !sort.is_empty() {
        r.sort = Some(sort);
    }
    r
}

fn has_reserved(v: &Value) -> bool {
    match v {
        Value::Object(m) => m
            .iter()
            .any(|(k, v)| k.starts_with("_miroir_") || has_reserved(v)),
        Value::Array(a) => a.iter().any(has_reserved),
        _ => false,
    }
}

fn expected_hit(input: &Value, show_score: bool, show_details: bool) -> Value {
    let mut v = input.clone();
    let m = v.as_object_mut().unwrap();
    m.retain(|k, _| !k.starts_with("_miroir_"));
    if !show_score {
        m.remove("_rankingScore");
    }
    if !show_details {
        m.remove("_rankingScoreDetails");
    }
    if let Some(Value::Object(f)) = m.get_mut("_formatted") {
        f.retain(|k, _| !k.starts_with("_miroir_"));
    }
    v
}

fn run(
    c: &Case,
    bodies: &[Vec<u8>],
    req: &MergeRequest<'_>,
) -> Result<(Value, miroir_merge::MergeStats), MergeError> {
    let refs: Vec<&[u8]> = bodies.iter().map(Vec::as_slice).collect();
    let mut out = b"prefix".to_vec();
    let stats = merge_search(req, &refs, &mut out)?;
    assert!(out.starts_with(b"prefix"));
    let v: Value = serde_json::from_slice(&out[6..]).expect("merged output is valid JSON");
    let _ = c;
    Ok((v, stats))
}

fn ids(v: &Value) -> Vec<usize> {
    v["hits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["id"].as_u64().unwrap() as usize)
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn merged_page_is_global_sort_then_slice(
        c in case(),
        offset in 0usize..30,
        limit in 0usize..40,
        show_score in any::<bool>(),
        show_details in any::<bool>(),
    ) {
        let bodies = render_bodies(&c);
        let sort = sort_param(&c);
        let mut req = MergeRequest::new(offset, limit);
        req.show_ranking_score = show_score;
        req.show_ranking_score_details = show_details;
        if c.mode == Mode::Fields && !sort.is_empty() {
            req.sort = Some(&sort);
        }
        let (v, stats) = run(&c, &bodies, &req).unwrap();

        let want = expected_ids(&c, offset, limit);
        prop_assert_eq!(ids(&v), want.clone());
        prop_assert_eq!(stats.hits, want.len());
        if !c.hits.is_empty() {
            let want_order = match c.mode {
                Mode::Details => Order::Details,
                Mode::Fields if !sort.is_empty() => Order::SortFields,
                _ => Order::Score,
            };
            prop_assert_eq!(stats.order, want_order);
        }

        // Each hit is its input minus what must be cut, byte-edited but JSON-equal.
        let inputs: BTreeMap<usize, Value> = bodies
            .iter()
            .flat_map(|b| {
                let v: Value = serde_json::from_slice(b).unwrap();
                v["hits"].as_array().unwrap().clone()
            })
            .map(|h| (h["id"].as_u64().unwrap() as usize, h))
            .collect();
        for h in v["hits"].as_array().unwrap() {
            let id = h["id"].as_u64().unwrap() as usize;
            prop_assert_eq!(h, &expected_hit(&inputs[&id], show_score, show_details));
        }
        prop_assert!(!has_reserved(&v));

        // Top level: client's limit/offset, summed totals, max time, first node's uid.
        let total: usize = node_lists(&c).iter().enumerate().map(|(n, l)| l.len() + n).sum();
        prop_assert_eq!(v["estimatedTotalHits"].as_u64(), Some(total as u64));
        prop_assert_eq!(stats.total_hits, total as u64);
        prop_assert_eq!(v["limit"].as_u64(), Some(limit as u64));
        prop_assert_eq!(v["offset"].as_u64(), Some(offset as u64));
        prop_assert_eq!(v["processingTimeMs"].as_u64(), Some((c.k as u64 - 1) * 3 + 1));
        prop_assert_eq!(v["query"].as_str(), Some("q"));
        prop_assert_eq!(v["requestUid"].as_str(), Some("uid-0"));
        let keys: Vec<&String> = v.as_object().unwrap().keys().collect();
        prop_assert_eq!(keys.len(), 7);
    }

    // A node that answered for every shard was asked the client's own page: relaying its
    // answer must give what merging it alone gives, whatever its hits hold.
    #[test]
    fn a_lone_answer_relays_as_it_merges(c in case()) {
        let mut req = MergeRequest::new(0, 1000);
        req.show_ranking_score = true;
        req.show_ranking_score_details = true;
        req.request_uid = Some("miroir-uid");
        for body in render_bodies(&c) {
            let mut merged = Vec::new();
            merge_search(&req, &[body.as_slice()], &mut merged).unwrap();
            let mut relayed = Vec::new();
            relay_search(&body, Some("miroir-uid"), &mut relayed).unwrap();
            let relayed: Value = serde_json::from_slice(&relayed).expect("relayed output is valid JSON");
            let merged: Value = serde_json::from_slice(&merged).unwrap();
            prop_assert_eq!(&relayed, &merged);
            prop_assert!(!has_reserved(&relayed));
        }
    }

    #[test]
    fn five_pages_of_ten_equal_limit_fifty(c in case()) {
        let bodies = render_bodies(&c);
        let sort = sort_param(&c);
        let (all, _) = run(&c, &bodies, &req_for(&c, &sort, 0, 50)).unwrap();
        let mut paged = Vec::new();
        let mut by_page = Vec::new();
        for p in 0..5 {
            let (v, _) = run(&c, &bodies, &req_for(&c, &sort, p * 10, 10)).unwrap();
            paged.extend(ids(&v));
            let mut req = req_for(&c, &sort, 0, 0);
            req.page = Some(Page { page: p + 1, hits_per_page: 10 });
            let (v, _) = run(&c, &bodies, &req).unwrap();
            prop_assert!(v.get("limit").is_none() && v.get("offset").is_none());
            prop_assert!(v.get("estimatedTotalHits").is_none());
            let total = v["totalHits"].as_u64().unwrap();
            prop_assert_eq!(v["totalPages"].as_u64(), Some(total.div_ceil(10)));
            prop_assert_eq!(v["page"].as_u64(), Some(p as u64 + 1));
            prop_assert_eq!(v["hitsPerPage"].as_u64(), Some(10));
            by_page.extend(ids(&v));
        }
        prop_assert_eq!(&paged, &ids(&all));
        prop_assert_eq!(&by_page, &ids(&all));
    }

    #[test]
    fn truncated_bodies_are_errors(c in case(), cut in any::<prop::sample::Index>(), which in any::<prop::sample::Index>()) {
        let mut bodies = render_bodies(&c);
        let n = which.index(bodies.len());
        let len = bodies[n].len();
        bodies[n].truncate(cut.index(len));
        let refs: Vec<&[u8]> = bodies.iter().map(Vec::as_slice).collect();
        let mut out = b"keep".to_vec();
        let r = merge_search(&MergeRequest::new(0, 20), &refs, &mut out);
        prop_assert!(matches!(r, Err(MergeError::Malformed { node: Some(x), .. }) if x == n), "{:?}", r);
        prop_assert_eq!(&out, b"keep");
    }

    #[test]
    fn mutated_bodies_never_panic(
        c in case(),
        muts in prop::collection::vec((any::<prop::sample::Index>(), prop::sample::select(
            vec![b'"', b'\\', b'{', b'}', b'[', b']', b',', b':', b' ', b'a', b'0', b'-', 0xff, 0x00, b'_'])), 1..4),
        which in any::<prop::sample::Index>(),
    ) {
        let mut bodies = render_bodies(&c);
        let n = which.index(bodies.len());
        for (at, byte) in muts {
            let i = at.index(bodies[n].len());
            bodies[n][i] = byte;
        }
        let refs: Vec<&[u8]> = bodies.iter().map(Vec::as_slice).collect();
        let mut out = Vec::new();
        let mut req = MergeRequest::new(0, 30);
        req.show_ranking_score = true;
        if merge_search(&req, &refs, &mut out).is_ok() {
            // Hit members the merge copies through are not validated (structure only), so the
            // output is valid JSON whenever the node bodies are.
            let input_valid = serde_json::from_slice::<Value>(&bodies[n]).is_ok();
            match serde_json::from_slice::<Value>(&out) {
                Ok(v) => prop_assert!(v["hits"].is_array()),
                Err(e) => prop_assert!(!input_valid, "valid input, invalid output: {e}"),
            }
        } else {
            prop_assert!(out.is_empty());
        }
        let mut relayed = b"kept".to_vec();
        if relay_search(&bodies[n], Some("m"), &mut relayed).is_ok() {
            let input_valid = serde_json::from_slice::<Value>(&bodies[n]).is_ok();
            match serde_json::from_slice::<Value>(&relayed[4..]) {
                Ok(v) => prop_assert!(v["hits"].is_array()),
                Err(e) => prop_assert!(!input_valid, "valid input, invalid relay: {e}"),
            }
        } else {
            prop_assert_eq!(&relayed, b"kept");
        }
    }

    #[test]
    fn facet_sums_include_keys_only_one_node_has(
        dists in prop::collection::vec(
            prop::collection::btree_map(
                prop::sample::select(vec!["genres", "mpaa", "year"]),
                prop::collection::btree_map(
                    prop::sample::select(vec!["Action", "comedy", "Drama", "1995", "7.5", "a\"b"]),
                    0u64..1000, 0..5),
                0..3),
            1..5),
        stats in prop::collection::vec(
            prop::collection::btree_map(
                prop::sample::select(vec!["rating", "year"]),
                (-50i32..50, 0i32..50),
                0..3),
            1..5),
    ) {
        let n = dists.len().min(stats.len());
        let bodies: Vec<Vec<u8>> = (0..n).map(|i| {
            let st: BTreeMap<&str, Value> = stats[i].iter()
                .map(|(k, (lo, span))| (*k, serde_json::json!({"min": f64::from(*lo), "max": f64::from(lo + span)})))
                .collect();
            serde_json::to_vec(&serde_json::json!({
                "hits": [], "query": "", "processingTimeMs": 0, "limit": 0, "offset": 0,
                "estimatedTotalHits": 0, "facetDistribution": dists[i], "facetStats": st,
            })).unwrap()
        }).collect();
        let refs: Vec<&[u8]> = bodies.iter().map(Vec::as_slice).collect();
        let mut out = Vec::new();
        merge_search(&MergeRequest::new(0, 0), &refs, &mut out).unwrap();
        let v: Value = serde_json::from_slice(&out).unwrap();

        let mut want: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
        for d in &dists[..n] {
            for (f, vals) in d {
                let e = want.entry(f.to_string()).or_default();
                for (val, cnt) in vals {
                    *e.entry(val.to_string()).or_default() += cnt;
                }
            }
        }
        let got: BTreeMap<String, BTreeMap<String, u64>> =
            serde_json::from_value(v["facetDistribution"].clone()).unwrap();
        prop_assert_eq!(got, want);

        let mut want_st: BTreeMap<String, (f64, f64)> = BTreeMap::new();
        for s in &stats[..n] {
            for (f, (lo, span)) in s {
                let (lo, hi) = (f64::from(*lo), f64::from(lo + span));
                let e = want_st.entry(f.to_string()).or_insert((lo, hi));
                e.0 = e.0.min(lo);
                e.1 = e.1.max(hi);
            }
        }
        let got_st: BTreeMap<String, BTreeMap<String, f64>> =
            serde_json::from_value(v["facetStats"].clone()).unwrap();
        let got_st: BTreeMap<String, (f64, f64)> =
            got_st.into_iter().map(|(k, m)| (k, (m["min"], m["max"]))).collect();
        prop_assert_eq!(got_st, want_st);
    }
}

#[test]
fn error_shapes() {
    let mut out = Vec::new();
    let req = MergeRequest::new(0, 10);
    let ok = br#"{"hits":[],"estimatedTotalHits":0}"#.as_slice();
    let err_obj =
        br#"{"message":"x","code":"index_not_found","type":"invalid_request","link":"l"}"#;
    assert_eq!(
        merge_search(&req, &[ok, err_obj], &mut out),
        Err(MergeError::MissingHits { node: 1 })
    );
    for bad in [
        b"".as_slice(),
        b"[]",
        b"null",
        br#"{"hits":[1]}"#,
        br#"{"hits":{}}"#,
        br#"{"hits":[{"a":1]}]}"#,
        br#"{"hits":[{"_rankingScore":0.5 "x":7}]}"#,
        br#"{"hits":[{"_miroir_x":1 2}]}"#,
        br#"{"hits":[{"a":1},{"b":[}]}"#,
        br#"{"hits":[]} x"#,
        br#"{"hits":[],"estimatedTotalHits":-1}"#,
    ] {
        let r = merge_search(&req, &[ok, bad], &mut out);
        assert!(
            matches!(r, Err(MergeError::Malformed { node: Some(1), .. })),
            "{:?} -> {r:?}",
            String::from_utf8_lossy(bad)
        );
        assert!(out.is_empty());
    }
    // An unterminated string inside an emitted hit.
    let r = merge_search(&req, &[b"{\"hits\":[{\"a\":\"x}]}"], &mut out);
    assert!(
        matches!(r, Err(MergeError::Malformed { node: Some(0), .. })),
        "{r:?}"
    );
    let mut bad_q = MergeRequest::new(0, 1);
    bad_q.query = Some("\"unterminated");
    assert!(matches!(
        merge_search(&bad_q, &[ok], &mut out),
        Err(MergeError::InvalidRequest(_))
    ));
}

#[test]
fn no_nodes_gives_an_empty_page() {
    let mut out = Vec::new();
    let mut req = MergeRequest::new(0, 20);
    req.query = Some("\"batman\"");
    req.request_uid = Some("01a21968-a8cb-7a50-9a72-14422da20249");
    merge_search(&req, &[], &mut out).unwrap();
    assert_eq!(
        String::from_utf8(out).unwrap(),
        r#"{"hits":[],"query":"batman","processingTimeMs":0,"limit":20,"offset":0,"estimatedTotalHits":0,"requestUid":"01a21968-a8cb-7a50-9a72-14422da20249"}"#
    );
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        (-1e6f64..1e6).prop_map(Value::from),
        "[a-z_\"\\\\é\u{1F600}\n]{0,10}".prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 40, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::btree_map("(_miroir_)?[a-z\"é]{0,4}", inner, 0..5)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// The hand-written walker accepts exactly what serde_json (plus UTF-8) accepts, and the
    /// byte-range strip equals removing the keys from a DOM.
    #[test]
    fn walker_accepts_exactly_valid_json(
        v in json_value(),
        pretty in any::<bool>(),
        muts in prop::collection::vec((any::<prop::sample::Index>(), prop::sample::select(
            vec![b'"', b'\\', b'{', b'}', b'[', b']', b',', b':', b' ', b'e', b'0', b'-', b'.', b'u', 0xff, 0xc3, 0x01])), 0..3),
    ) {
        let doc = serde_json::json!({"_miroir_shard": 1, "d": v, "_miroir_expires_at": null});
        let mut bytes = if pretty { serde_json::to_vec_pretty(&doc) } else { serde_json::to_vec(&doc) }.unwrap();
        for (at, byte) in &muts {
            let i = at.index(bytes.len());
            bytes[i] = *byte;
        }
        let reference = std::str::from_utf8(&bytes).is_ok()
            && serde_json::from_slice::<serde::de::IgnoredAny>(&bytes).is_ok()
            && bytes.iter().find(|c| !c.is_ascii_whitespace()) == Some(&b'{');
        let mut out = Vec::new();
        let r = miroir_merge::strip_reserved_fields(&bytes, &mut out);
        prop_assert_eq!(r.is_ok(), reference, "{:?} {:?}", String::from_utf8_lossy(&bytes), r);
        // (A mutation can make a number too large for a DOM; such input is still valid JSON.)
        if let (true, Ok(mut want)) = (r.is_ok(), serde_json::from_slice::<Value>(&bytes)) {
            let got: Value = serde_json::from_slice(&out).unwrap();
            want.as_object_mut().unwrap().retain(|k, _| !k.starts_with("_miroir_"));
            prop_assert_eq!(got, want);
        }
    }
}

/// One hit member for [`hits_keep_exactly_the_unreserved_members`]: a key (some reserved, some
/// escaped, some only looking reserved as values) and a raw JSON value.
fn member() -> impl Strategy<Value = (String, String)> {
    let key = prop::sample::select(vec![
        "id",
        "title",
        "_geo",
        "_miroir_shard",
        "_miroir_x",
        "_rankingScore",
        "\\u005fmiroir_y",
        "a\\\"b",
        "_",
        "_m",
    ]);
    let value = prop::sample::select(vec![
        "1".to_string(),
        "0.75".to_string(),
        "\"_miroir_v\"".to_string(),
        "\"x,\\\"}]{[\"".to_string(),
        "{\"_miroir_n\":1,\"k\":[{\"_x\":\"_y\"}]}".to_string(),
        "[1,\"_a\",{\"_miroir_z\":2}]".to_string(),
        "null".to_string(),
        format!("\"{}\"", "p".repeat(70)),
    ]);
    (key, value).prop_map(|(k, v)| (k.to_string(), v))
}

proptest! {
    // Cuts are made by byte range from the structural scan: whatever the keys, values,
    // whitespace and 64-byte block boundaries, the hit that comes out must be the node's hit
    // with exactly its top-level reserved members (and the score, not asked for, and the
    // field the caller hides) removed.
    #[test]
    fn hits_keep_exactly_the_unreserved_members(
        members in prop::collection::vec(member(), 0..8),
        pad in 0usize..70,
        spaced in any::<bool>(),
        hidden in prop::sample::select(vec![None, Some("id"), Some("title"), Some("_geo")]),
    ) {
        let sep = if spaced { " , " } else { "," };
        let colon = if spaced { " : " } else { ":" };
        let mut seen = std::collections::HashSet::new();
        let body_members: Vec<String> = members
            .iter()
            .filter(|(k, _)| seen.insert(k.clone()))
            .map(|(k, v)| format!("\"{k}\"{colon}{v}"))
            .collect();
        let hit = format!("{{{}}}", body_members.join(sep));
        let body = format!("{{\"hits\":[{}{hit}],\"estimatedTotalHits\":1}}", if pad > 0 {
            format!("{{\"pad\":\"{}\"}},", "q".repeat(pad))
        } else {
            String::new()
        });
        let mut out = Vec::new();
        let mut req = MergeRequest::new(0, 2);
        req.hidden_field = hidden;
        let r = merge_search(&req, &[body.as_bytes()], &mut out);
        prop_assert!(r.is_ok(), "{r:?} {body}");
        let merged: Value = serde_json::from_slice(&out).expect("valid JSON out");
        let want: Value = serde_json::from_str(&hit).unwrap();
        let mut want = want.as_object().unwrap().clone();
        want.retain(|k, _| {
            !k.starts_with("_miroir_") && k != "_rankingScore" && Some(k.as_str()) != hidden
        });
        let hits = merged["hits"].as_array().unwrap();
        prop_assert_eq!(hits.len(), if pad > 0 { 2 } else { 1 });
        let got = hits.iter().find(|h| h.get("pad").is_none()).cloned().unwrap();
        prop_assert_eq!(got, Value::Object(want), "{}", body);
    }
}

/// One hit of [`distinct_pages_are_global_distinct_then_slice`]: its node, priority (higher
/// first) and distinct value (`None`: the hit does not have the field).
type DistinctHit = (usize, u32, Option<&'static str>);

fn distinct_hits() -> impl Strategy<Value = (usize, Vec<DistinctHit>)> {
    (1usize..=4).prop_flat_map(|k| {
        let value = prop::option::of(prop::sample::select(vec!["a", "B", "b ", "c", "", "d"]));
        (
            Just(k),
            prop::collection::vec((0..k, 0u32..1_000_000, value), 0..40),
        )
    })
}

/// Meilisearch's distinct on one list (in ranking order): a hit is kept when no kept hit has
/// its value (strings trimmed and lowercased; an empty string is no value).
fn distinct_keep(hits: &[(usize, &DistinctHit)]) -> Vec<usize> {
    let mut seen = std::collections::HashSet::new();
    hits.iter()
        .filter(|(_, h)| match h.2.map(|v| v.trim().to_lowercase()) {
            Some(v) if !v.is_empty() => seen.insert(v),
            _ => true,
        })
        .map(|(id, _)| *id)
        .collect()
}

proptest! {
    // Single-valued distinct: each node answers its own list deduplicated and cut to the node
    // limit; the merged page must be the page of one index holding every hit.
    #[test]
    fn distinct_pages_are_global_distinct_then_slice(
        (k, hits) in distinct_hits(),
        offset in 0usize..6,
        limit in 1usize..8,
    ) {
        // Ranking order: priority, then id (ties are broken by node then position in the merge;
        // ids are unique and grow with the node lists' order, so both agree).
        let order = |a: &(usize, &DistinctHit), b: &(usize, &DistinctHit)| {
            b.1 .1.cmp(&a.1 .1).then(a.0.cmp(&b.0))
        };
        let mut all: Vec<(usize, &DistinctHit)> = hits.iter().enumerate().collect();
        all.sort_by(order);
        // Equal priorities on different nodes: the merge orders them by node.
        all.sort_by(|a, b| b.1 .1.cmp(&a.1 .1).then(a.1 .0.cmp(&b.1 .0)).then(a.0.cmp(&b.0)));
        let expected: Vec<usize> = distinct_keep(&all).into_iter().skip(offset).take(limit).collect();

        let node_limit = offset + limit;
        let bodies: Vec<String> = (0..k)
            .map(|node| {
                let list: Vec<(usize, &DistinctHit)> =
                    all.iter().copied().filter(|(_, h)| h.0 == node).collect();
                let kept = distinct_keep(&list);
                let rendered: Vec<String> = kept
                    .iter()
                    .take(node_limit)
                    .map(|&id| {
                        let h = &hits[id];
                        let value = h.2.map_or(String::new(), |v| format!(",\"tag\":{}", serde_json::to_string(v).unwrap()));
                        format!("{{\"id\":{id}{value},\"_rankingScore\":{}}}", f64::from(h.1) / 1e6)
                    })
                    .collect();
                format!(
                    "{{\"hits\":[{}],\"query\":\"\",\"processingTimeMs\":1,\"limit\":{node_limit},\"offset\":0,\"estimatedTotalHits\":{}}}",
                    rendered.join(","),
                    kept.len()
                )
            })
            .collect();
        let refs: Vec<&[u8]> = bodies.iter().map(|b| b.as_bytes()).collect();
        let mut req = MergeRequest::new(offset, limit);
        req.distinct = Some("tag");
        let mut out = Vec::new();
        let stats = merge_search(&req, &refs, &mut out).expect("merges");
        let merged: Value = serde_json::from_slice(&out).expect("valid JSON");
        prop_assert_eq!(ids(&merged), expected, "{}", String::from_utf8_lossy(&out));
        // With one value per hit a node list that held its whole limit cannot run out first
        // (its values are distinct, so consuming it keeps at least that many hits): a retry
        // asked here would be a wrong `node_ran_out` (it fails when any early end counts).
        prop_assert!(!stats.node_ran_out);
    }
}
