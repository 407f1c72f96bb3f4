//! The console's HTTP client for the server the preferences name: built the first time that server
//! is asked, and again only once the preferences name another. Building one sets up TLS (reads the
//! system's certificates), so it is not done per call; and a failure to build one is no server's
//! answer, so it is reported as such rather than retried.

use std::sync::{Mutex, MutexGuard, PoisonError};

use crate::api::{ApiClient, ClientSetupError};
use crate::origin::ServerOrigin;

/// How a client for a server is built: [`ApiClient::new`], or a test's stand-in.
pub(super) type BuildClient =
    Box<dyn Fn(ServerOrigin, String) -> Result<ApiClient, ClientSetupError> + Send + Sync>;

pub(super) struct ServerClient {
    device_name: String,
    build: BuildClient,
    /// The client last built; its origin says for which server.
    built: Mutex<Option<ApiClient>>,
}

impl ServerClient {
    pub(super) fn new(device_name: String) -> Self {
        Self::built_by(device_name, Box::new(ApiClient::new))
    }

    pub(super) fn built_by(device_name: String, build: BuildClient) -> Self {
        Self {
            device_name,
            build,
            built: Mutex::new(None),
        }
    }

    /// The same, built by `build` instead.
    #[cfg(test)]
    pub(super) fn built_by_instead(self, build: BuildClient) -> Self {
        Self::built_by(self.device_name, build)
    }

    /// The client for `origin`: the one built before if it was for `origin`, else a new one. A
    /// failed build keeps nothing: the next command that needs the server tries once more.
    pub(super) fn for_origin(&self, origin: &ServerOrigin) -> Result<ApiClient, ClientSetupError> {
        let mut built = self.lock();
        if let Some(client) = built.as_ref().filter(|client| client.origin() == origin) {
            return Ok(client.clone());
        }
        let client = (self.build)(origin.clone(), self.device_name.clone())?;
        *built = Some(client.clone());
        Ok(client)
    }

    fn lock(&self) -> MutexGuard<'_, Option<ApiClient>> {
        self.built.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    /// A `ServerClient` counting the clients it builds.
    fn counting() -> (ServerClient, Arc<AtomicUsize>) {
        let builds = Arc::new(AtomicUsize::new(0));
        let counted = Arc::clone(&builds);
        let build = move |origin, device_name| {
            counted.fetch_add(1, Ordering::SeqCst);
            ApiClient::new(origin, device_name)
        };
        (
            ServerClient::built_by("Studio PC".into(), Box::new(build)),
            builds,
        )
    }

    fn origin(url: &str) -> ServerOrigin {
        ServerOrigin::parse(url).expect("an origin")
    }

    #[test]
    fn one_client_is_built_per_server_and_again_when_the_server_changes() {
        let _already_installed = rustls::crypto::ring::default_provider().install_default();
        let (clients, builds) = counting();
        let first = origin("https://auth.example.com");
        let other = origin("https://auth.example.org");

        for _ in 0..3 {
            let client = clients.for_origin(&first).expect("a client");
            assert_eq!(client.origin(), &first);
        }
        assert_eq!(
            builds.load(Ordering::SeqCst),
            1,
            "built once for one server"
        );
        let client = clients.for_origin(&other).expect("a client");
        assert_eq!(client.origin(), &other);
        assert_eq!(builds.load(Ordering::SeqCst), 2, "built again for another");
        clients.for_origin(&other).expect("a client");
        assert_eq!(builds.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn a_client_that_cannot_be_built_is_said_so() {
        let failing = |_, _| Err(ClientSetupError("no TLS roots".into()));
        let clients = ServerClient::built_by("Studio PC".into(), Box::new(failing));
        let failed = clients.for_origin(&origin("https://auth.example.com"));
        assert_eq!(failed.err(), Some(ClientSetupError("no TLS roots".into())));
    }
}
