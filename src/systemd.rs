//! systemd integration without libsystemd: `sd_notify(3)` readiness, stopping
//! and watchdog messages over the `NOTIFY_SOCKET` datagram socket.
//!
//! Every function is a no-op when `NOTIFY_SOCKET` is unset (not started by
//! systemd, or not `Type=notify`), and errors are ignored like libsystemd's
//! callers usually do: a failed notification must never stop Miroir.
//!
//! Wiring (in `main.rs`): [`notify_ready`] and [`spawn_watchdog`] once every
//! listener is bound and the cores are starting; [`notify_stopping`] when a
//! shutdown signal arrives, before draining.

use std::ffi::{OsStr, OsString};
use std::io;
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::time::Duration;

/// The socket systemd listens on for notifications.
const NOTIFY_SOCKET: &str = "NOTIFY_SOCKET";

/// Tells systemd the service is ready (`READY=1`): with `Type=notify`,
/// `systemctl start` returns and dependent units start only after this. Call
/// it once the client listeners are bound.
pub fn notify_ready() {
    notify("READY=1");
}

/// Tells systemd the service is shutting down (`STOPPING=1`), so a slow drain
/// shows as "deactivating" instead of looking hung. Call it when the shutdown
/// signal is received, before draining connections.
pub fn notify_stopping() {
    notify("STOPPING=1");
}

/// The watchdog interval (`WatchdogSec=` in the unit) if systemd expects
/// `WATCHDOG=1` pings from this process, like `sd_watchdog_enabled(3)`:
/// `WATCHDOG_USEC` is a positive number of microseconds and `WATCHDOG_PID`,
/// if set, is this process's id.
pub fn watchdog_interval() -> Option<Duration> {
    watchdog_interval_from(
        std::env::var_os("WATCHDOG_USEC").as_deref(),
        std::env::var_os("WATCHDOG_PID").as_deref(),
        std::process::id(),
    )
}

/// Starts a thread (`miroir-watchdog`) that sends `WATCHDOG=1` every half
/// watchdog interval for the life of the process; does nothing when the
/// watchdog is not enabled ([`watchdog_interval`] is None) or `NOTIFY_SOCKET`
/// is unset. Call it once, after [`notify_ready`].
pub fn spawn_watchdog() {
    let (Some(interval), Some(socket)) = (watchdog_interval(), notify_socket()) else {
        return;
    };
    let period = (interval / 2).max(Duration::from_millis(1));
    let spawned = std::thread::Builder::new()
        .name("miroir-watchdog".into())
        .spawn(move || loop {
            std::thread::sleep(period);
            let _ = send(&socket, "WATCHDOG=1");
        });
    match spawned {
        Ok(_) => tracing::debug!(?interval, "systemd watchdog enabled"),
        Err(err) => tracing::warn!(error = %err, "cannot start the systemd watchdog thread"),
    }
}

/// `NOTIFY_SOCKET` if set and non-empty.
fn notify_socket() -> Option<OsString> {
    std::env::var_os(NOTIFY_SOCKET).filter(|s| !s.is_empty())
}

/// Sends `state` if `NOTIFY_SOCKET` is set; failures are logged at debug.
fn notify(state: &str) {
    if let Some(socket) = notify_socket() {
        if let Err(err) = send(&socket, state) {
            tracing::debug!(error = %err, state, "sd_notify failed");
        }
    }
}

/// One datagram with `state` to `socket`: a path, or an abstract socket name
/// when it starts with '@' (as systemd writes it).
fn send(socket: &OsStr, state: &str) -> io::Result<()> {
    use std::os::unix::ffi::OsStrExt;
    let bytes = socket.as_bytes();
    let addr = match bytes.strip_prefix(b"@") {
        Some(name) => abstract_addr(name)?,
        None if bytes.starts_with(b"/") => SocketAddr::from_pathname(socket)?,
        None => {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "NOTIFY_SOCKET is neither an absolute path nor an abstract socket",
            ))
        }
    };
    let sock = UnixDatagram::unbound()?;
    let sent = sock.send_to_addr(state.as_bytes(), &addr)?;
    if sent == state.len() {
        Ok(())
    } else {
        Err(io::Error::new(
            io::ErrorKind::WriteZero,
            "short sd_notify write",
        ))
    }
}

#[cfg(any(target_os = "linux", target_os = "android"))]
fn abstract_addr(name: &[u8]) -> io::Result<SocketAddr> {
    #[cfg(target_os = "android")]
    use std::os::android::net::SocketAddrExt;
    #[cfg(target_os = "linux")]
    use std::os::linux::net::SocketAddrExt;
    SocketAddr::from_abstract_name(name)
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn abstract_addr(_name: &[u8]) -> io::Result<SocketAddr> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "abstract sockets exist only on Linux",
    ))
}

