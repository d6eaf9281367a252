//! Scatter-gather search: one group's covering set (other groups fill in for
//! shards it cannot cover), every node asked for `offset + limit` hits with
//! ranking scores, failed nodes retried on another replica within the
//! deadline, and the node lists k-way merged by `miroir-merge`. A node that answers for every
//! shard alone (one shard, or a node holding them all) is asked the client's own parameters and
//! its answer is relayed, less Miroir's own fields.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use miroir_io::{Method, Request, Response};
use miroir_merge::{merge_search, relay_search, MergeRequest, Page};
use miroir_router::batch::{shard_value, RESERVED_PREFIX, SHARD_FIELD};
use miroir_router::{GroupState, RoutingSnapshot};
use serde_json::{Map, Value};

use crate::api::{Api, IndexSettings, RequestTrace};
use crate::auth::ClientAuth;
use crate::config::UnavailableShardPolicy;
use crate::metrics::NodeOperation;
use crate::nodes::{join_in_order, NodeRequest, NodeResult};
use crate::query;
use crate::routes::index_not_found;

/// A search's parameters as a JSON object (GET query strings are turned
/// into the POST body Meilisearch would accept).
fn search_body(req: &Request<'_>) -> Result<Map<String, Value>, Response> {
    if req.method == Method::Post {
        let body = if req.body.is_empty() {
            b"{}".as_slice()
        } else {
            req.body
        };
        return match serde_json::from_slice::<Value>(body) {
            Ok(Value::Object(map)) => Ok(map),
            Ok(_) => Err(Response::error(
                400,
                "bad_request",
                "invalid_request",
                "The search parameters must be a JSON object.",
            )),
            Err(e) => Err(crate::routes::malformed_json(&e)),
        };
    }
    let mut map = Map::new();
    for (key, value) in query::pairs(req.query()) {
        let v = match key.as_str() {
            "offset" | "limit" | "page" | "hitsPerPage" | "cropLength" => value
                .parse::<u64>()
                .map(Value::from)
                .unwrap_or(Value::from(value)),
            "rankingScoreThreshold" | "semanticRatio" => value
                .parse::<f64>()
                .map(Value::from)
                .unwrap_or(Value::from(value)),
            "showRankingScore"
            | "showRankingScoreDetails"
            | "showMatchesPosition"
            | "retrieveVectors" => Value::from(value == "true"),
            "facets"
            | "sort"
            | "attributesToRetrieve"
            | "attributesToHighlight"
            | "attributesToCrop"
            | "attributesToSearchOn"
            | "locales" => Value::from(
                value
                    .split(',')
                    .map(|s| Value::from(s.trim()))
                    .collect::<Vec<_>>(),
            ),
            _ => Value::from(value),
        };
        map.insert(key, v);
    }
    Ok(map)
}

/// Shards each node answers for, and shards nobody can.
pub(crate) struct Plan {
    pub per_node: BTreeMap<usize, Vec<u32>>,
    pub uncovered: Vec<u32>,
    /// Nodes answering for only some of the shards they hold.
    pub partial_nodes: Vec<usize>,
}

impl Plan {
    fn empty() -> Plan {
        Plan {
            per_node: BTreeMap::new(),
            uncovered: Vec::new(),
            partial_nodes: Vec::new(),
        }
    }

    /// Takes each of `shards` from a healthy replica in any active group, not in `avoid`; such a
    /// node answers for only some of the shards it holds. Shards without one stay uncovered.
    fn fill_in(
        &mut self,
        routing: &RoutingSnapshot,
        shards: impl IntoIterator<Item = u32>,
        avoid: &[usize],
    ) {
        for shard in shards {
            match replacement(routing, shard, avoid) {
                Some(node) => {
                    self.per_node.entry(node).or_default().push(shard);
                    if !self.partial_nodes.contains(&node) {
                        self.partial_nodes.push(node);
                    }
                }
                None => self.uncovered.push(shard),
            }
        }
    }
}

/// The covering set of `group`, with shards it cannot cover taken from a
/// healthy replica in another active group.
pub(crate) fn plan(
    routing: &RoutingSnapshot,
    group: usize,
    rotation: u64,
    avoid: &[usize],
) -> Plan {
    let covering = routing.covering_set(group, rotation);
    let mut plan = Plan::empty();
    let mut missing: Vec<u32> = covering.uncovered.clone();
    for (node, shards) in &covering.per_node {
        let node = *node as usize;
        if avoid.contains(&node) {
            missing.extend(shards.iter().copied());
        } else {
            plan.per_node
                .entry(node)
                .or_default()
                .extend(shards.iter().copied());
        }
    }
    plan.fill_in(routing, missing, avoid);
    plan
}

/// `_miroir_shard IN ['!', '(', …]`: single quotes, so the filter needs no escaping as a JSON
/// string (the values hold none).
fn shard_filter(shards: &[u32]) -> String {
    let list = shards
        .iter()
        .map(|&shard| format!("'{}'", shard_value(shard)))
        .collect::<Vec<_>>()
        .join(", ");
    format!("{SHARD_FIELD} IN [{list}]")
}

/// The filter a node gets: the client's, AND its shards when it must not
/// answer for everything it holds.
pub(crate) fn with_shard_filter(client: Option<&Value>, shards: &[u32]) -> Value {
    let shard = Value::from(shard_filter(shards));
    match client {
        None | Some(Value::Null) => shard,
        Some(Value::Array(parts)) => {
            let mut parts = parts.clone();
            parts.push(shard);
            Value::Array(parts)
        }
        Some(other) => Value::from(vec![other.clone(), shard]),
    }
}

