//! The checked configuration. Raw `HP_*` strings are parsed once, at start-up, into typed values
//! (`SocketAddr`, `Duration`, `IpNet`, `Secret`); every error is collected and reported at once
//! (decision D12), and the code after start-up never sees a raw string.

pub mod env;
pub mod k8s;
mod parse;
mod secret;

use env::*;
use ipnet::IpNet;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

pub use env::{Env, ProcessEnv};
pub use parse::{haproxy_time, strip_quotes};
pub use secret::Secret;

/// The longest certificate validity accepted: 100 years.
const MAX_CERT_DAYS: u32 = 36_500;
/// The highest `HP_MAX_CONNECTIONS` accepted (each connection needs a file descriptor).
const MAX_CONNECTIONS_CAP: usize = 1_000_000;

/// The four HAProxy timeouts HaRP exposes (contract §8.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// Upstream TCP connect.
    pub connect: Duration,
    /// Client inactivity: request head, request body, keep-alive idle, client not reading.
    pub client: Duration,
    /// Upstream inactivity: time to response headers and gaps in a streamed response.
    pub server: Duration,
    /// Idle time of an upgraded (WebSocket) connection.
    pub tunnel: Duration,
}

/// Log verbosity, from `HP_LOG_LEVEL`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogLevel {
    Debug,
    Info,
    Warning,
    Error,
}

/// Everything harp needs to run, checked.
#[derive(Debug, Clone)]
pub struct Config {
    pub shared_key: Secret,
    /// `NC_INSTANCE_URL` without a trailing `/` and `/index.php`.
    pub nextcloud_url: String,
    pub exapps_address: SocketAddr,
    pub exapps_https_address: SocketAddr,
    pub frp_address: SocketAddr,
    pub frp_disable_tls: bool,
    pub frp_cert_validity_days: u32,
    /// Ports tunnel clients may publish (HaRP's `allowPorts`; `HP_FRP_ALLOW_PORTS`).
    pub frp_allowed_ports: Vec<std::ops::RangeInclusive<u16>>,
    pub log_level: LogLevel,
    pub log_json: bool,
    pub trusted_proxies: Vec<IpNet>,
    pub session_lifetime: Duration,
    pub blacklist_count: u32,
    pub blacklist_window: Duration,
    pub timeouts: Timeouts,
    /// `HP_CERTS_DIR` (D22): `cert.pem` for HTTPS at its root, FRP files in `frp/`.
    pub certs_dir: PathBuf,
    /// The loopback control port (D8).
    pub control_address: SocketAddr,
    pub docker_host: String,
    /// The Kubernetes backend (`HP_K8S_*`).
    pub k8s: k8s::K8sConfig,
    /// Client connections served at once on the HTTP and HTTPS listeners together
    /// (`HP_MAX_CONNECTIONS`, HaRP's `maxconn`); more are reset at once.
    pub max_connections: usize,
}

/// What parsing found: the config, or every error; warnings either way.
pub struct Parsed {
    pub result: Result<Config, Vec<String>>,
    pub warnings: Vec<String>,
}

/// Collects errors and warnings while each variable is parsed.
struct Reader<'a, E: Env> {
    env: &'a E,
    errors: Vec<String>,
    warnings: Vec<String>,
}

