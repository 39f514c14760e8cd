//! `frpc.toml` parsing: HaRP's exact shapes (exapps_dev/start.sh with and without TLS, in its
//! current and its earlier form, and the bundled Docker-socket client) and bad input.

use super::*;

fn ok(text: &str) -> Loaded {
    parse(text).unwrap_or_else(|e| panic!("{e}\n{text}"))
}

fn err(text: &str) -> String {
    match parse(text) {
        Ok(l) => panic!("accepted: {:?}\n{text}", l.config),
        Err(e) => e.to_string(),
    }
}

/// exapps_dev/start.sh when `/certs/frp` exists (contract §7.5).
const EXAPP_TLS: &str = r#"serverAddr = "harp.example"
serverPort = 8782
loginFailExit = false
transport.tls.enable = true
transport.tls.certFile = "/certs/frp/client.crt"
transport.tls.keyFile = "/certs/frp/client.key"
transport.tls.trustedCaFile = "/certs/frp/ca.crt"
transport.tls.serverName = "harp.nc"
metadatas.token = "some_very_secure_password"

[[proxies]]
name = "app-skeleton-python"
type = "tcp"
remotePort = 23000
[proxies.plugin]
type = "unix_domain_socket"
unixPath = "/tmp/exapp.sock"
"#;

#[test]
fn exapp_with_tls() {
    let l = ok(EXAPP_TLS);
    assert!(l.warnings.is_empty(), "{:?}", l.warnings);
    let c = l.config;
    assert_eq!(
        (c.server_addr.as_str(), c.server_port),
        ("harp.example", 8782)
    );
    assert!(!c.login_fail_exit);
    assert_eq!(c.metadatas["token"], "some_very_secure_password");
    assert_eq!(c.auth_token, "");
    assert!(c.tcp_mux && c.pool_count == 1 && c.heartbeat_interval.is_none());
    let tls = c.tls.expect("tls on");
    assert_eq!(
        tls.cert_file.as_deref(),
        Some(Path::new("/certs/frp/client.crt"))
    );
    assert_eq!(
        tls.key_file.as_deref(),
        Some(Path::new("/certs/frp/client.key"))
    );
    assert_eq!(
        tls.trusted_ca_file.as_deref(),
        Some(Path::new("/certs/frp/ca.crt"))
    );
    assert_eq!(tls.server_name, "harp.nc");
    assert!(!tls.custom_first_byte);
    assert_eq!(c.proxies.len(), 1);
    let p = &c.proxies[0];
    assert_eq!(
        (p.name.as_str(), p.remote_port),
        ("app-skeleton-python", 23000)
    );
    assert_eq!(p.target, Target::Unix("/tmp/exapp.sock".into()));
}

#[test]
fn exapp_without_tls() {
    let text = r#"serverAddr = "127.0.0.1"
serverPort = 8782
loginFailExit = false
transport.tls.enable = false
metadatas.token = "k"

[[proxies]]
name = "app"
type = "tcp"
remotePort = 23001
[proxies.plugin]
type = "unix_domain_socket"
unixPath = "/tmp/exapp.sock"
"#;
    let c = ok(text).config;
    assert!(c.tls.is_none());
    assert_eq!(c.proxies[0].remote_port, 23001);
}

/// The earlier exapps_dev/start.sh: no `tls.enable` (frp's default: TLS on, no client
/// certificate, any server certificate), no loginFailExit (default true), a localPort proxy.
#[test]
fn earlier_exapp_shapes() {
    let text = r#"serverAddr = "harp"
serverPort = 8782
metadatas.token = "k"

[[proxies]]
name = "app"
type = "tcp"
localIP = "127.0.0.1"
localPort = 23000
remotePort = 23000
"#;
    let c = ok(text).config;
    assert!(c.login_fail_exit);
    let tls = c.tls.expect("TLS is frp's default");
    assert_eq!(tls.cert_file, None);
    assert_eq!(tls.trusted_ca_file, None);
    assert_eq!(
        c.proxies[0].target,
        Target::Tcp {
            ip: "127.0.0.1".into(),
            port: 23000
        }
    );
}

/// The bundled Docker-socket client (contract §7.3), written with tables instead of dotted keys.
#[test]
fn bundled_docker_client_with_tables() {
    let text = r#"serverAddr = "127.0.0.1"
serverPort = 8782

[transport.tls]
enable = true
certFile = "/certs/frp/client.crt"
keyFile = "/certs/frp/client.key"
trustedCaFile = "/certs/frp/ca.crt"
serverName = "harp.nc"

[metadatas]
token = "k"

[[proxies]]
name = "bundled-deploy-daemon"
type = "tcp"
remotePort = 24000

[proxies.plugin]
type = "unix_domain_socket"
unixPath = "/var/run/docker.sock"
"#;
    let l = ok(text);
    assert!(l.warnings.is_empty(), "{:?}", l.warnings);
    let c = l.config;
    assert_eq!(
        c.tls.as_ref().map(|t| t.server_name.as_str()),
        Some("harp.nc")
    );
    assert_eq!(c.metadatas["token"], "k");
    let p = &c.proxies[0];
    assert_eq!(
        (p.name.as_str(), p.remote_port),
        ("bundled-deploy-daemon", 24000)
    );
    assert_eq!(p.target, Target::Unix("/var/run/docker.sock".into()));
}