/// One index's merged answer, and the shards it is missing.
pub(crate) struct Searched {
    pub body: Vec<u8>,
    pub missing_shards: Vec<u32>,
}

/// Where and how one search scatters (the same for each round that asks the nodes for more).
struct Scatter<'s> {
    routing: &'s RoutingSnapshot,
    group: usize,
    rotation: u64,
    rf: usize,
    target: &'s str,
    authorization: Option<&'s [u8]>,
    deadline: Instant,
    params: &'s Params<'s>,
    details: bool,
    hidden_field: Option<&'s str>,
    /// Whether a node that answers for every shard may answer the client's own page (not when
    /// the page is judged by other rules than the index's, as a federated query's is).
    relay: bool,
}

/// What one scatter got.
struct Gathered {
    answers: Vec<Vec<u8>>,
    /// `answers` is one node's answer to the client's own page ([`Ask::Page`]).
    relayed: bool,
    /// The shards no node answered for (sorted).
    uncovered: Vec<u32>,
    fan_out: usize,
    retries: u64,
    /// A node's client error (bad filter, unknown field…): the search's answer.
    client_error: Option<Response>,
}

/// Whether a search is held to its index's `pagination.maxTotalHits`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Pagination {
    /// As a search (or a plain multi-search query) is: no hit past it, totals at most it.
    WithinMaxTotalHits,
    /// As a federated query is.
    Unbounded,
}

impl Api {
    pub(crate) async fn search(
        &self,
        req: &Request<'_>,
        auth: &ClientAuth<'_>,
        uid: &str,
        trace: &RequestTrace,
    ) -> Response {
        // A plain POST body goes through the raw path: its top-level members
        // are found by one validating scan and spliced into the node body, no
        // DOM. Anything the scan is not sure about (GET parameters, exponent
        // numbers, escaped keys, duplicate members, invalid JSON...) takes the
        // `serde_json::Map` path, which also words the errors.
        // A body naming a reserved field anywhere takes the map path, where it is checked.
        let map;
        let raw = RawBody::parse(req)
            .filter(|_| memchr::memmem::find(req.body, RESERVED_PREFIX.as_bytes()).is_none());
        let params = match raw {
            Some(raw) => Params::Raw(raw),
            None => {
                map = match search_body(req) {
                    Ok(b) => b,
                    Err(r) => return r,
                };
                Params::Map(&map)
            }
        };
        let mut request_uid = [0u8; uuid::fmt::Hyphenated::LENGTH];
        let request_uid: &str = crate::api::new_uuid_v7()
            .hyphenated()
            .encode_lower(&mut request_uid);
        match self
            .search_params(
                req,
                auth,
                uid,
                &params,
                Pagination::WithinMaxTotalHits,
                request_uid,
                trace,
            )
            .await
        {
            Ok(searched) => {
                let mut response = Response::json(200, searched.body);
                if !searched.missing_shards.is_empty() {
                    trace.degraded.set(true);
                    let list = searched
                        .missing_shards
                        .iter()
                        .map(u32::to_string)
                        .collect::<Vec<_>>()
                        .join(",");
                    response
                        .headers
                        .push(("x-miroir-degraded", format!("shards={list}")));
                }
                response
            }
            Err(r) => r,
        }
    }

    /// Searches one index for `body` (Meilisearch search parameters).
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn search_index(
        &self,
        req: &Request<'_>,
        auth: &ClientAuth<'_>,
        uid: &str,
        body: &Map<String, Value>,
        pagination: Pagination,
        request_uid: &str,
        trace: &RequestTrace,
    ) -> Result<Searched, Response> {
        self.search_params(
            req,
            auth,
            uid,
            &Params::Map(body),
            pagination,
            request_uid,
            trace,
        )
        .await
    }

