//! The certificates harp uses, read back from disk: the HTTPS `cert.pem` and the FRP CA,
//! server and client certificates. For `harp certs show`, the start-up expiry warning of
//! decision D21 (30 days ahead), `harp doctor` and the expiry gauge in `/metrics`.

use super::FrpCertPaths;
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use std::fmt::Write;
use std::path::{Path, PathBuf};
use x509_parser::extensions::GeneralName;

/// Warn this many days before a certificate expires (D21).
pub const WARN_DAYS: i64 = 30;

/// One certificate file harp uses and what is in it.
#[derive(Debug, Clone)]
pub struct CertFile {
    /// What it is for: `https`, `frp-ca`, `frp-server`, `frp-client`.
    pub role: &'static str,
    pub path: PathBuf,
    /// The first certificate in the file, or why it could not be read.
    pub info: Result<CertInfo, String>,
}

/// The parts of a certificate an operator needs.
#[derive(Debug, Clone)]
pub struct CertInfo {
    pub subject: String,
    pub issuer: String,
    pub sans: Vec<String>,
    /// Unix seconds.
    pub not_before: i64,
    /// Unix seconds.
    pub not_after: i64,
}

impl CertInfo {
    /// Whole days from `now` (unix seconds) until expiry; negative once expired.
    pub fn days_left(&self, now: i64) -> i64 {
        (self.not_after - now).div_euclid(86_400)
    }
}

/// Now, in unix seconds.
pub fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// Reads the first certificate of a PEM file.
pub fn read(path: &Path) -> Result<CertInfo, String> {
    let data = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let der = CertificateDer::pem_slice_iter(&data)
        .next()
        .ok_or_else(|| format!("{}: no certificate in the file", path.display()))?
        .map_err(|e| format!("{}: invalid PEM: {e}", path.display()))?;
    parse(&der).map_err(|e| format!("{}: {e}", path.display()))
}

/// Parses one DER certificate.
pub fn parse(der: &[u8]) -> Result<CertInfo, String> {
    let (_, cert) = x509_parser::parse_x509_certificate(der)
        .map_err(|e| format!("not a valid X.509 certificate: {e}"))?;
    let sans = match cert.subject_alternative_name() {
        Ok(Some(ext)) => ext
            .value
            .general_names
            .iter()
            .map(|name| match name {
                GeneralName::DNSName(d) => format!("DNS:{d}"),
                GeneralName::IPAddress(b) => match <[u8; 4]>::try_from(*b) {
                    Ok(v4) => format!("IP:{}", std::net::Ipv4Addr::from(v4)),
                    Err(_) => match <[u8; 16]>::try_from(*b) {
                        Ok(v6) => format!("IP:{}", std::net::Ipv6Addr::from(v6)),
                        Err(_) => "IP:?".to_string(),
                    },
                },
                other => other.to_string(),
            })
            .collect(),
        _ => Vec::new(),
    };
    Ok(CertInfo {
        subject: cert.subject().to_string(),
        issuer: cert.issuer().to_string(),
        sans,
        not_before: cert.validity().not_before.timestamp(),
        not_after: cert.validity().not_after.timestamp(),
    })
}

/// Every certificate file harp would use from `certs_dir` that exists.
pub fn inventory(certs_dir: &Path) -> Vec<CertFile> {
    let frp = FrpCertPaths::new(certs_dir);
    [
        ("https", certs_dir.join("cert.pem")),
        ("frp-ca", frp.ca_crt()),
        ("frp-server", frp.server_crt()),
        ("frp-client", frp.client_crt()),
    ]
    .into_iter()
    .filter(|(_, path)| path.exists())
    .map(|(role, path)| CertFile {
        role,
        info: read(&path),
        path,
    })
    .collect()
}

/// Logs a warning for every certificate that expires within [`WARN_DAYS`] (an error once
/// expired) and for files that do not parse (D21).
pub fn warn_expiring(certs_dir: &Path) {
    let now = now();
    for file in inventory(certs_dir) {
        match &file.info {
            Ok(info) => {
                let days = info.days_left(now);
                if info.not_after <= now {
                    tracing::error!(
                        file = %file.path.display(),
                        role = file.role,
                        "certificate EXPIRED {} days ago; run `harp certs renew` (FRP) or replace it (HTTPS)",
                        -days
                    );
                } else if days < WARN_DAYS {
                    tracing::warn!(
                        file = %file.path.display(),
                        role = file.role,
                        days_left = days,
                        "certificate expires in {days} days; run `harp certs renew` (FRP) or replace it (HTTPS)"
                    );
                }
            }
            Err(e) => tracing::warn!(role = file.role, "certificate unreadable: {e}"),
        }
    }
}

/// `harp_certificate_expiry_timestamp_seconds` per file, read at scrape time so a renewed or
/// replaced file shows at once.
pub fn render_metrics(out: &mut String, certs_dir: &Path) {
    let name = "harp_certificate_expiry_timestamp_seconds";
    let _ = writeln!(
        out,
        "# HELP {name} When each certificate harp uses expires (unix seconds; alert on {name} - time() < 30 days).\n# TYPE {name} gauge"
    );
    for file in inventory(certs_dir) {
        if let Ok(info) = &file.info {
            let _ = writeln!(
                out,
                "{name}{{role=\"{}\",file=\"{}\"}} {}",
                file.role,
                file.path
                    .display()
                    .to_string()
                    .replace(['"', '\\', '\n'], "_"),
                info.not_after
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_generated_certificates() {
        let dir = tempfile::tempdir().unwrap();
        super::super::ensure(dir.path(), false, 10).unwrap();
        let files = inventory(dir.path());
        let roles: Vec<_> = files.iter().map(|f| f.role).collect();
        assert_eq!(roles, ["frp-ca", "frp-server", "frp-client"]);
        let server = files[1].info.as_ref().unwrap();
        assert_eq!(server.subject, "CN=harp.nc");
        assert_eq!(server.sans, ["DNS:harp.nc"]);
        let days = server.days_left(now());
        assert!((9..=10).contains(&days), "{days}");
        let mut out = String::new();
        render_metrics(&mut out, dir.path());
        assert_eq!(out.matches("role=\"frp-").count(), 3, "{out}");
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cert.pem");
        std::fs::write(
            &path,
            "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
        )
        .unwrap();
        assert!(read(&path).is_err());
        std::fs::write(&path, "nothing").unwrap();
        assert!(read(&path).unwrap_err().contains("no certificate"));
        assert_eq!(inventory(dir.path()).len(), 1);
    }
}
