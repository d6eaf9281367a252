//! `miroir dev`: N local Meilisearch nodes on free loopback ports, data and
//! logs under `./.miroir-dev/`, and a generated config for `serve`.

use std::fs::{self, File};
use std::io::{Read, Seek, SeekFrom};
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::config::{Config, ENV_MASTER_KEY, ENV_NODE_MASTER_KEY};
use crate::ctl::{self, BaseUrl};

/// The working directory of `miroir dev`, under the current directory.
const DEV_DIR: &str = ".miroir-dev";
/// How long a node may take to answer `/health` 200.
const READY_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a node may take to exit after SIGTERM before it is killed.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);
const MAX_NODES: usize = 64;

const INSTALL_HINT: &str = "\
miroir dev runs unmodified Meilisearch (any v1.x) nodes. To install Meilisearch:
  curl -L https://install.meilisearch.com | sh   (downloads ./meilisearch for this platform)
  or see https://www.meilisearch.com/docs/learn/self_hosted/install_meilisearch_locally
  (Homebrew, APT, Docker, release binaries, building from source).
Then put `meilisearch` on PATH or pass --meili-bin PATH.";

#[derive(clap::Args, Debug)]
pub struct DevArgs {
    /// How many Meilisearch nodes to start (one replica group).
    #[arg(long, default_value_t = 3)]
    pub nodes: usize,
    /// The meilisearch binary (default: `meilisearch` on PATH).
    #[arg(long, value_name = "PATH")]
    pub meili_bin: Option<PathBuf>,
    /// Miroir's client address.
    #[arg(long, default_value = "127.0.0.1:7700")]
    pub listen: SocketAddr,
    /// Prometheus metrics address [default: 127.0.0.1:9090, or a free
    /// loopback port when that one is taken].
    #[arg(long, value_name = "ADDR")]
    pub metrics_listen: Option<SocketAddr>,
    /// Logical shards per index.
    #[arg(long, default_value_t = 64)]
    pub shards: u32,
    /// Copies of each shard (at most --nodes).
    #[arg(long, default_value_t = 1)]
    pub replication_factor: usize,
}

/// Running dev nodes: on drop each gets SIGTERM, then SIGKILL if it has not
/// exited after 10 s, and is waited for. Their data is kept.
pub struct DevNodes {
    nodes: Vec<(String, Child)>,
}

impl Drop for DevNodes {
    fn drop(&mut self) {
        if self.nodes.is_empty() {
            return;
        }
        for (_, child) in &self.nodes {
            if let Ok(pid) = libc::pid_t::try_from(child.id()) {
                // SAFETY: kill(2) on our own, not yet reaped child.
                unsafe { libc::kill(pid, libc::SIGTERM) };
            }
        }
        let deadline = Instant::now() + STOP_TIMEOUT;
        for (name, child) in &mut self.nodes {
            loop {
                match child.try_wait() {
                    Ok(Some(_)) => break,
                    Ok(None) if Instant::now() < deadline => {
                        std::thread::sleep(Duration::from_millis(20))
                    }
                    _ => {
                        eprintln!("miroir dev: {name} did not stop on SIGTERM; killing it");
                        let _ = child.kill();
                        let _ = child.wait();
                        break;
                    }
                }
            }
        }
        let n = self.nodes.len();
        eprintln!(
            "miroir dev: stopped {n} Meilisearch node{} (data kept in ./{DEV_DIR})",
            if n == 1 { "" } else { "s" }
        );
        self.nodes.clear();
    }
}

