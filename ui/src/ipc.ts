// The only module that talks to the Rust side. Every command of src-tauri/src/commands.rs has one
// typed function here; the rest of the UI imports these and never calls `invoke` itself.

export type Language = "zh-CN" | "en";

export type KeychainProblem = "not_available" | "locked" | "timed_out" | "failed";

export type Storage = { kind: "keychain" } | { kind: "memory_only"; problem: KeychainProblem };

export interface SessionView {
  display_name: string;
  avatar: string | null;
  roles: string[];
  /** Unix seconds. */
  expires_at: number;
  server: string;
  storage: Storage;
}

export interface PreferencesView {
  server_url: string;
  server_from_env: boolean;
  language: Language;
  storage: Storage;
}

export type SessionEnded = "expired" | "revoked" | "invalid";

export type ClientKind = "console" | "h5" | "miniprogram";

/** One of the user's live sessions, on this device or another (the contract's `Session`; no token). */
export interface DeviceSession {
  id: string;
  client: ClientKind;
  device_name: string | null;
  ip: string;
  /** Unix seconds. */
  created_at: number;
  /** Unix seconds, to within a minute. */
  last_seen_at: number;
  methods: string[];
  /** This console's own session. */
  current: boolean;
}

/** One organizer of the team (no token; the avatar is a `data:` URL). */
export interface Member {
  user_id: string;
  display_name: string;
  avatar: string | null;
  roles: string[];
  /** "wechat", "password". */
  methods: string[];
  /** Unix seconds. */
  last_login_at: number | null;
  /** The user logged in to this console. */
  you: boolean;
}

export interface Team {
  members: Member[];
  you_are_admin: boolean;
}

export type InviteRole = "organizer" | "admin";

export interface Person {
  user_id: string;
  display_name: string;
  avatar: string | null;
}

export interface Invite {
  id: string;
  role: InviteRole;
  created_by: string;
  /** Unix seconds. */
  created_at: number;
  /** Unix seconds. */
  expires_at: number;
  accepted_by: Person | null;
  accepted_at: number | null;
  /** Whether whoever accepted holds the invite's role now (false: it did not follow, or was taken since). */
  role_held: boolean;
}

/** A new invite: its QR as a `data:` URL and, when the server draws plain QR codes, the link. */
export interface NewInvite {
  invite: Invite;
  qr: string;
  link: string | null;
}

/** A step of a scan (login or "Link WeChat"), as the scan loop reports it. */
export type ScanStep =
  | { kind: "qr"; image: string; refresh_at_ms: number }
  | { kind: "waiting" }
  | { kind: "scanned"; display_name: string; avatar: string | null }
  | { kind: "declined" }
  | { kind: "not_organizer" }
  | { kind: "expired" }
  | { kind: "identity_in_use" }
  | { kind: "offline"; retry_in_secs: number }
  | { kind: "failing"; retry_in_secs: number; problem: CommandError };

export type UiEvent =
  | { kind: "offline"; retry_in_secs: number }
  | { kind: "login_required"; ended: SessionEnded | null; storage: Storage }
  | { kind: "home"; session: SessionView }
  | { kind: "qr"; image: string; refresh_at_ms: number }
  | { kind: "waiting" }
  | { kind: "scanned"; display_name: string; avatar: string | null }
  | { kind: "declined" }
  | { kind: "not_organizer" }
  | { kind: "expired" }
  | { kind: "failing"; retry_in_secs: number; problem: CommandError }
  | { kind: "link"; step: ScanStep }
  | { kind: "linked" }
  | { kind: "link_stopped"; problem: CommandError }
  /** The scan login stopped for good, without asking the server (the console's HTTP client could
   * not be set up): waiting does not help, so it is not retried. */
  | { kind: "scan_stopped"; problem: CommandError };

/** Errors of every command: a stable code and a message for people. */
export interface CommandError {
  code: string;
  message: string;
}

export interface LogoutOutcome {
  revoked_on_server: boolean;
  /** False when the system keychain refused to delete the entry. */
  keychain_cleared: boolean;
}

interface TauriChannel<T> {
  onmessage: (message: T) => void;
}

