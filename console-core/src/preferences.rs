//! The organizer's preferences: which server to talk to and in which language. Kept as a small JSON
//! file in the app's config directory (nothing secret lives there); `MEETEASY_SERVER` and
//! `MEETEASY_H5_URL` override the file for one run.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::origin::{OriginError, PageUrl, ServerOrigin};

pub const DEFAULT_SERVER: &str = "http://127.0.0.1:8080";
pub const SERVER_ENV: &str = "MEETEASY_SERVER";
pub const H5_URL_ENV: &str = "MEETEASY_H5_URL";
const FILE_NAME: &str = "preferences.json";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Language {
    #[serde(rename = "zh-CN")]
    SimplifiedChinese,
    #[serde(rename = "en")]
    English,
}

impl Language {
    /// From a POSIX locale such as `zh_CN.UTF-8`; anything not Chinese is English.
    pub fn from_locale(locale: &str) -> Self {
        if locale.to_ascii_lowercase().starts_with("zh") {
            Self::SimplifiedChinese
        } else {
            Self::English
        }
    }

    /// The OS locale as the usual environment variables give it, in their order of precedence.
    pub fn from_environment() -> Self {
        ["LC_ALL", "LC_MESSAGES", "LANG"]
            .iter()
            .filter_map(|name| std::env::var(name).ok())
            .find(|value| !value.is_empty())
            .map_or(Self::English, |locale| Self::from_locale(&locale))
    }
}

/// What the preferences file holds; absent fields take their defaults.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
struct StoredPreferences {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    server_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    language: Option<Language>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    h5_url: Option<String>,
}

/// The preferences in effect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Preferences {
    pub server: ServerOrigin,
    pub language: Language,
    /// The H5 site "Open in browser" lands on.
    pub h5_url: PageUrl,
    /// The server came from `MEETEASY_SERVER`, so editing it in the app only lasts for this run.
    pub server_from_env: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum PreferencesError {
    #[error("server URL: {0}")]
    InvalidServer(#[from] OriginError),
    #[error("could not save preferences: {0}")]
    Save(#[source] std::io::Error),
}

pub struct PreferencesFile {
    path: PathBuf,
    env: EnvOverrides,
}

/// `MEETEASY_SERVER` and `MEETEASY_H5_URL` as the console started with them (empty ones left out):
/// they take precedence over the file at start. After a save, the H5 page is still the
/// environment's; the server is the one the Settings gave, for this run (see
/// [`Preferences::server_from_env`]).
#[derive(Debug, Default)]
struct EnvOverrides {
    server: Option<String>,
    h5_url: Option<String>,
}

impl EnvOverrides {
    fn of_process() -> Self {
        let set = |name| {
            std::env::var(name)
                .ok()
                .filter(|value| !value.trim().is_empty())
        };
        Self {
            server: set(SERVER_ENV),
            h5_url: set(H5_URL_ENV),
        }
    }
}

impl PreferencesFile {
    pub fn in_dir(dir: &Path) -> Self {
        Self {
            path: dir.join(FILE_NAME),
            env: EnvOverrides::of_process(),
        }
    }

    /// The preferences in effect. A bad file or variable is reported and replaced by the default,
    /// so the organizer can still open Settings and fix it.
    pub fn load(&self) -> Preferences {
        let stored = std::fs::read(&self.path)
            .ok()
            .and_then(|bytes| serde_json::from_slice::<StoredPreferences>(&bytes).ok())
            .unwrap_or_default();
        let server_from_env = self.env.server.is_some();
        let server_text = self
            .env
            .server
            .clone()
            .or(stored.server_url)
            .unwrap_or_else(|| DEFAULT_SERVER.to_owned());
        let server = ServerOrigin::parse(&server_text).unwrap_or_else(|err| {
            tracing::warn!(%err, server = %server_text, "ignoring the configured server");
            default_origin()
        });
        let h5_url = h5_page(self.env.h5_url.clone().or(stored.h5_url), &server);
        Preferences {
            language: stored.language.unwrap_or_else(Language::from_environment),
            server,
            h5_url,
            server_from_env,
        }
    }

    /// Validates and saves what the Settings screen submits.
    pub fn save(
        &self,
        server_url: &str,
        language: Language,
    ) -> Result<Preferences, PreferencesError> {
        let server = ServerOrigin::parse(server_url)?;
        let stored = StoredPreferences {
            server_url: Some(server.as_str().to_owned()),
            language: Some(language),
            h5_url: self.load_stored().h5_url,
        };
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir).map_err(PreferencesError::Save)?;
        }
        let bytes =
            serde_json::to_vec_pretty(&stored).map_err(|err| PreferencesError::Save(err.into()))?;
        std::fs::write(&self.path, bytes).map_err(PreferencesError::Save)?;
        let h5_url = h5_page(self.env.h5_url.clone().or(stored.h5_url), &server);
        Ok(Preferences {
            server,
            language,
            h5_url,
            server_from_env: false,
        })
    }

    fn load_stored(&self) -> StoredPreferences {
        std::fs::read(&self.path)
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .unwrap_or_default()
    }
}

