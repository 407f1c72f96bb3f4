//! MeetEasy organizer console: log in once by scanning a QR with WeChat, keep the session in the
//! OS keychain, open the H5 site already logged in.
//!
//! This crate is the thin Tauri shell: [`run`] builds the window around the
//! [`Console`] of `meeteasy-console-core`, where the behaviour lives and is tested without a
//! window, and [`commands`] are the IPC commands over it.

mod commands;

use std::sync::Arc;

use tauri::{Manager, WindowEvent};

use meeteasy_console_core::console::Console;
use meeteasy_console_core::device::device_name;
use meeteasy_console_core::keychain::SessionVault;
use meeteasy_console_core::preferences::PreferencesFile;

/// Starts the console and runs its window until the app quits; a failure to start ends the process.
pub fn run() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    // reqwest is built without a default crypto provider; a second install is harmless.
    let _already_installed = rustls::crypto::ring::default_provider().install_default();

    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("meeteasy-console: cannot start the async runtime: {err}");
            std::process::exit(1);
        }
    };
    tauri::async_runtime::set(runtime.handle().clone());
    let vault = runtime.block_on(SessionVault::open_platform());
    let runtime_handle = runtime.handle().clone();

    let built = tauri::Builder::default()
        .setup(move |app| {
            let config_dir = app.path().app_config_dir()?;
            let console = Console::new(
                PreferencesFile::in_dir(&config_dir),
                vault,
                device_name(),
                runtime_handle,
            );
            app.manage(Arc::new(console));
            Ok(())
        })
        .on_window_event(|window, event| {
            if let WindowEvent::CloseRequested { .. } | WindowEvent::Destroyed = event {
                // Waited for (two seconds at most): the app may end as soon as this returns.
                tauri::async_runtime::block_on(window.state::<Arc<Console>>().close());
            }
        })
        .invoke_handler(tauri::generate_handler![
            commands::start,
            commands::start_scan_login,
            commands::new_scan_code,
            commands::stop_scan_login,
            commands::password_login,
            commands::logout,
            commands::open_in_browser,
            commands::list_sessions,
            commands::end_session,
            commands::end_other_sessions,
            commands::list_team,
            commands::remove_member,
            commands::list_invites,
            commands::create_invite,
            commands::revoke_invite,
            commands::save_invite_qr,
            commands::set_password,
            commands::start_link_wechat,
            commands::stop_link_wechat,
            commands::get_preferences,
            commands::save_preferences,
        ])
        .run(tauri::generate_context!());
    if let Err(err) = built {
        eprintln!("meeteasy-console: {err}");
        std::process::exit(1);
    }
}
