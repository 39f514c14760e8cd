//! Work- and visitor-stream messages: NewWorkConn, ReqWorkConn, StartWorkConn, NewVisitorConn,
//! NewVisitorConnResp (frp-protocol.md §2.3, §5.3). Field order follows Go's structs.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::Redacted;
use crate::json::{is_default, nullable};

/// `w` NewWorkConn: first message of every work stream the client opens.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct NewWorkConn {
    /// The run id from LoginResp.
    #[serde(deserialize_with = "nullable", skip_serializing_if = "is_default")]
    pub run_id: String,
    /// Only with the "NewWorkConns" auth scope (§3.4).
    #[serde(deserialize_with = "nullable", skip_serializing_if = "is_default")]
    pub privilege_key: String,
    /// Only with the "NewWorkConns" auth scope.
    #[serde(deserialize_with = "nullable", skip_serializing_if = "is_default")]
    pub timestamp: i64,
}

impl fmt::Debug for NewWorkConn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewWorkConn")
            .field("run_id", &self.run_id)
            .field("privilege_key", &Redacted(&self.privilege_key))
            .field("timestamp", &self.timestamp)
            .finish()
    }
}

/// `r` ReqWorkConn: has no fields; its body is always `{}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReqWorkConn {}

/// `s` StartWorkConn: the server's only message on a work stream; raw user bytes follow it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct StartWorkConn {
    /// Which of the client's proxies the user connected to.
    #[serde(deserialize_with = "nullable", skip_serializing_if = "is_default")]
    pub proxy_name: String,
    /// User's IP (IPv6 without brackets).
    #[serde(deserialize_with = "nullable", skip_serializing_if = "is_default")]
    pub src_addr: String,
    /// Server's local IP of the user connection.
    #[serde(deserialize_with = "nullable", skip_serializing_if = "is_default")]
    pub dst_addr: String,
    /// User's port.
    #[serde(deserialize_with = "nullable", skip_serializing_if = "is_default")]
    pub src_port: u16,
    /// The remote port the user connected to.
    #[serde(deserialize_with = "nullable", skip_serializing_if = "is_default")]
    pub dst_port: u16,
    /// Non-empty makes the client close the stream.
    #[serde(deserialize_with = "nullable", skip_serializing_if = "is_default")]
    pub error: String,
}

/// `v` NewVisitorConn: first message of an stcp/sudp/xtcp visitor stream. Not used by HaRP.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct NewVisitorConn {
    /// Visitor's run id.
    #[serde(deserialize_with = "nullable", skip_serializing_if = "is_default")]
    pub run_id: String,
    /// The proxy to visit.
    #[serde(deserialize_with = "nullable", skip_serializing_if = "is_default")]
    pub proxy_name: String,
    /// Signature made with the proxy's `sk`.
    #[serde(deserialize_with = "nullable", skip_serializing_if = "is_default")]
    pub sign_key: String,
    /// Unix seconds of the signature.
    #[serde(deserialize_with = "nullable", skip_serializing_if = "is_default")]
    pub timestamp: i64,
    /// Payload encryption.
    #[serde(deserialize_with = "nullable", skip_serializing_if = "is_default")]
    pub use_encryption: bool,
    /// Payload compression.
    #[serde(deserialize_with = "nullable", skip_serializing_if = "is_default")]
    pub use_compression: bool,
}

impl fmt::Debug for NewVisitorConn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewVisitorConn")
            .field("run_id", &self.run_id)
            .field("proxy_name", &self.proxy_name)
            .field("sign_key", &Redacted(&self.sign_key))
            .field("timestamp", &self.timestamp)
            .field("use_encryption", &self.use_encryption)
            .field("use_compression", &self.use_compression)
            .finish()
    }
}

/// `3` NewVisitorConnResp. Not used by HaRP.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct NewVisitorConnResp {
    /// Echo of the visited proxy.
    #[serde(deserialize_with = "nullable", skip_serializing_if = "is_default")]
    pub proxy_name: String,
    /// Non-empty on refusal.
    #[serde(deserialize_with = "nullable", skip_serializing_if = "is_default")]
    pub error: String,
}
