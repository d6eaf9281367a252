//! Integration-scenario nodes: the test double by default, real Meilisearch processes when the
//! environment variable `MEILISEARCH_BIN` points at a `meilisearch` binary.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, SeekFrom};
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use crate::server::{Fault, TestNode};

/// Environment variable naming the Meilisearch binary to run scenarios against.
pub const MEILISEARCH_BIN: &str = "MEILISEARCH_BIN";

const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// `MEILISEARCH_BIN` if set and non-empty.
pub fn meilisearch_bin() -> Option<PathBuf> {
    std::env::var_os(MEILISEARCH_BIN)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

/// A node for integration scenarios: the Meilisearch test double, or a real Meilisearch process
/// when `MEILISEARCH_BIN` is set.
pub enum Node {
    Double(TestNode),
    Real(RealNode),
}

impl Node {
    /// Starts a test double, or a real Meilisearch if `MEILISEARCH_BIN` is set. An empty
    /// `master_key` means no authentication.
    pub fn start(master_key: &str) -> Node {
        match meilisearch_bin() {
            Some(bin) => Node::Real(RealNode::start(bin, master_key)),
            None => Node::Double(TestNode::start(Some(master_key).filter(|k| !k.is_empty()))),
        }
    }

    /// `"http://127.0.0.1:PORT"`.
    pub fn url(&self) -> String {
        match self {
            Node::Double(n) => n.url(),
            Node::Real(n) => n.url(),
        }
    }

    pub fn addr(&self) -> SocketAddr {
        match self {
            Node::Double(n) => n.addr(),
            Node::Real(n) => n.addr(),
        }
    }

    pub fn is_real(&self) -> bool {
        matches!(self, Node::Real(_))
    }

    /// The test double, if this is one (for `requests_seen` and the like).
    pub fn double(&self) -> Option<&TestNode> {
        match self {
            Node::Double(n) => Some(n),
            Node::Real(_) => None,
        }
    }

    /// Takes the node down: the double goes [`Fault::Down`]; a real node is killed (its database
    /// directory is kept for [`Node::restart`]).
    pub fn stop(&mut self) {
        match self {
            Node::Double(n) => n.set_fault(Fault::Down),
            Node::Real(n) => n.stop(),
        }
    }

    /// Brings the node back on the same port with its data: the double gets [`Fault::None`]; a
    /// real node is respawned with the same database directory and awaited (`/health` 200).
    pub fn restart(&mut self) {
        match self {
            Node::Double(n) => n.set_fault(Fault::None),
            Node::Real(n) => n.restart(),
        }
    }

    /// Injects a fault. Real nodes only accept [`Fault::None`] (a no-op).
    pub fn set_fault(&self, fault: Fault) -> Result<(), String> {
        match self {
            Node::Double(n) => {
                n.set_fault(fault);
                Ok(())
            }
            Node::Real(_) if fault == Fault::None => Ok(()),
            Node::Real(_) => Err("fault injection needs the test double".to_owned()),
        }
    }
}

/// Starts `n` nodes (all doubles, or all real Meilisearch processes started in parallel).
pub fn start_nodes(n: usize, master_key: &str) -> Vec<Node> {
    match meilisearch_bin() {
        Some(bin) => {
            let mut nodes: Vec<RealNode> =
                (0..n).map(|_| RealNode::launch(&bin, master_key)).collect();
            for node in &mut nodes {
                node.await_ready();
            }
            nodes.into_iter().map(Node::Real).collect()
        }
        None => (0..n).map(|_| Node::start(master_key)).collect(),
    }
}

/// A real Meilisearch process on `127.0.0.1:<free port>` with a fresh temporary database
/// directory. Killed (and waited for) on drop; the directory is removed after it.
pub struct RealNode {
    bin: PathBuf,
    master_key: String,
    port: u16,
    child: Option<Child>,
    // Declared last: removed after the process is gone.
    dir: tempfile::TempDir,
}

impl RealNode {
    /// Spawns `bin` and waits (up to 30 s) until `GET /health` answers 200. Panics with the end of
    /// the process log if it does not come up. An empty `master_key` means none.
    pub fn start(bin: impl AsRef<Path>, master_key: &str) -> RealNode {
        let mut node = RealNode::launch(bin.as_ref(), master_key);
        node.await_ready();
        node
    }

    /// Spawns without waiting for readiness.
    fn launch(bin: &Path, master_key: &str) -> RealNode {
        let dir = tempfile::Builder::new()
            .prefix("miroir-meilisearch-")
            .tempdir()
            .expect("temp dir for Meilisearch");
        let port = free_port();
        let mut node = RealNode {
            bin: bin.to_owned(),
            master_key: master_key.to_owned(),
            port,
            child: None,
            dir,
        };
        node.spawn();
        node
    }

    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// `"http://127.0.0.1:PORT"`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr())
    }

    /// The temporary directory (holds `data.ms`, dumps, snapshots and `meilisearch.log`).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Process output (stdout and stderr), appended across restarts.
    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join("meilisearch.log")
    }

    /// Kills the process and waits for it; the database directory is kept.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Stops (if running) and respawns on the same port with the same database directory, then
    /// waits for `/health`. Retries a few times if the port is not free yet.
    pub fn restart(&mut self) {
        self.stop();
        let mut attempts = 0;
        loop {
            attempts += 1;
            self.spawn();
            match self.wait_ready() {
                Ok(()) => return,
                Err(Exit::Early(_)) if attempts < 5 => thread::sleep(Duration::from_millis(300)),
                Err(e) => self.fail(e),
            }
        }
    }

    fn spawn(&mut self) {
        let dir = self.dir.path();
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
            .expect("Meilisearch log file");
        let log_err = log.try_clone().expect("Meilisearch log file");
        let mut cmd = Command::new(&self.bin);
        cmd.arg("--db-path")
            .arg(dir.join("data.ms"))
            .arg("--http-addr")
            .arg(self.addr().to_string())
            .arg("--no-analytics")
            .arg("--env")
            .arg("development")
            .arg("--dump-dir")
            .arg(dir.join("dumps"))
            .arg("--snapshot-dir")
            .arg(dir.join("snapshots"));
        if !self.master_key.is_empty() {
            cmd.arg("--master-key").arg(&self.master_key);
        }
        // Run in the temp dir so that a stray ./config.toml is not picked up.
        cmd.current_dir(dir)
            .env_remove("MEILI_CONFIG_FILE_PATH")
            .stdin(Stdio::null())
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(log_err));
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {} ({e})", self.bin.display()));
        self.child = Some(child);
    }

    fn await_ready(&mut self) {
        if let Err(e) = self.wait_ready() {
            self.fail(e);
        }
    }

    fn wait_ready(&mut self) -> Result<(), Exit> {
        let deadline = Instant::now() + READY_TIMEOUT;
        let url = self.url();
        loop {
            let Some(child) = self.child.as_mut() else {
                return Err(Exit::Early("not running".to_owned()));
            };
            if let Ok(Some(status)) = child.try_wait() {
                self.child = None;
                return Err(Exit::Early(status.to_string()));
            }
            if let Ok(r) = crate::http::get(&url, "/health", &[]) {
                if r.status == 200 {
                    return Ok(());
                }
            }
            if Instant::now() >= deadline {
                return Err(Exit::Timeout);
            }
            thread::sleep(Duration::from_millis(50));
        }
    }

    fn fail(&mut self, e: Exit) -> ! {
        self.stop();
        let what = match e {
            Exit::Early(status) => format!("exited early ({status})"),
            Exit::Timeout => format!("not healthy after {READY_TIMEOUT:?}"),
        };
        panic!(
            "Meilisearch {} on {} {what}; end of {}:\n{}",
            self.bin.display(),
            self.addr(),
            self.log_path().display(),
            log_tail(&self.log_path(), 4096)
        );
    }
}

impl Drop for RealNode {
    fn drop(&mut self) {
        self.stop();
    }
}

enum Exit {
    Early(String),
    Timeout,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("find a free port")
        .port()
}

fn log_tail(path: &Path, max: u64) -> String {
    let Ok(mut f) = File::open(path) else {
        return String::new();
    };
    let len = fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    let _ = f.seek(SeekFrom::Start(len.saturating_sub(max)));
    let mut buf = Vec::new();
    let _ = f.read_to_end(&mut buf);
    String::from_utf8_lossy(&buf).into_owned()
}
