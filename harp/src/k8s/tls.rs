//! TLS towards the Kubernetes API server: the CA file (`HP_K8S_CA_FILE`) when it exists,
//! otherwise the system roots; `HP_K8S_VERIFY_SSL=false` accepts any certificate (signatures
//! of the handshake are still checked, the identity is not). `http://` URLs never use TLS.

use crate::config::k8s::K8sConfig;
use crate::net::any_server_cert::AnyServerCertificate;
use rustls::crypto::CryptoProvider;
use rustls::{ClientConfig, RootCertStore};
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use std::path::Path;
use std::sync::Arc;

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The client TLS configuration for `config`.
pub fn client_config(config: &K8sConfig) -> ClientConfig {
    let builder = match ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
    {
        Ok(b) => b,
        // ring supports the default versions; this arm only keeps the type checker honest.
        Err(_) => ClientConfig::builder(),
    };
    if !config.verify_tls {
        return builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AnyServerCertificate(provider())))
            .with_no_client_auth();
    }
    let roots = match ca_roots(&config.ca_file) {
        Some(Ok(roots)) => roots,
        Some(Err(e)) => {
            tracing::warn!(file = %config.ca_file.display(), error = e, "cannot use the Kubernetes CA file; using the system roots");
            system_roots()
        }
        None => system_roots(),
    };
    builder.with_root_certificates(roots).with_no_client_auth()
}

/// The certificates in the CA file; `None` when there is no such file.
fn ca_roots(path: &Path) -> Option<Result<RootCertStore, String>> {
    if !path.exists() {
        return None;
    }
    let load = || -> Result<RootCertStore, String> {
        let data = std::fs::read(path).map_err(|e| e.to_string())?;
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&data)
            .collect::<Result<_, _>>()
            .map_err(|e| format!("invalid PEM: {e}"))?;
        let mut roots = RootCertStore::empty();
        let (added, _) = roots.add_parsable_certificates(certs);
        if added == 0 {
            return Err("no usable certificate".into());
        }
        Ok(roots)
    };
    Some(load())
}

fn system_roots() -> RootCertStore {
    let mut roots = RootCertStore::empty();
    let (added, _) =
        roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
    if added == 0 {
        tracing::warn!(
            "no system CA certificates found; https:// API servers will fail verification"
        );
    }
    roots
}
