//! Configuration: TOML per the design brief, secrets from the environment,
//! and validation that names the exact key at fault.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::path::PathBuf;

use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub server: ServerSection,
    #[serde(default)]
    pub auth: AuthSection,
    #[serde(default)]
    pub cluster: ClusterSection,
    #[serde(default)]
    pub nodes: Vec<NodeSection>,
    #[serde(default)]
    pub store: StoreSection,
    #[serde(default)]
    pub health: HealthSection,
    #[serde(default)]
    pub scatter: ScatterSection,
    #[serde(default)]
    pub upstream: UpstreamSection,
    #[serde(default)]
    pub tasks: TasksSection,
    #[serde(default)]
    pub log: LogSection,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IoChoice {
    Uring,
    Epoll,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerSection {
    pub listen: String,
    pub metrics_listen: String,
    /// Request cores; 0 = one per CPU.
    pub cores: usize,
    pub io: IoChoice,
    pub max_body_bytes: u64,
    pub header_timeout_ms: u64,
    pub body_timeout_ms: u64,
    pub keepalive_timeout_ms: u64,
    /// On SIGTERM/SIGINT, how long in-flight requests may take to finish.
    pub shutdown_drain_ms: u64,
}

impl Default for ServerSection {
    fn default() -> Self {
        ServerSection {
            listen: "127.0.0.1:7700".into(),
            metrics_listen: "127.0.0.1:9090".into(),
            cores: 0,
            io: IoChoice::Uring,
            max_body_bytes: 104_857_600,
            header_timeout_ms: 10_000,
            body_timeout_ms: 60_000,
            keepalive_timeout_ms: 60_000,
            shutdown_drain_ms: 10_000,
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthSection {
    pub master_key: String,
    pub node_master_key: String,
    pub admin_key: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClusterSection {
    pub shards: u32,
    pub replication_factor: usize,
}

impl Default for ClusterSection {
    fn default() -> Self {
        ClusterSection {
            shards: 64,
            replication_factor: 1,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeSection {
    pub id: String,
    pub address: String,
    #[serde(default)]
    pub group: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StoreBackend {
    Redb,
    Redis,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreSection {
    pub backend: StoreBackend,
    pub path: PathBuf,
    pub redis_url: String,
}

impl Default for StoreSection {
    fn default() -> Self {
        StoreSection {
            backend: StoreBackend::Redb,
            path: PathBuf::from("./miroir.redb"),
            redis_url: String::new(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HealthSection {
    pub interval_ms: u64,
    pub timeout_ms: u64,
    pub unhealthy_threshold: u32,
    pub recovery_threshold: u32,
}

impl Default for HealthSection {
    fn default() -> Self {
        HealthSection {
            interval_ms: 1000,
            timeout_ms: 500,
            unhealthy_threshold: 3,
            recovery_threshold: 2,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UnavailableShardPolicy {
    Partial,
    Error,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ScatterSection {
    pub node_timeout_ms: u64,
    pub unavailable_shard_policy: UnavailableShardPolicy,
}

impl Default for ScatterSection {
    fn default() -> Self {
        ScatterSection {
            node_timeout_ms: 5000,
            unavailable_shard_policy: UnavailableShardPolicy::Partial,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct UpstreamSection {
    pub connect_timeout_ms: u64,
    /// Deadline for a node request that is not a search (writes, admin).
    pub request_timeout_ms: u64,
    pub max_idle_per_node: usize,
}

impl Default for UpstreamSection {
    fn default() -> Self {
        UpstreamSection {
            connect_timeout_ms: 1000,
            request_timeout_ms: 30_000,
            max_idle_per_node: 64,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TasksSection {
    /// A node task its node has not reported on for this long (node unreachable, or the task
    /// unknown to it, e.g. after its data was lost) is marked failed with
    /// `miroir_node_task_lost`, so the Miroir task finishes instead of staying `processing`.
    pub node_task_lost_after_ms: u64,
}

impl Default for TasksSection {
    fn default() -> Self {
        TasksSection {
            node_task_lost_after_ms: 600_000,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Human,
    Json,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogSection {
    /// error | warn | info | debug | trace (env MIROIR_LOG wins).
    pub level: String,
    pub format: LogFormat,
}

impl Default for LogSection {
    fn default() -> Self {
        LogSection {
            level: "info".into(),
            format: LogFormat::Human,
        }
    }
}

/// Environment variables that override secrets in the file.
pub const ENV_MASTER_KEY: &str = "MIROIR_MASTER_KEY";
pub const ENV_NODE_MASTER_KEY: &str = "MIROIR_NODE_MASTER_KEY";
pub const ENV_ADMIN_KEY: &str = "MIROIR_ADMIN_API_KEY";

impl Config {
    /// Parses TOML; unknown keys are errors that name the key and line.
    pub fn parse(text: &str) -> Result<Config, String> {
        toml::from_str(text).map_err(|e| e.to_string().trim_end().to_owned())
    }

    /// Reads, parses, applies secrets from the environment and validates.
    pub fn load(path: &std::path::Path) -> Result<Config, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read config file {}: {e}", path.display()))?;
        let mut config = Config::parse(&text)?;
        config.apply_env(|name| std::env::var(name).ok());
        let problems = config.validate();
        if problems.is_empty() {
            Ok(config)
        } else {
            Err(problems.join("\n"))
        }
    }

    pub fn apply_env(&mut self, get: impl Fn(&str) -> Option<String>) {
        for (name, slot) in [
            (ENV_MASTER_KEY, &mut self.auth.master_key),
            (ENV_NODE_MASTER_KEY, &mut self.auth.node_master_key),
            (ENV_ADMIN_KEY, &mut self.auth.admin_key),
        ] {
            if let Some(value) = get(name).filter(|v| !v.is_empty()) {
                *slot = value;
            }
        }
    }

    /// Every problem found, each naming the key at fault. Empty = valid.
    pub fn validate(&self) -> Vec<String> {
        let mut problems = Vec::new();
        let s = &self.server;
        if s.listen.parse::<SocketAddr>().is_err() {
            problems.push(format!(
                "server.listen = \"{}\" is not an IP:PORT socket address",
                s.listen
            ));
        }
        if s.metrics_listen.parse::<SocketAddr>().is_err() {
            problems.push(format!(
                "server.metrics_listen = \"{}\" is not an IP:PORT socket address",
                s.metrics_listen
            ));
        }
        if s.max_body_bytes == 0 {
            problems.push("server.max_body_bytes must be at least 1".into());
        }
        for (key, value) in [
            ("server.header_timeout_ms", s.header_timeout_ms),
            ("server.body_timeout_ms", s.body_timeout_ms),
            ("server.keepalive_timeout_ms", s.keepalive_timeout_ms),
            ("health.interval_ms", self.health.interval_ms),
            ("health.timeout_ms", self.health.timeout_ms),
            ("scatter.node_timeout_ms", self.scatter.node_timeout_ms),
            (
                "tasks.node_task_lost_after_ms",
                self.tasks.node_task_lost_after_ms,
            ),
            (
                "upstream.connect_timeout_ms",
                self.upstream.connect_timeout_ms,
            ),
            (
                "upstream.request_timeout_ms",
                self.upstream.request_timeout_ms,
            ),
        ] {
            if value == 0 {
                problems.push(format!("{key} must be at least 1"));
            }
        }
        if self.health.timeout_ms > self.health.interval_ms {
            problems.push(format!(
                "health.timeout_ms = {} must not exceed health.interval_ms = {}",
                self.health.timeout_ms, self.health.interval_ms
            ));
        }
        if self.health.unhealthy_threshold == 0 {
            problems.push("health.unhealthy_threshold must be at least 1".into());
        }
        if self.health.recovery_threshold == 0 {
            problems.push("health.recovery_threshold must be at least 1".into());
        }
        if self.cluster.shards == 0 {
            problems.push("cluster.shards must be at least 1".into());
        }
        if self.cluster.shards > MAX_SHARDS {
            problems.push(format!(
                "cluster.shards = {} is more than the {MAX_SHARDS} supported",
                self.cluster.shards
            ));
        }
        if self.cluster.replication_factor == 0 {
            problems.push("cluster.replication_factor must be at least 1".into());
        }
        if self.store.backend == StoreBackend::Redis && self.store.redis_url.is_empty() {
            problems.push("store.redis_url is required when store.backend = \"redis\"".into());
        }
        if self.log.level.parse::<tracing::Level>().is_err() {
            problems.push(format!(
                "log.level = \"{}\" must be one of error, warn, info, debug, trace",
                self.log.level
            ));
        }
        self.validate_nodes(&mut problems);
        problems
    }

    fn validate_nodes(&self, problems: &mut Vec<String>) {
        if self.nodes.is_empty() {
            problems.push("no [[nodes]] configured: at least one node is required".into());
            return;
        }
        let mut first_index: BTreeMap<&str, usize> = BTreeMap::new();
        let mut groups: BTreeMap<u32, Vec<&str>> = BTreeMap::new();
        for (i, node) in self.nodes.iter().enumerate() {
            if !valid_node_id(&node.id) {
                problems.push(format!(
                    "nodes[{i}]: id \"{}\" must be 1 to 64 characters of A-Z a-z 0-9 - _ .",
                    node.id
                ));
            }
            if let Some(&first) = first_index.get(node.id.as_str()) {
                problems.push(format!(
                    "nodes[{i}]: duplicate node id \"{}\" (first used by nodes[{first}])",
                    node.id
                ));
            } else {
                first_index.insert(&node.id, i);
            }
            if let Err(why) = parse_node_address(&node.address) {
                problems.push(format!(
                    "nodes[{i}] ({}): address \"{}\" {why}",
                    node.id, node.address
                ));
            }
            groups.entry(node.group).or_default().push(&node.id);
        }
        let expected: Vec<u32> = (0..groups.len() as u32).collect();
        let found: Vec<u32> = groups.keys().copied().collect();
        if found != expected {
            problems.push(format!(
                "node groups must be numbered 0..{} without gaps; found groups {}",
                groups.len(),
                join(&found)
            ));
        }
        let rf = self.cluster.replication_factor;
        for (group, members) in &groups {
            if rf > members.len() {
                problems.push(format!(
                    "cluster.replication_factor = {rf} is larger than group {group}, which has {} node{} ({})",
                    members.len(),
                    if members.len() == 1 { "" } else { "s" },
                    members.join(", ")
                ));
            }
        }
        if self.nodes.len() > u16::MAX as usize {
            problems.push(format!("at most {} nodes are supported", u16::MAX));
        }
    }

    /// Resolves every node address (DNS names included) to a socket address.
    pub fn resolve_nodes(&self) -> Result<Vec<SocketAddr>, String> {
        self.nodes
            .iter()
            .map(|node| {
                let host_port = parse_node_address(&node.address).map_err(|why| {
                    format!("node {}: address \"{}\" {why}", node.id, node.address)
                })?;
                host_port
                    .to_socket_addrs()
                    .ok()
                    .and_then(|mut addrs| addrs.next())
                    .ok_or_else(|| {
                        format!(
                            "node {}: address \"{}\" does not resolve to an IP address",
                            node.id, node.address
                        )
                    })
            })
            .collect()
    }

    pub fn listen_addr(&self) -> Result<SocketAddr, String> {
        self.server.listen.parse().map_err(|_| {
            format!(
                "server.listen = \"{}\" is not an IP:PORT socket address",
                self.server.listen
            )
        })
    }

    /// The key that guards `/_miroir/*`: the admin key, else the master key.
    pub fn effective_admin_key(&self) -> &str {
        if self.auth.admin_key.is_empty() {
            &self.auth.master_key
        } else {
            &self.auth.admin_key
        }
    }
}

/// Most logical shards an index may have.
pub const MAX_SHARDS: u32 = 65_536;

fn valid_node_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

fn join(values: &[u32]) -> String {
    values
        .iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// `http://HOST:PORT` → `HOST:PORT`, or why it cannot be a node address.
pub fn parse_node_address(address: &str) -> Result<String, String> {
    let Some(rest) = address.strip_prefix("http://") else {
        if address.starts_with("https://") {
            return Err("uses https, but Miroir talks plain http to nodes (put nodes on a private network or loopback)".into());
        }
        return Err("must look like http://HOST:PORT".into());
    };
    let host_port = rest.strip_suffix('/').unwrap_or(rest);
    if host_port.contains('/') || host_port.contains('?') {
        return Err("must not have a path: use http://HOST:PORT".into());
    }
    let Some((host, port)) = host_port.rsplit_once(':') else {
        return Err("has no port: use http://HOST:PORT".into());
    };
    let port: u16 = match port.parse() {
        Ok(p) if p > 0 => p,
        _ => return Err(format!("has an invalid port \"{port}\"")),
    };
    let bare_host = host.trim_start_matches('[').trim_end_matches(']');
    if bare_host.is_empty() {
        return Err("has no host".into());
    }
    if let Ok(ip) = bare_host.parse::<IpAddr>() {
        if ip.is_unspecified() {
            return Err(format!(
                "is not reachable: {ip} is the unspecified address (a listen address, not one to connect to)"
            ));
        }
        if ip.is_multicast() {
            return Err(format!("is not reachable: {ip} is a multicast address"));
        }
    }
    Ok(format!("{host}:{port}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(text: &str) -> Config {
        Config::parse(text).expect("parses")
    }

    const THREE_NODES: &str = r#"
[cluster]
shards = 64
replication_factor = 1
[[nodes]]
id = "meili-0"
address = "http://127.0.0.1:7701"
[[nodes]]
id = "meili-1"
address = "http://127.0.0.1:7702"
[[nodes]]
id = "meili-2"
address = "http://127.0.0.1:7703"
"#;

    #[test]
    fn valid_config_has_no_problems() {
        let c = config(THREE_NODES);
        assert_eq!(c.validate(), Vec::<String>::new());
        assert_eq!(c.server.listen, "127.0.0.1:7700");
        assert_eq!(c.health.unhealthy_threshold, 3);
        assert_eq!(
            c.scatter.unavailable_shard_policy,
            UnavailableShardPolicy::Partial
        );
    }

    #[test]
    fn duplicate_node_id() {
        let c = config(&format!(
            "{THREE_NODES}[[nodes]]\nid = \"meili-1\"\naddress = \"http://127.0.0.1:7704\"\n"
        ));
        assert_eq!(
            c.validate(),
            vec!["nodes[3]: duplicate node id \"meili-1\" (first used by nodes[1])".to_string()]
        );
    }

    #[test]
    fn replication_factor_larger_than_group() {
        let c = config(&THREE_NODES.replace("replication_factor = 1", "replication_factor = 4"));
        assert_eq!(
            c.validate(),
            vec!["cluster.replication_factor = 4 is larger than group 0, which has 3 nodes (meili-0, meili-1, meili-2)".to_string()]
        );
    }

    #[test]
    fn unreachable_looking_addresses() {
        let cases = [
            ("http://0.0.0.0:7701", "nodes[0] (meili-0): address \"http://0.0.0.0:7701\" is not reachable: 0.0.0.0 is the unspecified address (a listen address, not one to connect to)"),
            ("http://127.0.0.1", "nodes[0] (meili-0): address \"http://127.0.0.1\" has no port: use http://HOST:PORT"),
            ("http://127.0.0.1:0", "nodes[0] (meili-0): address \"http://127.0.0.1:0\" has an invalid port \"0\""),
            ("127.0.0.1:7701", "nodes[0] (meili-0): address \"127.0.0.1:7701\" must look like http://HOST:PORT"),
            ("https://a.example:7700", "nodes[0] (meili-0): address \"https://a.example:7700\" uses https, but Miroir talks plain http to nodes (put nodes on a private network or loopback)"),
            ("http://127.0.0.1:7701/meili", "nodes[0] (meili-0): address \"http://127.0.0.1:7701/meili\" must not have a path: use http://HOST:PORT"),
            ("http://[::]:7701", "nodes[0] (meili-0): address \"http://[::]:7701\" is not reachable: :: is the unspecified address (a listen address, not one to connect to)"),
        ];
        for (address, message) in cases {
            let c = config(&THREE_NODES.replace("http://127.0.0.1:7701", address));
            assert_eq!(c.validate(), vec![message.to_string()], "{address}");
        }
        assert!(parse_node_address("http://[::1]:7701").is_ok());
        assert!(parse_node_address("http://meili-a.internal:7700/").is_ok());
    }

    #[test]
    fn unknown_keys_are_rejected_with_their_location() {
        let err = Config::parse("[server]\nlisten = \"127.0.0.1:7700\"\ncolour = \"blue\"\n")
            .unwrap_err();
        assert!(
            err.starts_with("TOML parse error at line 3, column 1"),
            "{err}"
        );
        assert!(
            err.contains("unknown field `colour`, expected one of `listen`, `metrics_listen`"),
            "{err}"
        );

        let err = Config::parse("[clustre]\nshards = 4\n").unwrap_err();
        assert!(err.contains("unknown field `clustre`"), "{err}");

        let err =
            Config::parse("[[nodes]]\nid = \"a\"\naddress = \"http://127.0.0.1:1\"\nweight = 2\n")
                .unwrap_err();
        assert!(
            err.contains("unknown field `weight`, expected one of `id`, `address`, `group`"),
            "{err}"
        );
    }

    #[test]
    fn bad_enum_values_name_the_choices() {
        let err = Config::parse("[server]\nio = \"kqueue\"\n").unwrap_err();
        assert!(
            err.contains("unknown variant `kqueue`, expected `uring` or `epoll`"),
            "{err}"
        );
    }

    #[test]
    fn groups_numbering_and_counts() {
        let c = config(&format!("{THREE_NODES}[[nodes]]\nid = \"meili-3\"\naddress = \"http://127.0.0.1:7704\"\ngroup = 2\n"));
        assert_eq!(
            c.validate(),
            vec!["node groups must be numbered 0..2 without gaps; found groups 0, 2".to_string()]
        );
    }

    #[test]
    fn several_problems_are_all_reported() {
        let c = config("[cluster]\nshards = 0\nreplication_factor = 0\n[health]\ninterval_ms = 100\ntimeout_ms = 500\n[server]\nlisten = \"localhost\"\n");
        assert_eq!(
            c.validate(),
            vec![
                "server.listen = \"localhost\" is not an IP:PORT socket address".to_string(),
                "health.timeout_ms = 500 must not exceed health.interval_ms = 100".to_string(),
                "cluster.shards must be at least 1".to_string(),
                "cluster.replication_factor must be at least 1".to_string(),
                "no [[nodes]] configured: at least one node is required".to_string(),
            ]
        );
    }

    #[test]
    fn secrets_come_from_the_environment() {
        let mut c = config("[auth]\nmaster_key = \"from-file\"\n");
        c.apply_env(|name| match name {
            ENV_MASTER_KEY => Some("from-env".into()),
            ENV_NODE_MASTER_KEY => Some("node-env".into()),
            _ => None,
        });
        assert_eq!(c.auth.master_key, "from-env");
        assert_eq!(c.auth.node_master_key, "node-env");
        assert_eq!(c.auth.admin_key, "");
        assert_eq!(c.effective_admin_key(), "from-env");
    }

    #[test]
    fn invalid_node_ids() {
        let c = config(&THREE_NODES.replace("\"meili-2\"", "\"meili 2\""));
        assert_eq!(
            c.validate(),
            vec![
                "nodes[2]: id \"meili 2\" must be 1 to 64 characters of A-Z a-z 0-9 - _ ."
                    .to_string()
            ]
        );
    }
}
