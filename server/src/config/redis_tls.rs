//! The certificates of a store reached over TLS (`redis.tls_*`): the authorities to trust for the
//! nodes' certificates, and the client certificate every node and sentinel is shown, which Redis
//! asks for over TLS unless told otherwise (`tls-auth-clients yes` is its default). Read and parsed
//! at start, as the Redis client will parse them, so a file it could not use stops the server there
//! with its setting's name.

use std::path::Path;

use meeteasy_protocol::Secret;
use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use super::file::FileRedis;
use super::load::{ConfigError, invalid};
use super::settings::{ClientCertificate, RedisCertificates};

const CA_KEY: &str = "redis.tls_ca_file";
const CERT_KEY: &str = "redis.tls_client_cert_file";
const KEY_KEY: &str = "redis.tls_client_key_file";

/// The certificates `file` names, for a store that speaks TLS (`tls`) or not.
pub(super) fn certificates(
    file: Option<&FileRedis>,
    tls: bool,
) -> Result<RedisCertificates, ConfigError> {
    let Some(file) = file else {
        return Ok(RedisCertificates::default());
    };
    let named = [
        (CA_KEY, &file.tls_ca_file),
        (CERT_KEY, &file.tls_client_cert_file),
        (KEY_KEY, &file.tls_client_key_file),
    ];
    if let Some((key, _)) = named.iter().find(|(_, path)| path.is_some())
        && !tls
    {
        return Err(invalid(
            key,
            format!("{key} is for a store reached over TLS: use a rediss URL"),
        ));
    }
    let trusted = match &file.tls_ca_file {
        Some(path) => Some(certificate_file(CA_KEY, path)?.into_bytes()),
        None => None,
    };
    let client = match (&file.tls_client_cert_file, &file.tls_client_key_file) {
        (None, None) => None,
        (Some(cert), Some(key)) => Some(ClientCertificate {
            chain: certificate_file(CERT_KEY, cert)?.into_bytes(),
            key: Secret::new(private_key_file(KEY_KEY, key)?),
        }),
        (Some(_), None) | (None, Some(_)) => {
            return Err(invalid(
                CERT_KEY,
                format!("give {CERT_KEY} and {KEY_KEY} together"),
            ));
        }
    };
    Ok(RedisCertificates { trusted, client })
}

/// The text of the file at `path` (setting `key`), which must hold at least one PEM certificate
/// the Redis client can read: it skips blocks it does not know, such as `TRUSTED CERTIFICATE`,
/// and would start with none trusted.
fn certificate_file(key: &'static str, path: &Path) -> Result<String, ConfigError> {
    let text = read(key, path)?;
    let certificates: Result<Vec<_>, _> = CertificateDer::pem_slice_iter(text.as_bytes()).collect();
    match certificates {
        Ok(certificates) if !certificates.is_empty() => Ok(text),
        Ok(_) => Err(invalid(
            key,
            format!("{} holds no PEM CERTIFICATE", path.display()),
        )),
        Err(error) => Err(invalid(key, format!("{}: {error}", path.display()))),
    }
}

/// The text of the file at `path` (setting `key`), which must hold a private key the Redis client
/// can use: PKCS#8, PKCS#1 or SEC1 in PEM, not encrypted.
fn private_key_file(key: &'static str, path: &Path) -> Result<String, ConfigError> {
    let text = read(key, path)?;
    match PrivateKeyDer::from_pem_slice(text.as_bytes()) {
        Ok(_) => Ok(text),
        Err(error) => Err(invalid(
            key,
            format!(
                "{} holds no unencrypted PEM private key: {error}",
                path.display()
            ),
        )),
    }
}

fn read(key: &'static str, path: &Path) -> Result<String, ConfigError> {
    std::fs::read_to_string(path)
        .map_err(|error| invalid(key, format!("cannot read {}: {error}", path.display())))
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    const CERT: &str = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
    const KEY: &str = "-----BEGIN EC PRIVATE KEY-----\nMHcC\n-----END EC PRIVATE KEY-----\n";

    /// Files in a fresh directory: `ca.pem` and `cert.pem` hold a certificate, `key.pem` a key.
    fn files() -> (tempfile::TempDir, FileRedis) {
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, text: &str| {
            let path = dir.path().join(name);
            std::fs::write(&path, text).unwrap();
            Some(path)
        };
        let file = FileRedis {
            tls_ca_file: write("ca.pem", CERT),
            tls_client_cert_file: write("cert.pem", CERT),
            tls_client_key_file: write("key.pem", KEY),
            ..FileRedis::default()
        };
        (dir, file)
    }

    #[test]
    fn the_files_are_read_at_start_and_the_key_kept_secret() {
        let (_dir, file) = files();
        let read = certificates(Some(&file), true).unwrap();
        assert_eq!(read.trusted.as_deref(), Some(CERT.as_bytes()));
        let client = read.client.unwrap();
        assert_eq!(client.chain, CERT.as_bytes());
        assert_eq!(client.key.expose(), KEY);
        assert!(!format!("{client:?}").contains("MHc"), "{client:?}");
        let none = certificates(None, true).unwrap();
        assert!(none.trusted.is_none() && none.client.is_none());
    }

    #[test]
    fn what_cannot_be_used_is_refused_with_its_setting() {
        let (dir, file) = files();
        let write = |name: &str, label: &str| {
            let path = dir.path().join(name);
            let text = format!("-----BEGIN {label}-----\nMIIB\n-----END {label}-----\n");
            std::fs::write(&path, text).unwrap();
            Some(path)
        };
        // The Redis client skips the first kind of block and cannot use the second.
        let trusted = write("trusted.pem", "TRUSTED CERTIFICATE");
        let encrypted = write("encrypted.pem", "ENCRYPTED PRIVATE KEY");
        let (cert, key) = (&file.tls_client_cert_file, &file.tls_client_key_file);
        let client = |cert: &Option<PathBuf>, key: &Option<PathBuf>| FileRedis {
            tls_client_cert_file: cert.clone(),
            tls_client_key_file: key.clone(),
            ..FileRedis::default()
        };
        let ca = |path: Option<PathBuf>| FileRedis {
            tls_ca_file: path,
            ..FileRedis::default()
        };
        let cases = [
            (&file, false, CA_KEY, "use a rediss URL"),
            (&client(cert, &None), true, CERT_KEY, "together"),
            (&client(key, key), true, CERT_KEY, "no PEM CERTIFICATE"),
            (&ca(trusted), true, CA_KEY, "no PEM CERTIFICATE"),
            (
                &client(cert, &encrypted),
                true,
                KEY_KEY,
                "no unencrypted PEM private key",
            ),
            (
                &ca(Some("/nonexistent/ca.pem".into())),
                true,
                CA_KEY,
                "cannot read /nonexistent",
            ),
        ];
        for (file, tls, key, problem) in cases {
            let said = certificates(Some(file), tls).unwrap_err().to_string();
            assert!(said.contains(key) && said.contains(problem), "{said}");
        }
    }
}
