//! Helpers for the `harp tunnel` client tests: free ports, the frps binary (or a loud skip),
//! peer processes with their log, `frpc.toml` in HaRP's ExApp shape, and starting the client.

use crate::common::APP;
use harp::tunnel_client::{self, ProxyStatus, Status, TunnelClient};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

pub const WAIT: Duration = Duration::from_secs(20);

pub use crate::frpc::free_port;

/// The frps binary, or `None` (test skipped loudly) when it is missing outside CI.
pub fn require_frps() -> Option<PathBuf> {
    let path = std::env::var_os("FRPS_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../.peers/bin/frps"));
    if path.exists() {
        return Some(path);
    }
    if std::env::var("HARP_REQUIRE_PEERS").as_deref() == Ok("1") {
        panic!("frps is missing: run scripts/install-peers.sh (or set FRPS_BIN)");
    }
    eprintln!("SKIPPED: no frps (run scripts/install-peers.sh or set FRPS_BIN)");
    None
}

/// A running process whose output lines (ANSI colours stripped) are collected.
pub struct Peer {
    child: Child,
    log: Arc<Mutex<Vec<String>>>,
}

fn strip_ansi(line: &str) -> String {
    let mut out = String::new();
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            chars.by_ref().find(|c| c.is_ascii_alphabetic());
        } else {
            out.push(c);
        }
    }
    out
}

impl Peer {
    pub fn start(bin: &Path, args: &[&str]) -> Peer {
        let mut child = Command::new(bin)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("process starts");
        let log = Arc::new(Mutex::new(Vec::new()));
        let outs: Vec<Box<dyn std::io::Read + Send>> = vec![
            Box::new(child.stdout.take().unwrap()),
            Box::new(child.stderr.take().unwrap()),
        ];
        for out in outs {
            let log = log.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(out).lines().map_while(Result::ok) {
                    log.lock().unwrap().push(strip_ansi(&line));
                }
            });
        }
        Peer { child, log }
    }

    pub async fn wait_for(&self, needle: &str) -> bool {
        let start = Instant::now();
        while start.elapsed() < WAIT {
            if self.text().contains(needle) {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        false
    }

    /// Waits (bounded) for the process to exit; its exit code.
    pub async fn exit_code(&mut self) -> Option<i32> {
        let start = Instant::now();
        while start.elapsed() < WAIT {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code();
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        None
    }

    pub fn text(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }

    pub fn id(&self) -> u32 {
        self.child.id()
    }

    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// HaRP's ExApp `frpc.toml`; `certs` = a `frp/` directory (mutual TLS) or `None` (TLS off).
pub fn client_toml(
    port: u16,
    certs: Option<&Path>,
    token: &str,
    extra: &str,
    proxy: &str,
) -> String {
    let tls = crate::frpc::frpc_tls(certs);
    format!(
        "serverAddr = \"127.0.0.1\"\nserverPort = {port}\n{extra}{tls}metadatas.token = \"{token}\"\n\n[[proxies]]\nname = \"{APP}\"\ntype = \"tcp\"\n{proxy}"
    )
}

pub fn unix_proxy(remote: u16, socket: &Path) -> String {
    format!(
        "remotePort = {remote}\n[proxies.plugin]\ntype = \"unix_domain_socket\"\nunixPath = \"{}\"\n",
        socket.display()
    )
}

pub fn port_proxy(remote: u16, local: u16) -> String {
    format!("localIP = \"127.0.0.1\"\nlocalPort = {local}\nremotePort = {remote}\n")
}

pub fn start_client(toml: &str) -> (TunnelClient, CancellationToken) {
    let loaded = tunnel_client::parse(toml).expect("valid frpc.toml");
    let stop = CancellationToken::new();
    let client = TunnelClient::start(loaded.config, stop.clone()).expect("client starts");
    (client, stop)
}

pub fn published(s: &Status) -> bool {
    matches!(s.proxies.get(APP), Some(ProxyStatus::Published { .. }))
}