    #[allow(clippy::too_many_arguments)]
    async fn search_params(
        &self,
        req: &Request<'_>,
        auth: &ClientAuth<'_>,
        uid: &str,
        params: &Params<'_>,
        pagination: Pagination,
        request_uid: &str,
        trace: &RequestTrace,
    ) -> Result<Searched, Response> {
        if self.cluster.indexes.get(uid).is_none() {
            return Err(index_not_found(uid));
        }
        // A raw body holds no `_miroir_` (see `search`).
        if let Params::Map(map) = params {
            if let Some(error) = query::reserved_field_error(map) {
                return Err(error);
            }
        }
        let uint = |k: &str| params.uint(k);
        let page = match (uint("page"), uint("hitsPerPage")) {
            (None, None) => None,
            (p, h) => Some(Page {
                page: p.unwrap_or(1),
                hits_per_page: h.unwrap_or(20),
            }),
        };
        let offset = uint("offset").unwrap_or(0);
        let limit = uint("limit").unwrap_or(20);
        let sort = params.sort();
        let show_score = params.flag("showRankingScore").unwrap_or(false);
        let show_details = params.flag("showRankingScoreDetails").unwrap_or(false);
        let query_json = params.query_json();
        // The deadline and the first round's start are the request's arrival (no clock read).
        let mut round_started = trace.started;
        let deadline =
            round_started + Duration::from_millis(self.cluster.config.scatter.node_timeout_ms);
        // The index's settings (this core's cache, else one read): a custom sort rule needs the
        // hits' details to be merged in order; facet values follow its faceting. Unreadable
        // settings leave the merge to what the answers show.
        let settings = match self.index_settings(uid, trace).await {
            Ok(settings) => Some(settings),
            Err(error) => {
                tracing::debug!(
                    index = uid,
                    status = error.status,
                    "index settings unreadable; merging without them"
                );
                None
            }
        };
        // Distinct (the query's, else the index's): the merge keeps one hit per value across
        // shards, so the hits must show the field; a top-level field the client's
        // `attributesToRetrieve` leaves out is asked for and cut out again.
        let distinct = params.string("distinct").or_else(|| {
            settings
                .as_deref()
                .and_then(IndexSettings::distinct_attribute)
                .map(str::to_owned)
        });
        let hidden_field = distinct.as_deref().filter(|field| {
            !field.contains('.')
                && params
                    .strings("attributesToRetrieve")
                    .is_some_and(|fields| {
                        retrieve_leaves_out(fields.iter().map(String::as_str), field)
                    })
        });
        // Highlighted or cropped, Meilisearch shows it in `_formatted` whatever is retrieved.
        let hidden_field_formatted = hidden_field.is_some_and(|field| {
            let highlight = params.strings("attributesToHighlight").unwrap_or_default();
            let crop = params.strings("attributesToCrop").unwrap_or_default();
            !formatted_shows(
                highlight.iter().map(String::as_str),
                crop.iter().map(String::as_str),
                field,
            )
        });
        let merge_req = MergeRequest {
            offset,
            limit,
            page,
            distinct: distinct.as_deref(),
            hidden_field,
            hidden_field_formatted,
            sort: sort.as_deref(),
            show_ranking_score: show_score,
            show_ranking_score_details: show_details,
            query: query_json.as_deref(),
            request_uid: Some(request_uid),
            max_values_per_facet: settings.as_deref().map(IndexSettings::max_values_per_facet),
            max_total_hits: match pagination {
                Pagination::WithinMaxTotalHits => {
                    settings.as_deref().map(IndexSettings::max_total_hits)
                }
                Pagination::Unbounded => None,
            },
            sort_facet_values_by: settings
                .as_deref()
                .and_then(IndexSettings::sort_facet_values_by),
        };
        // What every node is asked: enough hits for the merged window, with
        // the scores the merge compares.
        let (_, window_end) = {
            let (skip, take) = merge_req.window();
            (skip, skip + take)
        };
        let details =
            sort.is_some() || show_details || settings.as_ref().is_some_and(|s| s.sorts_by_rule);
        let routing = self.cluster.routing.load();
        let active = || {
            (0..routing.group_count())
                .filter(|&g| routing.topology().groups[g].state == GroupState::Active)
        };
        let active_count = active().count();
        let rotation = self.next_node.get() as u64;
        self.next_node.set(self.next_node.get().wrapping_add(1));
        let Some(group) = active().nth(rotation as usize % active_count.max(1)) else {
            return Err(Response::error(
                503,
                "miroir_shard_unavailable",
                "system",
                "No replica group is active.",
            ));
        };
        let rf = routing.topology().replication_factor;
        let mut target = String::with_capacity(uid.len() + 16);
        target.extend(["/indexes/", uid, "/search"]);
        let scatter = Scatter {
            routing: &routing,
            group,
            rotation,
            rf,
            target: &target,
            authorization: self.node_authorization(req, auth),
            deadline,
            params,
            details,
            hidden_field,
            relay: pagination == Pagination::WithinMaxTotalHits,
        };
        let mut node_limit = window_end;
        let mut more_rounds = 3u32;
        let mut failed_nodes: Vec<usize> = Vec::new();
        let (mut fan_out_total, mut retries_total) = (0usize, 0u64);
        // A complete page from an earlier round, kept in case a later one (asking the nodes
        // for more) fares worse.
        let mut earlier: Option<Searched> = None;
        loop {
            let Gathered {
                answers,
                relayed,
                uncovered,
                fan_out,
                retries,
                client_error,
            } = self
                .gather_answers(&scatter, node_limit, &mut failed_nodes, trace)
                .await;
            if let Some(error) = client_error {
                self.metrics
                    .scatter(fan_out_total + fan_out, false, retries_total + retries, 0);
                for answer in answers {
                    miroir_io::http::recycle_buffer(answer);
                }
                if let Some(old) = earlier.take() {
                    miroir_io::http::recycle_buffer(old.body);
                }
                return Err(error);
            }
            let partial = !uncovered.is_empty();
            fan_out_total += fan_out;
            retries_total += retries;
            let record = |page_partial: bool, missing: usize| {
                self.metrics
                    .scatter(fan_out_total, page_partial, retries_total, missing as u64);
            };
            // A complete earlier page answers when this round fares worse.
            let keep_earlier = |page: Searched| {
                record(!page.missing_shards.is_empty(), page.missing_shards.len());
                Ok(page)
            };
            if partial {
                if let Some(page) = earlier.take() {
                    return keep_earlier(page);
                }
            }
            if partial
                && self.cluster.config.scatter.unavailable_shard_policy
                    == UnavailableShardPolicy::Error
            {
                record(partial, uncovered.len());
                let list = uncovered
                    .iter()
                    .map(u32::to_string)
                    .collect::<Vec<_>>()
                    .join(", ");
                return Err(Response::error(
                    503,
                    "miroir_shard_unavailable",
                    "system",
                    &format!("Shards {list} of index `{uid}` have no reachable replica."),
                ));
            }
            let bodies: Vec<&[u8]> = answers.iter().map(Vec::as_slice).collect();
            let mut out = miroir_io::http::take_buffer(
                answers.iter().map(Vec::len).sum::<usize>().min(1 << 20),
            );
            let merged = match bodies.as_slice() {
                [answer] if relayed => {
                    relay_search(answer, Some(request_uid), &mut out).map(|()| None)
                }
                _ => merge_search(&merge_req, &bodies, &mut out).map(Some),
            };
            drop(bodies);
            for answer in answers {
                miroir_io::http::recycle_buffer(answer);
            }
            let stats = match merged {
                Ok(stats) => stats,
                Err(err) => {
                    if let Some(page) = earlier.take() {
                        return keep_earlier(page);
                    }
                    record(partial, uncovered.len());
                    return Err(Response::error(
                        502,
                        "miroir_node_error",
                        "system",
                        &format!("A node's search answer could not be merged: {err}."),
                    ));
                }
            };
            let missing = uncovered.len();
            let page = Searched {
                body: out,
                missing_shards: if partial { uncovered } else { Vec::new() },
            };
            // Distinct may need more of a node's list than the window (see `node_ran_out`): ask
            // the nodes for twice as many, a few times, while another round fits before the
            // deadline.
            if stats.is_some_and(|s| s.node_ran_out) && more_rounds > 0 {
                let now = Instant::now();
                let took = now.saturating_duration_since(round_started);
                if deadline.saturating_duration_since(now) > took {
                    more_rounds -= 1;
                    node_limit = node_limit.saturating_mul(2);
                    if let Some(old) = earlier.replace(page) {
                        miroir_io::http::recycle_buffer(old.body);
                    }
                    round_started = now;
                    continue;
                }
            }
            if let Some(old) = earlier.take() {
                miroir_io::http::recycle_buffer(old.body);
            }
            record(partial, missing);
            return Ok(page);
        }
    }

