//! Miroir: a thread-per-core sharding and replication proxy for Meilisearch.

mod admin;
mod api;
mod auth;
mod browse;
mod cluster;
mod config;
mod ctl;
mod dev;
mod health;
mod indexes;
mod keys;
mod logging;
mod metrics;
mod multisearch;
mod nodes;
mod poller;
mod query;
mod routes;
mod search;
mod settings;
mod stats;
mod systemd;
mod tasks;
mod write;

use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::rc::Rc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use clap::{Parser, Subcommand};
use miroir_io::server::{bind_reuseport, serve};
use miroir_io::{ClientConfig, Drain, IoDriver, ServerConfig, UpstreamPool};

use crate::cluster::Cluster;
use crate::config::{Config, IoChoice, StoreBackend};
use crate::metrics::Registry;

#[derive(Parser)]
#[command(
    name = "miroir",
    version,
    about = "Sharding and replication proxy for Meilisearch"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the Meilisearch API in front of the configured nodes.
    Serve {
        /// Configuration file (TOML).
        #[arg(long, env = "MIROIR_CONFIG")]
        config: PathBuf,
    },
    /// Configuration tools.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// Start N local Meilisearch nodes and serve Miroir in front of them.
    Dev(dev::DevArgs),
    /// Query a running Miroir's admin API.
    Ctl(ctl::CtlArgs),
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Validate a configuration file and exit (0 = valid).
    Check { file: PathBuf },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve { config } => match serve_from(&config) {
            Ok(()) => ExitCode::SUCCESS,
            Err(message) => {
                eprintln!("miroir: {message}");
                ExitCode::FAILURE
            }
        },
        Command::Dev(args) => {
            let outcome = dev::prepare(&args).and_then(|(nodes, config_path)| {
                let served = serve_from(&config_path);
                drop(nodes);
                served
            });
            match outcome {
                Ok(()) => ExitCode::SUCCESS,
                Err(message) => {
                    eprintln!("miroir dev: {message}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Ctl(args) => match ctl::run(&args) {
            Ok(()) => ExitCode::SUCCESS,
            Err(message) => {
                eprintln!("miroir ctl: {message}");
                ExitCode::FAILURE
            }
        },
        Command::Config {
            command: ConfigCommand::Check { file },
        } => match Config::load(&file).and_then(|c| c.resolve_nodes().map(|_| c)) {
            Ok(c) => {
                let groups = c.nodes.iter().map(|n| n.group + 1).max().unwrap_or(0);
                println!(
                    "{}: ok ({} nodes in {} group{}, {} shards, replication factor {})",
                    file.display(),
                    c.nodes.len(),
                    groups,
                    if groups == 1 { "" } else { "s" },
                    c.cluster.shards,
                    c.cluster.replication_factor
                );
                ExitCode::SUCCESS
            }
            Err(message) => {
                eprintln!("{}: invalid configuration:\n{message}", file.display());
                ExitCode::FAILURE
            }
        },
    }
}

fn log_level(config: &Config) -> tracing::Level {
    std::env::var("MIROIR_LOG")
        .ok()
        .and_then(|l| l.parse().ok())
        .or_else(|| config.log.level.parse().ok())
        .unwrap_or(tracing::Level::INFO)
}

/// Blocks SIGTERM and SIGINT in this thread and every thread it starts from
/// now on; `wait_for_signals` then receives them synchronously.
fn block_shutdown_signals() -> libc::sigset_t {
    // SAFETY: plain signal-mask manipulation on a zeroed, initialised set.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGTERM);
        libc::sigaddset(&mut set, libc::SIGINT);
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        set
    }
}

/// First signal: drain. Second: exit at once.
fn wait_for_signals(set: libc::sigset_t, drain: Arc<Drain>) {
    let mut first = true;
    loop {
        let mut signal = 0;
        // SAFETY: sigwait on a set blocked in every thread.
        if unsafe { libc::sigwait(&set, &mut signal) } != 0 {
            continue;
        }
        if first {
            tracing::info!(
                signal,
                "shutting down: no new connections, finishing requests in flight"
            );
            systemd::notify_stopping();
            drain.begin();
            first = false;
        } else {
            tracing::warn!(signal, "second signal: exiting without draining");
            std::process::exit(130);
        }
    }
}

