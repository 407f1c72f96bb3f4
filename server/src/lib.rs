//! MeetEasy auth server: WeChat mini program login, one-time login tickets, desktop scan login and
//! EdDSA JWTs, over an embedded store or Redis.
//!
//! Layers, inside out: [`domain`] (tickets, scenes, tokens, users; no HTTP, Redis or WeChat client
//! types), [`store`] (the one store trait and its two backends), [`wechat`] (WeChat's API and a fake
//! of it), [`http`] (axum adapters), [`config`] (settings from flags, env and file).

pub mod cli;
pub mod commands;
pub mod config;
pub mod domain;
pub mod http;
pub mod metrics;
pub mod phone;
pub mod qr;
pub mod server;
pub mod store;
pub mod wechat;