impl<E: Env> Reader<'_, E> {
    fn raw(&self, name: &str) -> Option<String> {
        self.env.get(name)
    }

    fn or_default(&self, name: &str, default: &str) -> String {
        self.raw(name).unwrap_or_else(|| default.to_string())
    }

    fn address(&mut self, name: &str, default: &str) -> SocketAddr {
        let value = self.or_default(name, default);
        match parse::bind_address(strip_quotes(&value)) {
            Ok(a) => a,
            Err(e) => {
                self.errors.push(format!("{name}: {e}"));
                SocketAddr::from(([0, 0, 0, 0], 0))
            }
        }
    }

    fn time(&mut self, name: &str, value: &str) -> Duration {
        match haproxy_time(value) {
            Ok((d, warning)) => {
                if let Some(w) = warning {
                    self.warnings.push(format!("{name}: {w}"));
                }
                d
            }
            Err(e) => {
                self.errors.push(format!("{name}: {e}"));
                Duration::ZERO
            }
        }
    }

    fn integer<T: std::str::FromStr>(&mut self, name: &str, default: T, what: &str) -> T {
        match self.raw(name) {
            None => default,
            Some(v) => v.trim().parse().unwrap_or_else(|_| {
                self.errors.push(format!("{name}: '{v}' is not {what}"));
                default
            }),
        }
    }

    fn shared_key(&mut self) -> Secret {
        let direct = self.raw(HP_SHARED_KEY);
        let file = self.raw(HP_SHARED_KEY_FILE);
        let value = match (direct, file) {
            (Some(_), Some(_)) => {
                self.errors.push(
                    "Only one of HP_SHARED_KEY or HP_SHARED_KEY_FILE may be set.".to_string(),
                );
                return Secret::new("");
            }
            (None, None) => {
                self.errors
                    .push("Either HP_SHARED_KEY or HP_SHARED_KEY_FILE must be set.".to_string());
                return Secret::new("");
            }
            (Some(v), None) => v,
            (None, Some(path)) => match std::fs::read(&path) {
                Err(e) => {
                    self.errors.push(format!(
                        "HP_SHARED_KEY_FILE is set to '{path}', but the file cannot be read: {e}"
                    ));
                    return Secret::new("");
                }
                Ok(bytes) => {
                    let text = String::from_utf8_lossy(&bytes);
                    let text = text.trim_end_matches(['\n', '\r']).to_string();
                    if text.is_empty() {
                        self.errors.push(format!(
                            "HP_SHARED_KEY_FILE is set to '{path}', but the file is empty."
                        ));
                        return Secret::new("");
                    }
                    text
                }
            },
        };
        if !value.bytes().all(|b| (0x20..=0x7e).contains(&b)) {
            self.errors.push(
                "HP_SHARED_KEY contains non-ASCII characters (only printable ASCII is allowed)."
                    .to_string(),
            );
            return Secret::new("");
        }
        let value = strip_quotes(&value);
        if value.contains(['"', '\\']) {
            self.errors.push(
                "HP_SHARED_KEY contains a forbidden character (\" and \\ are not allowed)."
                    .to_string(),
            );
        } else if value.is_empty() {
            self.errors.push("HP_SHARED_KEY is empty.".to_string());
        }
        Secret::new(value)
    }

    fn nextcloud_url(&mut self) -> String {
        let raw = self.raw(NC_INSTANCE_URL).unwrap_or_default();
        let url = strip_quotes(raw.trim());
        if url.is_empty() {
            self.errors.push(
                "NC_INSTANCE_URL is not set (the URL harp uses to reach Nextcloud, e.g. http://nextcloud or https://cloud.example.com)."
                    .to_string(),
            );
            return String::new();
        }
        let url = url.strip_suffix('/').unwrap_or(url);
        let url = url.strip_suffix("/index.php").unwrap_or(url);
        match url.parse::<http::Uri>() {
            Ok(uri)
                if matches!(uri.scheme_str(), Some("http" | "https"))
                    && uri.authority().is_some() =>
            {
                url.to_string()
            }
            _ => {
                self.errors.push(format!(
                    "NC_INSTANCE_URL: '{raw}' is not an http:// or https:// URL"
                ));
                String::new()
            }
        }
    }

    /// `HP_FRP_ALLOW_PORTS`: `23000-23999,24000-24099` by default, as HaRP's frps.
    fn port_ranges(&mut self) -> Vec<std::ops::RangeInclusive<u16>> {
        let raw = self.or_default(HP_FRP_ALLOW_PORTS, "23000-23999,24000-24099");
        match parse::port_ranges(&raw) {
            Ok(r) => r,
            Err(e) => {
                self.errors.push(format!("{HP_FRP_ALLOW_PORTS}: {e}"));
                Vec::new()
            }
        }
    }

    fn log_level(&mut self) -> LogLevel {
        let raw = self.or_default(HP_LOG_LEVEL, "warning");
        match raw.trim().to_ascii_lowercase().as_str() {
            "debug" | "notset" | "trace" => LogLevel::Debug,
            "info" => LogLevel::Info,
            "warning" | "warn" => LogLevel::Warning,
            "error" | "critical" | "fatal" => LogLevel::Error,
            _ => {
                self.errors.push(format!(
                    "HP_LOG_LEVEL: '{raw}' is not one of debug, info, warning, error"
                ));
                LogLevel::Warning
            }
        }
    }

    fn session_lifetime(&mut self) -> Duration {
        let raw = self.or_default(HP_SESSION_LIFETIME, "3");
        match raw.trim().parse::<f64>() {
            Ok(v) if (0.0..=10.0).contains(&v) => Duration::from_secs_f64(v),
            Ok(_) => {
                self.errors.push(format!(
                    "HP_SESSION_LIFETIME: '{raw}' must be between 0 and 10 seconds"
                ));
                Duration::from_secs(3)
            }
            Err(_) => {
                self.errors.push(format!(
                    "HP_SESSION_LIFETIME: '{raw}' is not a number of seconds"
                ));
                Duration::from_secs(3)
            }
        }
    }

    /// `HP_MAX_CONNECTIONS`: 1 to [`MAX_CONNECTIONS_CAP`], HaRP's 8192 by default.
    fn max_connections(&mut self) -> usize {
        let n = self.integer(
            HP_MAX_CONNECTIONS,
            DEFAULT_MAX_CONNECTIONS,
            "a whole number of connections",
        );
        if !(1..=MAX_CONNECTIONS_CAP).contains(&n) {
            self.errors.push(format!(
                "{HP_MAX_CONNECTIONS}: must be between 1 and {MAX_CONNECTIONS_CAP}, got {n}"
            ));
            return DEFAULT_MAX_CONNECTIONS;
        }
        n
    }

    /// Variables that describe HaRP's internals (SPOE agent, watchdog, start-up waits): accepted
    /// and checked so existing compose files keep working, with no effect in harp.
    fn legacy(&mut self) {
        let _ = self.address(HP_SPOA_ADDRESS, DEFAULT_SPOA_ADDRESS);
        for name in [HP_WATCHDOG_INTERVAL, HP_WATCHDOG_FAILS] {
            if let Some(v) = self.raw(name)
                && !matches!(v.trim().parse::<u32>(), Ok(n) if n >= 1)
            {
                self.warnings.push(format!(
                    "{name}: '{v}' is not an integer >= 1 (ignored: harp has no watchdog process)"
                ));
            }
        }
        for name in [
            HP_WAIT_AGENT_HTTP,
            HP_WAIT_SPOA,
            HP_WAIT_FRP,
            HP_WAIT_INTERVAL,
        ] {
            if let Some(v) = self.raw(name)
                && v.trim().parse::<f64>().is_err()
            {
                self.warnings.push(format!(
                    "{name}: '{v}' is not a number (ignored: harp has no start-up waits)"
                ));
            }
        }
    }
}