fn serve_from(path: &Path) -> Result<(), String> {
    let signals = block_shutdown_signals();
    let config = Config::load(path)?;
    let _log_flush = logging::init(log_level(&config), config.log.format);
    let node_addrs = config.resolve_nodes()?;
    let listen = config.listen_addr()?;
    let metrics_listen: SocketAddr = config.server.metrics_listen.parse().map_err(|_| {
        format!(
            "server.metrics_listen = \"{}\" is not an IP:PORT socket address",
            config.server.metrics_listen
        )
    })?;
    let driver = match config.server.io {
        IoChoice::Uring => IoDriver::Uring,
        IoChoice::Epoll => IoDriver::Epoll,
    };
    let cores = miroir_io::runtime::core_count(config.server.cores);
    let server_config = ServerConfig {
        max_body_bytes: config.server.max_body_bytes,
        header_timeout: Duration::from_millis(config.server.header_timeout_ms),
        body_timeout: Duration::from_millis(config.server.body_timeout_ms),
        keepalive_timeout: Duration::from_millis(config.server.keepalive_timeout_ms),
        drain_timeout: Duration::from_millis(config.server.shutdown_drain_ms),
    };
    let client_config = ClientConfig {
        connect_timeout: Duration::from_millis(config.upstream.connect_timeout_ms),
        max_idle_per_node: config.upstream.max_idle_per_node,
        max_response_bytes: 1 << 30,
    };
    // Bind every listener up front so a taken port fails start-up.
    let listeners = (0..cores)
        .map(|_| bind_reuseport(listen))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("cannot listen on {listen}: {e}"))?;
    let metrics_listener = bind_reuseport(metrics_listen)
        .map_err(|e| format!("cannot listen on {metrics_listen} (server.metrics_listen): {e}"))?;
    let drain = Drain::new(
        listeners
            .iter()
            .chain(std::iter::once(&metrics_listener))
            .map(|l| l.as_raw_fd())
            .collect(),
    );
    let listeners = Arc::new(Mutex::new(
        listeners.into_iter().map(Some).collect::<Vec<_>>(),
    ));

    let store = open_store(&config)?;
    let cluster = Cluster::new(config, node_addrs, store)?.shared();
    // One metrics slot per request core, one for the health checker, one
    // for the task poller.
    let registry = Arc::new(Registry::new(cores + 2, cluster.node_addrs.len()));
    health::spawn(cluster.clone(), registry.thread(cores), driver)
        .map_err(|e| format!("cannot start the health checker: {e}"))?;
    poller::spawn(cluster.clone(), registry.thread(cores + 1), driver)
        .map_err(|e| format!("cannot start the task poller: {e}"))?;
    spawn_metrics_listener(
        metrics_listener,
        cluster.clone(),
        registry.clone(),
        server_config.clone(),
        drain.clone(),
    )
    .map_err(|e| format!("cannot start the metrics listener: {e}"))?;
    {
        let drain = drain.clone();
        std::thread::Builder::new()
            .name("miroir-signals".into())
            .spawn(move || wait_for_signals(signals, drain))
            .map_err(|e| format!("cannot start the signal thread: {e}"))?;
    }

    tracing::info!(
        %listen,
        %metrics_listen,
        cores,
        io = driver.as_str(),
        nodes = cluster.node_addrs.len(),
        shards = cluster.config.cluster.shards,
        "miroir listening"
    );
    let store = cluster.store.clone();
    let threads = miroir_io::runtime::spawn_cores(cores, driver, move |core| {
        // Taken once per core at start-up; the lock is never touched again.
        let listener = listeners.lock().ok().and_then(|mut l| l[core].take());
        let cluster = cluster.clone();
        let registry = registry.clone();
        let drain = drain.clone();
        let server_config = Rc::new(server_config.clone());
        let client_config = client_config.clone();
        async move {
            let Some(listener) = listener else { return };
            let pool = UpstreamPool::new(&cluster.node_addrs, client_config);
            let api = Rc::new(api::Api::new(cluster, pool, registry, core));
            if let Err(err) = serve(listener, server_config, api, drain).await {
                tracing::error!(core, error = %err, "request core stopped");
            }
        }
    })
    .map_err(|e| format!("cannot start request cores: {e}"))?;
    // Listeners were bound before the cores started: accepting works now.
    systemd::notify_ready();
    systemd::spawn_watchdog();
    for thread in threads {
        match thread.join() {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => return Err(format!("a request core could not start a runtime: {e}")),
            Err(_) => return Err("a request core panicked".into()),
        }
    }
    // Everything acknowledged is already durable; this waits for status
    // updates still queued.
    if let Err(err) = store.flush() {
        tracing::error!(error = %err, "could not flush the store");
    }
    tracing::info!("stopped");
    Ok(())
}

fn open_store(config: &Config) -> Result<Arc<dyn miroir_store::Store>, String> {
    match config.store.backend {
        StoreBackend::Redb => miroir_store::RedbStore::open(&config.store.path)
            .map(|s| s as Arc<dyn miroir_store::Store>)
            .map_err(|e| e.to_string()),
        StoreBackend::Redis => {
            Err("store.backend = \"redis\" is not available in this build yet; use \"redb\"".into())
        }
    }
}

/// `GET /metrics` on `server.metrics_listen`, on its own thread and runtime
/// so a scrape never competes with client requests on a request core.
fn spawn_metrics_listener(
    listener: std::net::TcpListener,
    cluster: Arc<Cluster>,
    registry: Arc<Registry>,
    server_config: ServerConfig,
    drain: Arc<Drain>,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    miroir_io::runtime::spawn_background("miroir-metrics", IoDriver::Epoll, move || async move {
        let endpoint = Rc::new(api::MetricsEndpoint { cluster, registry });
        if let Err(err) = serve(listener, Rc::new(server_config), endpoint, drain).await {
            tracing::error!(error = %err, "metrics listener stopped");
        }
    })
}
