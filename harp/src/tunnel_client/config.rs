//! `frpc.toml` as HaRP and its ExApps write it (frp-protocol.md §6, harp-contract.md §7.3–7.5):
//! frp's camelCase keys, dotted or as tables, checked once. A bad value is an error naming its
//! key; an unknown key is a warning. Only what a `tcp` proxy client needs is supported; options
//! that would change the wire (per-proxy encryption, other proxy types) are refused clearly.

use super::fields::Fields;
use crate::config::LogLevel;
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Why a configuration cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {error}")]
    Read { path: String, error: std::io::Error },
    #[error("not valid TOML: {0}")]
    Syntax(String),
    #[error("{key}: {message}")]
    Value { key: String, message: String },
}

/// A parsed configuration and what was ignored in it.
#[derive(Debug)]
pub struct Loaded {
    pub config: ClientConfig,
    pub warnings: Vec<String>,
}

/// The client's settings, with frp's defaults filled in.
#[derive(Clone)]
pub struct ClientConfig {
    pub server_addr: String,
    pub server_port: u16,
    /// Exit when the first login fails (frp's default `true`); HaRP's ExApps set `false`.
    pub login_fail_exit: bool,
    /// frp `user`: prefixes proxy names with `user.`.
    pub user: String,
    /// frp `auth.token` (HaRP sets none): the `privilege_key` and the control-stream cipher key.
    pub auth_token: String,
    /// `auth.additionalScopes` contains `NewWorkConns` / `HeartBeats`.
    pub auth_work_conns: bool,
    pub auth_heartbeats: bool,
    /// frp `metadatas` (HaRP: `token` = the shared key), sent in Login.
    pub metadatas: BTreeMap<String, String>,
    /// `None` when `transport.tls.enable = false`.
    pub tls: Option<TlsConfig>,
    pub tcp_mux: bool,
    pub tcp_mux_keepalive: Duration,
    pub pool_count: i64,
    pub dial_timeout: Duration,
    /// frp-level Ping every interval (off with tcpMux, frp's default); session lost after timeout.
    pub heartbeat_interval: Option<Duration>,
    pub heartbeat_timeout: Option<Duration>,
    /// `log.level`, if set.
    pub log_level: Option<LogLevel>,
    pub proxies: Vec<ProxyConfig>,
}

/// `transport.tls.*`. Files are read when the client starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsConfig {
    pub cert_file: Option<PathBuf>,
    pub key_file: Option<PathBuf>,
    /// Verify the server against this CA; without it any server certificate is accepted (as Go).
    pub trusted_ca_file: Option<PathBuf>,
    /// The name verified (and sent as SNI); `serverAddr` when empty.
    pub server_name: String,
    /// Send frp's 0x17 byte before the ClientHello (`disableCustomTLSFirstByte = false`).
    pub custom_first_byte: bool,
}

/// One `[[proxies]]` entry (type `tcp`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyConfig {
    pub name: String,
    /// 0: the server picks.
    pub remote_port: u16,
    pub target: Target,
    pub metadatas: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
}

/// Where a proxy's connections go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// `localIP:localPort`.
    Tcp { ip: String, port: u16 },
    /// The `unix_domain_socket` plugin's `unixPath`.
    Unix(PathBuf),
}

impl ClientConfig {
    /// The proxy name on the wire: `user.name` when `user` is set, as frpc.
    pub fn wire_name(&self, proxy: &ProxyConfig) -> String {
        if self.user.is_empty() {
            proxy.name.clone()
        } else {
            format!("{}.{}", self.user, proxy.name)
        }
    }
}

impl fmt::Debug for ClientConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secret = |s: &str| if s.is_empty() { "\"\"" } else { "\"***\"" };
        f.debug_struct("ClientConfig")
            .field(
                "server",
                &format!("{}:{}", self.server_addr, self.server_port),
            )
            .field("login_fail_exit", &self.login_fail_exit)
            .field("auth_token", &secret(&self.auth_token))
            .field("metadatas", &self.metadatas.keys().collect::<Vec<_>>())
            .field("tls", &self.tls)
            .field("tcp_mux", &self.tcp_mux)
            .field("pool_count", &self.pool_count)
            .field("proxies", &self.proxies)
            .finish_non_exhaustive()
    }
}

/// Reads and parses the file at `path`.
pub fn load(path: &Path) -> Result<Loaded, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|error| ConfigError::Read {
        path: path.display().to_string(),
        error,
    })?;
    parse(&text)
}

fn secs(n: i64) -> Option<Duration> {
    u64::try_from(n)
        .ok()
        .filter(|&s| s > 0)
        .map(Duration::from_secs)
}

