//! `harp doctor`: checks every hop from where it runs, with the same `HP_*` environment as
//! harp, and says what is wrong in plain words, one line per check:
//! `ok|FAIL|warn <check>: <words>`. Exit 0 when nothing FAILed.
//!
//! - [`running`]: is a harp answering on `HP_CONTROL_ADDRESS` (later checks use it);
//! - [`nextcloud`]: Nextcloud reachable, and the shared key accepted (`exapp-meta` of `--app`);
//! - [`proxy`]: a probe through `--public-url` reaches harp with `/exapps/` intact;
//! - [`engines`]: every Docker Engine port answers `/_ping`;
//! - [`tunnels`]: connected tunnel clients;
//! - [`certificates`]: expiry and readability of every certificate;
//! - [`trusted_proxies`]: `HP_TRUSTED_PROXY_IPS` against the peers harp actually saw.

pub mod certificates;
pub mod control;
pub mod engines;
pub mod nextcloud;
pub mod proxy;
pub mod running;
pub mod trusted_proxies;
pub mod tunnels;

use crate::config::{Config, Env};
use std::fmt;

/// What the user asked to check beyond the environment.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Nextcloud's public URL, for the reverse-proxy hop.
    pub public_url: Option<String>,
    /// An ExApp id Nextcloud knows, for the shared-key check.
    pub app: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Ok,
    Warn,
    Fail,
}

/// The result of one check.
#[derive(Debug, Clone)]
pub struct Finding {
    pub level: Level,
    pub check: &'static str,
    pub text: String,
}

impl Finding {
    pub fn ok(check: &'static str, text: impl Into<String>) -> Self {
        Finding {
            level: Level::Ok,
            check,
            text: text.into(),
        }
    }
    pub fn warn(check: &'static str, text: impl Into<String>) -> Self {
        Finding {
            level: Level::Warn,
            check,
            text: text.into(),
        }
    }
    pub fn fail(check: &'static str, text: impl Into<String>) -> Self {
        Finding {
            level: Level::Fail,
            check,
            text: text.into(),
        }
    }
    pub fn is_failure(&self) -> bool {
        self.level == Level::Fail
    }
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let level = match self.level {
            Level::Ok => "ok",
            Level::Warn => "warn",
            Level::Fail => "FAIL",
        };
        write!(f, "{level} {}: {}", self.check, self.text)
    }
}

/// Runs every check and returns the findings in order.
pub async fn run(env: &impl Env, options: &Options) -> Vec<Finding> {
    let parsed = Config::from_env(env);
    let config = match parsed.result {
        Ok(c) => c,
        Err(errors) => {
            return vec![Finding::fail(
                "config",
                format!(
                    "the HP_* environment is not valid, so nothing else was checked: {}",
                    errors.join("; ")
                ),
            )];
        }
    };
    let mut findings = vec![Finding::ok(
        "config",
        if parsed.warnings.is_empty() {
            "the HP_* environment is valid".to_string()
        } else {
            format!("valid, with warnings: {}", parsed.warnings.join("; "))
        },
    )];
    let control = running::check(&config).await;
    findings.push(control.finding.clone());
    let harp = control.addr;
    findings.push(nextcloud::check(&config, options.app.as_deref()).await);
    findings.push(proxy::check(&config, harp, options.public_url.as_deref()).await);
    findings.extend(engines::check(&config, harp).await);
    findings.push(tunnels::check(harp).await);
    findings.extend(certificates::check(&config));
    findings.extend(trusted_proxies::check(&config, harp).await);
    findings
}
