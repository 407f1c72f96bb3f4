// Where what the console learns lands, given the screen shown. The restore and the scan login
// report "offline" while they wait for the server and end with a session or the login; a password
// login, a logout or the server saying the session ended end the same two ways. All of it arrives
// asynchronously, through IPC channels or answers, and may come after the console has moved on.

import type { SessionView } from "./ipc.js";
import type { Notice } from "./notice.js";
import type { AppState, Screen } from "./state.js";

/**
 * Where an "offline" notice lands:
 * - `replace_screen`: the offline screen replaces the one shown.
 * - `scan_panel`: the login screen's scan panel shows it (the scan login's own offline notice).
 * - `dropped`: shown nowhere.
 */
export type OfflineLanding = "replace_screen" | "scan_panel" | "dropped";

export function offlineLanding(shown: Screen): OfflineLanding {
  switch (shown) {
    case "starting":
    case "offline":
      return "replace_screen";
    case "login":
      return "scan_panel";
    // Closing the Settings shows a screen that asks the server afresh (the start, the login) or a
    // logged-in one, for which the notice is stale as below.
    case "settings":
    // Logged in: the jobs that report "offline" end once a session is in effect, so this notice
    // comes from before it (a scan loop's, delivered after a password login).
    case "home":
    case "team":
    case "account":
      return "dropped";
  }
}

/** A session the console reached, or the login it must show and why. */
export type Outcome = { to: "home"; session: SessionView } | { to: "login"; notice: Notice | null };

/**
 * With the Settings open, keeps `outcome` for the screen that closing them shows, so what the user
 * is typing stays, and says so; with any other screen shown, changes nothing: the caller shows it.
 */
export function keptUnderSettings(app: AppState, outcome: Outcome): boolean {
  if (app.screen !== "settings") return false;
  switch (outcome.to) {
    case "home":
      app.session = outcome.session;
      app.loginNotice = null;
      app.screenBeforeSettings = "home";
      return true;
    case "login":
      app.session = null;
      app.loginNotice = outcome.notice;
      app.loginTab = "scan";
      app.screenBeforeSettings = "login";
      return true;
  }
}
