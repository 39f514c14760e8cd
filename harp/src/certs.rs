//! The FRP certificates in `$HP_CERTS_DIR/frp` (contract §7.1, decision D21): generated on
//! first start when the directory does not exist and TLS is on, with HaRP's file names, names
//! (`harp.nc` for the CA and the server, `harp.client.nc` for clients) and validity
//! (`HP_FRP_CERT_VALIDITY_DAYS`); existing files (HaRP's OpenSSL-made ones included) are used
//! unchanged. Keys are ECDSA P-256 (HaRP used RSA 2048; Go's frpc accepts both).
//!
//! - [`inventory`]: the certificates in use read back (expiry warnings, metrics);
//! - [`show`] and [`renew`]: `harp certs show|renew`.

pub mod inventory;
pub mod renew;
pub mod show;

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use std::path::{Path, PathBuf};
use time::{Duration, OffsetDateTime};

/// The server name every frpc verifies ("DO NOT CHANGE" in HaRP).
pub const SERVER_NAME: &str = "harp.nc";
pub const CLIENT_NAME: &str = "harp.client.nc";

/// Paths of the FRP certificate files.
#[derive(Debug, Clone)]
pub struct FrpCertPaths {
    pub dir: PathBuf,
}

impl FrpCertPaths {
    pub fn new(certs_dir: &Path) -> Self {
        FrpCertPaths {
            dir: certs_dir.join("frp"),
        }
    }
    pub fn ca_crt(&self) -> PathBuf {
        self.dir.join("ca.crt")
    }
    pub fn ca_key(&self) -> PathBuf {
        self.dir.join("ca.key")
    }
    pub fn server_crt(&self) -> PathBuf {
        self.dir.join("server.crt")
    }
    pub fn server_key(&self) -> PathBuf {
        self.dir.join("server.key")
    }
    pub fn client_crt(&self) -> PathBuf {
        self.dir.join("client.crt")
    }
    pub fn client_key(&self) -> PathBuf {
        self.dir.join("client.key")
    }
}

fn params(common_name: &str, san: Option<&str>, days: u32) -> Result<CertificateParams, String> {
    let mut p = CertificateParams::new(san.map(|s| vec![s.to_string()]).unwrap_or_default())
        .map_err(|e| format!("certificate parameters: {e}"))?;
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, common_name);
    p.distinguished_name = dn;
    let now = OffsetDateTime::now_utc();
    p.not_before = now - Duration::minutes(5);
    p.not_after = now
        .checked_add(Duration::days(i64::from(days)))
        .ok_or_else(|| format!("a validity of {days} days ends after the year 9999"))?;
    // OpenSSL needs the key identifiers to tell the server certificate (CN=harp.nc) from the
    // CA that has the same subject.
    p.use_authority_key_identifier_extension = true;
    Ok(p)
}

fn write(path: &Path, contents: &str, private: bool) -> Result<(), String> {
    std::fs::write(path, contents).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    if private {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600));
    }
    Ok(())
}

/// Generates the CA, server and client certificates into `paths.dir` (which must not exist).
pub fn generate(paths: &FrpCertPaths, validity_days: u32) -> Result<(), String> {
    let err = |e: rcgen::Error| format!("certificate generation failed: {e}");
    std::fs::create_dir_all(&paths.dir)
        .map_err(|e| format!("cannot create {}: {e}", paths.dir.display()))?;
    let ca_key = KeyPair::generate().map_err(err)?;
    let mut ca_params = params(SERVER_NAME, None, validity_days)?;
    ca_params.use_authority_key_identifier_extension = false;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca_cert = ca_params.self_signed(&ca_key).map_err(err)?;
    let issuer = Issuer::new(ca_params, &ca_key);
    let leaf = |name: &str| -> Result<(String, String), String> {
        let key = KeyPair::generate().map_err(err)?;
        let mut leaf_params = params(name, Some(name), validity_days)?;
        // CA:FALSE, which also gives the leaf its own subject key identifier.
        leaf_params.is_ca = IsCa::ExplicitNoCa;
        let cert = leaf_params.signed_by(&key, &issuer).map_err(err)?;
        Ok((cert.pem(), key.serialize_pem()))
    };
    let (server_crt, server_key) = leaf(SERVER_NAME)?;
    let (client_crt, client_key) = leaf(CLIENT_NAME)?;
    // Only now, with everything made, does the directory appear: a failure leaves nothing.
    std::fs::create_dir_all(&paths.dir)
        .map_err(|e| format!("cannot create {}: {e}", paths.dir.display()))?;
    write(&paths.ca_key(), &ca_key.serialize_pem(), true)?;
    write(&paths.ca_crt(), &ca_cert.pem(), false)?;
    write(&paths.server_key(), &server_key, true)?;
    write(&paths.server_crt(), &server_crt, false)?;
    write(&paths.client_key(), &client_key, true)?;
    write(&paths.client_crt(), &client_crt, false)?;
    Ok(())
}

/// HaRP's rule: generate only when TLS is on and the directory does not exist. Returns whether
/// certificates were generated.
pub fn ensure(certs_dir: &Path, tls_disabled: bool, validity_days: u32) -> Result<bool, String> {
    let paths = FrpCertPaths::new(certs_dir);
    if tls_disabled || paths.dir.exists() {
        return Ok(false);
    }
    generate(&paths, validity_days)?;
    tracing::info!(dir = %paths.dir.display(), days = validity_days, "generated FRP certificates");
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generates_once_and_keeps_existing_files() {
        let dir = tempfile::tempdir().unwrap();
        assert!(ensure(dir.path(), false, 10).unwrap());
        let paths = FrpCertPaths::new(dir.path());
        let before = std::fs::read(paths.server_crt()).unwrap();
        assert!(
            !ensure(dir.path(), false, 10).unwrap(),
            "existing directory is kept"
        );
        assert_eq!(std::fs::read(paths.server_crt()).unwrap(), before);
        for p in [
            paths.ca_crt(),
            paths.ca_key(),
            paths.client_crt(),
            paths.client_key(),
            paths.server_key(),
        ] {
            assert!(p.exists(), "{}", p.display());
        }
        let other = tempfile::tempdir().unwrap();
        assert!(
            !ensure(other.path(), true, 10).unwrap(),
            "no certificates with TLS disabled"
        );
        assert!(!FrpCertPaths::new(other.path()).dir.exists());
    }
}
