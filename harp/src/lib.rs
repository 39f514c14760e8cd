//! harp: a single-process, drop-in replacement for Nextcloud's HaRP, the proxy AppAPI uses to
//! reach External Apps.
//!
//! Modules, one concern each:
//! - [`config`]: `HP_*` variables parsed and checked once, every error reported at once.
//! - [`app`]: start-up, listeners, the running instance and its shutdown.
//! - [`net`]: sockets, TLS, client timeouts and the silent drop, the true client IP.
//! - [`http`]: bodies, canned responses with HaRP's texts, per-connection serving.
//! - [`proxy`]: the data plane `/exapps/<appid>/...`: the decision pipeline and forwarding.
//! - [`auth`]: Nextcloud's `exapp-meta` and `user-info`, and the caches in front of them.
//! - [`bans`]: brute-force protection per client IP.
//! - [`control`]: AppAPI's control plane `/exapps/app_api/...`.
//! - [`tunnel`]: the FRP-compatible tunnel server that `frpc` clients log in to.
//! - [`tunnel_client`]: `harp tunnel`, an frpc-compatible client that reads HaRP's `frpc.toml`.
//! - [`certs`]: the FRP certificates, generated on first start; every certificate read back
//!   (expiry warnings and gauge, `harp certs show|renew`).
//! - [`control_port`]: the loopback health and info port.
//! - [`metrics`]: Prometheus counters and histograms, served on the control port.
//! - [`docker`]: the Engine API client, names and payloads behind AppAPI's Docker endpoints.
//! - [`engine`]: reaching Docker Engines by port: the local socket or a tunnel.
//! - [`k8s`]: the Kubernetes backend: manifests, the API client, upstream resolution.
//! - [`demo`]: `harp demo`, harp with stand-ins for Nextcloud and an ExApp.
//! - [`reload`]: SIGHUP: the HTTPS certificate and the shared key file re-read.
//! - [`signals`]: SIGTERM/SIGINT (stop) and SIGHUP (reload), registered before start-up.
//! - [`doctor`]: `harp doctor`, every hop checked from where it runs.
//! - [`fuzzing`]: the parsers' properties over arbitrary bytes, for `fuzz/` and its replay test.
#![forbid(unsafe_code)]

pub mod app;
pub mod auth;
pub mod bans;
pub mod certs;
pub mod config;
pub mod control;
pub mod control_port;
pub mod demo;
pub mod docker;
pub mod doctor;
pub mod engine;
pub mod fuzzing;
pub mod http;
pub mod k8s;
pub mod metrics;
pub mod net;
pub mod proxy;
pub mod reload;
pub mod signals;
pub mod state;
pub mod telemetry;
pub mod tunnel;
pub mod tunnel_client;