interface TauriCore {
  invoke<T>(command: string, args?: Record<string, unknown>): Promise<T>;
  Channel: new <T>() => TauriChannel<T>;
}

declare global {
  interface Window {
    __TAURI__?: { core: TauriCore };
  }
}

function core(): TauriCore {
  const tauri = window.__TAURI__;
  if (!tauri) {
    throw new Error("Tauri IPC is not available");
  }
  return tauri.core;
}

function channel(onEvent: (event: UiEvent) => void): TauriChannel<UiEvent> {
  const events = new (core().Channel)<UiEvent>();
  events.onmessage = onEvent;
  return events;
}

export function isCommandError(value: unknown): value is CommandError {
  return typeof value === "object" && value !== null && "code" in value && "message" in value;
}

/** Restores the stored session; `onEvent` receives offline notices, then home or login. */
export function start(onEvent: (event: UiEvent) => void): Promise<void> {
  return core().invoke("start", { events: channel(onEvent) });
}

/** Runs the scan login; `onEvent` receives QR and status updates, then home (or `scan_stopped`).
 * Called again after `scan_stopped`, it tries once more. */
export function startScanLogin(onEvent: (event: UiEvent) => void): Promise<void> {
  return core().invoke("start_scan_login", { events: channel(onEvent) });
}

/** A new login QR instead of the one shown (someone else scanned it); the same events follow. */
export function newScanCode(onEvent: (event: UiEvent) => void): Promise<void> {
  return core().invoke("new_scan_code", { events: channel(onEvent) });
}

export function stopScanLogin(): Promise<void> {
  return core().invoke("stop_scan_login");
}

export function passwordLogin(login: string, password: string): Promise<SessionView> {
  return core().invoke("password_login", { login, password });
}

export function logout(): Promise<LogoutOutcome> {
  return core().invoke("logout");
}

export function openInBrowser(): Promise<void> {
  return core().invoke("open_in_browser");
}

/** The user's live sessions, newest first. Fails with `session_revoked` (and the like) when this
 * console's own session is over; the console has then forgotten it. */
export function listSessions(): Promise<DeviceSession[]> {
  return core().invoke("list_sessions");
}

/** Ends another session of the user's ("Log out" on a device). */
export function endSession(id: string): Promise<void> {
  return core().invoke("end_session", { id });
}

/** Ends every session of the user's but this console's; resolves with how many ended. */
export function endOtherSessions(): Promise<number> {
  return core().invoke("end_other_sessions");
}

/** The organizer team, this user marked. */
export function listTeam(): Promise<Team> {
  return core().invoke("list_team");
}

/** Takes someone off the team (admin); their console sessions end. */
export function removeMember(userId: string): Promise<void> {
  return core().invoke("remove_member", { userId });
}

/** Open invites and those accepted lately (admin). */
export function listInvites(): Promise<Invite[]> {
  return core().invoke("list_invites");
}

export function createInvite(role: InviteRole): Promise<NewInvite> {
  return core().invoke("create_invite", { role });
}

export function revokeInvite(id: string): Promise<void> {
  return core().invoke("revoke_invite", { id });
}

/** Saves the invite's QR as a PNG file; resolves with where. */
export function saveInviteQr(id: string): Promise<string> {
  return core().invoke("save_invite_qr", { id });
}

/** Adds a password login to this account, or changes it (`currentPassword` once one is set). */
export function setPassword(login: string, password: string, currentPassword: string | null): Promise<void> {
  return core().invoke("set_password", { login, password, currentPassword });
}

/** Runs "Link WeChat"; `onEvent` receives `link` steps, then `linked` or `link_stopped`. */
export function startLinkWechat(onEvent: (event: UiEvent) => void): Promise<void> {
  return core().invoke("start_link_wechat", { events: channel(onEvent) });
}

export function stopLinkWechat(): Promise<void> {
  return core().invoke("stop_link_wechat");
}

export function getPreferences(): Promise<PreferencesView> {
  return core().invoke("get_preferences");
}

export function savePreferences(serverUrl: string, language: Language): Promise<PreferencesView> {
  return core().invoke("save_preferences", { serverUrl, language });
}
