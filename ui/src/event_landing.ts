// Where an event of the session restore or the scan login lands, given the screen shown. Both jobs
// report "offline" while they wait for the server and end with "home" or "login_required"; their
// events come through IPC channels and may arrive after the console has moved on.

import type { Screen } from "./state.js";

/**
 * - `replace_screen`: the event's screen replaces the one shown.
 * - `scan_panel`: the login screen's scan panel shows it (the scan login's own offline notice).
 * - `under_settings`: the Settings stay open, with what the user is typing; the event's outcome is
 *   kept for the screen that closing them shows.
 * - `dropped`: shown nowhere.
 */
export type Landing = "replace_screen" | "scan_panel" | "under_settings" | "dropped";

export type JobEvent = "offline" | "home" | "login_required";

export function eventLanding(shown: Screen, event: JobEvent): Landing {
  if (event !== "offline") return shown === "settings" ? "under_settings" : "replace_screen";
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
