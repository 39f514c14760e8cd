//! Table-driven checks of `Config::from_env` with maps standing in for the environment.

use super::*;
use std::collections::HashMap;

fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    let mut m: HashMap<String, String> = [
        ("HP_SHARED_KEY", "some_very_secure_password"),
        ("NC_INSTANCE_URL", "http://nextcloud"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    for (k, v) in pairs {
        if v.is_empty() && k.starts_with('!') {
            m.remove(&k[1..]);
        } else {
            m.insert(k.to_string(), v.to_string());
        }
    }
    m
}

fn ok(pairs: &[(&str, &str)]) -> Config {
    match Config::from_env(&env(pairs)).result {
        Ok(c) => c,
        Err(e) => panic!("expected a valid config, got {e:?}"),
    }
}

fn errors(pairs: &[(&str, &str)]) -> Vec<String> {
    match Config::from_env(&env(pairs)).result {
        Ok(_) => panic!("expected errors for {pairs:?}"),
        Err(e) => e,
    }
}

#[test]
fn defaults_match_harp() {
    let c = ok(&[]);
    assert_eq!(c.exapps_address, "0.0.0.0:8780".parse().unwrap());
    assert_eq!(c.exapps_https_address, "0.0.0.0:8781".parse().unwrap());
    assert_eq!(c.frp_address, "0.0.0.0:8782".parse().unwrap());
    assert_eq!(c.control_address, "127.0.0.1:8200".parse().unwrap());
    assert_eq!(c.timeouts.connect, Duration::from_secs(30));
    assert_eq!(c.timeouts.client, Duration::from_secs(30));
    assert_eq!(c.timeouts.server, Duration::from_secs(1800));
    assert_eq!(c.timeouts.tunnel, Duration::from_secs(1800));
    assert_eq!(c.blacklist_count, 10);
    assert_eq!(c.blacklist_window, Duration::from_secs(300));
    assert_eq!(c.session_lifetime, Duration::from_secs(3));
    assert_eq!(c.frp_cert_validity_days, 5000);
    assert_eq!(c.log_level, LogLevel::Warning);
    assert_eq!(c.certs_dir, PathBuf::from("/certs"));
    assert!(!c.frp_disable_tls);
}

#[test]
fn nextcloud_url_is_normalised() {
    assert_eq!(
        ok(&[("NC_INSTANCE_URL", "https://cloud.example.com/")]).nextcloud_url,
        "https://cloud.example.com"
    );
    assert_eq!(
        ok(&[("NC_INSTANCE_URL", "\"http://nc/index.php/\"")]).nextcloud_url,
        "http://nc"
    );
    assert_eq!(
        ok(&[("NC_INSTANCE_URL", "http://nc/sub/index.php")]).nextcloud_url,
        "http://nc/sub"
    );
    assert!(errors(&[("NC_INSTANCE_URL", "")])[0].contains("NC_INSTANCE_URL is not set"));
    assert!(errors(&[("NC_INSTANCE_URL", "nextcloud")])[0].contains("not an http"));
}

#[test]
fn shared_key_rules() {
    assert_eq!(
        ok(&[("HP_SHARED_KEY", "'it''s a key'")])
            .shared_key
            .expose()
            .as_ref(),
        "it''s a key"
    );
    assert_eq!(
        ok(&[("HP_SHARED_KEY", "\"quoted\"")])
            .shared_key
            .expose()
            .as_ref(),
        "quoted"
    );
    assert!(errors(&[("HP_SHARED_KEY", "tab\there")])[0].contains("non-ASCII"));
    assert!(errors(&[("HP_SHARED_KEY", "k\u{e9}y")])[0].contains("non-ASCII"));
    assert!(errors(&[("HP_SHARED_KEY", "back\\slash")])[0].contains("forbidden"));
    assert!(errors(&[("HP_SHARED_KEY", "a\"b")])[0].contains("forbidden"));
    assert!(errors(&[("!HP_SHARED_KEY", "")])[0].contains("Either"));
    assert!(errors(&[("HP_SHARED_KEY_FILE", "/x")])[0].contains("Only one"));
}

#[test]
fn shared_key_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("key");
    std::fs::write(&path, "from-file\n\n").unwrap();
    let p = path.to_str().unwrap();
    assert_eq!(
        ok(&[("!HP_SHARED_KEY", ""), ("HP_SHARED_KEY_FILE", p)])
            .shared_key
            .expose()
            .as_ref(),
        "from-file"
    );
    std::fs::write(&path, "").unwrap();
    assert!(errors(&[("!HP_SHARED_KEY", ""), ("HP_SHARED_KEY_FILE", p)])[0].contains("empty"));
    let missing = dir.path().join("missing");
    assert!(
        errors(&[
            ("!HP_SHARED_KEY", ""),
            ("HP_SHARED_KEY_FILE", missing.to_str().unwrap())
        ])[0]
            .contains("cannot be read")
    );
}

