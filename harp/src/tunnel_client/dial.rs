//! Reaching the tunnel server (frp-protocol.md §1.1–1.2): TCP to `serverAddr:serverPort` within
//! `dialServerTimeout`, then, unless `transport.tls.enable = false`, TLS as frpc does it: an
//! optional 0x17 byte first, the client certificate when one is configured, the server verified
//! against `trustedCaFile` and `serverName` (or `serverAddr`), and without a CA any server
//! certificate accepted (Go's `InsecureSkipVerify`; the handshake signature is still checked).

use super::config::{ClientConfig, TlsConfig};
use crate::net::any_server_cert::AnyServerCertificate;
use crate::tunnel::pool::Io;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use std::io;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

/// frp's custom first byte, sent before the ClientHello when asked to.
const CUSTOM_TLS_BYTE: u8 = 0x17;

/// Opens connections to the server; built once, so bad TLS files are found at start-up.
pub(super) struct Dialer {
    host: String,
    port: u16,
    timeout: Duration,
    tls: Option<Tls>,
}

struct Tls {
    connector: TlsConnector,
    name: ServerName<'static>,
    custom_first_byte: bool,
}

impl Dialer {
    /// Reads the TLS files. Errors name the file and the key it came from.
    pub(super) fn new(config: &ClientConfig) -> Result<Dialer, String> {
        let tls = match &config.tls {
            None => None,
            Some(t) => Some(tls(t, &config.server_addr)?),
        };
        Ok(Dialer {
            host: config.server_addr.clone(),
            port: config.server_port,
            timeout: config.dial_timeout,
            tls,
        })
    }

    /// One new connection, TLS done.
    pub(super) async fn connect(&self) -> io::Result<Box<dyn Io>> {
        let connect = TcpStream::connect((self.host.as_str(), self.port));
        let mut tcp = tokio::time::timeout(self.timeout, connect)
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "connect timed out"))??;
        let _ = tcp.set_nodelay(true);
        let Some(tls) = &self.tls else {
            return Ok(Box::new(tcp));
        };
        if tls.custom_first_byte {
            tcp.write_all(&[CUSTOM_TLS_BYTE]).await?;
        }
        let handshake = tls.connector.connect(tls.name.clone(), tcp);
        let stream = tokio::time::timeout(self.timeout, handshake)
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "TLS handshake timed out"))??;
        Ok(Box::new(stream))
    }
}

fn read(path: &Path, key: &str) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("{key}: cannot read {}: {e}", path.display()))
}

fn certs(path: &Path, key: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    let data = read(path, key)?;
    let certs: Vec<_> = CertificateDer::pem_slice_iter(&data)
        .collect::<Result<_, _>>()
        .map_err(|e| format!("{key}: {}: invalid PEM: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!("{key}: {}: no certificate", path.display()));
    }
    Ok(certs)
}

fn tls(t: &TlsConfig, server_addr: &str) -> Result<Tls, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS setup failed: {e}"))?;
    let builder = match &t.trusted_ca_file {
        Some(ca) => {
            let mut roots = rustls::RootCertStore::empty();
            for cert in certs(ca, "transport.tls.trustedCaFile")? {
                roots.add(cert).map_err(|e| {
                    format!(
                        "transport.tls.trustedCaFile: {}: unusable CA: {e}",
                        ca.display()
                    )
                })?;
            }
            builder.with_root_certificates(roots)
        }
        None => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AnyServerCertificate(provider))),
    };
    let config = match (&t.cert_file, &t.key_file) {
        (Some(cert), Some(key)) => {
            let chain = certs(cert, "transport.tls.certFile")?;
            let key_pem = read(key, "transport.tls.keyFile")?;
            let key_der = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| {
                format!(
                    "transport.tls.keyFile: {}: invalid private key: {e}",
                    key.display()
                )
            })?;
            builder.with_client_auth_cert(chain, key_der).map_err(|e| {
                format!(
                    "transport.tls.certFile: {} does not fit its key: {e}",
                    cert.display()
                )
            })?
        }
        _ => builder.with_no_client_auth(),
    };
    let name = if t.server_name.is_empty() {
        server_addr
    } else {
        &t.server_name
    };
    let name = ServerName::try_from(name.to_string())
        .map_err(|e| format!("transport.tls.serverName: {name:?} is not a valid name: {e}"))?;
    Ok(Tls {
        connector: TlsConnector::from(Arc::new(config)),
        name,
        custom_first_byte: t.custom_first_byte,
    })
}
