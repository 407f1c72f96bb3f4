//! The endpoint handlers: each extracts, calls the domain, and answers; nothing more.

pub mod logins;
pub mod ops;
pub mod scenes;
pub mod sessions;
pub mod team;
pub mod tokens;

use std::sync::Arc;

use crate::domain::AuthService;

pub type Service = axum::extract::State<Arc<AuthService>>;
