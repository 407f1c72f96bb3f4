//! Harnesses the end-to-end suite runs the real parts with: redis-server processes, in-process auth
//! servers on free ports, the `meeteasy-auth` binary, headless Chromium, the console window
//! under tauri-driver, a relay that can play an unreachable server, and a test CA for TLS.

pub mod api;
pub mod auth_process;
pub mod browser;
pub mod desktop;
pub mod redis_deployments;
pub mod redis_server;
pub mod relay;
pub mod server;
pub mod test_ca;