/// Parses `frpc.toml` text.
pub fn parse(text: &str) -> Result<Loaded, ConfigError> {
    let table: toml::Table =
        toml::from_str(text).map_err(|e| ConfigError::Syntax(e.to_string().trim().to_string()))?;
    let mut warnings = Vec::new();
    let mut root = Fields::root(&table);
    let server_addr = root
        .string("serverAddr")?
        .unwrap_or_else(|| "0.0.0.0".into());
    let server_port = root.port("serverPort", false)?.unwrap_or(7000);
    let login_fail_exit = root.boolean("loginFailExit")?.unwrap_or(true);
    let user = root.string("user")?.unwrap_or_default();
    let metadatas = root.string_map("metadatas")?;

    let mut auth = root.section("auth")?;
    if let Some(method) = auth.string("method")?
        && method != "token"
    {
        return Err(auth.bad(
            "method",
            format!("{method:?} is not supported (only \"token\")"),
        ));
    }
    let auth_token = auth.string("token")?.unwrap_or_default();
    let (mut auth_work_conns, mut auth_heartbeats) = (false, false);
    for (i, scope) in auth.strings("additionalScopes")?.iter().enumerate() {
        match scope.as_str() {
            "NewWorkConns" => auth_work_conns = true,
            "HeartBeats" => auth_heartbeats = true,
            _ => {
                return Err(auth.bad(
                    &format!("additionalScopes[{i}]"),
                    format!("{scope:?} is not one of \"HeartBeats\", \"NewWorkConns\""),
                ));
            }
        }
    }
    auth.finish(&mut warnings);

    let mut transport = root.section("transport")?;
    if let Some(p) = transport.string("protocol")?
        && p != "tcp"
    {
        return Err(transport.bad("protocol", format!("{p:?} is not supported (only \"tcp\")")));
    }
    let tcp_mux = transport.boolean("tcpMux")?.unwrap_or(true);
    let tcp_mux_keepalive = transport
        .int("tcpMuxKeepaliveInterval", i64::MIN, i64::MAX)?
        .and_then(secs)
        .unwrap_or(Duration::from_secs(30));
    let pool_count = transport.int("poolCount", 0, 1000)?.unwrap_or(1).max(1);
    let dial_timeout = transport
        .int("dialServerTimeout", 1, 3600)?
        .and_then(secs)
        .unwrap_or(Duration::from_secs(10));
    let default_heartbeat = if tcp_mux { -1 } else { 30 };
    let heartbeat_interval = transport
        .int("heartbeatInterval", -1, 86400)?
        .unwrap_or(default_heartbeat);
    let heartbeat_timeout = transport
        .int("heartbeatTimeout", -1, 86400)?
        .unwrap_or(if tcp_mux { -1 } else { 90 });
    let tls = parts::tls_section(&mut transport, &mut warnings)?;
    transport.ignore(&["dialServerKeepalive", "connectServerLocalIP"]);
    transport.finish(&mut warnings);

    let mut log = root.section("log")?;
    let log_level = match log.string("level")? {
        None => None,
        Some(l) => Some(match l.to_ascii_lowercase().as_str() {
            "trace" | "debug" => LogLevel::Debug,
            "info" => LogLevel::Info,
            "warn" | "warning" => LogLevel::Warning,
            "error" => LogLevel::Error,
            _ => {
                return Err(log.bad(
                    "level",
                    format!("{l:?} is not one of trace, debug, info, warn, error"),
                ));
            }
        }),
    };
    if let Some(to) = log.string("to")?
        && to != "console"
    {
        warnings.push(format!(
            "log.to = {to:?} is ignored: harp tunnel logs to standard error"
        ));
    }
    log.ignore(&["maxDays", "disablePrintColor"]);
    log.finish(&mut warnings);

    let mut proxies: Vec<ProxyConfig> = Vec::new();
    for mut p in root.tables("proxies")? {
        let proxy = parts::proxy(&mut p, &mut warnings)?;
        if proxies.iter().any(|q| q.name == proxy.name) {
            return Err(p.bad("name", format!("proxy {:?} is defined twice", proxy.name)));
        }
        p.finish(&mut warnings);
        proxies.push(proxy);
    }
    if root.has("visitors") {
        warnings.push("visitors: not supported by harp tunnel, ignored".to_string());
        root.ignore(&["visitors"]);
    }
    root.finish(&mut warnings);
    if proxies.is_empty() {
        warnings.push("no [[proxies]]: the client will log in and publish nothing".to_string());
    }
    Ok(Loaded {
        config: ClientConfig {
            server_addr,
            server_port,
            login_fail_exit,
            user,
            auth_token,
            auth_work_conns,
            auth_heartbeats,
            metadatas,
            tls,
            tcp_mux,
            tcp_mux_keepalive,
            pool_count,
            dial_timeout,
            heartbeat_interval: secs(heartbeat_interval),
            heartbeat_timeout: secs(heartbeat_timeout),
            log_level,
            proxies,
        },
        warnings,
    })
}

mod parts;
#[cfg(test)]
mod tests;
