//! Control-stream session messages: Login, LoginResp, Ping, Pong (frp-protocol.md §2.3, §3, §5.1,
//! §5.4). Field order follows Go's structs; see the parent module for the JSON rules.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use super::{Redacted, RedactedMap};
use crate::json::{is_default, nullable, string_map};

/// `client_spec` inside Login. Always written, as `{}` when both fields are empty.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ClientSpec {
    /// Client kind; `"ssh-tunnel"` for frps's virtual client, empty for frpc.
    #[serde(rename = "type")]
    #[serde(deserialize_with = "nullable", skip_serializing_if = "is_default")]
    pub typ: String,
    /// Virtual clients only: skip authentication.
    #[serde(deserialize_with = "nullable", skip_serializing_if = "is_default")]
    pub always_auth_pass: bool,
}

/// `o` Login: the first message frpc sends on a new control stream.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Login {
    /// frp version of the client, e.g. `"0.65.0"`; informational.
    #[serde(deserialize_with = "nullable", skip_serializing_if = "is_default")]
    pub version: String,
    /// Never set by frpc.
    #[serde(deserialize_with = "nullable", skip_serializing_if = "is_default")]
    pub hostname: String,
    /// Go GOOS, e.g. `"linux"`.
    #[serde(deserialize_with = "nullable", skip_serializing_if = "is_default")]
    pub os: String,
    /// Go GOARCH, e.g. `"amd64"`.
    #[serde(deserialize_with = "nullable", skip_serializing_if = "is_default")]
    pub arch: String,
    /// frpc `user`.
    #[serde(deserialize_with = "nullable", skip_serializing_if = "is_default")]
    pub user: String,
    /// `md5(auth.token ++ timestamp)` in lowercase hex (§3.1, see `auth`).
    #[serde(deserialize_with = "nullable", skip_serializing_if = "is_default")]
    pub privilege_key: String,
    /// Unix seconds the privilege key was made with; not checked for freshness by frps.
    #[serde(deserialize_with = "nullable", skip_serializing_if = "is_default")]
    pub timestamp: i64,
    /// Empty on the first login, the previous run id on reconnect (§5.5).
    #[serde(deserialize_with = "nullable", skip_serializing_if = "is_default")]
    pub run_id: String,
    /// frpc `metadatas`; HaRP puts its shared key in `metas["token"]`.
    #[serde(deserialize_with = "string_map", skip_serializing_if = "is_default")]
    pub metas: BTreeMap<String, String>,
    /// Always present on the wire, `{}` for a normal frpc.
    #[serde(deserialize_with = "nullable")]
    pub client_spec: ClientSpec,
    /// Idle work streams the client wants pooled (frpc sends 1 by default).
    #[serde(deserialize_with = "nullable", skip_serializing_if = "is_default")]
    pub pool_count: i64,
}

impl fmt::Debug for Login {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Login")
            .field("version", &self.version)
            .field("hostname", &self.hostname)
            .field("os", &self.os)
            .field("arch", &self.arch)
            .field("user", &self.user)
            .field("privilege_key", &Redacted(&self.privilege_key))
            .field("timestamp", &self.timestamp)
            .field("run_id", &self.run_id)
            .field("metas", &RedactedMap(&self.metas))
            .field("client_spec", &self.client_spec)
            .field("pool_count", &self.pool_count)
            .finish()
    }
}

/// `1` LoginResp: success carries `run_id`, failure carries `error` and no `run_id`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct LoginResp {
    /// Server's frp version, e.g. `"0.65.0"`.
    #[serde(deserialize_with = "nullable", skip_serializing_if = "is_default")]
    pub version: String,
    /// The session's run id (16 lowercase hex characters when frps makes one).
    #[serde(deserialize_with = "nullable", skip_serializing_if = "is_default")]
    pub run_id: String,
    /// Non-empty when the login was refused.
    #[serde(deserialize_with = "nullable", skip_serializing_if = "is_default")]
    pub error: String,
}

/// `h` Ping: frp-level heartbeat; the fields are set only with the "HeartBeats" auth scope.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Ping {
    /// Same formula as Login's, with this message's timestamp.
    #[serde(deserialize_with = "nullable", skip_serializing_if = "is_default")]
    pub privilege_key: String,
    /// Unix seconds.
    #[serde(deserialize_with = "nullable", skip_serializing_if = "is_default")]
    pub timestamp: i64,
}

impl fmt::Debug for Ping {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ping")
            .field("privilege_key", &Redacted(&self.privilege_key))
            .field("timestamp", &self.timestamp)
            .finish()
    }
}

/// `4` Pong: `{}` on success; a non-empty `error` makes frpc close the session.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Pong {
    /// Why the heartbeat was refused.
    #[serde(deserialize_with = "nullable", skip_serializing_if = "is_default")]
    pub error: String,
}
