//! The FRP certificates in `$HP_CERTS_DIR/frp` (contract §7.1, decisions D13 and D21).
//!
//! - Files made by HaRP's start.sh (the `openssl` CLI: RSA 2048, a `req -x509` CA `CN=harp.nc`,
//!   CSR-signed server `harp.nc` and client `harp.client.nc` certificates with only a SAN) are
//!   used unchanged, and a real frpc with those client files serves an ExApp through harp.
//! - Certificates harp generates have HaRP's file names, names, chain and validity
//!   (`HP_FRP_CERT_VALIDITY_DAYS`), checked with `openssl`; an existing `frp` directory is never
//!   written to; with `HP_FRP_DISABLE_TLS=true` nothing is generated.
//! - A client certificate from another CA is refused.
//!
//! Needs the `openssl` CLI (skipped loudly without it, unless `HARP_REQUIRE_PEERS=1`) and, for
//! the parts with a real client, frpc 0.65.0 (see tunnel_frpc.rs).

mod common;
#[path = "common/frpc.rs"]
mod frpc;
use common::*;
use frpc::*;
use kit::*;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

const DAY: u64 = 86_400;
const CERTS: [&str; 3] = ["ca.crt", "server.crt", "client.crt"];
const GENERATED: [&str; 6] = [
    "ca.key",
    "ca.crt",
    "server.key",
    "server.crt",
    "client.key",
    "client.crt",
];

/// Every file of a directory with its bytes.
fn snapshot(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).unwrap(),
            )
        })
        .collect()
}

#[tokio::test]
async fn openssl_made_certificates_are_used_unchanged() {
    let Some(()) = require_openssl() else { return };
    let certs = tempfile::tempdir().unwrap();
    let frp = certs.path().join("frp");
    harp_start_sh_certificates(&frp, 5000);
    for key in ["ca.key", "server.key", "client.key"] {
        let pem = std::fs::read_to_string(frp.join(key)).unwrap();
        assert!(
            pem.starts_with("-----BEGIN PRIVATE KEY-----"),
            "OpenSSL 3 writes PKCS#8 keys"
        );
    }
    let before = snapshot(&frp);
    assert_eq!(before.len(), 11, "{:?}", before.keys());
    let bed = Bed::new(certs.path(), &[]).await;
    assert_eq!(
        snapshot(&frp),
        before,
        "harp changed, added or removed files in an existing frp directory"
    );
    // An OpenSSL client with HaRP's files verifies harp's server, over TLS 1.2 and 1.3.
    for (version, printed) in [("-tls1_2", "TLSv1.2"), ("-tls1_3", "TLSv1.3")] {
        let (ok, out) = s_client(&frp, bed.frp_port(), &[version]).await;
        assert!(ok && out.contains(printed), "{version}: {out}");
    }
    let Some(bin) = require_frpc() else { return };
    let frpc = bed.publish(&bin, &frp, "frpc.toml").await;
    drop(frpc);
    assert_eq!(snapshot(&frp), before);
}

/// OpenSSL 1.1's `genrsa` wrote PKCS#1 (`BEGIN RSA PRIVATE KEY`) keys; frp-protocol §8 says
/// harp accepts both.
#[tokio::test]
async fn openssl_made_pkcs1_server_key_is_accepted() {
    let Some(()) = require_openssl() else { return };
    let certs = tempfile::tempdir().unwrap();
    let frp = certs.path().join("frp");
    harp_start_sh_certificates(&frp, 5000);
    openssl(
        &frp,
        &[
            "rsa",
            "-in",
            "server.key",
            "-traditional",
            "-out",
            "server.key",
        ],
    );
    let pem = std::fs::read_to_string(frp.join("server.key")).unwrap();
    assert!(pem.starts_with("-----BEGIN RSA PRIVATE KEY-----"), "{pem}");
    let before = snapshot(&frp);
    let bed = Bed::new(certs.path(), &[]).await;
    assert_eq!(snapshot(&frp), before);
    let Some(bin) = require_frpc() else { return };
    drop(bed.publish(&bin, &frp, "frpc.toml").await);
}