impl Config {
    /// Parses every variable harp reads from `env`.
    pub fn from_env(env: &impl Env) -> Parsed {
        let mut r = Reader {
            env,
            errors: Vec::new(),
            warnings: Vec::new(),
        };
        let shared_key = r.shared_key();
        let nextcloud_url = r.nextcloud_url();
        let exapps_address = r.address(HP_EXAPPS_ADDRESS, DEFAULT_EXAPPS_ADDRESS);
        let exapps_https_address = r.address(HP_EXAPPS_HTTPS_ADDRESS, DEFAULT_EXAPPS_HTTPS_ADDRESS);
        let frp_address = r.address(HP_FRP_ADDRESS, DEFAULT_FRP_ADDRESS);
        let control_address = r.address(HP_CONTROL_ADDRESS, DEFAULT_CONTROL_ADDRESS);
        let frp_disable_tls = r.raw(HP_FRP_DISABLE_TLS).as_deref() == Some("true");
        let frp_cert_validity_days = match r.raw(HP_FRP_CERT_VALIDITY_DAYS) {
            None => 5000,
            Some(v) => match v.trim().parse::<u32>() {
                Ok(n) if (1..=MAX_CERT_DAYS).contains(&n) => n,
                _ => {
                    r.errors.push(format!(
                        "HP_FRP_CERT_VALIDITY_DAYS must be a positive integer number of days (at most {MAX_CERT_DAYS}), got '{v}'."
                    ));
                    5000
                }
            },
        };
        let frp_allowed_ports = r.port_ranges();
        let log_level = r.log_level();
        let log_json = match r.raw(HP_LOG_FORMAT).as_deref().map(str::trim) {
            None | Some("") | Some("plain") => false,
            Some("json") => true,
            Some(other) => {
                r.errors
                    .push(format!("HP_LOG_FORMAT: '{other}' is not 'plain' or 'json'"));
                false
            }
        };
        let (trusted_proxies, proxy_warnings, proxy_errors) =
            parse::trusted_proxies(&r.raw(HP_TRUSTED_PROXY_IPS).unwrap_or_default());
        r.warnings.extend(proxy_warnings);
        // HaRP keeps the valid entries when some are invalid (#112): say so loudly, go on.
        r.warnings.extend(
            proxy_errors
                .into_iter()
                .map(|e| format!("{e}; this entry is ignored")),
        );
        let session_lifetime = r.session_lifetime();
        let blacklist_count = r.integer(HP_BLACKLIST_COUNT, 10u32, "a whole number of failures");
        let blacklist_window = Duration::from_secs(r.integer(
            HP_BLACKLIST_WINDOW,
            300u64,
            "a whole number of seconds",
        ));
        let connect_raw = r.or_default(HP_TIMEOUT_CONNECT, "30s");
        let client_raw = r.or_default(HP_TIMEOUT_CLIENT, "30s");
        let server_raw = r.or_default(HP_TIMEOUT_SERVER, "1800s");
        let connect = r.time(HP_TIMEOUT_CONNECT, &connect_raw);
        let client = r.time(HP_TIMEOUT_CLIENT, &client_raw);
        let server = r.time(HP_TIMEOUT_SERVER, &server_raw);
        // HaRP's default for the tunnel timeout is the server timeout.
        let mut tunnel = match r.raw(HP_TIMEOUT_TUNNEL) {
            Some(raw) => r.time(HP_TIMEOUT_TUNNEL, &raw),
            None => server,
        };
        if tunnel.is_zero() {
            // HaRP's start.sh turns 0 into 24d: "no idle limit" for WebSockets.
            tunnel = Duration::from_secs(24 * 86400);
        }
        for (name, d) in [
            (HP_TIMEOUT_CONNECT, connect),
            (HP_TIMEOUT_CLIENT, client),
            (HP_TIMEOUT_SERVER, server),
        ] {
            if d.is_zero() && !r.errors.iter().any(|e| e.starts_with(name)) {
                r.errors.push(format!("{name}: must be greater than zero"));
            }
        }
        let certs_dir = PathBuf::from(r.or_default(HP_CERTS_DIR, DEFAULT_CERTS_DIR));
        let docker_host = r.or_default(DOCKER_HOST, DEFAULT_DOCKER_HOST);
        let k8s = k8s::K8sConfig::from_env(env, &mut r.errors, &mut r.warnings);
        let max_connections = r.max_connections();
        r.legacy();

        let config = Config {
            shared_key,
            nextcloud_url,
            exapps_address,
            exapps_https_address,
            frp_address,
            frp_disable_tls,
            frp_cert_validity_days,
            frp_allowed_ports,
            log_level,
            log_json,
            trusted_proxies,
            session_lifetime,
            blacklist_count,
            blacklist_window,
            timeouts: Timeouts {
                connect,
                client,
                server,
                tunnel,
            },
            certs_dir,
            control_address,
            docker_host,
            k8s,
            max_connections,
        };
        Parsed {
            result: if r.errors.is_empty() {
                Ok(config)
            } else {
                Err(r.errors)
            },
            warnings: r.warnings,
        }
    }

    /// Path of the HTTPS listener's certificate (HAProxy `crt` format: certificate chain and key
    /// in one PEM file).
    pub fn https_cert_path(&self) -> PathBuf {
        self.certs_dir.join("cert.pem")
    }
}

#[cfg(test)]
mod tests;
