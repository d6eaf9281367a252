//! Miroir: a thread-per-core sharding and replication proxy for Meilisearch.

mod admin;
mod api;
mod auth;
mod cluster;
mod config;
mod health;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::rc::Rc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use clap::{Parser, Subcommand};
use miroir_io::server::{bind_reuseport, serve};
use miroir_io::{ClientConfig, IoDriver, ServerConfig, UpstreamPool};

use crate::cluster::Cluster;
use crate::config::{Config, IoChoice, LogFormat};

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

fn init_logging(config: &Config) {
    let level = std::env::var("MIROIR_LOG")
        .ok()
        .and_then(|l| l.parse().ok())
        .or_else(|| config.log.level.parse().ok())
        .unwrap_or(tracing::Level::INFO);
    let builder = tracing_subscriber::fmt()
        .with_max_level(level)
        .with_writer(std::io::stderr);
    match config.log.format {
        LogFormat::Human => builder.init(),
        LogFormat::Json => builder.with_ansi(false).init(),
    }
}

fn serve_from(path: &Path) -> Result<(), String> {
    let config = Config::load(path)?;
    init_logging(&config);
    let node_addrs = config.resolve_nodes()?;
    let listen = config.listen_addr()?;
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
    };
    let client_config = ClientConfig {
        connect_timeout: Duration::from_millis(config.upstream.connect_timeout_ms),
        max_idle_per_node: config.upstream.max_idle_per_node,
        max_response_bytes: 1 << 30,
    };
    // Bind every core's listener up front so a taken port fails start-up.
    let listeners = (0..cores)
        .map(|_| bind_reuseport(listen).map(Some))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("cannot listen on {listen}: {e}"))?;
    let listeners = Arc::new(Mutex::new(listeners));

    let cluster = Cluster::new(config, node_addrs)?.shared();
    health::spawn(cluster.clone(), driver)
        .map_err(|e| format!("cannot start the health checker: {e}"))?;

    tracing::info!(
        %listen,
        cores,
        io = driver.as_str(),
        nodes = cluster.node_addrs.len(),
        shards = cluster.config.cluster.shards,
        "miroir listening"
    );
    let threads = miroir_io::runtime::spawn_cores(cores, driver, move |core| {
        // Taken once per core at start-up; the lock is never touched again.
        let listener = listeners.lock().ok().and_then(|mut l| l[core].take());
        let cluster = cluster.clone();
        let server_config = Rc::new(server_config.clone());
        let client_config = client_config.clone();
        async move {
            let Some(listener) = listener else { return };
            let pool = UpstreamPool::new(&cluster.node_addrs, client_config);
            let api = Rc::new(api::Api::new(cluster, pool));
            if let Err(err) = serve(listener, server_config, api).await {
                tracing::error!(core, error = %err, "request core stopped");
            }
        }
    })
    .map_err(|e| format!("cannot start request cores: {e}"))?;
    for thread in threads {
        match thread.join() {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => return Err(format!("a request core could not start a runtime: {e}")),
            Err(_) => return Err("a request core panicked".into()),
        }
    }
    Ok(())
}