/// Checks one generated set with `openssl`: names, SANs, CA flag, the client chain and
/// purpose, key pairs and validity (`days`).
fn check_generated_set(frp: &Path, days: u64) {
    for name in GENERATED {
        assert!(frp.join(name).is_file(), "{name} missing");
    }
    let text = |name: &str| openssl(frp, &["x509", "-noout", "-text", "-in", name]);
    let ca = text("ca.crt");
    assert!(ca.contains("CA:TRUE"), "{ca}");
    assert!(ca.contains("Subject: CN = harp.nc"), "{ca}");
    assert!(ca.contains("Issuer: CN = harp.nc"), "{ca}");
    let server = text("server.crt");
    assert!(server.contains("DNS:harp.nc"), "{server}");
    assert!(server.contains("Subject: CN = harp.nc"), "{server}");
    assert!(server.contains("Issuer: CN = harp.nc"), "{server}");
    assert!(!server.contains("CA:TRUE"), "{server}");
    let client = text("client.crt");
    assert!(client.contains("DNS:harp.client.nc"), "{client}");
    assert!(client.contains("Subject: CN = harp.client.nc"), "{client}");
    assert!(client.contains("Issuer: CN = harp.nc"), "{client}");
    assert!(!client.contains("CA:TRUE"), "{client}");
    // Go (frpc) checks extended key usage when there is one: serverAuth for the server,
    // clientAuth for the client. OpenSSL's purposes check the same.
    if server.contains("Extended Key Usage") {
        assert!(server.contains("TLS Web Server Authentication"), "{server}");
    }
    if client.contains("Extended Key Usage") {
        assert!(client.contains("TLS Web Client Authentication"), "{client}");
    }
    // The server chain is checked in `harp_generated_server_certificate_verifies_with_openssl`.
    let verified = openssl(frp, &["verify", "-CAfile", "ca.crt", "client.crt"]);
    assert!(verified.contains("client.crt: OK"), "{verified}");
    openssl(
        frp,
        &[
            "verify",
            "-purpose",
            "sslclient",
            "-CAfile",
            "ca.crt",
            "client.crt",
        ],
    );
    for (crt, key) in [
        ("ca.crt", "ca.key"),
        ("server.crt", "server.key"),
        ("client.crt", "client.key"),
    ] {
        assert_eq!(
            openssl(frp, &["x509", "-noout", "-pubkey", "-in", crt]),
            openssl(frp, &["pkey", "-pubout", "-in", key]),
            "{key} is not the key of {crt}"
        );
    }
    // Validity: still valid a day before `days`, expired a day after.
    for crt in CERTS {
        let before_end = ((days - 1) * DAY).to_string();
        let after_end = ((days + 1) * DAY).to_string();
        assert!(
            openssl_status(
                frp,
                &["x509", "-noout", "-in", crt, "-checkend", &before_end]
            ),
            "{crt} expires before {} days",
            days - 1
        );
        assert!(
            !openssl_status(
                frp,
                &["x509", "-noout", "-in", crt, "-checkend", &after_end]
            ),
            "{crt} is still valid after {} days",
            days + 1
        );
    }
}

#[tokio::test]
async fn harp_generated_certificates_have_harps_shape() {
    let Some(()) = require_openssl() else { return };
    let certs = tempfile::tempdir().unwrap();
    let bed = Bed::new(certs.path(), &[("HP_FRP_CERT_VALIDITY_DAYS", "30")]).await;
    let frp = certs.path().join("frp");
    check_generated_set(&frp, 30);
    // The generated set works with a real frpc.
    if let Some(bin) = require_frpc() {
        drop(bed.publish(&bin, &frp, "frpc.toml").await);
    }
}

/// `openssl verify -CAfile ca.crt server.crt client.crt` succeeds for HaRP's OpenSSL-made set.
/// harp's server certificate has the CA's subject (`CN=harp.nc`, as in HaRP) but no Authority
/// Key Identifier, so OpenSSL takes it for a self-signed certificate (error 18) and every
/// OpenSSL-based client given `ca.crt` refuses harp's FRP port; HaRP's leaves carry
/// SKID + AKID. Go's frpc is not affected (it matches by signature).
#[tokio::test]
async fn harp_generated_server_certificate_verifies_with_openssl() {
    let Some(()) = require_openssl() else { return };
    let certs = tempfile::tempdir().unwrap();
    let bed = Bed::new(certs.path(), &[]).await;
    let frp = certs.path().join("frp");
    let verified = openssl(
        &frp,
        &["verify", "-CAfile", "ca.crt", "server.crt", "client.crt"],
    );
    assert!(
        verified.contains("server.crt: OK") && verified.contains("client.crt: OK"),
        "{verified}"
    );
    openssl(
        &frp,
        &[
            "verify",
            "-purpose",
            "sslserver",
            "-verify_hostname",
            "harp.nc",
            "-CAfile",
            "ca.crt",
            "server.crt",
        ],
    );
    // What that means: an OpenSSL client given ca.crt refuses harp's FRP port.
    let (ok, out) = s_client(&frp, bed.frp_port(), &[]).await;
    assert!(ok, "openssl s_client: {out}");
    // The same check passes on HaRP's own set (the test can pass).
    let harp_made = tempfile::tempdir().unwrap();
    harp_start_sh_certificates(harp_made.path(), 30);
    openssl(
        harp_made.path(),
        &["verify", "-CAfile", "ca.crt", "server.crt", "client.crt"],
    );
}

