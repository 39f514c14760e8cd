//! `harp certs show|renew` and the start-up expiry warning (decision D21): what an operator
//! sees for generated, expiring, expired and broken certificates, and a renewal that keeps a
//! backup and says what frpc clients need.

mod common;
#[path = "common/process.rs"]
mod process;

use common::*;
use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

fn certs(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_harp"))
        .env_clear()
        .env("HP_CERTS_DIR", dir)
        .arg("certs")
        .args(args)
        .output()
        .expect("harp runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// A self-signed `cert.pem` (certificate and key) valid from `from` to `until` days from now.
fn write_cert_pem(dir: &Path, from: i64, until: i64) {
    let mut params = rcgen::CertificateParams::new(vec!["cloud.example".to_string()]).unwrap();
    let now = time::OffsetDateTime::now_utc();
    params.not_before = now + time::Duration::days(from);
    params.not_after = now + time::Duration::days(until);
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = params.self_signed(&key).unwrap();
    std::fs::write(
        dir.join("cert.pem"),
        format!("{}{}", cert.pem(), key.serialize_pem()),
    )
    .unwrap();
}

#[test]
fn show_and_renew() {
    let dir = tempfile::tempdir().unwrap();
    let empty = certs(dir.path(), &["show"]);
    assert!(empty.status.success());
    assert!(
        stdout(&empty).contains("no certificates"),
        "{}",
        stdout(&empty)
    );

    let renewed = certs(dir.path(), &["renew", "--days", "400"]);
    assert!(renewed.status.success(), "{renewed:?}");
    assert!(
        stdout(&renewed).contains("client.crt"),
        "{}",
        stdout(&renewed)
    );

    let shown = certs(dir.path(), &["show"]);
    let text = stdout(&shown);
    assert!(shown.status.success(), "{text}");
    for needle in [
        "frp-ca:",
        "frp-server:",
        "frp-client:",
        "CN=harp.nc",
        "DNS:harp.nc",
        "DNS:harp.client.nc",
        "/frp/server.crt",
    ] {
        assert!(text.contains(needle), "{needle} missing:\n{text}");
    }

    assert!(
        text.contains("400 days left") || text.contains("399 days left"),
        "validity 400 days:\n{text}"
    );

    let server = dir.path().join("frp/server.crt");
    let old = std::fs::read(&server).unwrap();
    let again = certs(dir.path(), &["renew"]);
    let advice = stdout(&again);
    assert!(again.status.success(), "{again:?}");
    assert!(advice.contains("frp.bak-"), "names the backup: {advice}");
    assert!(advice.contains("restart harp"), "{advice}");
    assert_ne!(
        std::fs::read(&server).unwrap(),
        old,
        "new server certificate"
    );
    let backups: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with("frp.bak-"))
        .collect();
    assert_eq!(backups.len(), 1);
    assert_eq!(
        std::fs::read(backups[0].path().join("server.crt")).unwrap(),
        old,
        "the backup holds the old files"
    );
    let text = stdout(&certs(dir.path(), &["show"]));
    assert!(
        text.contains("5000 days left") || text.contains("4999 days left"),
        "default validity 5000 days:\n{text}"
    );
}

#[test]
fn show_flags_expired_expiring_and_broken_files() {
    let dir = tempfile::tempdir().unwrap();
    write_cert_pem(dir.path(), -20, -2);
    let out = certs(dir.path(), &["show"]);
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    assert!(
        text.contains("https:") && text.contains("EXPIRED"),
        "{text}"
    );
    assert!(text.contains("DNS:cloud.example"), "{text}");

    write_cert_pem(dir.path(), -1, 12);
    let text = stdout(&certs(dir.path(), &["show"]));
    assert!(text.contains("expires soon"), "{text}");

    std::fs::write(dir.path().join("cert.pem"), "garbage").unwrap();
    let out = certs(dir.path(), &["show"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout(&out).contains("UNREADABLE"), "{}", stdout(&out));

    let bad = certs(dir.path(), &["renew", "--days", "0"]);
    assert_eq!(bad.status.code(), Some(64));
    let missing = certs(&dir.path().join("nope"), &["renew"]);
    assert_eq!(missing.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("does not exist"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_up_warns_before_expiry() {
    let nc = harp_testkit::nextcloud::FakeNextcloud::start(KEY)
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    write_cert_pem(dir.path(), -400, -1);
    let env = test_env(
        &nc.url(),
        dir.path(),
        &[("HP_FRP_CERT_VALIDITY_DAYS", "20")],
    );
    let mut harp = process::HarpProcess::spawn(&env).await;
    let expiring = harp
        .wait_for(Duration::from_secs(10), |l| {
            l["level"] == "WARN"
                && l["fields"]["role"] == "frp-server"
                && l["fields"]["message"].as_str().is_some_and(|m| {
                    m.contains("expires in 19 days") || m.contains("expires in 20 days")
                })
        })
        .await;
    assert!(
        expiring.is_some(),
        "no expiry warning:\n{}",
        harp.log_text()
    );
    let expired = harp
        .wait_for(Duration::from_secs(10), |l| {
            l["level"] == "ERROR"
                && l["fields"]["role"] == "https"
                && l["fields"]["message"]
                    .as_str()
                    .is_some_and(|m| m.contains("EXPIRED"))
        })
        .await;
    assert!(expired.is_some(), "no expired error:\n{}", harp.log_text());
}