/// Starts the nodes, waits until each answers `/health`, and writes
/// `./.miroir-dev/miroir.toml`; returns the nodes and that config's path.
pub fn prepare(args: &DevArgs) -> Result<(DevNodes, PathBuf), String> {
    if args.nodes == 0 || args.nodes > MAX_NODES {
        return Err(format!("--nodes must be 1 to {MAX_NODES}"));
    }
    if args.replication_factor == 0 || args.replication_factor > args.nodes {
        return Err(format!(
            "--replication-factor must be 1 to --nodes ({})",
            args.nodes
        ));
    }
    let bin = find_meilisearch(args.meili_bin.as_deref())?;
    let dir = std::env::current_dir()
        .map_err(|e| format!("cannot read the current directory: {e}"))?
        .join(DEV_DIR);
    fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;

    // Fail before starting anything if Miroir's own ports are taken.
    TcpListener::bind(args.listen).map_err(|e| {
        format!(
            "cannot listen on {}: {e} (pick another address with --listen)",
            args.listen
        )
    })?;
    let metrics = match args.metrics_listen {
        Some(addr) => {
            TcpListener::bind(addr).map_err(|e| {
                format!("cannot listen on {addr}: {e} (pick another address with --metrics-listen)")
            })?;
            addr
        }
        None => {
            let default = SocketAddr::from(([127, 0, 0, 1], 9090));
            match TcpListener::bind(default) {
                Ok(_) => default,
                Err(_) => SocketAddr::from(([127, 0, 0, 1], free_ports(1)?[0])),
            }
        }
    };
    let node_key = node_master_key(&dir)?;
    let ports = free_ports(args.nodes)?;
    let ids: Vec<String> = (0..args.nodes).map(|i| format!("meili-{i}")).collect();
    let config_text = config_toml(args, metrics, &dir, &node_key, &ids, &ports);
    let problems = Config::parse(&config_text)?.validate();
    if !problems.is_empty() {
        return Err(problems.join("\n"));
    }

    let mut nodes = DevNodes { nodes: Vec::new() };
    let started = Instant::now();
    for (id, port) in ids.iter().zip(&ports) {
        let child = spawn_node(&bin, &dir, id, *port, &node_key)?;
        nodes.nodes.push((id.clone(), child));
    }
    for ((id, child), port) in nodes.nodes.iter_mut().zip(&ports) {
        await_health(id, child, *port, &dir.join(format!("{id}.log")), started)?;
    }

    let config_path = dir.join("miroir.toml");
    fs::write(&config_path, &config_text)
        .map_err(|e| format!("cannot write {}: {e}", config_path.display()))?;

    let auth = if std::env::var_os(ENV_MASTER_KEY).is_some_and(|k| !k.is_empty()) {
        format!("master key from {ENV_MASTER_KEY}")
    } else {
        "no master key: the API is open".to_owned()
    };
    let mut summary = format!(
        "miroir dev: {} Meilisearch node{} ({}), data and logs in ./{DEV_DIR}/\n",
        args.nodes,
        if args.nodes == 1 { "" } else { "s" },
        bin.display()
    );
    for (id, port) in ids.iter().zip(&ports) {
        summary.push_str(&format!(
            "  {id:<10} http://127.0.0.1:{port}  log ./{DEV_DIR}/{id}.log\n"
        ));
    }
    summary.push_str(&format!(
        "miroir dev: Miroir on http://{} ({} shards, replication factor {}, {auth}), \
         metrics on http://{metrics}/metrics; config ./{DEV_DIR}/miroir.toml\n\
         miroir dev: `miroir ctl --url http://{} status` shows the fleet; Ctrl-C stops Miroir and the nodes",
        args.listen, args.shards, args.replication_factor, args.listen
    ));
    eprintln!("{summary}");
    Ok((nodes, config_path))
}

/// `--meili-bin`, else `meilisearch` on PATH; an error says how to get it.
fn find_meilisearch(flag: Option<&Path>) -> Result<PathBuf, String> {
    if let Some(path) = flag {
        // A bare name that is not in the current directory: look it up on PATH.
        if path.components().count() == 1 && fs::metadata(path).is_err() {
            if let Some(found) = on_path(path.as_os_str()) {
                return Ok(found);
            }
        }
        return match fs::metadata(path) {
            // Absolute: the nodes run in their own directories.
            Ok(meta) if meta.is_file() && is_executable(&meta) => std::path::absolute(path)
                .map_err(|e| format!("--meili-bin {}: {e}", path.display())),
            Ok(_) => Err(format!(
                "--meili-bin {}: not an executable file.\n{INSTALL_HINT}",
                path.display()
            )),
            Err(e) => Err(format!(
                "Meilisearch not found at --meili-bin {} ({e}).\n{INSTALL_HINT}",
                path.display()
            )),
        };
    }
    on_path("meilisearch".as_ref()).ok_or_else(|| {
        format!("Meilisearch not found: no `meilisearch` executable on PATH.\n{INSTALL_HINT}")
    })
}

/// The first executable file `name` in a PATH directory, made absolute.
fn on_path(name: &std::ffi::OsStr) -> Option<PathBuf> {
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|dir| dir.join(name))
        .find(|candidate| fs::metadata(candidate).is_ok_and(|m| m.is_file() && is_executable(&m)))
        .and_then(|found| std::path::absolute(found).ok())
}

fn is_executable(meta: &fs::Metadata) -> bool {
    use std::os::unix::fs::PermissionsExt;
    meta.permissions().mode() & 0o111 != 0
}

/// MIROIR_NODE_MASTER_KEY if set (serve would use it too), else the key kept
/// in `.miroir-dev/node-master-key` (generated once, so API keys created
/// through Miroir stay valid across runs).
fn node_master_key(dir: &Path) -> Result<String, String> {
    if let Some(key) = std::env::var(ENV_NODE_MASTER_KEY)
        .ok()
        .filter(|k| !k.is_empty())
    {
        return Ok(key);
    }
    let path = dir.join("node-master-key");
    if let Ok(key) = fs::read_to_string(&path) {
        let key = key.trim();
        if key.len() >= 16 {
            return Ok(key.to_owned());
        }
    }
    let mut bytes = [0u8; 24];
    File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .map_err(|e| format!("cannot read /dev/urandom for a node master key: {e}"))?;
    let key: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&path)
            .and_then(|mut f| f.write_all(key.as_bytes()))
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    }
    Ok(key)
}

