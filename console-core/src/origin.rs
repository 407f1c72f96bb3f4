//! The auth server's origin as the organizer configured it. Tokens and tickets travel over TLS only,
//! so plain `http://` is accepted for loopback addresses (a server on this machine) and nothing else.

use std::fmt;
use std::net::IpAddr;

use url::{Host, Url};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerOrigin {
    /// `scheme://host[:port]`, without a trailing slash; also the keychain account name.
    origin: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OriginError {
    #[error("not a valid URL")]
    Malformed,
    #[error("only https:// and http:// URLs are supported")]
    UnsupportedScheme,
    #[error(
        "plain http:// is only allowed for this machine (localhost, 127.0.0.1, ::1); use https://"
    )]
    InsecureRemote,
    #[error("give the server's address only, without a path, query or credentials")]
    NotAnOrigin,
}

impl ServerOrigin {
    pub fn parse(input: &str) -> Result<Self, OriginError> {
        let url = Url::parse(input.trim()).map_err(|_| OriginError::Malformed)?;
        let host = url.host().ok_or(OriginError::Malformed)?;
        match url.scheme() {
            "https" => {}
            "http" if is_loopback(&host) => {}
            "http" => return Err(OriginError::InsecureRemote),
            _ => return Err(OriginError::UnsupportedScheme),
        }
        let only_origin = matches!(url.path(), "" | "/")
            && url.query().is_none()
            && url.fragment().is_none()
            && url.username().is_empty()
            && url.password().is_none();
        if !only_origin {
            return Err(OriginError::NotAnOrigin);
        }
        Ok(Self {
            origin: url.origin().ascii_serialization(),
        })
    }

    pub fn as_str(&self) -> &str {
        &self.origin
    }

    /// An absolute URL for a server path such as `/auth/scenes`.
    pub fn join(&self, path: &str) -> String {
        format!("{}{path}", self.origin)
    }
}

impl fmt::Display for ServerOrigin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.origin)
    }
}

fn is_loopback(host: &Host<&str>) -> bool {
    match host {
        Host::Domain(name) => name.eq_ignore_ascii_case("localhost"),
        Host::Ipv4(ip) => IpAddr::V4(*ip).is_loopback(),
        Host::Ipv6(ip) => IpAddr::V6(*ip).is_loopback(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_https_anywhere_and_http_on_loopback_only() {
        let cases = [
            ("https://auth.example.com", Ok("https://auth.example.com")),
            (
                "https://auth.example.com:8443/",
                Ok("https://auth.example.com:8443"),
            ),
            ("http://127.0.0.1:8080", Ok("http://127.0.0.1:8080")),
            ("http://localhost:3000/", Ok("http://localhost:3000")),
            ("http://[::1]:9000", Ok("http://[::1]:9000")),
            ("http://auth.example.com", Err(OriginError::InsecureRemote)),
            ("http://10.0.0.5:8080", Err(OriginError::InsecureRemote)),
            (
                "ftp://auth.example.com",
                Err(OriginError::UnsupportedScheme),
            ),
            (
                "https://auth.example.com/api",
                Err(OriginError::NotAnOrigin),
            ),
            (
                "https://user:pw@auth.example.com",
                Err(OriginError::NotAnOrigin),
            ),
            ("auth.example.com", Err(OriginError::Malformed)),
        ];
        for (input, expected) in cases {
            let parsed = ServerOrigin::parse(input);
            assert_eq!(
                parsed.as_ref().map(ServerOrigin::as_str),
                expected.as_ref().map(|s| *s),
                "{input}"
            );
        }
    }
}