#[tokio::test]
async fn harp_generated_certificates_default_to_5000_days() {
    let Some(()) = require_openssl() else { return };
    let certs = tempfile::tempdir().unwrap();
    let _bed = Bed::new(certs.path(), &[]).await;
    check_generated_set(&certs.path().join("frp"), 5000);
}

/// A century of validity (beyond 2049, GeneralizedTime) works with Go's frpc.
#[tokio::test]
async fn a_century_of_validity_works() {
    let Some(()) = require_openssl() else { return };
    let certs = tempfile::tempdir().unwrap();
    let bed = Bed::new(certs.path(), &[("HP_FRP_CERT_VALIDITY_DAYS", "36500")]).await;
    let frp = certs.path().join("frp");
    for crt in CERTS {
        let left = (36_499 * DAY).to_string();
        assert!(openssl_status(
            &frp,
            &["x509", "-noout", "-in", crt, "-checkend", &left]
        ));
    }
    if let Some(bin) = require_frpc() {
        drop(bed.publish(&bin, &frp, "frpc.toml").await);
    }
}

/// A validity that no certificate can have (past the year 9999; HaRP's `openssl -days` refuses
/// it too) is a start-up error with a message (decision D12), not a panic; and the failed
/// attempt leaves no empty `frp` directory behind (which would stop every later start from
/// generating: "cannot read .../frp/server.crt").
#[tokio::test]
async fn an_impossible_validity_is_an_error_not_a_panic() {
    for days in ["3000000", "4294967295"] {
        let certs = tempfile::tempdir().unwrap();
        let started = tokio::spawn(try_start(
            certs.path().to_path_buf(),
            vec![("HP_FRP_CERT_VALIDITY_DAYS", days.to_string())],
        ))
        .await
        .unwrap_or_else(|e| panic!("HP_FRP_CERT_VALIDITY_DAYS={days}: harp panicked: {e}"));
        let err = started.expect_err("harp started with an impossible validity");
        assert!(
            err.contains("HP_FRP_CERT_VALIDITY_DAYS") || err.contains("days"),
            "the error says what is wrong: {err}"
        );
        // Nothing half-made blocks the next start: with a sane value the set is generated.
        try_start(certs.path().to_path_buf(), vec![])
            .await
            .unwrap_or_else(|e| panic!("after HP_FRP_CERT_VALIDITY_DAYS={days}: {e}"));
        assert!(certs.path().join("frp/server.crt").is_file());
    }
}

#[tokio::test]
async fn an_existing_frp_directory_is_never_overwritten() {
    let Some(()) = require_openssl() else { return };
    // Generated once, kept on the next start (even with another validity).
    let certs = tempfile::tempdir().unwrap();
    let frp = certs.path().join("frp");
    let first = Bed::new(certs.path(), &[("HP_FRP_CERT_VALIDITY_DAYS", "30")]).await;
    let generated = snapshot(&frp);
    assert_eq!(
        generated.keys().cloned().collect::<Vec<_>>(),
        {
            let mut names: Vec<String> = GENERATED.iter().map(|s| s.to_string()).collect();
            names.sort();
            names
        },
        "exactly HaRP's six file names"
    );
    drop(first);
    let second = Bed::new(certs.path(), &[("HP_FRP_CERT_VALIDITY_DAYS", "900")]).await;
    assert_eq!(snapshot(&frp), generated, "the second start rewrote frp/");
    check_generated_set(&frp, 30);
    if let Some(bin) = require_frpc() {
        drop(second.publish(&bin, &frp, "frpc.toml").await);
    }
    drop(second);

    // A directory without certificates (HaRP: frps then fails to start) is not filled in:
    // harp refuses to start, and the directory is left as it was.
    let certs = tempfile::tempdir().unwrap();
    let frp = certs.path().join("frp");
    std::fs::create_dir(&frp).unwrap();
    std::fs::write(frp.join("README"), "mine\n").unwrap();
    let err = match try_start(certs.path().to_path_buf(), vec![]).await {
        Ok(_) => panic!("harp started with an frp directory that has no certificates"),
        Err(e) => e,
    };
    assert!(
        err.contains("server.crt"),
        "the error names the missing file: {err}"
    );
    assert_eq!(
        snapshot(&frp),
        BTreeMap::from([("README".to_string(), b"mine\n".to_vec())]),
        "harp wrote into an existing frp directory"
    );

    // Only part of a set (here: no client files, as after a careless copy): used as it is.
    let certs = tempfile::tempdir().unwrap();
    let frp = certs.path().join("frp");
    harp_start_sh_certificates(&frp, 5000);
    for name in ["client.key", "client.crt", "client.csr"] {
        std::fs::remove_file(frp.join(name)).unwrap();
    }
    let before = snapshot(&frp);
    let _bed = Bed::new(certs.path(), &[]).await;
    assert_eq!(
        snapshot(&frp),
        before,
        "missing client files were generated"
    );
}

