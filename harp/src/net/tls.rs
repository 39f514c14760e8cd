//! TLS for the HTTPS listener: `cert.pem` in HAProxy's `crt` format (certificate chain and
//! private key in one PEM file, or the key in `cert.pem.key` beside it), ALPN `h2` and
//! `http/1.1` (decision D9). The certificate sits in a [`CertCell`], so SIGHUP can swap it for
//! new handshakes while established connections keep theirs.

use rustls::ServerConfig;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use std::path::Path;
use std::sync::{Arc, RwLock};

/// The HTTPS certificate every new handshake uses; replaced in place on reload.
#[derive(Debug)]
pub struct CertCell {
    current: RwLock<Arc<CertifiedKey>>,
}

impl CertCell {
    /// Re-reads `cert_pem`; on error the current certificate stays.
    pub fn reload(&self, cert_pem: &Path) -> Result<(), String> {
        let key = load_certified_key(cert_pem)?;
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = key;
        Ok(())
    }

    fn get(&self) -> Arc<CertifiedKey> {
        self.current
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

impl ResolvesServerCert for CertCell {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.get())
    }
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Reads a HAProxy-style PEM file into a certificate chain with its signing key.
pub fn load_certified_key(cert_pem: &Path) -> Result<Arc<CertifiedKey>, String> {
    let data =
        std::fs::read(cert_pem).map_err(|e| format!("cannot read {}: {e}", cert_pem.display()))?;
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&data)
        .collect::<Result<_, _>>()
        .map_err(|e| format!("{}: invalid certificate PEM: {e}", cert_pem.display()))?;
    if certs.is_empty() {
        return Err(format!("{}: no certificate found", cert_pem.display()));
    }
    let key = match PrivateKeyDer::from_pem_slice(&data) {
        Ok(key) => key,
        Err(_) => {
            let sidecar = cert_pem.with_extension("pem.key");
            let key_data = std::fs::read(&sidecar).map_err(|_| {
                format!(
                    "{}: no private key in the file and no {} beside it",
                    cert_pem.display(),
                    sidecar.display()
                )
            })?;
            PrivateKeyDer::from_pem_slice(&key_data)
                .map_err(|e| format!("{}: invalid private key: {e}", sidecar.display()))?
        }
    };
    let key = CertifiedKey::from_der(certs, key, &provider()).map_err(|e| {
        format!(
            "{}: certificate and key do not fit: {e}",
            cert_pem.display()
        )
    })?;
    Ok(Arc::new(key))
}

/// Builds the HTTPS server configuration from a HAProxy-style PEM file, and the cell that
/// holds its certificate.
pub fn https_server_config(cert_pem: &Path) -> Result<(Arc<ServerConfig>, Arc<CertCell>), String> {
    let cell = Arc::new(CertCell {
        current: RwLock::new(load_certified_key(cert_pem)?),
    });
    let mut config = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS setup failed: {e}"))?
        .with_no_client_auth()
        .with_cert_resolver(cell.clone());
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok((Arc::new(config), cell))
}
