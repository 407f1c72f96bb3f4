//! MeetEasy auth server: WeChat mini program login, one-time login tickets, desktop scan login and
//! EdDSA JWTs, over an embedded store or Redis. This crate is the product, as a library; the
//! `meeteasy-auth` command line is in `cli/` and the dev tools are in `devtools/`.
//!
//! Layers, inside out: [`domain`] (tickets, scenes, tokens, users; no HTTP, Redis or WeChat client
//! types), [`store`] (the one store trait and its two backends), [`wechat`] (WeChat's API),
//! [`http`] (axum adapters), [`config`] (settings from flags, env and file), [`server`] (putting
//! them together). [`key_sealing`] seals secrets at rest with the operator's key-encryption key.

pub mod config;
pub mod domain;
pub mod http;
pub mod key_sealing;
pub mod metrics;
pub mod qr;
pub mod server;
pub mod store;
pub mod wechat;
