//! Opens a URL in the organizer's default browser, through the desktop rather than a shell plugin.
//! The URL carries a one-time login ticket, so it is never logged, and where the desktop allows it
//! never put on a command line, which every local user can read (`/proc/<pid>/cmdline`, `ps`):
//!
//! - On Linux it goes over the session D-Bus (private to this user) to the desktop portal's
//!   `org.freedesktop.portal.OpenURI`, which starts the default browser.
//! - Without a portal (or on macOS and Windows) the platform's opener (`xdg-open`, `open`,
//!   `rundll32`) gets the URL as an argument, as the only way it takes one.
//!
//! Either way the browser the desktop starts may receive the URL as its own argument for the moment
//! it takes to hand it to a running instance; README.md says what that leaves open.

use std::io;
use std::process::{Command, Stdio};

use meeteasy_protocol::Secret;

#[cfg(all(unix, not(target_os = "macos")))]
const OPENER: (&str, &[&str]) = ("xdg-open", &[]);
#[cfg(target_os = "macos")]
const OPENER: (&str, &[&str]) = ("open", &[]);
#[cfg(windows)]
const OPENER: (&str, &[&str]) = ("rundll32", &["url.dll,FileProtocolHandler"]);

/// Opens `url` in the default browser: through the desktop portal where there is one, else through
/// the platform's opener.
pub async fn open_url(url: &Secret) -> io::Result<()> {
    #[cfg(target_os = "linux")]
    match portal::open_uri_on_session_bus(url).await {
        Ok(()) => return Ok(()),
        Err(error) => {
            tracing::info!(%error, "no desktop portal took the URL; handing it to {}", OPENER.0);
        }
    }
    spawn_opener(url)
}

fn spawn_opener(url: &Secret) -> io::Result<()> {
    let (program, leading_args) = OPENER;
    let mut child = Command::new(program)
        .args(leading_args)
        .arg(url.expose())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    // The opener usually hands over to the browser and exits; reap it without blocking the caller.
    std::thread::spawn(move || child.wait());
    Ok(())
}

/// The XDG desktop portal's OpenURI, over zbus (already in the tree for the Secret Service keychain).
#[cfg(target_os = "linux")]
pub mod portal {
    use std::collections::HashMap;
    use std::time::Duration;

    use meeteasy_protocol::Secret;
    use zbus::Connection;
    use zbus::zvariant::Value;

    pub const BUS_NAME: &str = "org.freedesktop.portal.Desktop";
    pub const OBJECT_PATH: &str = "/org/freedesktop/portal/desktop";
    pub const INTERFACE: &str = "org.freedesktop.portal.OpenURI";
    /// Connecting, and the portal being started by D-Bus activation if it is not running, take
    /// moments; a desktop that has not answered by then is treated as having no portal.
    const PORTAL_TIMEOUT: Duration = Duration::from_secs(5);

    /// Why the portal did not take the URL. Says nothing of the URL.
    #[derive(Debug, thiserror::Error)]
    pub enum PortalError {
        #[error("no session bus: {0}")]
        NoBus(String),
        #[error("the portal refused or is absent: {0}")]
        Refused(String),
        #[error("the portal did not answer within {PORTAL_TIMEOUT:?}")]
        TimedOut,
    }

    pub async fn open_uri_on_session_bus(url: &Secret) -> Result<(), PortalError> {
        let connection = tokio::time::timeout(PORTAL_TIMEOUT, Connection::session())
            .await
            .map_err(|_elapsed| PortalError::TimedOut)?
            .map_err(|error| PortalError::NoBus(error.to_string()))?;
        open_uri(&connection, url).await
    }

    /// Asks the portal on `connection`'s bus to open `url`. The call returns once the portal has
    /// accepted the request; it then opens the URL (or asks which application should) by itself.
    pub async fn open_uri(connection: &Connection, url: &Secret) -> Result<(), PortalError> {
        // No options: the portal opens http(s) with the default browser without asking.
        let options: HashMap<&str, Value<'_>> = HashMap::new();
        let arguments = ("", url.expose(), options);
        let call = connection.call_method(
            Some(BUS_NAME),
            OBJECT_PATH,
            Some(INTERFACE),
            "OpenURI",
            &arguments,
        );
        match tokio::time::timeout(PORTAL_TIMEOUT, call).await {
            Err(_elapsed) => Err(PortalError::TimedOut),
            Ok(Ok(_request_handle)) => Ok(()),
            Ok(Err(error)) => Err(PortalError::Refused(described(&error))),
        }
    }