    /// One node's answer to a scatter's search `body`, by the scatter's deadline.
    async fn ask_node(&self, scatter: &Scatter<'_>, node: usize, body: &[u8]) -> NodeResult {
        let request = NodeRequest {
            method: Method::Post,
            target: scatter.target,
            content_type: Some("application/json"),
            body,
        };
        self.send_node_within(
            node,
            NodeOperation::Read,
            &request,
            scatter.authorization,
            Some(scatter.deadline),
        )
        .await
    }

    /// One scatter of a search: the plan's nodes asked for `node_limit` hits, the shards of
    /// the nodes that fail asked again of other replicas (once, within the deadline).
    async fn gather_answers(
        &self,
        scatter: &Scatter<'_>,
        node_limit: usize,
        failed_nodes: &mut Vec<usize>,
        trace: &RequestTrace,
    ) -> Gathered {
        // The body of nodes that answer for every shard they hold: built
        // once, shared by all of them.
        let mut shared_body: Option<Vec<u8>> = None;

        let mut answers: Vec<Vec<u8>> = Vec::new();
        let mut relayed = false;
        let mut retries = 0u64;
        let mut fan_out = 0usize;
        let mut uncovered: Vec<u32> = Vec::new();
        // Round 1: the plan; round 2: shards of failed nodes on other replicas.
        let mut pending = plan(
            scatter.routing,
            scatter.group,
            scatter.rotation,
            failed_nodes,
        );
        // A node's client error (bad filter, unknown field…) is the answer.
        let mut client_error: Option<Response> = None;
        'rounds: for round in 0..2 {
            if pending.per_node.is_empty() {
                uncovered = pending.uncovered.clone();
                break;
            }
            // One node answering for every shard (none answered yet, none left out) answers the
            // client's page itself.
            let relay = scatter.relay
                && answers.is_empty()
                && pending.per_node.len() == 1
                && pending.uncovered.is_empty();
            let ask = if relay {
                Ask::Page
            } else {
                Ask::Window {
                    end: node_limit,
                    details: scatter.details,
                    also_retrieve: scatter.hidden_field,
                }
            };
            let mut filtered: Vec<Option<Vec<u8>>> = Vec::with_capacity(pending.per_node.len());
            for (&node, shards) in &pending.per_node {
                if scatter.rf > 1 || round > 0 || pending.partial_nodes.contains(&node) {
                    filtered.push(Some(scatter.params.node_body(ask, Some(shards))));
                } else {
                    if shared_body.is_none() {
                        shared_body = Some(scatter.params.node_body(ask, None));
                    }
                    filtered.push(None);
                }
            }
            let bodies: Vec<(usize, &[u32], &[u8])> = pending
                .per_node
                .iter()
                .zip(&filtered)
                .map(|((&node, shards), own)| {
                    let body = own.as_deref().or(shared_body.as_deref()).unwrap_or(b"{}");
                    (node, shards.as_slice(), body)
                })
                .collect();
            fan_out += bodies.len();
            trace.fan_out.set(trace.fan_out.get() + bodies.len() as u32);
            let results: Vec<NodeResult> = join_in_order(&bodies, |(node, _, body)| {
                self.ask_node(scatter, *node, body)
            })
            .await;
            let mut lost_shards: Vec<u32> = pending.uncovered.clone();
            for ((node, shards, _), result) in bodies.iter().zip(results) {
                match result {
                    Ok(resp) if resp.status == 200 => {
                        answers.push(resp.body);
                        relayed = relay;
                    }
                    Ok(resp) if (400..500).contains(&resp.status) => {
                        client_error = Some(Response::json(resp.status, resp.body));
                        break 'rounds;
                    }
                    other => {
                        let why = match &other {
                            Ok(resp) => format!("HTTP {}", resp.status),
                            Err(err) => err.to_string(),
                        };
                        tracing::warn!(node = %self.cluster.config.nodes[*node].id, error = %why, "search node failed; retrying its shards elsewhere");
                        failed_nodes.push(*node);
                        lost_shards.extend(shards.iter().copied());
                    }
                }
            }
            if lost_shards.is_empty() || round == 1 || Instant::now() >= scatter.deadline {
                uncovered = lost_shards;
                break;
            }
            retries += lost_shards.len() as u64;
            pending = replan(scatter.routing, &lost_shards, failed_nodes);
        }
        uncovered.sort_unstable();
        uncovered.dedup();
        Gathered {
            answers,
            relayed,
            uncovered,
            fan_out,
            retries,
            client_error,
        }
    }
}

