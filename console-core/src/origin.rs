//! The URLs the console sends secrets to: the auth server's origin (tokens, passwords) and the H5
//! page "Open in browser" lands on (a one-time login ticket in its query). Both travel over TLS
//! only, so plain `http://` is accepted for loopback addresses (this machine) and nothing else, and
//! neither may carry credentials of its own.

use std::fmt;
use std::net::IpAddr;

use url::{Host, Url};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerOrigin {
    /// `scheme://host[:port]`, without a trailing slash; also the keychain account name.
    origin: String,
    /// The same origin, parsed, to build page URLs on it.
    url: Url,
}

/// A page the console opens in the organizer's browser with a login ticket appended: held to the
/// same rule as the server, since the ticket is as good as a session until it is exchanged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageUrl {
    url: Url,
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
    #[error("the URL must not carry a user name or password")]
    Credentials,
}

/// Parses `input` and checks what both kinds of URL share: https, or http to this machine.
fn parse_secure(input: &str) -> Result<Url, OriginError> {
    let url = Url::parse(input.trim()).map_err(|_| OriginError::Malformed)?;
    let host = url.host().ok_or(OriginError::Malformed)?;
    match url.scheme() {
        "https" => {}
        "http" if is_loopback(&host) => {}
        "http" => return Err(OriginError::InsecureRemote),
        _ => return Err(OriginError::UnsupportedScheme),
    }
    Ok(url)
}

impl ServerOrigin {
    pub fn parse(input: &str) -> Result<Self, OriginError> {
        let url = parse_secure(input)?;
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
            url,
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

impl PageUrl {
    pub fn parse(input: &str) -> Result<Self, OriginError> {
        let url = parse_secure(input)?;
        if !url.username().is_empty() || url.password().is_some() {
            return Err(OriginError::Credentials);
        }
        Ok(Self { url })
    }

    /// A page of the auth server itself, such as `/h5/demo`.
    pub fn on_server(server: &ServerOrigin, path: &str) -> Self {
        let mut url = server.url.clone();
        url.set_path(path);
        Self { url }
    }

    pub fn as_url(&self) -> &Url {
        &self.url
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

    #[test]
    fn the_page_a_ticket_is_sent_to_is_held_to_the_servers_rule() {
        let cases = [
            (
                "https://conf.example.com/h5/login?from=console",
                Ok("https://conf.example.com/h5/login?from=console"),
            ),
            (
                "http://127.0.0.1:8080/h5/demo",
                Ok("http://127.0.0.1:8080/h5/demo"),
            ),
            (
                "http://localhost:3000/page#top",
                Ok("http://localhost:3000/page#top"),
            ),
            (
                "http://conf.example.com/h5/demo",
                Err(OriginError::InsecureRemote),
            ),
            ("http://192.168.1.20/h5", Err(OriginError::InsecureRemote)),
            ("javascript:alert(1)", Err(OriginError::Malformed)),
            ("file:///etc/passwd", Err(OriginError::Malformed)),
            (
                "ftp://conf.example.com/",
                Err(OriginError::UnsupportedScheme),
            ),
            (
                "https://user:pw@conf.example.com/h5",
                Err(OriginError::Credentials),
            ),
        ];
        for (input, expected) in cases {
            let parsed = PageUrl::parse(input);
            assert_eq!(
                parsed.as_ref().map(|page| page.as_url().as_str()),
                expected.as_ref().map(|s| *s),
                "{input}"
            );
        }
        let server = ServerOrigin::parse("https://auth.example.com:8443").unwrap();
        assert_eq!(
            PageUrl::on_server(&server, "/h5/demo").as_url().as_str(),
            "https://auth.example.com:8443/h5/demo"
        );
    }
}