fn watchdog_interval_from(
    usec: Option<&OsStr>,
    pid: Option<&OsStr>,
    own_pid: u32,
) -> Option<Duration> {
    let usec: u64 = usec?.to_str()?.trim().parse().ok()?;
    if usec == 0 {
        return None;
    }
    if let Some(pid) = pid {
        let pid: u32 = pid.to_str()?.trim().parse().ok()?;
        if pid != own_pid {
            return None;
        }
    }
    Some(Duration::from_micros(usec))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::ffi::OsStrExt;
    use std::path::PathBuf;
    use std::sync::Mutex;

    /// Serializes the tests that change the process environment.
    static ENV: Mutex<()> = Mutex::new(());

    struct TempDir(PathBuf);

    impl TempDir {
        fn new(tag: &str) -> TempDir {
            let dir = std::env::temp_dir().join(format!(
                "miroir-sd-{tag}-{}-{:?}",
                std::process::id(),
                std::thread::current().id()
            ));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
            TempDir(dir)
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn recv(sock: &UnixDatagram) -> String {
        let mut buf = [0u8; 256];
        let n = sock.recv(&mut buf).expect("a notification");
        String::from_utf8_lossy(&buf[..n]).into_owned()
    }

    fn clear_env() {
        for name in [NOTIFY_SOCKET, "WATCHDOG_USEC", "WATCHDOG_PID"] {
            std::env::remove_var(name);
        }
    }

    #[test]
    fn ready_and_stopping_reach_a_path_socket() {
        let _env = ENV.lock().unwrap_or_else(|e| e.into_inner());
        let dir = TempDir::new("path");
        let path = dir.0.join("notify.sock");
        let sock = UnixDatagram::bind(&path).unwrap();
        sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        clear_env();
        std::env::set_var(NOTIFY_SOCKET, &path);
        notify_ready();
        notify_stopping();
        clear_env();
        assert_eq!(recv(&sock), "READY=1");
        assert_eq!(recv(&sock), "STOPPING=1");
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn abstract_sockets_are_supported() {
        use std::os::linux::net::SocketAddrExt;
        let name = format!("miroir-sd-test-{}", std::process::id());
        let addr = SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
        let sock = UnixDatagram::bind_addr(&addr).unwrap();
        sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        send(OsStr::new(&format!("@{name}")), "READY=1").unwrap();
        assert_eq!(recv(&sock), "READY=1");
    }

    #[test]
    fn without_notify_socket_nothing_happens() {
        let _env = ENV.lock().unwrap_or_else(|e| e.into_inner());
        clear_env();
        std::env::set_var("WATCHDOG_USEC", "1000");
        notify_ready();
        notify_stopping();
        spawn_watchdog();
        clear_env();
        assert!(send(OsStr::new("relative/path"), "READY=1").is_err());
    }

    #[test]
    fn watchdog_interval_follows_libsystemd() {
        let me = 4242;
        let os = |s: &'static str| Some(OsStr::new(s));
        assert_eq!(watchdog_interval_from(None, None, me), None);
        assert_eq!(
            watchdog_interval_from(os("30000000"), None, me),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            watchdog_interval_from(os("30000000"), os("4242"), me),
            Some(Duration::from_secs(30))
        );
        // Meant for another process (the variable was inherited).
        assert_eq!(watchdog_interval_from(os("30000000"), os("1"), me), None);
        assert_eq!(watchdog_interval_from(os("0"), None, me), None);
        assert_eq!(watchdog_interval_from(os("soon"), None, me), None);
        assert_eq!(watchdog_interval_from(os("1000"), os("x"), me), None);
        let bad = OsStr::from_bytes(b"\xff");
        assert_eq!(watchdog_interval_from(Some(bad), None, me), None);
    }

    #[test]
    fn watchdog_pings_every_half_interval() {
        let _env = ENV.lock().unwrap_or_else(|e| e.into_inner());
        let dir = TempDir::new("watchdog");
        let path = dir.0.join("notify.sock");
        let sock = UnixDatagram::bind(&path).unwrap();
        sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        clear_env();
        std::env::set_var(NOTIFY_SOCKET, &path);
        std::env::set_var("WATCHDOG_USEC", "200000");
        std::env::set_var("WATCHDOG_PID", std::process::id().to_string());
        assert_eq!(watchdog_interval(), Some(Duration::from_millis(200)));
        let started = std::time::Instant::now();
        spawn_watchdog();
        clear_env();
        assert_eq!(recv(&sock), "WATCHDOG=1");
        assert_eq!(recv(&sock), "WATCHDOG=1");
        let elapsed = started.elapsed();
        assert!(
            elapsed >= Duration::from_millis(190) && elapsed < Duration::from_secs(3),
            "two pings took {elapsed:?}"
        );
        // The thread outlives the test and its socket; its sends then fail
        // silently.
    }
}
