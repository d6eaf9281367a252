//! Node search responses for the merge benchmarks (shared by `merge`, `merge_gungraun` and
//! `merge_parse`; not a bench target itself).
//!
//! Hits look like the movies dataset of `shared/meili-v1.50/` (id, title, genres, year, rating,
//! director, distributor, mpaa, source, creativeType, usGross) plus Miroir's `_miroir_shard`,
//! `_rankingScore` and — in the `Details` shape — `_rankingScoreDetails` with the v1.50 default
//! rules, a `year:desc` sort rule after `attributeRank` and the custom `rating:desc` rule (as in
//! fixtures 090/100). Each node list is sorted the way Meilisearch would sort it.

#![allow(dead_code)]

use std::cmp::Ordering;

use miroir_merge::MergeRequest;

/// What the nodes were asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape {
    /// `sort: ["year:desc"]` + `showRankingScoreDetails`: ~730-byte hits.
    Details,
    /// No sort, `showRankingScore` only: ~290-byte hits.
    Score,
}

const TITLES: &[&str] = &[
    "The Land Girls",
    "First Love, Last Rites",
    "I Married a Strange Person",
    "Let's Talk About Sex",
    "Slam",
    "Mississippi Mermaid",
    "Following",
    "Foolish",
    "Pirates",
    "Duel in the Sun",
    "Tom Jones",
    "Oliver!",
    "To Kill A Mockingbird",
    "Tora, Tora, Tora",
    "Hollywood Shuffle",
    "Over the Hill to the Poorhouse",
    "Wilson",
    "Darling Lili",
    "The Ten Commandments",
    "12 Angry Men",
];
const GENRES: &[&str] = &[
    "Action",
    "Adventure",
    "Comedy",
    "Drama",
    "Horror",
    "Musical",
    "Western",
];
const DIRECTORS: &[&str] = &[
    "Tim Burton",
    "Robert Zemeckis",
    "Francis Ford Coppola",
    "Steven Spielberg",
    "Martin Scorsese",
    "Joel Schumacher",
];
const DISTRIBUTORS: &[&str] = &[
    "Warner Bros.",
    "Universal",
    "Paramount Pictures",
    "Gramercy",
];
const MPAA: &[&str] = &["G", "PG", "PG-13", "R", "Not Rated"];
const SOURCES: &[&str] = &[
    "Original Screenplay",
    "Based on Book/Short Story",
    "Based on Comic/Graphic Novel",
    "Remake",
];
const TYPES: &[&str] = &[
    "Contemporary Fiction",
    "Historical Fiction",
    "Science Fiction",
    "Super Hero",
];

struct Gen {
    id: u64,
    words: f64,
    typo: f64,
    proximity: f64,
    attr: f64,
    year: u32,
    word_pos: f64,
    exactness: f64,
    rating: Option<f64>,
}

impl Gen {
    fn score(&self) -> f64 {
        // A monotone stand-in for Meilisearch's global score (ignores the sort rule).
        self.words * 0.5
            + self.typo * 0.2
            + self.proximity * 0.1
            + self.attr * 0.1
            + self.word_pos * 0.05
            + self.exactness * 0.05
    }
}

/// The order a node (and the single index) gives: rank rules, `year:desc`, rank rules,
/// `rating:desc` (null last).
fn cmp(a: &Gen, b: &Gen, shape: Shape) -> Ordering {
    let d = |x: f64, y: f64| y.total_cmp(&x);
    match shape {
        Shape::Score => d(a.score(), b.score()),
        Shape::Details => d(a.words, b.words)
            .then(d(a.typo, b.typo))
            .then(d(a.proximity, b.proximity))
            .then(d(a.attr, b.attr))
            .then(b.year.cmp(&a.year))
            .then(d(a.word_pos, b.word_pos))
            .then(d(a.exactness, b.exactness))
            .then(match (a.rating, b.rating) {
                (Some(x), Some(y)) => d(x, y),
                (Some(_), None) => Ordering::Less,
                (None, Some(_)) => Ordering::Greater,
                (None, None) => Ordering::Equal,
            }),
    }
}

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
        xs[(self.next() % xs.len() as u64) as usize]
    }
    fn of(&mut self, xs: &[f64]) -> f64 {
        xs[(self.next() % xs.len() as u64) as usize]
    }
}

fn opt_str(rng: &mut Rng, xs: &[&str]) -> String {
    if rng.next().is_multiple_of(5) {
        "null".into()
    } else {
        format!("\"{}\"", rng.pick(xs))
    }
}

