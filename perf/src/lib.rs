//! Shared pieces of the perf harness: starting a Miroir process against
//! given nodes, and timing a bounded load.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use miroir_test_nodes::http;

pub mod upstream;

pub const NODE_KEY: &str = "perf-node-master-key-0123";

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// The release `miroir` binary: `$MIROIR_BIN`, else `target/release/miroir`.
pub fn miroir_bin() -> PathBuf {
    std::env::var_os("MIROIR_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../target/release/miroir"
            ))
        })
}

/// A Miroir process on loopback, killed on drop.
pub struct MiroirProcess {
    child: Child,
    pub addr: String,
    dir: PathBuf,
}

impl MiroirProcess {
    /// `nodes` are node URLs, all in group 0.
    pub fn start(nodes: &[String], shards: u32, cores: usize) -> MiroirProcess {
        let port = free_port();
        let addr = format!("127.0.0.1:{port}");
        let dir = std::env::temp_dir().join(format!("miroir-perf-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let mut config = format!(
            "[server]\nlisten = \"{addr}\"\nmetrics_listen = \"127.0.0.1:{}\"\ncores = {cores}\n[auth]\nnode_master_key = \"{NODE_KEY}\"\n[cluster]\nshards = {shards}\n[store]\npath = \"{}\"\n[log]\nlevel = \"warn\"\n",
            free_port(),
            dir.join("miroir.redb").display()
        );
        for (i, url) in nodes.iter().enumerate() {
            config.push_str(&format!(
                "[[nodes]]\nid = \"node-{i}\"\naddress = \"{url}\"\n"
            ));
        }
        let path = dir.join("miroir.toml");
        std::fs::write(&path, config).expect("config");
        let bin = miroir_bin();
        let child = Command::new(&bin)
            .args(["serve", "--config"])
            .arg(&path)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot start {}: {e} (build it: cargo build --release)",
                    bin.display()
                )
            });
        let process = MiroirProcess { child, addr, dir };
        let ready = wait_until(Duration::from_secs(10), || {
            http::get(&process.addr, "/_miroir/ready", &[]).is_ok_and(|r| r.status == 200)
        });
        assert!(ready, "miroir never became ready");
        process
    }
}

/// The smallest shard count from `at_least` up under which each of `nodes` nodes (ids
/// `node-{i}`, as [`MiroirProcess::start`] names them; one group, one copy) holds a shard, so
/// that a search fans out to every node. Rendezvous placement gives few shards to few nodes
/// unevenly (3 shards on `node-0..2` leave one node empty), and a node holding no shard is
/// never asked.
pub fn shards_spanning(nodes: usize, at_least: u32) -> u32 {
    use miroir_router::{RoutingSnapshot, Topology};
    let spans = |shards: u32| {
        let topology = Topology::one_group(shards, 1, (0..nodes).map(|i| format!("node-{i}")));
        RoutingSnapshot::build(topology, vec![true; nodes]).is_ok_and(|routing| {
            (0..nodes).all(|n| u16::try_from(n).is_ok_and(|n| routing.shard_count(n) > 0))
        })
    };
    (at_least.max(1)..=at_least.max(1).saturating_mul(64))
        .find(|&shards| spans(shards))
        .unwrap_or(at_least)
}

impl MiroirProcess {
    /// How many shards each node holds, from `/_miroir/topology`.
    pub fn shard_counts(&self) -> Vec<u64> {
        let topology = http::get(&self.addr, "/_miroir/topology", &[]).expect("topology");
        let value: serde_json::Value =
            serde_json::from_slice(&topology.body).expect("topology JSON");
        value["nodes"]
            .as_array()
            .map(|nodes| {
                nodes
                    .iter()
                    .filter_map(|n| n["shard_count"].as_u64())
                    .collect()
            })
            .unwrap_or_default()
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Creates index `uid` (primary key `id`) through this Miroir; panics unless it is accepted.
    pub fn create_index(&self, uid: &str) {
        let body = format!(r#"{{"uid":"{uid}","primaryKey":"id"}}"#);
        let created = http::request(
            &self.addr,
            "POST",
            "/indexes",
            &[("content-type", "application/json")],
            Some(body.as_bytes()),
        )
        .expect("create index");
        assert_eq!(created.status, 202, "{}", created.text());
    }
}

/// CPU time, in seconds, used so far by process `pid` (all its threads).
#[derive(Clone, Copy, Default, Debug)]
pub struct CpuTime {
    pub user: f64,
    pub system: f64,
    /// User + system time of its waited-for children (e.g. wrk runs that finished).
    pub children: f64,
}

impl CpuTime {
    pub fn of(pid: u32) -> CpuTime {
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            return CpuTime::default();
        };
        // Fields after `(comm)`, which may contain spaces: utime is field 14, stime 15,
        // cutime 16, cstime 17 (1-based, `man 5 proc`).
        let Some((_, rest)) = stat.rsplit_once(')') else {
            return CpuTime::default();
        };
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let ticks = |i: usize| {
            fields
                .get(i)
                .and_then(|f| f.parse::<u64>().ok())
                .unwrap_or(0)
        };
        // SAFETY: sysconf has no preconditions.
        let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
        CpuTime {
            user: ticks(11) as f64 / hz,
            system: ticks(12) as f64 / hz,
            children: (ticks(13) + ticks(14)) as f64 / hz,
        }
    }

    /// Summed over processes.
    pub fn of_all(pids: &[u32]) -> CpuTime {
        pids.iter()
            .map(|&p| CpuTime::of(p))
            .fold(CpuTime::default(), |a, b| CpuTime {
                user: a.user + b.user,
                system: a.system + b.system,
                children: a.children + b.children,
            })
    }

    pub fn since(self, before: CpuTime) -> CpuTime {
        CpuTime {
            user: self.user - before.user,
            system: self.system - before.system,
            children: self.children - before.children,
        }
    }
}

/// Processes whose parent is `pid`.
pub fn children(pid: u32) -> Vec<u32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&p| {
            std::fs::read_to_string(format!("/proc/{p}/stat"))
                .ok()
                .and_then(|s| {
                    let rest = s.rsplit_once(')')?.1.to_string();
                    rest.split_whitespace().nth(1)?.parse::<u32>().ok()
                })
                == Some(pid)
        })
        .collect()
}

