//! MeetEasy's dev tools, kept out of the product by a crate boundary: the auth server's library
//! (`meeteasy-auth`) cannot reach them, and a production build of the `meeteasy-auth` binary
//! leaves them out (`--no-default-features`).
//!
//! - [`fake_wechat`]: a faithful fake of WeChat's server API, for tests and dev mode.
//! - [`phone`]: `meeteasy-auth phone scan`, a phone without a phone.
//! - [`dev_mode`]: what `serve --dev` adds to the server: the fake WeChat in process and the phone
//!   simulator on the scan page.

pub mod dev_mode;
pub mod fake_wechat;
pub mod phone;