#[tokio::test]
async fn tls_disabled_generates_nothing() {
    let certs = tempfile::tempdir().unwrap();
    let _bed = Bed::new(certs.path(), &[("HP_FRP_DISABLE_TLS", "true")]).await;
    assert!(
        snapshot(certs.path()).is_empty() && !certs.path().join("frp").exists(),
        "something was generated with HP_FRP_DISABLE_TLS=true"
    );
    // Nor are broken files there read.
    let certs = tempfile::tempdir().unwrap();
    let frp = certs.path().join("frp");
    std::fs::create_dir(&frp).unwrap();
    std::fs::write(frp.join("server.crt"), "not a certificate").unwrap();
    let bed = Bed::new(certs.path(), &[("HP_FRP_DISABLE_TLS", "true")]).await;
    assert_eq!(snapshot(&frp).len(), 1);
    if let Some(bin) = require_frpc() {
        let config = bed.write(
            "plain.toml",
            &frpc_toml(
                bed.frp_port(),
                None,
                KEY,
                "",
                &unix_proxy(APP, bed.port, &bed.socket),
            ),
        );
        let frpc = Frpc::start(&bin, &config);
        assert!(
            frpc.wait_for("start proxy success", Duration::from_secs(20))
                .await,
            "{}",
            frpc.log_text()
        );
    }
}

/// A client certificate that does not chain to `frp/ca.crt` is refused, whichever tool made
/// either side; the right one still works afterwards.
#[tokio::test]
async fn client_certificate_from_another_ca_is_refused() {
    let Some(()) = require_openssl() else { return };
    let Some(bin) = require_frpc() else { return };
    // Another CA and its client, made the way HaRP makes them.
    let other = tempfile::tempdir().unwrap();
    harp_start_sh_certificates(other.path(), 30);
    // A self-signed client certificate with HaRP's client name.
    let selfsigned = tempfile::tempdir().unwrap();
    openssl(
        selfsigned.path(),
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "client.key",
            "-subj",
            "/CN=harp.client.nc",
            "-addext",
            "subjectAltName=DNS:harp.client.nc",
            "-days",
            "30",
            "-out",
            "client.crt",
        ],
    );
    for server_made_by_openssl in [false, true] {
        let certs = tempfile::tempdir().unwrap();
        let frp = certs.path().join("frp");
        if server_made_by_openssl {
            harp_start_sh_certificates(&frp, 5000);
        }
        let bed = Bed::new(certs.path(), &[]).await;
        for (what, client_dir) in [
            ("another CA", other.path()),
            ("self-signed", selfsigned.path()),
        ] {
            let toml = format!(
                "serverAddr = \"127.0.0.1\"\nserverPort = {}\nloginFailExit = false\nlog.to = \"console\"\nlog.disablePrintColor = true\ntransport.tls.enable = true\ntransport.tls.certFile = \"{c}/client.crt\"\ntransport.tls.keyFile = \"{c}/client.key\"\ntransport.tls.trustedCaFile = \"{s}/ca.crt\"\ntransport.tls.serverName = \"harp.nc\"\nmetadatas.token = \"{KEY}\"\n\n{}",
                bed.frp_port(),
                unix_proxy(APP, bed.port, &bed.socket),
                c = client_dir.display(),
                s = frp.display(),
            );
            let frpc = Frpc::start(&bin, &bed.write("other.toml", &toml));
            assert!(
                frpc.wait_for("connect to server error", Duration::from_secs(20))
                    .await,
                "{what}: {}",
                frpc.log_text()
            );
            let log = frpc.log_text();
            assert!(!log.contains("login to server success"), "{what}: {log}");
            assert!(
                !bed.harp.state().tunnels.registry.port_taken(bed.port),
                "{what}: a proxy was published"
            );
        }
        // The right client certificate still works on the same harp.
        drop(bed.publish(&bin, &frp, "right.toml").await);
    }
}

