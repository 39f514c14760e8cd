//! Logging: `tracing` to stderr, verbosity from `HP_LOG_LEVEL` (or `RUST_LOG` for finer
//! control), plain text or JSON (`HP_LOG_FORMAT=json`).

use crate::config::LogLevel;
use tracing_subscriber::EnvFilter;

pub fn init(level: LogLevel, json: bool) {
    let level = match level {
        LogLevel::Debug => "debug",
        LogLevel::Info => "info",
        LogLevel::Warning => "warn",
        LogLevel::Error => "error",
    };
    let filter = EnvFilter::try_from_env("RUST_LOG").unwrap_or_else(|_| {
        EnvFilter::new(format!(
            "{level},hyper=warn,hyper_util=warn,rustls=warn,h2=warn"
        ))
    });
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    // A second init (tests start several instances) is harmless.
    let _ = if json {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}