impl Drop for MiroirProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

pub fn wait_until(limit: Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if check() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    false
}

pub fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
    values.get(values.len() / 2).copied().unwrap_or(0.0)
}

/// A CPU cap on a set of processes (a cgroup with a CFS quota), so a proxy can be measured at
/// its own capacity while the load generator and the upstream, on the same cores, keep the CPU
/// they need. Removed on drop (the processes go back to the root group first).
pub struct CpuBudget {
    dir: PathBuf,
    root_procs: PathBuf,
    pids: Vec<u32>,
}

impl CpuBudget {
    /// Caps `pids` (and all their threads) together at `cpus` CPUs, through cgroup v1's `cpu`
    /// controller or cgroup v2's `cpu.max`. `Err` says why it cannot (no writable cgroup).
    ///
    /// The CFS period is as short as the kernel's 1 ms minimum quota allows (2 ms for half a
    /// CPU), so a capped proxy stalls at most about a millisecond at a time and its p99 stays
    /// comparable with another capped proxy's.
    pub fn cap(name: &str, pids: &[u32], cpus: f64) -> Result<CpuBudget, String> {
        if cpus.is_nan() || cpus <= 0.0 {
            return Err(format!("a budget of {cpus} CPU"));
        }
        let period_us = (1_000.0 / cpus.min(1.0)).ceil() as u64;
        let quota_us = (cpus * period_us as f64).round() as u64;
        let dir_name = format!("miroir-perf-{}-{name}", std::process::id());
        let v1 = PathBuf::from("/sys/fs/cgroup/cpu");
        let v2 = PathBuf::from("/sys/fs/cgroup");
        let write = |path: PathBuf, value: String| {
            std::fs::write(&path, value).map_err(|e| format!("{}: {e}", path.display()))
        };
        let (root, limits): (PathBuf, Vec<(&str, String)>) = if v1.join("cpu.cfs_quota_us").exists()
        {
            (
                v1,
                vec![
                    ("cpu.cfs_period_us", period_us.to_string()),
                    ("cpu.cfs_quota_us", quota_us.to_string()),
                ],
            )
        } else {
            let controllers = std::fs::read_to_string(v2.join("cgroup.controllers"))
                .map_err(|e| format!("no cgroup v1 cpu controller, and cgroup v2: {e}"))?;
            if !controllers.split_whitespace().any(|c| c == "cpu") {
                return Err("cgroup v2 without the cpu controller".into());
            }
            write(v2.join("cgroup.subtree_control"), "+cpu".into())?;
            (v2, vec![("cpu.max", format!("{quota_us} {period_us}"))])
        };
        let dir = root.join(&dir_name);
        std::fs::create_dir(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        // From here on, dropping the budget removes the group again.
        let mut budget = CpuBudget {
            dir,
            root_procs: root.join("cgroup.procs"),
            pids: Vec::new(),
        };
        for (file, value) in limits {
            write(budget.dir.join(file), value)?;
        }
        for &pid in pids {
            write(budget.dir.join("cgroup.procs"), pid.to_string())?;
            budget.pids.push(pid);
        }
        Ok(budget)
    }
}

impl Drop for CpuBudget {
    fn drop(&mut self) {
        for pid in &self.pids {
            let _ = std::fs::write(&self.root_procs, pid.to_string());
        }
        let _ = std::fs::remove_dir(&self.dir);
    }
}