#[test]
fn every_error_is_reported_at_once() {
    let e = errors(&[
        ("HP_BLACKLIST_COUNT", "10.0"),
        ("HP_BLACKLIST_WINDOW", "300s"),
        ("HP_TIMEOUT_SERVER", "soon"),
        ("HP_SESSION_LIFETIME", "11"),
        ("HP_LOG_LEVEL", "verbose"),
        ("HP_EXAPPS_ADDRESS", "8780"),
        ("HP_FRP_CERT_VALIDITY_DAYS", "0"),
    ]);
    assert_eq!(e.len(), 7, "{e:#?}");
}

#[test]
fn timeouts() {
    let c = ok(&[("HP_TIMEOUT_SERVER", "60s")]);
    assert_eq!(
        c.timeouts.tunnel,
        Duration::from_secs(60),
        "tunnel defaults to the server timeout"
    );
    let c = ok(&[("HP_TIMEOUT_TUNNEL", "0")]);
    assert_eq!(
        c.timeouts.tunnel,
        Duration::from_secs(24 * 86400),
        "0 means unlimited (24d)"
    );
    let parsed = Config::from_env(&env(&[("HP_TIMEOUT_CLIENT", "5000")]));
    assert_eq!(
        parsed.result.as_ref().unwrap().timeouts.client,
        Duration::from_secs(5)
    );
    assert!(parsed.warnings.iter().any(|w| w.contains("milliseconds")));
    assert!(errors(&[("HP_TIMEOUT_CONNECT", "0s")])[0].contains("greater than zero"));
}

#[test]
fn log_levels() {
    assert_eq!(ok(&[("HP_LOG_LEVEL", "DEBUG")]).log_level, LogLevel::Debug);
    assert_eq!(ok(&[("HP_LOG_LEVEL", "info")]).log_level, LogLevel::Info);
    assert_eq!(
        ok(&[("HP_LOG_LEVEL", "critical")]).log_level,
        LogLevel::Error
    );
}

#[test]
fn trusted_proxies_keep_valid_entries() {
    let parsed = Config::from_env(&env(&[("HP_TRUSTED_PROXY_IPS", "10.0.0.1, bogus")]));
    assert_eq!(parsed.result.unwrap().trusted_proxies.len(), 1);
    assert!(parsed.warnings.iter().any(|w| w.contains("bogus")));
}

#[test]
fn only_exact_true_disables_frp_tls() {
    assert!(ok(&[("HP_FRP_DISABLE_TLS", "true")]).frp_disable_tls);
    assert!(!ok(&[("HP_FRP_DISABLE_TLS", "TRUE")]).frp_disable_tls);
    assert!(!ok(&[("HP_FRP_DISABLE_TLS", "1")]).frp_disable_tls);
}

#[test]
fn secret_never_in_debug_output() {
    let c = ok(&[]);
    assert!(!format!("{c:?}").contains("some_very_secure_password"));
}

#[test]
fn max_connections() {
    assert_eq!(ok(&[]).max_connections, 8192, "HaRP's maxconn");
    assert_eq!(ok(&[("HP_MAX_CONNECTIONS", "100")]).max_connections, 100);
    for bad in ["0", "-1", "many", "1000001"] {
        let e = errors(&[("HP_MAX_CONNECTIONS", bad)]);
        assert!(
            e.iter().any(|e| e.starts_with("HP_MAX_CONNECTIONS")),
            "{bad}: {e:?}"
        );
    }
}
