//! The nested parts of `frpc.toml`: `transport.tls` and one `[[proxies]]` entry (its
//! `plugin` and `transport` tables included).

use super::{ConfigError, ProxyConfig, Target, TlsConfig};
use crate::tunnel_client::fields::Fields;
use std::path::PathBuf;

pub(super) fn tls_section(
    transport: &mut Fields<'_>,
    warnings: &mut Vec<String>,
) -> Result<Option<TlsConfig>, ConfigError> {
    let mut tls = transport.section("tls")?;
    let enable = tls.boolean("enable")?.unwrap_or(true);
    let path = |s: Option<String>| s.filter(|s| !s.is_empty()).map(PathBuf::from);
    let config = TlsConfig {
        cert_file: path(tls.string("certFile")?),
        key_file: path(tls.string("keyFile")?),
        trusted_ca_file: path(tls.string("trustedCaFile")?),
        server_name: tls.string("serverName")?.unwrap_or_default(),
        custom_first_byte: !tls.boolean("disableCustomTLSFirstByte")?.unwrap_or(true),
    };
    if config.cert_file.is_some() != config.key_file.is_some() {
        let missing = if config.cert_file.is_none() {
            "certFile"
        } else {
            "keyFile"
        };
        return Err(tls.bad(missing, "certFile and keyFile must be set together"));
    }
    tls.finish(warnings);
    Ok(enable.then_some(config))
}

pub(super) fn proxy(
    p: &mut Fields<'_>,
    warnings: &mut Vec<String>,
) -> Result<ProxyConfig, ConfigError> {
    let name = p.string("name")?.unwrap_or_default();
    if name.is_empty() {
        return Err(p.bad("name", "missing: every proxy needs a name"));
    }
    match p.string("type")? {
        Some(t) if t == "tcp" => {}
        Some(t) => return Err(p.bad("type", format!("{t:?} is not supported (only \"tcp\")"))),
        None => return Err(p.bad("type", "missing (\"tcp\")")),
    }
    let remote_port = p.port("remotePort", true)?.unwrap_or(0);
    let local_ip = p.string("localIP")?.unwrap_or_else(|| "127.0.0.1".into());
    let local_port = p.port("localPort", false)?;
    let mut transport = p.section("transport")?;
    for key in ["useEncryption", "useCompression"] {
        if transport.boolean(key)? == Some(true) {
            return Err(transport.bad(key, "not supported by harp tunnel"));
        }
    }
    if transport.has("proxyProtocolVersion") {
        return Err(transport.bad("proxyProtocolVersion", "not supported by harp tunnel"));
    }
    transport.finish(warnings);
    let target = if p.has("plugin") {
        let mut plugin = p.section("plugin")?;
        match plugin.string("type")? {
            Some(t) if t == "unix_domain_socket" => {}
            Some(t) => {
                return Err(plugin.bad(
                    "type",
                    format!("{t:?} is not supported (only \"unix_domain_socket\")"),
                ));
            }
            None => return Err(plugin.bad("type", "missing (\"unix_domain_socket\")")),
        }
        let path = plugin.string("unixPath")?.unwrap_or_default();
        if path.is_empty() {
            return Err(plugin.bad("unixPath", "missing: the socket the proxy forwards to"));
        }
        plugin.finish(warnings);
        Target::Unix(PathBuf::from(path))
    } else {
        let Some(port) = local_port else {
            return Err(p.bad("localPort", "missing (or give a unix_domain_socket plugin)"));
        };
        Target::Tcp { ip: local_ip, port }
    };
    Ok(ProxyConfig {
        name,
        remote_port,
        target,
        metadatas: p.string_map("metadatas")?,
        annotations: p.string_map("annotations")?,
    })
}
