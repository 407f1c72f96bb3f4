//! The IPC commands: one line each over the [`Console`] in managed state. The UI's `ipc.ts` is
//! their only caller; `build.rs` lists them so the capability grants exactly these.

use std::sync::Arc;

use tauri::State;
use tauri::ipc::Channel;

use meeteasy_console_core::console::{
    Console, ConsoleError, EventSink, LogoutOutcome, PreferencesView, SessionView, UiEvent,
};
use meeteasy_console_core::preferences::Language;
use meeteasy_protocol::{Secret, Session};

#[tauri::command]
pub fn start(console: State<'_, Arc<Console>>, events: Channel<UiEvent>) {
    console.start(sink(events));
}

#[tauri::command]
pub fn start_scan_login(console: State<'_, Arc<Console>>, events: Channel<UiEvent>) {
    console.start_scan_login(sink(events));
}

#[tauri::command]
pub fn stop_scan_login(console: State<'_, Arc<Console>>) {
    console.stop_background();
}

#[tauri::command]
pub async fn password_login(
    console: State<'_, Arc<Console>>,
    login: String,
    password: String,
) -> Result<SessionView, ConsoleError> {
    console.password_login(&login, Secret::new(password)).await
}

#[tauri::command]
pub async fn logout(console: State<'_, Arc<Console>>) -> Result<LogoutOutcome, ConsoleError> {
    console.logout().await
}

#[tauri::command]
pub async fn open_in_browser(console: State<'_, Arc<Console>>) -> Result<(), ConsoleError> {
    console.open_in_browser().await
}

#[tauri::command]
pub async fn list_sessions(console: State<'_, Arc<Console>>) -> Result<Vec<Session>, ConsoleError> {
    console.sessions().await
}

#[tauri::command]
pub async fn end_session(console: State<'_, Arc<Console>>, id: String) -> Result<(), ConsoleError> {
    console.end_session(&id).await
}

#[tauri::command]
pub async fn end_other_sessions(console: State<'_, Arc<Console>>) -> Result<u64, ConsoleError> {
    console.end_other_sessions().await
}

#[tauri::command]
pub fn get_preferences(console: State<'_, Arc<Console>>) -> PreferencesView {
    console.preferences()
}

#[tauri::command]
pub fn save_preferences(
    console: State<'_, Arc<Console>>,
    server_url: String,
    language: Language,
) -> Result<PreferencesView, ConsoleError> {
    console.save_preferences(&server_url, language)
}

/// Background jobs report through the channel the UI opened; a closed webview just drops events.
fn sink(channel: Channel<UiEvent>) -> EventSink {
    Arc::new(move |event| {
        if let Err(err) = channel.send(event) {
            tracing::debug!(%err, "UI channel closed");
        }
    })
}