/// `n` distinct free loopback ports (all held open while choosing).
fn free_ports(n: usize) -> Result<Vec<u16>, String> {
    let listeners = (0..n)
        .map(|_| TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr().map(|a| (l, a))))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("cannot find free loopback ports: {e}"))?;
    Ok(listeners.iter().map(|(_, a)| a.port()).collect())
}

fn toml_str(s: &str) -> String {
    toml::Value::String(s.to_owned()).to_string()
}

fn config_toml(
    args: &DevArgs,
    metrics: SocketAddr,
    dir: &Path,
    node_key: &str,
    ids: &[String],
    ports: &[u16],
) -> String {
    let mut text = format!(
        "# Written by `miroir dev` (rewritten on every run).\n\
         [server]\nlisten = {}\nmetrics_listen = {}\n\n\
         [auth]\nnode_master_key = {}\n\n\
         [cluster]\nshards = {}\nreplication_factor = {}\n\n\
         [store]\npath = {}\n",
        toml_str(&args.listen.to_string()),
        toml_str(&metrics.to_string()),
        toml_str(node_key),
        args.shards,
        args.replication_factor,
        toml_str(&dir.join("miroir.redb").to_string_lossy()),
    );
    for (id, port) in ids.iter().zip(ports) {
        text.push_str(&format!(
            "\n[[nodes]]\nid = {}\naddress = \"http://127.0.0.1:{port}\"\ngroup = 0\n",
            toml_str(id)
        ));
    }
    text
}

fn spawn_node(bin: &Path, dir: &Path, id: &str, port: u16, key: &str) -> Result<Child, String> {
    use std::os::unix::process::CommandExt;
    let node_dir = dir.join(id);
    fs::create_dir_all(&node_dir)
        .map_err(|e| format!("cannot create {}: {e}", node_dir.display()))?;
    let log_path = dir.join(format!("{id}.log"));
    let log = File::create(&log_path)
        .map_err(|e| format!("cannot create {}: {e}", log_path.display()))?;
    let log2 = log
        .try_clone()
        .map_err(|e| format!("cannot open {}: {e}", log_path.display()))?;
    let parent = std::process::id() as libc::pid_t;
    let mut command = Command::new(bin);
    command
        .arg("--http-addr")
        .arg(format!("127.0.0.1:{port}"))
        .arg("--db-path")
        .arg(node_dir.join("data.ms"))
        .arg("--master-key")
        .arg(key)
        .arg("--no-analytics")
        .args(["--env", "development"])
        // Dumps and snapshots default to the working directory; so does a
        // stray ./config.toml Meilisearch would try to read.
        .current_dir(&node_dir)
        .env_remove("NOTIFY_SOCKET")
        .env_remove("WATCHDOG_USEC")
        .env_remove("WATCHDOG_PID")
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log2)
        // Ctrl-C reaches Miroir only; it stops the nodes after draining.
        .process_group(0);
    // SAFETY: prctl, getppid and raise are async-signal-safe.
    unsafe {
        command.pre_exec(move || {
            // Stop with Miroir even if it is killed without cleaning up.
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
            if libc::getppid() != parent {
                libc::raise(libc::SIGTERM);
            }
            Ok(())
        });
    }
    command
        .spawn()
        .map_err(|e| format!("cannot start {} for {id}: {e}", bin.display()))
}

fn await_health(
    id: &str,
    child: &mut Child,
    port: u16,
    log: &Path,
    started: Instant,
) -> Result<(), String> {
    let base = BaseUrl::from_addr(SocketAddr::from(([127, 0, 0, 1], port)));
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!(
                "{id} exited ({status}) before answering /health; end of ./{DEV_DIR}/{id}.log:\n{}",
                log_tail(log)
            ));
        }
        if let Ok(r) = ctl::get(&base, "/health", None, Duration::from_secs(1)) {
            if r.status == 200 {
                return Ok(());
            }
        }
        if started.elapsed() > READY_TIMEOUT {
            return Err(format!(
                "{id} did not answer /health on 127.0.0.1:{port} within {} s; end of ./{DEV_DIR}/{id}.log:\n{}",
                READY_TIMEOUT.as_secs(),
                log_tail(log)
            ));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The last 20 lines (at most 4 KiB) of a log file.
fn log_tail(path: &Path) -> String {
    let Ok(mut f) = File::open(path) else {
        return "(no log)".into();
    };
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    let _ = f.seek(SeekFrom::Start(len.saturating_sub(4096)));
    let mut buf = Vec::new();
    let _ = f.read_to_end(&mut buf);
    let text = String::from_utf8_lossy(&buf);
    let lines: Vec<&str> = text.lines().collect();
    let tail = lines[lines.len().saturating_sub(20)..].join("\n");
    if tail.trim().is_empty() {
        "(empty log)".into()
    } else {
        tail
    }
}
