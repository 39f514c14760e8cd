//! `harp demo`: harp on loopback with an embedded stand-in for Nextcloud's two HaRP endpoints
//! and an embedded sample ExApp, reached through harp's own tunnel (as ExApps deployed by
//! AppAPI are: an frpc-compatible client publishes it over mutual TLS), so a newcomer sees it
//! work with nothing else installed. It prints the requests to try and what each should
//! answer; the decisions show as log lines as they happen.

use crate::app;
use crate::config::Config;
use harp_testkit::exapp::FakeExApp;
use harp_testkit::nextcloud::FakeNextcloud;
use serde_json::json;
use std::collections::HashMap;
use tokio_util::sync::CancellationToken;

pub const DEMO_KEY: &str = "demo-shared-key";
pub const DEMO_APP: &str = "demo-app";

/// The demo's environment: the same variables a real deployment sets.
pub fn demo_env(listen: &str, nextcloud_url: &str, certs_dir: &str) -> HashMap<String, String> {
    [
        ("HP_SHARED_KEY", DEMO_KEY),
        ("NC_INSTANCE_URL", nextcloud_url),
        ("HP_EXAPPS_ADDRESS", listen),
        ("HP_CONTROL_ADDRESS", "127.0.0.1:0"),
        ("HP_FRP_ADDRESS", "127.0.0.1:0"),
        ("HP_CERTS_DIR", certs_dir),
        ("HP_LOG_LEVEL", "info"),
        ("HP_BLACKLIST_COUNT", "5"),
        ("HP_BLACKLIST_WINDOW", "60"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

/// The sample ExApp's record, as Nextcloud's `exapp-meta` would give it.
pub fn demo_record(port: u16) -> serde_json::Value {
    json!({
        "exapp_token": "demo-app-secret",
        "exapp_version": "1.0.0",
        "host": "127.0.0.1",
        "port": port,
        "routes": [
            {"url": "^/public", "access_level": 0, "bruteforce_protection": []},
            {"url": "^/sse", "access_level": 0, "bruteforce_protection": []},
            {"url": "^/user", "access_level": 1, "bruteforce_protection": [418]},
            {"url": "^/admin", "access_level": 2, "bruteforce_protection": []},
            {"url": "^/ws$", "access_level": 1, "bruteforce_protection": []},
        ]
    })
}

/// The requests the demo suggests, with the status each should get.
pub fn demo_requests(base: &str) -> Vec<(String, u16)> {
    let app = format!("{base}/exapps/{DEMO_APP}");
    vec![
        (format!("curl -s {app}/public"), 200),
        (format!("curl -s -u usr:password {app}/user"), 200),
        (format!("curl -s {app}/user"), 403),
        (format!("curl -s -u usr:password {app}/admin"), 403),
        (format!("curl -s -u admin:admin {app}/admin"), 200),
        (format!("curl -s -N '{app}/sse?n=5&interval_ms=500'"), 200),
        (format!("curl -s {app}/nothing-here"), 404),
        (
            format!("curl -s -H 'harp-shared-key: {DEMO_KEY}' {base}/exapps/app_api/info"),
            200,
        ),
        (format!("curl -s {base}/exapps/app_api/info"), 401),
    ]
}

/// Runs the demo until `shutdown` fires.
pub async fn run(listen: &str, shutdown: CancellationToken) -> Result<(), String> {
    let nextcloud = FakeNextcloud::start(DEMO_KEY)
        .await
        .map_err(|e| format!("cannot start the Nextcloud stand-in: {e}"))?;
    let exapp = FakeExApp::start()
        .await
        .map_err(|e| format!("cannot start the sample ExApp: {e}"))?;
    let certs = std::env::temp_dir().join("harp-demo-certs");
    let env = demo_env(listen, &nextcloud.url(), &certs.to_string_lossy());
    let config = Config::from_env(&env)
        .result
        .map_err(|e| format!("demo configuration: {}", e.join("; ")))?;
    let running = app::start(config, shutdown.clone()).await.map_err(|e| {
        format!("{e} (is another harp running? try `harp demo --listen 127.0.0.1:0`)")
    })?;
    let tunnel_port = publish_through_tunnel(&certs, running.frp_addr, exapp.port(), &shutdown)
        .await
        .map_err(|e| format!("the sample ExApp's tunnel: {e}"))?;
    nextcloud.add_app(DEMO_APP, demo_record(tunnel_port));
    let base = format!("http://{}", running.http_addr);
    println!("harp demo is running.\n");
    println!("  harp (HP_EXAPPS_ADDRESS)      {base}");
    println!(
        "  Nextcloud stand-in            {} (users admin:admin, usr:password)",
        nextcloud.url()
    );
    println!(
        "  sample ExApp '{DEMO_APP}'       http://{} (published by harp's tunnel client on 127.0.0.1:{tunnel_port})",
        exapp.addr
    );
    println!("  tunnel listener (frpc)        {}", running.frp_addr);
    println!(
        "  control port (metrics)        http://{}/metrics\n",
        running.control_addr
    );
    println!("Try these (expected status on the right):");
    for (cmd, status) in demo_requests(&base) {
        println!("  {cmd:<90} # {status}");
    }
    println!(
        "\nA WebSocket echo is at ws://{}/exapps/{DEMO_APP}/ws (Basic auth usr:password).",
        running.http_addr
    );
    println!(
        "Five failures (403/404) from one address within a minute ban it: requests are then dropped."
    );
    println!("Stop with Ctrl-C.\n");
    shutdown.cancelled().await;
    running.stopped().await;
    Ok(())
}

/// Connects an in-process tunnel client (`harp tunnel`) to harp's FRP listener with the client
/// certificates harp generated, publishes the sample ExApp on a port harp picks, and returns
/// that port once it is published.
async fn publish_through_tunnel(
    certs: &std::path::Path,
    frp: std::net::SocketAddr,
    exapp_port: u16,
    shutdown: &CancellationToken,
) -> Result<u16, String> {
    use crate::tunnel_client::{self, ProxyStatus, TunnelClient};
    let paths = crate::certs::FrpCertPaths::new(certs);
    let path = |p: std::path::PathBuf| p.to_string_lossy().replace('\\', "/");
    let toml = format!(
        "serverAddr = \"127.0.0.1\"\nserverPort = {}\nloginFailExit = true\n\
         transport.tls.enable = true\ntransport.tls.certFile = \"{}\"\n\
         transport.tls.keyFile = \"{}\"\ntransport.tls.trustedCaFile = \"{}\"\n\
         transport.tls.serverName = \"{}\"\nmetadatas.token = \"{DEMO_KEY}\"\n\n\
         [[proxies]]\nname = \"{DEMO_APP}\"\ntype = \"tcp\"\nlocalIP = \"127.0.0.1\"\n\
         localPort = {exapp_port}\nremotePort = 0\n",
        frp.port(),
        path(paths.client_crt()),
        path(paths.client_key()),
        path(paths.ca_crt()),
        crate::certs::SERVER_NAME,
    );
    let loaded = tunnel_client::parse(&toml).map_err(|e| e.to_string())?;
    let client = TunnelClient::start(loaded.config, shutdown.clone()).map_err(|e| e.to_string())?;
    let published = |s: &tunnel_client::Status| {
        matches!(s.proxies.get(DEMO_APP), Some(ProxyStatus::Published { .. }))
    };
    if !client
        .wait_until(std::time::Duration::from_secs(15), published)
        .await
    {
        let status = client.status().borrow().clone();
        return Err(format!(
            "not published within 15 s ({})",
            status
                .last_error
                .unwrap_or_else(|| "no error reported".into())
        ));
    }
    let status = client.status().borrow().clone();
    match status.proxies.get(DEMO_APP) {
        Some(ProxyStatus::Published { remote_addr }) => remote_addr
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .ok_or_else(|| format!("unexpected remote address {remote_addr}")),
        _ => Err("the proxy was withdrawn".into()),
    }
}
