//! Generates the Tauri context and the permissions of exactly the app's own commands.

/// Every `#[tauri::command]` of `src/commands.rs`; capabilities grant `allow-<name>` for each.
const COMMANDS: &[&str] = &[
    "start",
    "start_scan_login",
    "new_scan_code",
    "stop_scan_login",
    "password_login",
    "logout",
    "open_in_browser",
    "list_sessions",
    "end_session",
    "end_other_sessions",
    "list_team",
    "remove_member",
    "list_invites",
    "create_invite",
    "revoke_invite",
    "save_invite_qr",
    "set_password",
    "start_link_wechat",
    "stop_link_wechat",
    "get_preferences",
    "save_preferences",
];

fn main() {
    let manifest = tauri_build::AppManifest::new().commands(COMMANDS);
    tauri_build::try_build(tauri_build::Attributes::new().app_manifest(manifest))
        .expect("tauri-build failed: see the message above");
}
