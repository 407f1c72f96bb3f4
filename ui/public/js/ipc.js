// The only module that talks to the Rust side. Every command of src-tauri/src/commands.rs has one
// typed function here; the rest of the UI imports these and never calls `invoke` itself.
function core() {
    const tauri = window.__TAURI__;
    if (!tauri) {
        throw new Error("Tauri IPC is not available");
    }
    return tauri.core;
}
function channel(onEvent) {
    const events = new (core().Channel)();
    events.onmessage = onEvent;
    return events;
}
export function isCommandError(value) {
    return typeof value === "object" && value !== null && "code" in value && "message" in value;
}
/** Restores the stored session; `onEvent` receives offline notices, then home or login. */
export function start(onEvent) {
    return core().invoke("start", { events: channel(onEvent) });
}
/** Runs the scan login; `onEvent` receives QR and status updates, then home (or `scan_stopped`).
 * Called again after `scan_stopped`, it tries once more. */
export function startScanLogin(onEvent) {
    return core().invoke("start_scan_login", { events: channel(onEvent) });
}
/** A new login QR instead of the one shown (someone else scanned it); the same events follow. */
export function newScanCode(onEvent) {
    return core().invoke("new_scan_code", { events: channel(onEvent) });
}
export function stopScanLogin() {
    return core().invoke("stop_scan_login");
}
export function passwordLogin(login, password) {
    return core().invoke("password_login", { login, password });
}
export function logout() {
    return core().invoke("logout");
}
export function openInBrowser() {
    return core().invoke("open_in_browser");
}
/** The user's live sessions, newest first. Fails with `session_revoked` (and the like) when this
 * console's own session is over; the console has then forgotten it. */
export function listSessions() {
    return core().invoke("list_sessions");
}
/** Ends another session of the user's ("Log out" on a device). */
export function endSession(id) {
    return core().invoke("end_session", { id });
}
/** Ends every session of the user's but this console's; resolves with how many ended. */
export function endOtherSessions() {
    return core().invoke("end_other_sessions");
}
/** The organizer team, this user marked. */
export function listTeam() {
    return core().invoke("list_team");
}
/** Takes someone off the team (admin); their console sessions end. */
export function removeMember(userId) {
    return core().invoke("remove_member", { userId });
}
/** Open invites and those accepted lately (admin). */
export function listInvites() {
    return core().invoke("list_invites");
}
export function createInvite(role) {
    return core().invoke("create_invite", { role });
}
export function revokeInvite(id) {
    return core().invoke("revoke_invite", { id });
}
/** Saves the invite's QR as a PNG file; resolves with where. */
export function saveInviteQr(id) {
    return core().invoke("save_invite_qr", { id });
}
/** Adds a password login to this account, or changes it (`currentPassword` once one is set). */
export function setPassword(login, password, currentPassword) {
    return core().invoke("set_password", { login, password, currentPassword });
}
/** Runs "Link WeChat"; `onEvent` receives `link` steps, then `linked` or `link_stopped`. */
export function startLinkWechat(onEvent) {
    return core().invoke("start_link_wechat", { events: channel(onEvent) });
}
export function stopLinkWechat() {
    return core().invoke("stop_link_wechat");
}
export function getPreferences() {
    return core().invoke("get_preferences");
}
export function savePreferences(serverUrl, language) {
    return core().invoke("save_preferences", { serverUrl, language });
}
