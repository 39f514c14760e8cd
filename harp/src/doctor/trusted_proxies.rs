//! `HP_TRUSTED_PROXY_IPS` against the peers harp actually saw (`/peers` on the control port):
//! a peer that sends `X-Forwarded-For`/`X-Real-IP` but is not trusted is most likely the
//! reverse proxy, and then every client behind it shares its address (and its bans).

use super::{Finding, control};
use crate::config::Config;
use std::net::SocketAddr;

const CHECK: &str = "trusted_proxies";

pub async fn check(config: &Config, harp: Option<SocketAddr>) -> Vec<Finding> {
    let Some(addr) = harp else {
        return vec![Finding::warn(
            CHECK,
            "not checked: harp is not running here",
        )];
    };
    let peers = match control::get_json(addr, "/peers").await {
        Ok(p) => p.as_array().cloned().unwrap_or_default(),
        Err(e) => {
            return vec![Finding::fail(
                CHECK,
                format!("cannot read the peers harp saw: {e}"),
            )];
        }
    };
    let configured = if config.trusted_proxies.is_empty() {
        "empty".to_string()
    } else {
        config
            .trusted_proxies
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(",")
    };
    let mut findings = Vec::new();
    for p in &peers {
        let forwarded = p["forwarded"].as_u64().unwrap_or(0);
        if forwarded > 0 && p["trusted"] == false {
            findings.push(Finding::warn(
                CHECK,
                format!(
                    "{} sent X-Forwarded-For/X-Real-IP on {forwarded} requests but is not in HP_TRUSTED_PROXY_IPS ({configured}): if it is your reverse proxy, add it, or harp sees it as the client of everyone behind it (and a ban locks them all out)",
                    p["address"].as_str().unwrap_or("?")
                ),
            ));
        }
    }
    if findings.is_empty() {
        let proxies: Vec<&str> = peers
            .iter()
            .filter(|p| p["trusted"] == true)
            .filter_map(|p| p["address"].as_str())
            .collect();
        findings.push(Finding::ok(
            CHECK,
            if peers.is_empty() {
                format!("no requests seen yet (HP_TRUSTED_PROXY_IPS: {configured})")
            } else if proxies.is_empty() {
                format!(
                    "{} client addresses seen, none sent forwarding headers (HP_TRUSTED_PROXY_IPS: {configured})",
                    peers.len()
                )
            } else {
                format!("requests came through trusted proxies {}", proxies.join(", "))
            },
        ));
    }
    findings
}
