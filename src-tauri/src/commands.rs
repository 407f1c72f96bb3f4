//! The IPC commands: one line each over the [`Console`] in managed state. The UI's `ipc.ts` is
//! their only caller; `build.rs` lists them so the capability grants exactly these.

use std::sync::Arc;

use tauri::State;
use tauri::ipc::Channel;

use meeteasy_console_core::console::{
    Console, ConsoleError, EventSink, InviteView, LogoutOutcome, NewInviteView, PreferencesView,
    SessionView, TeamView, UiEvent,
};
use meeteasy_console_core::preferences::Language;
use meeteasy_protocol::{Secret, Session, TeamRole};

#[tauri::command]
pub fn start(console: State<'_, Arc<Console>>, events: Channel<UiEvent>) {
    console.start(sink(events));
}

#[tauri::command]
pub fn start_scan_login(console: State<'_, Arc<Console>>, events: Channel<UiEvent>) {
    console.start_scan_login(sink(events));
}

#[tauri::command]
pub fn new_scan_code(console: State<'_, Arc<Console>>, events: Channel<UiEvent>) {
    console.new_scan_code(sink(events));
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
pub async fn list_team(console: State<'_, Arc<Console>>) -> Result<TeamView, ConsoleError> {
    console.team().await
}

#[tauri::command]
pub async fn remove_member(
    console: State<'_, Arc<Console>>,
    user_id: String,
) -> Result<(), ConsoleError> {
    console.remove_member(&user_id).await
}

#[tauri::command]
pub async fn list_invites(
    console: State<'_, Arc<Console>>,
) -> Result<Vec<InviteView>, ConsoleError> {
    console.invites().await
}

#[tauri::command]
pub async fn create_invite(
    console: State<'_, Arc<Console>>,
    role: TeamRole,
) -> Result<NewInviteView, ConsoleError> {
    console.create_invite(role).await
}

#[tauri::command]
pub async fn revoke_invite(
    console: State<'_, Arc<Console>>,
    id: String,
) -> Result<(), ConsoleError> {
    console.revoke_invite(&id).await
}

#[tauri::command]
pub async fn save_invite_qr(
    console: State<'_, Arc<Console>>,
    id: String,
) -> Result<String, ConsoleError> {
    console.save_invite_qr(&id).await
}

#[tauri::command]
pub async fn set_password(
    console: State<'_, Arc<Console>>,
    login: String,
    password: String,
    current_password: Option<String>,
) -> Result<(), ConsoleError> {
    console
        .set_password(
            &login,
            Secret::new(password),
            current_password.map(Secret::new),
        )
        .await
}

#[tauri::command]
pub fn start_link_wechat(console: State<'_, Arc<Console>>, events: Channel<UiEvent>) {
    console.start_link_wechat(sink(events));
}

#[tauri::command]
pub fn stop_link_wechat(console: State<'_, Arc<Console>>) {
    console.stop_link_wechat();
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
