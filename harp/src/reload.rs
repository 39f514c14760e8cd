//! SIGHUP: re-reads the HTTPS certificate (`$HP_CERTS_DIR/cert.pem`) and the shared key file
//! (`HP_SHARED_KEY_FILE`, contract §1) without dropping a connection. New TLS handshakes get the
//! new certificate, established connections and WebSockets keep theirs; a file that does not
//! load leaves the current value in place. Everything else needs a restart.

use crate::config::{Config, Env};
use crate::net::tls::CertCell;
use crate::state::State;

/// What one reload did, item by item, in plain words.
#[derive(Debug, Default)]
pub struct Report {
    pub done: Vec<String>,
    pub failed: Vec<String>,
}

/// Reloads what can be reloaded and logs each result.
pub fn reload(state: &State, https: Option<&CertCell>, env: &impl Env) -> Report {
    let mut report = Report::default();
    let cert_path = state.config.https_cert_path();
    match https {
        Some(cell) => match cell.reload(&cert_path) {
            Ok(()) => report.done.push(format!(
                "HTTPS certificate reloaded from {}",
                cert_path.display()
            )),
            Err(e) => report.failed.push(format!("HTTPS certificate kept: {e}")),
        },
        None if cert_path.exists() => report.failed.push(format!(
            "{} appeared after start-up; restart harp to turn the HTTPS listener on",
            cert_path.display()
        )),
        None => {}
    }
    if env.get("HP_SHARED_KEY_FILE").is_some() {
        match Config::from_env(env).result {
            Ok(fresh) => {
                state.config.shared_key.replace(&fresh.shared_key);
                report
                    .done
                    .push("shared key re-read from HP_SHARED_KEY_FILE".to_string());
            }
            Err(errors) => report.failed.push(format!(
                "shared key kept (the configuration does not check any more: {})",
                errors.join("; ")
            )),
        }
    }
    for line in &report.done {
        tracing::info!(target: "harp::reload", "{line}");
    }
    for line in &report.failed {
        tracing::warn!(target: "harp::reload", "{line}");
    }
    tracing::info!(
        target: "harp::reload",
        reloaded = report.done.len(),
        failed = report.failed.len(),
        "reload finished"
    );
    report
}
