//! Proxy registration messages: NewProxy, NewProxyResp, CloseProxy (frp-protocol.md §2.3, §5.2,
//! §5.6). Field order follows Go's structs (v0.65.0 added nothing to v0.61.1's NewProxy).

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use super::{Redacted, RedactedMap};
use crate::json::{is_default, nullable, string_map};

/// `p` NewProxy: one proxy of the client's configuration. HaRP uses tcp with `remote_port`.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct NewProxy {
    /// Unique across all clients of a server.
    #[serde(deserialize_with = "nullable", skip_serializing_if = "is_default")]
    pub proxy_name: String,
    /// `"tcp"`, `"udp"`, `"http"`, `"https"`, `"stcp"`, `"sudp"`, `"xtcp"` or `"tcpmux"`.
    #[serde(deserialize_with = "nullable", skip_serializing_if = "is_default")]
    pub proxy_type: String,
    /// Work-stream payload wrapped in AES-128-CFB (§4).
    #[serde(deserialize_with = "nullable", skip_serializing_if = "is_default")]
    pub use_encryption: bool,
    /// Work-stream payload wrapped in snappy framing (§4).
    #[serde(deserialize_with = "nullable", skip_serializing_if = "is_default")]
    pub use_compression: bool,
    /// e.g. `"1MB"`.
    #[serde(deserialize_with = "nullable", skip_serializing_if = "is_default")]
    pub bandwidth_limit: String,
    /// Only sent when not `"client"`.
    #[serde(deserialize_with = "nullable", skip_serializing_if = "is_default")]
    pub bandwidth_limit_mode: String,
    /// Load-balancing group.
    #[serde(deserialize_with = "nullable", skip_serializing_if = "is_default")]
    pub group: String,
    /// Secret of the load-balancing group.
    #[serde(deserialize_with = "nullable", skip_serializing_if = "is_default")]
    pub group_key: String,
    /// Proxy `metadatas`.
    #[serde(deserialize_with = "string_map", skip_serializing_if = "is_default")]
    pub metas: BTreeMap<String, String>,
    /// Proxy `annotations`.
    #[serde(deserialize_with = "string_map", skip_serializing_if = "is_default")]
    pub annotations: BTreeMap<String, String>,
    /// tcp/udp: the port to listen on; 0 lets the server choose. Go `int`, so not range-checked
    /// here: the server validates it.
    #[serde(deserialize_with = "nullable", skip_serializing_if = "is_default")]
    pub remote_port: i64,
    /// http/https.
    #[serde(deserialize_with = "nullable", skip_serializing_if = "is_default")]
    pub custom_domains: Vec<String>,
    /// http/https.
    #[serde(deserialize_with = "nullable", skip_serializing_if = "is_default")]
    pub subdomain: String,
    /// http.
    #[serde(deserialize_with = "nullable", skip_serializing_if = "is_default")]
    pub locations: Vec<String>,
    /// http basic auth user.
    #[serde(deserialize_with = "nullable", skip_serializing_if = "is_default")]
    pub http_user: String,
    /// http basic auth password.
    #[serde(deserialize_with = "nullable", skip_serializing_if = "is_default")]
    pub http_pwd: String,
    /// http.
    #[serde(deserialize_with = "nullable", skip_serializing_if = "is_default")]
    pub host_header_rewrite: String,
    /// http request headers to set.
    #[serde(deserialize_with = "string_map", skip_serializing_if = "is_default")]
    pub headers: BTreeMap<String, String>,
    /// http response headers to set.
    #[serde(deserialize_with = "string_map", skip_serializing_if = "is_default")]
    pub response_headers: BTreeMap<String, String>,
    /// http.
    #[serde(deserialize_with = "nullable", skip_serializing_if = "is_default")]
    pub route_by_http_user: String,
    /// stcp/sudp/xtcp shared secret.
    #[serde(deserialize_with = "nullable", skip_serializing_if = "is_default")]
    pub sk: String,
    /// stcp/sudp/xtcp.
    #[serde(deserialize_with = "nullable", skip_serializing_if = "is_default")]
    pub allow_users: Vec<String>,
    /// tcpmux.
    #[serde(deserialize_with = "nullable", skip_serializing_if = "is_default")]
    pub multiplexer: String,
}

impl fmt::Debug for NewProxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewProxy")
            .field("proxy_name", &self.proxy_name)
            .field("proxy_type", &self.proxy_type)
            .field("use_encryption", &self.use_encryption)
            .field("use_compression", &self.use_compression)
            .field("bandwidth_limit", &self.bandwidth_limit)
            .field("bandwidth_limit_mode", &self.bandwidth_limit_mode)
            .field("group", &self.group)
            .field("group_key", &Redacted(&self.group_key))
            .field("metas", &RedactedMap(&self.metas))
            .field("annotations", &self.annotations)
            .field("remote_port", &self.remote_port)
            .field("custom_domains", &self.custom_domains)
            .field("subdomain", &self.subdomain)
            .field("locations", &self.locations)
            .field("http_user", &self.http_user)
            .field("http_pwd", &Redacted(&self.http_pwd))
            .field("host_header_rewrite", &self.host_header_rewrite)
            .field("headers", &RedactedMap(&self.headers))
            .field("response_headers", &self.response_headers)
            .field("route_by_http_user", &self.route_by_http_user)
            .field("sk", &Redacted(&self.sk))
            .field("allow_users", &self.allow_users)
            .field("multiplexer", &self.multiplexer)
            .finish()
    }
}

/// `2` NewProxyResp: `remote_addr` (`":<port>"` for tcp) on success, `error` on failure.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct NewProxyResp {
    /// Echo of NewProxy's name.
    #[serde(deserialize_with = "nullable", skip_serializing_if = "is_default")]
    pub proxy_name: String,
    /// e.g. `":23777"`.
    #[serde(deserialize_with = "nullable", skip_serializing_if = "is_default")]
    pub remote_addr: String,
    /// e.g. `"port already used"`; frpc retries 30 s later.
    #[serde(deserialize_with = "nullable", skip_serializing_if = "is_default")]
    pub error: String,
}

/// `c` CloseProxy: the client drops a proxy; the server sends no answer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct CloseProxy {
    /// The proxy to close.
    #[serde(deserialize_with = "nullable", skip_serializing_if = "is_default")]
    pub proxy_name: String,
}