/// Test-local helpers: the openssl CLI (and HaRP's start.sh certificate recipe) and harp on a
/// given certificates directory (the frpc runner and config shapes are in `common/frpc.rs`).
mod kit {
    use super::common::*;
    use super::frpc::*;
    use harp_testkit::exapp::FakeExApp;
    use harp_testkit::nextcloud::FakeNextcloud;
    use std::path::{Path, PathBuf};
    use std::process::{Command, Stdio};
    use std::time::Duration;

    fn required() -> bool {
        std::env::var("HARP_REQUIRE_PEERS").as_deref() == Ok("1")
    }

    /// `Some(())` when the `openssl` CLI runs; `None` (test skipped) when it is missing
    /// outside CI.
    pub fn require_openssl() -> Option<()> {
        let ok = Command::new("openssl")
            .arg("version")
            .output()
            .is_ok_and(|o| o.status.success());
        match ok {
            true => Some(()),
            false if required() => panic!("the openssl CLI is missing"),
            false => {
                eprintln!("SKIPPED: no openssl CLI");
                None
            }
        }
    }

    /// Runs `openssl args` in `dir`; panics unless it succeeds; returns stdout.
    pub fn openssl(dir: &Path, args: &[&str]) -> String {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .expect("openssl runs");
        assert!(
            out.status.success(),
            "openssl {}: {}{}",
            args.join(" "),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Whether `openssl args` in `dir` exits with status 0.
    pub fn openssl_status(dir: &Path, args: &[&str]) -> bool {
        Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .expect("openssl runs")
            .status
            .success()
    }

    fn cnf(common_name: &str) -> String {
        format!(
            "[ req ]\ndefault_bits = 2048\ndefault_md = sha256\nprompt = no\ndistinguished_name = dn\nreq_extensions = req_ext\n\n[ dn ]\nCN = {common_name}\n\n[ req_ext ]\nsubjectAltName = DNS:{common_name}\n"
        )
    }

    /// The certificates exactly as HaRP's start.sh makes them into `/certs/frp` (contract
    /// §7.1), in `dir` (created).
    pub fn harp_start_sh_certificates(dir: &Path, days: u32) {
        std::fs::create_dir_all(dir).unwrap();
        let days = days.to_string();
        std::fs::write(dir.join("server-openssl.cnf"), cnf("harp.nc")).unwrap();
        openssl(dir, &["genrsa", "-out", "ca.key", "2048"]);
        openssl(
            dir,
            &[
                "req",
                "-x509",
                "-new",
                "-nodes",
                "-key",
                "ca.key",
                "-subj",
                "/CN=harp.nc",
                "-days",
                &days,
                "-out",
                "ca.crt",
            ],
        );
        openssl(dir, &["genrsa", "-out", "server.key", "2048"]);
        openssl(
            dir,
            &[
                "req",
                "-new",
                "-sha256",
                "-key",
                "server.key",
                "-subj",
                "/CN=harp.nc",
                "-reqexts",
                "req_ext",
                "-config",
                "server-openssl.cnf",
                "-out",
                "server.csr",
            ],
        );
        openssl(
            dir,
            &[
                "x509",
                "-req",
                "-days",
                &days,
                "-sha256",
                "-in",
                "server.csr",
                "-CA",
                "ca.crt",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-extfile",
                "server-openssl.cnf",
                "-extensions",
                "req_ext",
                "-out",
                "server.crt",
            ],
        );
        openssl(dir, &["genrsa", "-out", "client.key", "2048"]);
        std::fs::write(dir.join("client-openssl.cnf"), cnf("harp.client.nc")).unwrap();
        openssl(
            dir,
            &[
                "req",
                "-new",
                "-sha256",
                "-key",
                "client.key",
                "-subj",
                "/CN=harp.client.nc",
                "-config",
                "client-openssl.cnf",
                "-out",
                "client.csr",
            ],
        );
        openssl(
            dir,
            &[
                "x509",
                "-req",
                "-days",
                &days,
                "-sha256",
                "-in",
                "client.csr",
                "-CA",
                "ca.crt",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-extfile",
                "client-openssl.cnf",
                "-extensions",
                "req_ext",
                "-out",
                "client.crt",
            ],
        );
    }

    /// harp on the certificates directory `certs` (`HP_CERTS_DIR`), one allowed tunnel port,
    /// and the ExApp on a unix socket registered in Nextcloud at 127.0.0.1:`port`.
    pub struct Bed {
        pub harp: TestHarp,
        pub work: tempfile::TempDir,
        pub socket: PathBuf,
        _exapp: FakeExApp,
        pub port: u16,
    }

    impl Bed {
        pub async fn new(certs: &Path, extra: &[(&str, &str)]) -> Bed {
            let port = free_port();
            let work = tempfile::tempdir().unwrap();
            let socket = work.path().join("exapp.sock");
            let exapp = FakeExApp::start_unix(&socket).unwrap();
            let nc = FakeNextcloud::start(KEY).await.unwrap();
            nc.add_app(APP, skeleton_record(port));
            let unused = FakeExApp::start().await.unwrap();
            let ports = port.to_string();
            let dir = certs.to_str().unwrap();
            let mut env: Vec<(&str, &str)> =
                vec![("HP_FRP_ALLOW_PORTS", &ports), ("HP_CERTS_DIR", dir)];
            env.extend_from_slice(extra);
            let harp = start_with(nc, unused, &env).await;
            Bed {
                harp,
                work,
                socket,
                _exapp: exapp,
                port,
            }
        }

        pub fn frp_port(&self) -> u16 {
            self.harp.running.as_ref().unwrap().frp_addr.port()
        }

        pub fn write(&self, name: &str, toml: &str) -> PathBuf {
            let path = self.work.path().join(name);
            std::fs::write(&path, toml).unwrap();
            path
        }

        /// A real frpc with the client files in `client_certs` publishes the ExApp, and a
        /// request through `/exapps/<appid>/` reaches it.
        pub async fn publish(&self, bin: &Path, client_certs: &Path, name: &str) -> Frpc {
            let config = self.write(
                name,
                &frpc_toml(
                    self.frp_port(),
                    Some(client_certs),
                    KEY,
                    "",
                    &unix_proxy(APP, self.port, &self.socket),
                ),
            );
            let frpc = Frpc::start(bin, &config);
            assert!(
                frpc.wait_for("start proxy success", Duration::from_secs(20))
                    .await,
                "frpc did not publish:\n{}",
                frpc.log_text()
            );
            let r = get(self.harp.addr, &format!("/exapps/{APP}/public"), &[]).await;
            assert_eq!(r.status, 200, "{}", r.text());
            assert_eq!(r.seen_header("ex-app-id").as_deref(), Some(APP));
            frpc
        }
    }

    /// `harp::app::start` on `certs`, returning its error text (or the configuration's) when
    /// it refuses to start.
    pub async fn try_start(
        certs: PathBuf,
        extra: Vec<(&'static str, String)>,
    ) -> Result<(), String> {
        let nc = FakeNextcloud::start(KEY).await.unwrap();
        let extra: Vec<(&str, &str)> = extra.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let env = test_env(&nc.url(), &certs, &extra);
        let config = harp::config::Config::from_env(&env)
            .result
            .map_err(|errors| errors.join("; "))?;
        let shutdown = tokio_util::sync::CancellationToken::new();
        let started = harp::app::start(config, shutdown.clone()).await;
        shutdown.cancel();
        started.map(|_| ()).map_err(|e| e.to_string())
    }

    /// `openssl s_client` with the client files in `dir` against harp's FRP port; returns
    /// whether it verified and finished the handshake, and what it printed.
    pub async fn s_client(dir: &Path, port: u16, extra: &[&str]) -> (bool, String) {
        let mut args: Vec<String> = [
            "s_client",
            "-connect",
            &format!("127.0.0.1:{port}"),
            "-CAfile",
            "ca.crt",
            "-cert",
            "client.crt",
            "-key",
            "client.key",
            "-servername",
            "harp.nc",
            "-verify_return_error",
            "-brief",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        args.extend(extra.iter().map(|s| s.to_string()));
        let dir = dir.to_path_buf();
        let out = tokio::task::spawn_blocking(move || {
            Command::new("openssl")
                .args(&args)
                .current_dir(&dir)
                .stdin(Stdio::null())
                .output()
                .expect("openssl runs")
        })
        .await
        .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (
            out.status.success() && text.contains("Verification: OK"),
            text,
        )
    }
}
