//! What a new connection on `HP_FRP_ADDRESS` speaks (frp-protocol §1.2): frps sniffs the first
//! byte: `0x17` is frp's custom TLS marker (dropped, then TLS), `0x16` is a plain TLS
//! ClientHello, anything else is plain frp (refused while TLS is required). TLS here is mutual:
//! the client certificate must chain to `frp/ca.crt` (its names are not checked, as in Go).

use crate::certs::FrpCertPaths;
use rustls::ServerConfig;
use rustls::server::WebPkiClientVerifier;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::TlsAcceptor;

/// frps gives a new connection 10 s to show its first byte and finish TLS.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

const CUSTOM_TLS_BYTE: u8 = 0x17;
const TLS_HANDSHAKE_RECORD: u8 = 0x16;

fn read_certs(path: &std::path::Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let data = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let certs: Vec<_> = CertificateDer::pem_slice_iter(&data)
        .collect::<Result<_, _>>()
        .map_err(|e| format!("{}: invalid PEM: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!("{}: no certificate", path.display()));
    }
    Ok(certs)
}

/// The mutual-TLS server configuration from `frp/server.crt`, `server.key` and `ca.crt`.
pub fn server_tls(paths: &FrpCertPaths) -> Result<Arc<ServerConfig>, String> {
    let certs = read_certs(&paths.server_crt())?;
    let key_data = std::fs::read(paths.server_key())
        .map_err(|e| format!("cannot read {}: {e}", paths.server_key().display()))?;
    let key = PrivateKeyDer::from_pem_slice(&key_data)
        .map_err(|e| format!("{}: invalid private key: {e}", paths.server_key().display()))?;
    let mut roots = rustls::RootCertStore::empty();
    for ca in read_certs(&paths.ca_crt())? {
        roots
            .add(ca)
            .map_err(|e| format!("{}: unusable CA certificate: {e}", paths.ca_crt().display()))?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .build()
        .map_err(|e| format!("client certificate verifier: {e}"))?;
    let config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS setup failed: {e}"))?
        .with_client_cert_verifier(verifier)
        .with_single_cert(certs, key)
        .map_err(|e| {
            format!(
                "{}: certificate and key do not fit: {e}",
                paths.server_crt().display()
            )
        })?;
    Ok(Arc::new(config))
}

/// With `HP_FRP_DISABLE_TLS=true` HaRP's frps still accepts TLS clients (frpc enables TLS by
/// default), with a throw-away self-signed certificate and no client certificate check. frpc
/// without `trustedCaFile` accepts any server certificate.
pub fn throwaway_tls() -> Result<Arc<ServerConfig>, String> {
    let cert = rcgen::generate_simple_self_signed(vec![crate::certs::SERVER_NAME.to_string()])
        .map_err(|e| format!("throw-away certificate: {e}"))?;
    let key = PrivateKeyDer::try_from(cert.signing_key.serialize_der())
        .map_err(|e| format!("throw-away key: {e}"))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS setup failed: {e}"))?
        .with_no_client_auth()
        .with_single_cert(vec![cert.cert.der().clone()], key)
        .map_err(|e| format!("throw-away certificate: {e}"))?;
    Ok(Arc::new(config))
}

/// How the tunnel listener treats TLS.
#[derive(Clone)]
pub enum TlsMode {
    /// Mutual TLS required (the default).
    Required(TlsAcceptor),
    /// `HP_FRP_DISABLE_TLS=true`: plain frp, or TLS with a throw-away certificate.
    Optional(TlsAcceptor),
}

/// A tunnel connection after the handshake: plain TCP or TLS.
pub enum TunnelIo {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::server::TlsStream<TcpStream>>),
}

/// Sniffs the first byte and completes TLS when it is used.
pub async fn handshake(mut stream: TcpStream, mode: &TlsMode) -> io::Result<TunnelIo> {
    let mut first = [0u8; 1];
    let n = stream.peek(&mut first).await?;
    if n == 0 {
        return Err(io::ErrorKind::UnexpectedEof.into());
    }
    let (TlsMode::Required(acceptor) | TlsMode::Optional(acceptor)) = mode;
    match first[0] {
        CUSTOM_TLS_BYTE => {
            stream.read_exact(&mut first).await?;
            Ok(TunnelIo::Tls(Box::new(acceptor.accept(stream).await?)))
        }
        TLS_HANDSHAKE_RECORD => Ok(TunnelIo::Tls(Box::new(acceptor.accept(stream).await?))),
        _ if matches!(mode, TlsMode::Required(_)) => Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "plain connection refused: tunnel clients must use TLS with HaRP's client certificate",
        )),
        _ => Ok(TunnelIo::Plain(stream)),
    }
}

impl AsyncRead for TunnelIo {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            TunnelIo::Plain(s) => Pin::new(s).poll_read(cx, buf),
            TunnelIo::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for TunnelIo {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            TunnelIo::Plain(s) => Pin::new(s).poll_write(cx, data),
            TunnelIo::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, data),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            TunnelIo::Plain(s) => Pin::new(s).poll_flush(cx),
            TunnelIo::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            TunnelIo::Plain(s) => Pin::new(s).poll_shutdown(cx),
            TunnelIo::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}
