//! Debian's Apache (2.4, event MPM, `mod_proxy_http` with `upgrade=websocket`, `mod_headers`)
//! in front of harp with the README's snippet (the ```apache block between
//! `<!-- apache:begin -->` and `<!-- apache:end -->`, read at test time) inside a
//! `<VirtualHost>`: plain requests with the client's address in `X-Forwarded-For`, server-sent
//! events event by event, and WebSockets pass through; with Apache trusted
//! (`HP_TRUSTED_PROXY_IPS`), a failure is charged to the client Apache names, never to Apache.
//!
//! Apache runs in the foreground as a child process with a minimal configuration of its own
//! (no /etc/apache2), its pid, runtime files and logs in a temporary directory, on a free port
//! of 127.0.0.1. Without Apache the tests skip loudly, or fail when `HARP_REQUIRE_PEERS=1`
//! (CI installs `apache2`).

mod common;
#[path = "common/front.rs"]
mod front;
use common::*;
use front::*;
use std::path::Path;
use std::process::Command;

const APACHE: &str = "/usr/sbin/apache2";
const MODULES: &str = "/usr/lib/apache2/modules";

fn config(dir: &Path, port: u16, snippet: &str) -> String {
    let d = dir.display();
    // As root, Apache's workers must run as someone else.
    let user = if running_as_root() {
        "User www-data\nGroup www-data\n"
    } else {
        ""
    };
    let modules: String = [
        ("mpm_event_module", "mod_mpm_event.so"),
        ("authz_core_module", "mod_authz_core.so"),
        ("proxy_module", "mod_proxy.so"),
        ("proxy_http_module", "mod_proxy_http.so"),
        ("headers_module", "mod_headers.so"),
    ]
    .iter()
    .map(|(name, file)| format!("LoadModule {name} {MODULES}/{file}\n"))
    .collect();
    format!(
        "ServerRoot \"{d}\"
DefaultRuntimeDir \"{d}\"
PidFile \"{d}/httpd.pid\"
ServerName harp.test
Listen 127.0.0.1:{port}
ErrorLog \"{d}/error.log\"
LogLevel warn
{modules}{user}
<VirtualHost 127.0.0.1:{port}>
    ServerName harp.test
{snippet}
</VirtualHost>
"
    )
}

async fn setup() -> Option<(TestHarp, Front)> {
    let bin = require_binary(APACHE, "apache2")?;
    let h = start(&[
        ("HP_TRUSTED_PROXY_IPS", "127.0.0.1"),
        ("HP_BLACKLIST_COUNT", "1"),
    ])
    .await;
    let snippet = readme_snippet("apache", "apache", h.addr);
    let apache = Front::start("apache", "error.log", |dir, port| {
        let conf = dir.join("httpd.conf");
        std::fs::write(&conf, config(dir, port, &snippet)).expect("write httpd.conf");
        let mut cmd = Command::new(&bin);
        cmd.arg("-f").arg(&conf).arg("-DFOREGROUND");
        cmd
    })
    .await;
    Some((h, apache))
}

#[tokio::test]
async fn http_sse_websocket_and_client_address_through_apache() {
    let Some((h, apache)) = setup().await else {
        return;
    };
    let r = check_plain(apache.addr).await;
    assert_eq!(
        r.seen_header("x-forwarded-for").as_deref(),
        Some("127.0.0.1"),
        "{}",
        apache.log_text()
    );
    assert_eq!(r.seen_header("x-forwarded-proto").as_deref(), Some("http"));
    check_sse(apache.addr).await;
    check_websocket(apache.addr, &h.exapp).await;

    // Apache appends the client to an X-Forwarded-For it received; harp walks it from the
    // right (D11): 127.0.0.1 is trusted, so 203.0.113.7 is the client and takes the failure.
    let r = via(
        apache.addr,
        &format!("/exapps/{APP}/public"),
        Some("203.0.113.7"),
    )
    .await;
    assert_eq!(
        r.seen_header("x-forwarded-for").as_deref(),
        Some("203.0.113.7, 127.0.0.1")
    );
    let r = via(
        apache.addr,
        &format!("/exapps/{APP}/imaginary"),
        Some("203.0.113.7"),
    )
    .await;
    assert_eq!(r.status, 404);
    assert!(h.state().bans.is_banned("203.0.113.7".parse().unwrap()));
    assert!(!h.state().bans.is_banned("127.0.0.1".parse().unwrap()));
    assert_eq!(
        via(apache.addr, &format!("/exapps/{APP}/public"), None)
            .await
            .status,
        200,
        "Apache's own address is still served"
    );
}