fn default_origin() -> ServerOrigin {
    // The constant is a loopback http origin, which parse always accepts.
    ServerOrigin::parse(DEFAULT_SERVER).unwrap_or_else(|_| unreachable!("DEFAULT_SERVER is valid"))
}

/// The configured H5 page, or the server's demo page when none is configured or the configured one
/// fails the check a login ticket's destination must pass (it is reported, as a bad server is).
fn h5_page(configured: Option<String>, server: &ServerOrigin) -> PageUrl {
    let default = || PageUrl::on_server(server, "/h5/demo");
    match configured {
        None => default(),
        Some(text) => PageUrl::parse(&text).unwrap_or_else(|err| {
            tracing::warn!(%err, h5_url = %text, "ignoring the configured H5 page");
            default()
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn language_follows_the_locale() {
        assert_eq!(
            Language::from_locale("zh_CN.UTF-8"),
            Language::SimplifiedChinese
        );
        assert_eq!(Language::from_locale("zh_TW"), Language::SimplifiedChinese);
        assert_eq!(Language::from_locale("en_US.UTF-8"), Language::English);
        assert_eq!(Language::from_locale("C"), Language::English);
    }

    /// Saving the Settings (the language, say) keeps the H5 page `MEETEASY_H5_URL` set, as the
    /// next start would.
    #[test]
    fn a_save_keeps_the_h5_page_the_environment_sets() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let file = PreferencesFile {
            path: dir.path().join(FILE_NAME),
            env: EnvOverrides {
                server: None,
                h5_url: Some("https://h5.example.com/conference".into()),
            },
        };
        let saved = file.save("https://auth.example.com/", Language::English);
        let expected = PageUrl::parse("https://h5.example.com/conference").unwrap();
        assert_eq!(saved.expect("saved").h5_url, expected);
        assert_eq!(file.load().h5_url, expected);
    }

    #[test]
    fn saves_and_reloads_and_refuses_plain_http_to_remote_hosts() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let file = PreferencesFile::in_dir(dir.path());
        let saved = file.save("https://auth.example.com/", Language::SimplifiedChinese);
        assert!(saved.is_ok());
        let refused = file.save("http://auth.example.com", Language::English);
        assert!(matches!(
            refused,
            Err(PreferencesError::InvalidServer(OriginError::InsecureRemote))
        ));
        let stored = file.load_stored();
        assert_eq!(
            stored.server_url.as_deref(),
            Some("https://auth.example.com")
        );
        assert_eq!(stored.language, Some(Language::SimplifiedChinese));
    }

    #[test]
    fn an_h5_page_that_would_expose_the_ticket_gives_way_to_the_servers_own() {
        let server = ServerOrigin::parse("https://auth.example.com").unwrap();
        let page = |configured: Option<&str>| {
            h5_page(configured.map(str::to_owned), &server)
                .as_url()
                .to_string()
        };
        assert_eq!(
            page(Some("https://conf.example.com/h5")),
            "https://conf.example.com/h5"
        );
        assert_eq!(page(None), "https://auth.example.com/h5/demo");
        assert_eq!(
            page(Some("http://conf.example.com/h5")),
            "https://auth.example.com/h5/demo"
        );
        assert_eq!(
            page(Some("https://me:pw@conf.example.com/h5")),
            "https://auth.example.com/h5/demo"
        );
    }
}
