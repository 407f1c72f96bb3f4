//! A certificate authority of the test's own, a server certificate it issued for `localhost` and
//! 127.0.0.1, and a client certificate for the auth server, as a real deployment has (made by the
//! `openssl` command, in a fresh directory).

use std::path::{Path, PathBuf};
use std::process::Command;

use tempfile::TempDir;

pub struct TestCa {
    dir: TempDir,
}

impl TestCa {
    /// # Panics
    /// When `openssl` is missing or fails.
    pub fn issue() -> TestCa {
        let dir = tempfile::tempdir().expect("a temp dir for the test CA");
        let openssl = |args: &[&str]| {
            let made = Command::new("openssl")
                .current_dir(dir.path())
                .args(args)
                .output()
                .expect("openssl runs");
            assert!(
                made.status.success(),
                "openssl {args:?}: {}",
                String::from_utf8_lossy(&made.stderr)
            );
        };
        let key = [
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "1",
        ];
        let ca = [
            "-subj",
            "/CN=MeetEasy test CA",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
        ];
        openssl(&[&["req", "-x509"], &key[..], &ca[..]].concat());
        let issued_by_ca = ["req", "-x509", "-CA", "ca.pem", "-CAkey", "ca.key"];
        let server = [
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=DNS:localhost,IP:127.0.0.1",
            "-addext",
            "basicConstraints=critical,CA:FALSE",
            "-keyout",
            "key.pem",
            "-out",
            "cert.pem",
        ];
        openssl(&[&issued_by_ca[..], &key[..], &server[..]].concat());
        let client = [
            "-subj",
            "/CN=meeteasy-auth",
            "-addext",
            "extendedKeyUsage=clientAuth",
            "-addext",
            "basicConstraints=critical,CA:FALSE",
            "-keyout",
            "client-key.pem",
            "-out",
            "client.pem",
        ];
        openssl(&[&issued_by_ca[..], &key[..], &client[..]].concat());
        TestCa { dir }
    }

    /// The CA's certificate (PEM): what a client must trust.
    pub fn ca(&self) -> PathBuf {
        self.file("ca.pem")
    }

    /// The server's certificate (PEM), issued by the CA.
    pub fn cert(&self) -> PathBuf {
        self.file("cert.pem")
    }

    /// The server certificate's private key (PEM).
    pub fn key(&self) -> PathBuf {
        self.file("key.pem")
    }

    /// A client certificate (PEM) the CA issued, for a client of a server that asks for one.
    pub fn client_cert(&self) -> PathBuf {
        self.file("client.pem")
    }

    /// The client certificate's private key (PEM).
    pub fn client_key(&self) -> PathBuf {
        self.file("client-key.pem")
    }

    fn file(&self, name: &str) -> PathBuf {
        Path::join(self.dir.path(), name)
    }
}
