//! The MeetEasy organizer console without its window: log in by scanning a QR with WeChat (or with
//! a password), keep the session in the OS keychain, open the H5 site already logged in; see and
//! grow the organizer team (members, invites by QR) and add ways into the account.
//!
//! [`console::Console`] orchestrates the rest ([`api`], [`scan`], [`keychain`], [`preferences`])
//! and reports to whatever [`console::EventSink`] its owner gives it. Nothing here knows about
//! Tauri, so all of it is tested without linking a webview; the `meeteasy-console` crate is the
//! thin Tauri shell around it.

pub mod api;
pub mod backoff;
pub mod browser;
pub mod console;
pub mod device;
pub mod failure;
pub mod keychain;
pub mod origin;
pub mod preferences;
pub mod scan;
