//! `harp demo`: harp on loopback with an embedded stand-in for Nextcloud's two HaRP endpoints
//! and an embedded sample ExApp, so a newcomer sees it work with nothing else installed. It
//! prints the requests to try and what each should answer.

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
    nextcloud.add_app(DEMO_APP, demo_record(exapp.port()));
    let certs = std::env::temp_dir().join("harp-demo-certs");
    let env = demo_env(listen, &nextcloud.url(), &certs.to_string_lossy());
    let config = Config::from_env(&env)
        .result
        .map_err(|e| format!("demo configuration: {}", e.join("; ")))?;
    let running = app::start(config, shutdown.clone()).await.map_err(|e| {
        format!("{e} (is another harp running? try `harp demo --listen 127.0.0.1:0`)")
    })?;
    let base = format!("http://{}", running.http_addr);
    println!("harp demo is running.\n");
    println!("  harp (HP_EXAPPS_ADDRESS)      {base}");
    println!(
        "  Nextcloud stand-in            {} (users admin:admin, usr:password)",
        nextcloud.url()
    );
    println!("  sample ExApp '{DEMO_APP}'       http://{}", exapp.addr);
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
