//! The `harp` command line: `--version`, `--help`, `--check-config` (every error at once, exit 64,
//! the key masked) and `healthcheck` (the container health check against the control port).

mod common;
use common::*;
use std::process::Command;

fn harp() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_harp"));
    cmd.env_clear();
    cmd
}

#[test]
fn check_config_reports_every_error_and_exits_64() {
    let out = harp()
        .arg("--check-config")
        .env("HP_SHARED_KEY", "bad\\key")
        .env("HP_TIMEOUT_SERVER", "soon")
        .env("HP_BLACKLIST_COUNT", "ten")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(64));
    let err = String::from_utf8_lossy(&out.stderr);
    for needle in [
        "HP_SHARED_KEY",
        "NC_INSTANCE_URL",
        "HP_TIMEOUT_SERVER",
        "HP_BLACKLIST_COUNT",
    ] {
        assert!(err.contains(needle), "{needle} missing from:\n{err}");
    }
}

#[test]
fn check_config_masks_the_key() {
    let certs = tempfile::tempdir().unwrap();
    let out = harp()
        .arg("--check-config")
        .env("HP_SHARED_KEY", "super-secret-value")
        .env("NC_INSTANCE_URL", "http://nextcloud")
        .env("HP_CERTS_DIR", certs.path())
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(all.contains("configuration OK"));
    assert!(
        !all.contains("super-secret-value"),
        "the key leaked:\n{all}"
    );
}

// Multi-threaded: the blocking child-process wait must not stall the in-process harp.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthcheck_follows_the_control_port() {
    let h = start(&[]).await;
    let control = h.running.as_ref().unwrap().control_addr.to_string();
    let out = harp()
        .arg("healthcheck")
        .env("HP_CONTROL_ADDRESS", &control)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .to_string();
    let out = harp()
        .arg("healthcheck")
        .env("HP_CONTROL_ADDRESS", &closed)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn version_and_subcommands_are_listed() {
    let out = harp().arg("--version").output().unwrap();
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("harp {}", env!("CARGO_PKG_VERSION"))
    );
    let help = harp().arg("--help").output().unwrap();
    let text = String::from_utf8_lossy(&help.stdout);
    for sub in ["serve", "demo", "healthcheck", "certs", "doctor", "tunnel"] {
        assert!(text.contains(sub), "{sub} missing from --help:\n{text}");
    }
}