/// Whether an `attributesToRetrieve` list leaves `field` out: it names neither the field nor a
/// `*` pattern (which may cover it).
pub(crate) fn retrieve_leaves_out<'s>(
    fields: impl IntoIterator<Item = &'s str>,
    field: &str,
) -> bool {
    !fields.into_iter().any(|f| f == field || f.contains('*'))
}

/// Whether Meilisearch shows `field` in `_formatted` whatever is retrieved:
/// `attributesToHighlight` names it (or `*`), or `attributesToCrop` does (`field`,
/// `field:length` or `*`).
pub(crate) fn formatted_shows<'s>(
    highlight: impl IntoIterator<Item = &'s str>,
    crop: impl IntoIterator<Item = &'s str>,
    field: &str,
) -> bool {
    highlight
        .into_iter()
        .any(|name| name == "*" || name == field)
        || crop.into_iter().any(|entry| {
            let name = entry.rsplit_once(':').map_or(entry, |(name, _)| name);
            name == "*" || name == field
        })
}

/// A healthy replica of `shard` in any active group, not in `avoid`.
fn replacement(routing: &RoutingSnapshot, shard: u32, avoid: &[usize]) -> Option<usize> {
    let topo = routing.topology();
    (0..routing.group_count())
        .filter(|&g| topo.groups[g].state == GroupState::Active)
        .flat_map(|g| routing.replicas(g, shard).iter().map(|&n| n as usize))
        .find(|&n| routing.is_healthy(n as u16) && !avoid.contains(&n))
}

/// Healthy replicas (any active group) for shards whose node failed.
fn replan(routing: &RoutingSnapshot, shards: &[u32], avoid: &[usize]) -> Plan {
    let mut plan = Plan::empty();
    plan.fill_in(routing, shards.iter().copied(), avoid);
    plan
}

/// What a search asks each node.
#[derive(Clone, Copy, Debug)]
enum Ask<'a> {
    /// The merge's window: `offset: 0`, `limit: end`, `showRankingScore: true` (and details
    /// when `details`), no `page`/`hitsPerPage`, and `also_retrieve` added to
    /// `attributesToRetrieve`.
    Window {
        end: usize,
        details: bool,
        also_retrieve: Option<&'a str>,
    },
    /// The client's own parameters: a node that answers for every shard answers the client's
    /// page, relayed as it is.
    Page,
}