#[test]
fn defaults_and_other_knobs() {
    let c = ok("").config;
    assert_eq!((c.server_addr.as_str(), c.server_port), ("0.0.0.0", 7000));
    assert!(c.login_fail_exit && c.tls.is_some() && c.proxies.is_empty());
    let text = r#"user = "u"
auth.token = "tok"
auth.additionalScopes = ["NewWorkConns", "HeartBeats"]
transport.tcpMux = false
transport.poolCount = 3
transport.tls.disableCustomTLSFirstByte = false
log.level = "debug"
log.to = "console"
[[proxies]]
name = "p"
type = "tcp"
localPort = 80
"#;
    let c = ok(text).config;
    assert_eq!(c.wire_name(&c.proxies[0]), "u.p");
    assert_eq!(c.auth_token, "tok");
    assert!(c.auth_work_conns && c.auth_heartbeats && !c.tcp_mux);
    assert_eq!(c.pool_count, 3);
    assert_eq!(c.heartbeat_interval, Some(Duration::from_secs(30)));
    assert_eq!(c.heartbeat_timeout, Some(Duration::from_secs(90)));
    assert!(c.tls.as_ref().unwrap().custom_first_byte);
    assert_eq!(c.log_level, Some(LogLevel::Debug));
    assert_eq!(c.proxies[0].remote_port, 0);
    assert!(!format!("{c:?}").contains("tok\""), "auth.token is masked");
}

#[test]
fn unknown_keys_are_warnings() {
    let text = "serverAddr = \"h\"\nwebServer.port = 7400\ntransport.bogus = 1\n[[proxies]]\nname = \"p\"\ntype = \"tcp\"\nlocalPort = 1\nhealthCheck.type = \"tcp\"\n";
    let w = ok(text).warnings;
    for key in ["webServer", "transport.bogus", "proxies[0].healthCheck"] {
        assert!(
            w.iter().any(|w| w.starts_with(&format!("{key}:"))),
            "{key} in {w:?}"
        );
    }
}

#[test]
fn bad_values_name_their_key() {
    let proxy = "[[proxies]]\nname = \"p\"\ntype = \"tcp\"\n";
    let cases: &[(&str, &str)] = &[
        ("serverPort = \"8782\"", "serverPort: expected an integer"),
        ("serverPort = 0", "serverPort: 0 is not between 1 and 65535"),
        ("serverPort = 70000", "serverPort: 70000 is not between"),
        (
            "loginFailExit = \"false\"",
            "loginFailExit: expected true or false",
        ),
        (
            "transport.tls.enable = 1",
            "transport.tls.enable: expected true or false",
        ),
        (
            "transport.tls.certFile = \"c\"",
            "transport.tls.keyFile: certFile and keyFile",
        ),
        ("metadatas.token = 5", "metadatas.token: expected a string"),
        (
            "auth.method = \"oidc\"",
            "auth.method: \"oidc\" is not supported",
        ),
        (
            "auth.additionalScopes = [\"X\"]",
            "auth.additionalScopes[0]:",
        ),
        ("transport.protocol = \"quic\"", "transport.protocol:"),
        ("log.level = \"loud\"", "log.level:"),
        ("proxies = 3", "proxies: expected an array of tables"),
        (
            "[[proxies]]\ntype = \"tcp\"\nlocalPort = 1",
            "proxies[0].name: missing",
        ),
        (
            "[[proxies]]\nname = \"p\"\nlocalPort = 1",
            "proxies[0].type: missing",
        ),
        (
            "[[proxies]]\nname = \"p\"\ntype = \"http\"",
            "proxies[0].type: \"http\" is not supported",
        ),
        (proxy, "proxies[0].localPort: missing"),
        (
            &format!("{proxy}localPort = 0"),
            "proxies[0].localPort: 0 is not",
        ),
        (
            &format!("{proxy}localPort = 1\nremotePort = -1"),
            "proxies[0].remotePort:",
        ),
        (
            &format!("{proxy}localPort = 1\ntransport.useEncryption = true"),
            "proxies[0].transport.useEncryption",
        ),
        (
            &format!("{proxy}[proxies.plugin]\ntype = \"http_proxy\""),
            "proxies[0].plugin.type:",
        ),
        (
            &format!("{proxy}[proxies.plugin]\ntype = \"unix_domain_socket\""),
            "proxies[0].plugin.unixPath: missing",
        ),
        (
            &format!("{proxy}localPort = 1\n{proxy}localPort = 2"),
            "proxies[1].name: proxy \"p\" is defined twice",
        ),
    ];
    for (text, want) in cases {
        let got = err(text);
        assert!(
            got.starts_with(want),
            "{text:?}: got {got:?}, want {want:?}"
        );
    }
}

#[test]
fn syntax_errors_and_missing_files() {
    assert!(err("serverAddr = ").starts_with("not valid TOML"));
    assert!(
        err("[common]\nserver_addr = x").starts_with("not valid TOML"),
        "legacy INI"
    );
    let e = load(Path::new("/nonexistent/frpc.toml"))
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("cannot read /nonexistent/frpc.toml"), "{e}");
}