fn render(g: &Gen, rng: &mut Rng, shape: Shape) -> String {
    let rating = g.rating.map_or("null".into(), |r| format!("{r:?}"));
    let genres = if rng.next().is_multiple_of(4) {
        String::new()
    } else {
        format!("\"{}\"", rng.pick(GENRES))
    };
    let mut s = format!(
        r#"{{"id":{},"title":"{} {}","genres":[{}],"year":{},"rating":{},"director":{},"distributor":{},"mpaa":{},"source":{},"creativeType":{},"usGross":{},"_miroir_shard":"{}","_rankingScore":{:?}"#,
        g.id,
        rng.pick(TITLES),
        g.id,
        genres,
        g.year,
        rating,
        opt_str(rng, DIRECTORS),
        opt_str(rng, DISTRIBUTORS),
        opt_str(rng, MPAA),
        opt_str(rng, SOURCES),
        opt_str(rng, TYPES),
        rng.next() % 300_000_000,
        miroir_router::batch::shard_value((g.id % 64) as u32),
        g.score(),
    );
    if shape == Shape::Details {
        s.push_str(&format!(
            r#","_rankingScoreDetails":{{"words":{{"order":0,"matchingWords":{},"maxMatchingWords":2,"score":{:?}}},"typo":{{"order":1,"typoCount":0,"maxTypoCount":2,"score":{:?}}},"proximity":{{"order":2,"score":{:?}}},"attributeRank":{{"order":3,"score":{:?}}},"year:desc":{{"order":4,"value":{:?}}},"wordPosition":{{"order":5,"score":{:?}}},"exactness":{{"order":6,"matchType":"noExactMatch","matchingWords":2,"maxMatchingWords":2,"score":{:?}}},"rating:desc":{{"order":7,"value":{}}}}}"#,
            if g.words < 1.0 { 1 } else { 2 },
            g.words,
            g.typo,
            g.proximity,
            g.attr,
            f64::from(g.year),
            g.word_pos,
            g.exactness,
            rating,
        ));
    }
    s.push('}');
    s
}

/// `nodes` node bodies with `per_node` hits each (as if each was asked `limit: per_node`).
pub fn node_bodies(nodes: usize, per_node: usize, shape: Shape) -> Vec<Vec<u8>> {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut lists: Vec<Vec<Gen>> = (0..nodes).map(|_| Vec::new()).collect();
    for (n, list) in lists.iter_mut().enumerate() {
        for i in 0..per_node {
            list.push(Gen {
                id: (i * nodes + n) as u64 + 1,
                words: rng.of(&[1.0, 1.0, 1.0, 0.5]),
                typo: rng.of(&[1.0, 1.0, 0.5]),
                proximity: rng.of(&[1.0, 0.5, 0.25]),
                attr: rng.of(&[1.0, 1.0, 0.8]),
                year: 1915 + (rng.next() % 96) as u32,
                word_pos: rng.of(&[1.0, 0.9090909090909091, 0.8181818181818182]),
                exactness: rng.of(&[1.0, 0.6666666666666666, 0.3333333333333333]),
                rating: (!rng.next().is_multiple_of(8))
                    .then(|| (15 + rng.next() % 78) as f64 / 10.0),
            });
        }
        list.sort_by(|a, b| cmp(a, b, shape));
    }
    lists
        .iter()
        .enumerate()
        .map(|(n, list)| {
            let hits: Vec<String> = list.iter().map(|g| render(g, &mut rng, shape)).collect();
            format!(
                r#"{{"hits":[{}],"query":"the","processingTimeMs":{},"limit":{},"offset":0,"estimatedTotalHits":{},"requestUid":"01a21968-a8cb-7a50-9a72-14422da2024{}"}}"#,
                hits.join(","),
                3 + n,
                per_node,
                per_node * 4,
                n
            )
            .into_bytes()
        })
        .collect()
}

/// The client's request matching `node_bodies(_, limit, shape)`: offset 0, `limit`, neither
/// `showRankingScore` nor details (so both are cut out of every hit, with `_miroir_shard`).
pub fn request(limit: usize, shape: Shape) -> MergeRequest<'static> {
    static SORT: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
    let mut r = MergeRequest::new(0, limit);
    r.query = Some("\"the\"");
    if shape == Shape::Details {
        r.sort = Some(SORT.get_or_init(|| vec!["year:desc".to_string()]));
    }
    r
}