/// A search's parameters: a `serde_json` object (GET queries, multi-search,
/// bodies the raw scan declined) or the members of a raw POST body.
// The raw variant is a fixed array on purpose: no allocation per search.
#[allow(clippy::large_enum_variant)]
enum Params<'a> {
    Map(&'a Map<String, Value>),
    Raw(RawBody<'a>),
}

/// Members the node body gets from Miroir, never from the client.
const REWRITTEN: [&str; 5] = ["page", "hitsPerPage", "offset", "limit", "showRankingScore"];

impl Params<'_> {
    /// A non-negative integer parameter (`Value::as_u64` semantics).
    fn uint(&self, key: &str) -> Option<usize> {
        match self {
            Params::Map(m) => m.get(key).and_then(Value::as_u64).map(|v| v as usize),
            Params::Raw(r) => r.get(key).and_then(raw_u64).map(|v| v as usize),
        }
    }

    fn flag(&self, key: &str) -> Option<bool> {
        match self {
            Params::Map(m) => m.get(key).and_then(Value::as_bool),
            Params::Raw(r) => match r.get(key) {
                Some("true") => Some(true),
                Some("false") => Some(false),
                _ => None,
            },
        }
    }

    fn sort(&self) -> Option<Vec<String>> {
        self.strings("sort")
    }

    /// An array-of-strings parameter (other elements skipped).
    fn strings(&self, key: &str) -> Option<Vec<String>> {
        let strings = |v: &Value| {
            v.as_array().map(|s| {
                s.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
        };
        match self {
            Params::Map(m) => m.get(key).and_then(strings),
            Params::Raw(r) => r
                .get(key)
                .filter(|v| v.starts_with('['))
                .and_then(|v| serde_json::from_str::<Value>(v).ok())
                .and_then(|v| strings(&v)),
        }
    }

    /// A string parameter.
    fn string(&self, key: &str) -> Option<String> {
        match self {
            Params::Map(m) => m.get(key).and_then(Value::as_str).map(str::to_owned),
            Params::Raw(r) => r
                .get(key)
                .filter(|v| v.starts_with('"'))
                .and_then(|v| serde_json::from_str::<String>(v).ok()),
        }
    }

    /// `q` as compact JSON, as `Value`'s `Display` writes it.
    fn query_json(&self) -> Option<Cow<'_, str>> {
        match self {
            Params::Map(m) => m.get("q").map(|q| Cow::Owned(q.to_string())),
            Params::Raw(r) => r.get("q").map(|q| {
                // A string without escapes is written back byte for byte.
                if q.starts_with('"') && !q.contains('\\') {
                    Cow::Borrowed(q)
                } else {
                    serde_json::from_str::<Value>(q)
                        .map_or(Cow::Borrowed(q), |v| Cow::Owned(v.to_string()))
                }
            }),
        }
    }

    /// What a node is asked: the client's parameters as `ask` says, with `shards` ANDed to the
    /// filter.
    fn node_body(&self, ask: Ask<'_>, shards: Option<&[u32]>) -> Vec<u8> {
        match self {
            Params::Map(body) => {
                let mut b = (*body).clone();
                if let Ask::Window {
                    end,
                    details,
                    also_retrieve,
                } = ask
                {
                    if let (Some(field), Some(Value::Array(fields))) =
                        (also_retrieve, b.get_mut("attributesToRetrieve"))
                    {
                        fields.push(Value::from(field));
                    }
                    b.remove("page");
                    b.remove("hitsPerPage");
                    b.insert("offset".into(), Value::from(0));
                    b.insert("limit".into(), Value::from(end));
                    b.insert("showRankingScore".into(), Value::from(true));
                    if details {
                        b.insert("showRankingScoreDetails".into(), Value::from(true));
                    }
                }
                if let Some(shards) = shards {
                    let filter = with_shard_filter(body.get("filter"), shards);
                    b.insert("filter".into(), filter);
                }
                serde_json::to_vec(&Value::Object(b)).unwrap_or_default()
            }
            Params::Raw(raw) => raw.node_body(ask, shards),
        }
    }
}

/// `Value::as_u64` of a raw JSON number: digits only (no sign, fraction or
/// exponent), within `u64`.
fn raw_u64(v: &str) -> Option<u64> {
    if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    v.parse().ok()
}

/// Most top-level members the raw path handles; more take the map path.
const MAX_RAW_MEMBERS: usize = 24;

/// The top-level members of a POST search body, as `(key, raw value)`
/// slices of the body. Only built when the body is a JSON object that
/// `serde_json` parses into the same members: keys without escapes, no
/// duplicate keys, no exponent numbers (their range is not checked here),
/// no `\u` surrogate escapes, nesting within `serde_json`'s limit.
struct RawBody<'a> {
    /// The whole body, sent as it is when nothing is rewritten.
    text: &'a str,
    members: [(&'a str, &'a str); MAX_RAW_MEMBERS],
    len: usize,
}

impl<'a> RawBody<'a> {
    fn parse(req: &Request<'a>) -> Option<RawBody<'a>> {
        if req.method != Method::Post {
            return None;
        }
        RawBody::parse_body(req.body)
    }

    fn parse_body(body: &'a [u8]) -> Option<RawBody<'a>> {
        let body = if body.is_empty() {
            "{}"
        } else {
            std::str::from_utf8(body).ok()?
        };
        let mut scan = Scan {
            s: body.as_bytes(),
            pos: 0,
        };
        let mut raw = RawBody {
            text: body,
            members: [("", ""); MAX_RAW_MEMBERS],
            len: 0,
        };
        scan.ws();
        scan.eat(b'{')?;
        scan.ws();
        if scan.peek() == Some(b'}') {
            scan.pos += 1;
        } else {
            loop {
                if raw.len == MAX_RAW_MEMBERS {
                    return None;
                }
                let key_start = scan.pos + 1;
                scan.eat(b'"')?;
                if scan.string()? {
                    return None; // escaped key
                }
                let key = &body[key_start..scan.pos - 1];
                if raw.members[..raw.len].iter().any(|(k, _)| *k == key) {
                    return None;
                }
                scan.ws();
                scan.eat(b':')?;
                scan.ws();
                let value_start = scan.pos;
                scan.value(1)?;
                raw.members[raw.len] = (key, &body[value_start..scan.pos]);
                raw.len += 1;
                scan.ws();
                match scan.next()? {
                    b',' => scan.ws(),
                    b'}' => break,
                    _ => return None,
                }
            }
        }
        scan.ws();
        (scan.pos == body.len()).then_some(raw)
    }

    fn get(&self, key: &str) -> Option<&'a str> {
        self.members[..self.len]
            .iter()
            .find_map(|&(k, v)| (k == key).then_some(v))
    }

    fn node_body(&self, ask: Ask<'_>, shards: Option<&[u32]>) -> Vec<u8> {
        use std::io::Write;
        let (window, also_retrieve) = match ask {
            Ask::Page if shards.is_none() => return self.text.as_bytes().to_vec(),
            Ask::Page => (None, None),
            Ask::Window {
                end,
                details,
                also_retrieve,
            } => (Some((end, details)), also_retrieve),
        };
        let mut out = Vec::with_capacity(
            96 + self.members[..self.len]
                .iter()
                .map(|(k, v)| k.len() + v.len() + 4)
                .sum::<usize>(),
        );
        out.push(b'{');
        for &(key, value) in &self.members[..self.len] {
            let rewritten = window.is_some_and(|(_, details)| {
                REWRITTEN.contains(&key) || (details && key == "showRankingScoreDetails")
            });
            if rewritten || (shards.is_some() && key == "filter") {
                continue;
            }
            if out.len() > 1 {
                out.push(b',');
            }
            out.push(b'"');
            out.extend_from_slice(key.as_bytes());
            out.extend_from_slice(b"\":");
            match also_retrieve.filter(|_| key == "attributesToRetrieve") {
                Some(field) if value.starts_with('[') && value.ends_with(']') => {
                    let inner = &value[1..value.len() - 1];
                    out.push(b'[');
                    if !inner.trim_matches([' ', '\t', '\n', '\r']).is_empty() {
                        out.extend_from_slice(inner.as_bytes());
                        out.push(b',');
                    }
                    out.extend_from_slice(&serde_json::to_vec(field).unwrap_or_default());
                    out.push(b']');
                }
                _ => out.extend_from_slice(value.as_bytes()),
            }
        }
        if let Some((end, details)) = window {
            if out.len() > 1 {
                out.push(b',');
            }
            let _ = write!(
                out,
                "\"offset\":0,\"limit\":{end},\"showRankingScore\":true"
            );
            if details {
                out.extend_from_slice(b",\"showRankingScoreDetails\":true");
            }
        }
        if let Some(shards) = shards {
            if out.len() > 1 {
                out.push(b',');
            }
            out.extend_from_slice(b"\"filter\":");
            // `with_shard_filter` on raw JSON: the shard filter alone, the
            // client's array with it appended, or `[client, shard]`.
            let shard = || format!("\"{}\"", shard_filter(shards));
            match self.get("filter") {
                None | Some("null") => out.extend_from_slice(shard().as_bytes()),
                Some(f) if f.starts_with('[') => {
                    let inner = &f[1..f.len() - 1];
                    out.push(b'[');
                    if !inner.trim_matches([' ', '\t', '\n', '\r']).is_empty() {
                        out.extend_from_slice(inner.as_bytes());
                        out.push(b',');
                    }
                    out.extend_from_slice(shard().as_bytes());
                    out.push(b']');
                }
                Some(f) => {
                    out.push(b'[');
                    out.extend_from_slice(f.as_bytes());
                    out.push(b',');
                    out.extend_from_slice(shard().as_bytes());
                    out.push(b']');
                }
            }
        }
        out.push(b'}');
        out
    }
}

/// A strict JSON scanner over UTF-8 text. `None` means "not sure serde_json
/// reads this the same way": the caller falls back to serde_json.
struct Scan<'a> {
    s: &'a [u8],
    pos: usize,
}

