//! Certificate expiry (decision D21): expired or unreadable files fail, fewer than 30 days
//! left warns.

use super::Finding;
use crate::certs::inventory::{self, WARN_DAYS};
use crate::config::Config;

const CHECK: &str = "certificates";

pub fn check(config: &Config) -> Vec<Finding> {
    let files = inventory::inventory(&config.certs_dir);
    if files.is_empty() {
        return vec![Finding::ok(
            CHECK,
            format!(
                "none in {} yet (no cert.pem: HTTPS off; FRP certificates are made on first start)",
                config.certs_dir.display()
            ),
        )];
    }
    let now = inventory::now();
    files
        .iter()
        .map(|f| {
            let path = f.path.display();
            match &f.info {
                Err(e) => Finding::fail(CHECK, format!("{} is unreadable: {e}", f.role)),
                Ok(c) if c.not_after <= now => Finding::fail(
                    CHECK,
                    format!(
                        "{} certificate {path} EXPIRED {} days ago: {}",
                        f.role,
                        -c.days_left(now),
                        fix(f.role)
                    ),
                ),
                Ok(c) if c.days_left(now) < WARN_DAYS => Finding::warn(
                    CHECK,
                    format!(
                        "{} certificate {path} expires in {} days: {}",
                        f.role,
                        c.days_left(now),
                        fix(f.role)
                    ),
                ),
                Ok(c) => Finding::ok(
                    CHECK,
                    format!(
                        "{} certificate {path}: {} days left",
                        f.role,
                        c.days_left(now)
                    ),
                ),
            }
        })
        .collect()
}

fn fix(role: &str) -> &'static str {
    if role == "https" {
        "replace cert.pem and send SIGHUP to harp"
    } else {
        "run `harp certs renew`, restart harp and give frpc clients the new client files"
    }
}
