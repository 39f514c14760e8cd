//! Where configuration values come from: the process environment, or a map in tests and in
//! `harp demo`. Every variable name harp reads is a constant here, next to its HaRP default.

use std::collections::HashMap;

/// A source of environment variables.
pub trait Env {
    /// The value of `name`, or `None` when it is not set.
    fn get(&self, name: &str) -> Option<String>;
}

/// The real process environment.
pub struct ProcessEnv;

impl Env for ProcessEnv {
    fn get(&self, name: &str) -> Option<String> {
        std::env::var_os(name).map(|v| v.to_string_lossy().into_owned())
    }
}

impl Env for HashMap<String, String> {
    fn get(&self, name: &str) -> Option<String> {
        HashMap::get(self, name).cloned()
    }
}

impl Env for HashMap<&str, String> {
    fn get(&self, name: &str) -> Option<String> {
        HashMap::get(self, name).cloned()
    }
}

pub const HP_SHARED_KEY: &str = "HP_SHARED_KEY";
pub const HP_SHARED_KEY_FILE: &str = "HP_SHARED_KEY_FILE";
pub const NC_INSTANCE_URL: &str = "NC_INSTANCE_URL";
pub const HP_EXAPPS_ADDRESS: &str = "HP_EXAPPS_ADDRESS";
pub const HP_EXAPPS_HTTPS_ADDRESS: &str = "HP_EXAPPS_HTTPS_ADDRESS";
pub const HP_FRP_ADDRESS: &str = "HP_FRP_ADDRESS";
pub const HP_SPOA_ADDRESS: &str = "HP_SPOA_ADDRESS";
pub const HP_FRP_DISABLE_TLS: &str = "HP_FRP_DISABLE_TLS";
pub const HP_FRP_ALLOW_PORTS: &str = "HP_FRP_ALLOW_PORTS";
pub const HP_FRP_CERT_VALIDITY_DAYS: &str = "HP_FRP_CERT_VALIDITY_DAYS";
pub const HP_LOG_LEVEL: &str = "HP_LOG_LEVEL";
pub const HP_LOG_FORMAT: &str = "HP_LOG_FORMAT";
pub const HP_VERBOSE_START: &str = "HP_VERBOSE_START";
pub const HP_TRUSTED_PROXY_IPS: &str = "HP_TRUSTED_PROXY_IPS";
pub const HP_SESSION_LIFETIME: &str = "HP_SESSION_LIFETIME";
pub const HP_BLACKLIST_COUNT: &str = "HP_BLACKLIST_COUNT";
pub const HP_BLACKLIST_WINDOW: &str = "HP_BLACKLIST_WINDOW";
pub const HP_TIMEOUT_CONNECT: &str = "HP_TIMEOUT_CONNECT";
pub const HP_TIMEOUT_CLIENT: &str = "HP_TIMEOUT_CLIENT";
pub const HP_TIMEOUT_SERVER: &str = "HP_TIMEOUT_SERVER";
pub const HP_TIMEOUT_TUNNEL: &str = "HP_TIMEOUT_TUNNEL";
pub const HP_WATCHDOG_ENABLED: &str = "HP_WATCHDOG_ENABLED";
pub const HP_WATCHDOG_INTERVAL: &str = "HP_WATCHDOG_INTERVAL";
pub const HP_WATCHDOG_FAILS: &str = "HP_WATCHDOG_FAILS";
pub const HP_WAIT_AGENT_HTTP: &str = "HP_WAIT_AGENT_HTTP";
pub const HP_WAIT_SPOA: &str = "HP_WAIT_SPOA";
pub const HP_WAIT_FRP: &str = "HP_WAIT_FRP";
pub const HP_WAIT_INTERVAL: &str = "HP_WAIT_INTERVAL";
pub const HP_CERTS_DIR: &str = "HP_CERTS_DIR";
pub const HP_CONTROL_ADDRESS: &str = "HP_CONTROL_ADDRESS";
pub const DOCKER_HOST: &str = "DOCKER_HOST";
pub const HP_MAX_CONNECTIONS: &str = "HP_MAX_CONNECTIONS";

pub const DEFAULT_EXAPPS_ADDRESS: &str = "0.0.0.0:8780";
pub const DEFAULT_EXAPPS_HTTPS_ADDRESS: &str = "0.0.0.0:8781";
pub const DEFAULT_FRP_ADDRESS: &str = "0.0.0.0:8782";
pub const DEFAULT_SPOA_ADDRESS: &str = "127.0.0.1:9600";
pub const DEFAULT_CONTROL_ADDRESS: &str = "127.0.0.1:8200";
pub const DEFAULT_CERTS_DIR: &str = "/certs";
pub const DEFAULT_DOCKER_HOST: &str = "unix:///var/run/docker.sock";
/// HaRP's HAProxy `maxconn`.
pub const DEFAULT_MAX_CONNECTIONS: usize = 8192;