/// Deepest nesting accepted (serde_json's recursion limit is 128).
const MAX_DEPTH: usize = 100;
/// Longest number accepted (longer integers can overflow `f64` in serde_json).
const MAX_NUMBER_DIGITS: usize = 300;

impl Scan<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.pos).copied()
    }

    fn next(&mut self) -> Option<u8> {
        let b = self.peek()?;
        self.pos += 1;
        Some(b)
    }

    fn eat(&mut self, b: u8) -> Option<()> {
        (self.next()? == b).then_some(())
    }

    fn ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.pos += 1;
        }
    }

    /// The rest of a string after its opening quote; whether it had escapes.
    fn string(&mut self) -> Option<bool> {
        let mut escaped = false;
        loop {
            match self.next()? {
                b'"' => return Some(escaped),
                b'\\' => {
                    escaped = true;
                    match self.next()? {
                        b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => {}
                        b'u' => {
                            let hex = self.s.get(self.pos..self.pos + 4)?;
                            if !hex.iter().all(u8::is_ascii_hexdigit)
                                || matches!(hex[0], b'd' | b'D')
                            {
                                return None;
                            }
                            self.pos += 4;
                        }
                        _ => return None,
                    }
                }
                0..=0x1f => return None,
                _ => {}
            }
        }
    }

    fn digits(&mut self) -> usize {
        let start = self.pos;
        while matches!(self.peek(), Some(b'0'..=b'9')) {
            self.pos += 1;
        }
        self.pos - start
    }

    fn value(&mut self, depth: usize) -> Option<()> {
        match self.next()? {
            b'"' => self.string().map(|_| ()),
            b't' => self.literal(b"rue"),
            b'f' => self.literal(b"alse"),
            b'n' => self.literal(b"ull"),
            b'-' | b'0'..=b'9' => {
                self.pos -= 1;
                self.number()
            }
            open @ (b'{' | b'[') => {
                if depth >= MAX_DEPTH {
                    return None;
                }
                let close = if open == b'{' { b'}' } else { b']' };
                self.ws();
                if self.peek() == Some(close) {
                    self.pos += 1;
                    return Some(());
                }
                loop {
                    if open == b'{' {
                        self.eat(b'"')?;
                        self.string()?;
                        self.ws();
                        self.eat(b':')?;
                        self.ws();
                    }
                    self.value(depth + 1)?;
                    self.ws();
                    match self.next()? {
                        b',' => self.ws(),
                        b if b == close => return Some(()),
                        _ => return None,
                    }
                }
            }
            _ => None,
        }
    }

    fn literal(&mut self, rest: &[u8]) -> Option<()> {
        let end = self.pos + rest.len();
        (self.s.get(self.pos..end)? == rest).then(|| self.pos = end)
    }

    fn number(&mut self) -> Option<()> {
        if self.peek() == Some(b'-') {
            self.pos += 1;
        }
        let mut count = match self.peek()? {
            b'0' => {
                self.pos += 1;
                1
            }
            b'1'..=b'9' => self.digits(),
            _ => return None,
        };
        if self.peek() == Some(b'.') {
            self.pos += 1;
            let fraction = self.digits();
            if fraction == 0 {
                return None;
            }
            count += fraction;
        }
        if matches!(self.peek(), Some(b'e' | b'E')) || count > MAX_NUMBER_DIGITS {
            return None;
        }
        Some(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map_of(body: &str) -> Map<String, Value> {
        let body = if body.is_empty() { "{}" } else { body };
        match serde_json::from_str::<Value>(body).expect("serde accepts what the scan accepts") {
            Value::Object(m) => m,
            other => panic!("not an object: {other}"),
        }
    }

    /// The raw path reads and rewrites a body exactly as the map path does.
    fn same(body: &str) {
        let raw = RawBody::parse_body(body.as_bytes())
            .unwrap_or_else(|| panic!("raw scan declined {body}"));
        let map = map_of(body);
        let (r, m) = (Params::Raw(raw), Params::Map(&map));
        for key in ["page", "hitsPerPage", "offset", "limit", "q"] {
            assert_eq!(r.uint(key), m.uint(key), "{key} of {body}");
        }
        for key in ["showRankingScore", "showRankingScoreDetails"] {
            assert_eq!(r.flag(key), m.flag(key), "{key} of {body}");
        }
        assert_eq!(r.sort(), m.sort(), "sort of {body}");
        assert_eq!(
            r.strings("attributesToRetrieve"),
            m.strings("attributesToRetrieve"),
            "attributesToRetrieve of {body}"
        );
        assert_eq!(
            r.string("distinct"),
            m.string("distinct"),
            "distinct of {body}"
        );
        assert_eq!(r.query_json(), m.query_json(), "q of {body}");
        let windows = [false, true].into_iter().flat_map(|details| {
            [None, Some("genres")].map(|also_retrieve| Ask::Window {
                end: 30,
                details,
                also_retrieve,
            })
        });
        for ask in windows.chain([Ask::Page]) {
            for shards in [None, Some(&[1u32][..]), Some(&[0u32, 2][..])] {
                let a: Value = serde_json::from_slice(&r.node_body(ask, shards))
                    .unwrap_or_else(|e| panic!("raw node body of {body}: {e}"));
                let b: Value = serde_json::from_slice(&m.node_body(ask, shards)).unwrap();
                assert_eq!(a, b, "node body of {body} ({ask:?}, {shards:?})");
            }
        }
    }

    #[test]
    fn raw_body_matches_the_map_path() {
        for body in [
            "",
            "{}",
            " { } ",
            r#"{"q":"batman","limit":10}"#,
            r#"{"q":"batman","limit":10,"offset":5}"#,
            r#"{"q":"bat\"man\u00e9","page":2,"hitsPerPage":7}"#,
            r#"{"q":"été ☃","limit":10.0,"offset":-1}"#,
            r#"{"q":null,"limit":"10","page":0}"#,
            r#"{"q":12.50,"limit":18446744073709551615}"#,
            r#"{"limit":18446744073709551616}"#,
            r#"{"sort":["year:desc","title:asc"],"showRankingScore":false}"#,
            r#"{"sort":"year:desc","showRankingScoreDetails":true}"#,
            r#"{"showRankingScoreDetails":"yes","showRankingScore":1}"#,
            r#"{"filter":"genres = Action"}"#,
            r#"{"filter":["a = 1",["b = 2","c = 3"]]}"#,
            r#"{"filter":[]}"#,
            r#"{"filter":[ ]}"#,
            r#"{"filter":null}"#,
            r#"{"filter":{"weird":true}}"#,
            "{\n \"q\" :\t\"x\" ,\r\n\"limit\": 3 , \"facets\": [ \"genres\" , \"year\" ] }",
            r#"{"q":"x","hybrid":{"embedder":"default","semanticRatio":0.5},"vector":[0.1,-0.25,0,1.5]}"#,
            r#"{"attributesToRetrieve":["*"],"attributesToHighlight":["title"],"highlightPreTag":"<em>"}"#,
            r#"{"attributesToRetrieve":["id", "title"],"distinct":"genres"}"#,
            r#"{"attributesToRetrieve":[ ],"distinct":null}"#,
            r#"{"attributesToRetrieve":"title","distinct":3}"#,
        ] {
            same(body);
        }
    }

    #[test]
    fn raw_body_declines_what_it_cannot_vouch_for() {
        for body in [
            "[]",
            "1",
            "\"q\"",
            "{",
            r#"{"q":"a"} x"#,
            r#"{"q":"a",}"#,
            r#"{"q" "a"}"#,
            r#"{"q":"a","q":"b"}"#,
            r#"{"\u0071":"a"}"#,
            r#"{"limit":1e3}"#,
            r#"{"vector":[1E400]}"#,
            r#"{"limit":01}"#,
            r#"{"limit":-}"#,
            r#"{"limit":1.}"#,
            r#"{"q":"\ud800"}"#,
            r#"{"q":"\x"}"#,
            "{\"q\":\"a\u{1}\"}",
            r#"{"q":tru}"#,
            r#"{"filter":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["#,
        ] {
            assert!(RawBody::parse_body(body.as_bytes()).is_none(), "{body}");
        }
        assert!(RawBody::parse_body(b"{\"q\":\"\xff\"}").is_none());
        let deep = format!("{{\"f\":{}1{}}}", "[".repeat(99), "]".repeat(99));
        assert!(RawBody::parse_body(deep.as_bytes()).is_some());
        let deeper = format!("{{\"f\":{}1{}}}", "[".repeat(100), "]".repeat(100));
        assert!(RawBody::parse_body(deeper.as_bytes()).is_none());
        let long = format!("{{\"n\":{}}}", "9".repeat(301));
        assert!(RawBody::parse_body(long.as_bytes()).is_none());
    }
}
