//! Debian's Caddy (2.6) in front of harp with the README's snippet (the ```caddy block between
//! `<!-- caddy:begin -->` and `<!-- caddy:end -->`, read at test time) inside a site block:
//! plain requests with the client's address in `X-Forwarded-For`, server-sent events event by
//! event, and WebSockets pass through; a client's own `X-Forwarded-For` is replaced (Caddy
//! trusts no proxy by default), so harp sees the true client, and a failure is charged to it.
//!
//! Caddy runs as a child process with its config, data and logs in a temporary directory, on a
//! free port of 127.0.0.1, with its admin endpoint off (no fixed port). Without Caddy the
//! tests skip loudly, or fail when `HARP_REQUIRE_PEERS=1` (CI installs `caddy`).

mod common;
#[path = "common/front.rs"]
mod front;
use common::*;
use front::*;
use std::process::Command;

const CADDY: &str = "/usr/bin/caddy";

async fn setup() -> Option<(TestHarp, Front)> {
    let bin = require_binary(CADDY, "caddy")?;
    let h = start(&[
        ("HP_TRUSTED_PROXY_IPS", "127.0.0.1"),
        ("HP_BLACKLIST_COUNT", "1"),
    ])
    .await;
    let snippet = readme_snippet("caddy", "caddy", h.addr);
    let caddy = Front::start("caddy", "stderr.log", |dir, port| {
        let d = dir.display();
        let conf = dir.join("Caddyfile");
        std::fs::write(
            &conf,
            format!(
                "{{\n\tadmin off\n\tauto_https off\n\tstorage file_system {{\n\t\troot {d}/data\n\t}}\n}}\n\nhttp://:{port} {{\n\tbind 127.0.0.1\n{snippet}\n}}\n"
            ),
        )
        .expect("write Caddyfile");
        let mut cmd = Command::new(&bin);
        cmd.args(["run", "--adapter", "caddyfile", "--config"])
            .arg(&conf)
            .env("HOME", dir)
            .env("XDG_CONFIG_HOME", dir.join("config"))
            .env("XDG_DATA_HOME", dir.join("data"));
        cmd
    })
    .await;
    Some((h, caddy))
}

#[tokio::test]
async fn http_sse_websocket_and_client_address_through_caddy() {
    let Some((h, caddy)) = setup().await else {
        return;
    };
    let r = check_plain(caddy.addr).await;
    assert_eq!(
        r.seen_header("x-forwarded-for").as_deref(),
        Some("127.0.0.1"),
        "{}",
        caddy.log_text()
    );
    check_sse(caddy.addr).await;
    check_websocket(caddy.addr, &h.exapp).await;

    // A spoofed X-Forwarded-For is replaced by Caddy: the ExApp sees only the true client.
    let r = via(
        caddy.addr,
        &format!("/exapps/{APP}/public"),
        Some("203.0.113.7"),
    )
    .await;
    assert_eq!(
        r.seen_header("x-forwarded-for").as_deref(),
        Some("127.0.0.1")
    );
    // A failure is charged to that client; trusted Caddy (also 127.0.0.1 here) is never
    // banned, and the spoofed address is not touched.
    let r = via(
        caddy.addr,
        &format!("/exapps/{APP}/imaginary"),
        Some("203.0.113.7"),
    )
    .await;
    assert_eq!(r.status, 404);
    assert!(!h.state().bans.is_banned("203.0.113.7".parse().unwrap()));
    assert!(!h.state().bans.is_banned("127.0.0.1".parse().unwrap()));
}
