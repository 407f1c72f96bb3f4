//! HTTPS with rustls: the acceptor made from the configured certificate and key. Each handshake
//! runs in its connection's own task, under the header clock (see `serve`), so a slow or hostile
//! client cannot hold up the others.

use std::path::Path;
use std::sync::Arc;

use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::TlsAcceptor;

use crate::config::TlsSettings;

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read the certificate chain {path}: {source}")]
    Certificates {
        path: String,
        source: rustls_pki_types::pem::Error,
    },
    #[error("cannot read the private key {path}: {source}")]
    Key {
        path: String,
        source: rustls_pki_types::pem::Error,
    },
    #[error("the certificate and key do not make a TLS configuration: {0}")]
    Config(#[from] rustls::Error),
}

pub fn acceptor(settings: &TlsSettings) -> Result<TlsAcceptor, TlsError> {
    let path_text = |p: &Path| p.display().to_string();
    let certificates = CertificateDer::pem_file_iter(&settings.cert)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|source| TlsError::Certificates {
            path: path_text(&settings.cert),
            source,
        })?;
    let key = PrivateKeyDer::from_pem_file(&settings.key).map_err(|source| TlsError::Key {
        path: path_text(&settings.key),
        source,
    })?;
    let mut config = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(certificates, key)?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}