    /// A D-Bus error without its message, which a portal could fill with the URL it was given.
    fn described(error: &zbus::Error) -> String {
        match error {
            zbus::Error::MethodError(name, _message, _reply) => name.to_string(),
            zbus::Error::FDO(fdo) => match fdo.as_ref() {
                zbus::fdo::Error::ServiceUnknown(_) => "no portal on this bus".to_owned(),
                _other_fdo_error => "the bus refused the call".to_owned(),
            },
            _other => "the call failed".to_owned(),
        }
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use std::collections::HashMap;
    use std::io::{BufRead as _, BufReader};
    use std::process::{Child, Command, Stdio};
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    use meeteasy_protocol::Secret;
    use zbus::zvariant::{OwnedObjectPath, OwnedValue};

    use super::portal::{self, PortalError};

    /// A private D-Bus daemon that activates nothing: no real portal (or browser) can answer.
    struct PrivateBus {
        daemon: Child,
        address: String,
        _dir: tempfile::TempDir,
    }

    impl PrivateBus {
        fn start() -> Self {
            let dir = tempfile::tempdir().expect("temp dir");
            let config = dir.path().join("bus.conf");
            std::fs::write(
                &config,
                format!(
                    r#"<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:dir={}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>"#,
                    dir.path().display()
                ),
            )
            .expect("bus config");
            let daemon = Command::new("dbus-daemon")
                .arg(format!("--config-file={}", config.display()))
                .args(["--nofork", "--print-address=1"])
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()
                .expect("dbus-daemon on PATH (apt-get install dbus)");
            // Held before its address is read, so that a daemon failing there is stopped too.
            let mut bus = Self {
                daemon,
                address: String::new(),
                _dir: dir,
            };
            // Read aside and waited for within 10 s: a daemon that prints nothing fails the test.
            let stdout = bus.daemon.stdout.take().expect("stdout");
            let (sender, printed) = std::sync::mpsc::channel();
            std::thread::spawn(move || {
                let mut address = String::new();
                let read = BufReader::new(stdout)
                    .read_line(&mut address)
                    .map(|_| address);
                let _waiter_gone = sender.send(read);
            });
            let address = printed
                .recv_timeout(Duration::from_secs(10))
                .expect("the bus printed its address")
                .expect("the bus address");
            bus.address = address.trim().to_owned();
            bus
        }

        /// Connects, failing the test rather than hanging it when the bus does not answer.
        async fn connect(&self) -> zbus::Connection {
            let connecting = zbus::connection::Builder::address(self.address.as_str())
                .expect("an address")
                .build();
            tokio::time::timeout(Duration::from_secs(10), connecting)
                .await
                .expect("the private bus answered")
                .expect("connected to the private bus")
        }
    }

    impl Drop for PrivateBus {
        fn drop(&mut self) {
            let _already_gone = self.daemon.kill();
            let _reaped = self.daemon.wait();
        }
    }

    /// Records what it is asked to open, as the desktop portal would open it.
    struct FakePortal {
        opened: Arc<Mutex<Vec<(String, String)>>>,
    }

    #[zbus::interface(name = "org.freedesktop.portal.OpenURI")]
    impl FakePortal {
        #[zbus(name = "OpenURI")]
        fn open_uri(
            &self,
            parent_window: &str,
            uri: &str,
            _options: HashMap<String, OwnedValue>,
        ) -> OwnedObjectPath {
            if let Ok(mut opened) = self.opened.lock() {
                opened.push((parent_window.to_owned(), uri.to_owned()));
            }
            OwnedObjectPath::try_from("/org/freedesktop/portal/desktop/request/1_1/t")
                .expect("an object path")
        }
    }

    #[tokio::test]
    async fn the_ticket_url_reaches_the_portal_over_the_bus() {
        let bus = PrivateBus::start();
        let opened = Arc::new(Mutex::new(Vec::new()));
        let serving = zbus::connection::Builder::address(bus.address.as_str())
            .expect("an address")
            .name(portal::BUS_NAME)
            .expect("a bus name")
            .serve_at(
                portal::OBJECT_PATH,
                FakePortal {
                    opened: Arc::clone(&opened),
                },
            )
            .expect("served")
            .build();
        let _portal = tokio::time::timeout(Duration::from_secs(10), serving)
            .await
            .expect("the private bus answered")
            .expect("the fake portal is on the bus");

        let url = Secret::new("https://conf.example.com/h5?login_ticket=T1ck3t&_t=1");
        portal::open_uri(&bus.connect().await, &url)
            .await
            .expect("the portal took the URL");
        let opened = opened
            .lock()
            .map(|opened| opened.clone())
            .unwrap_or_default();
        assert_eq!(opened, [(String::new(), url.expose().to_owned())]);
    }

    #[tokio::test]
    async fn a_bus_without_a_portal_is_reported_without_the_url() {
        let bus = PrivateBus::start();
        let url = Secret::new("https://conf.example.com/h5?login_ticket=T1ck3t");
        let refused = portal::open_uri(&bus.connect().await, &url).await;
        let Err(error @ PortalError::Refused(_)) = refused else {
            panic!("a bus without a portal gave {refused:?}");
        };
        assert!(!error.to_string().contains("T1ck3t"), "{error}");
    }
}
