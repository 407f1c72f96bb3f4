// Everything the console remembers between screens, in one object that main.ts owns. Screens get
// what they draw as arguments and report back through callbacks; only the scan panel keeps anything
// (its own elements and countdowns), and main.ts holds it here while it is shown.

import type { PreferencesView, SessionView, Storage } from "./ipc.js";
import type { Notice } from "./notice.js";
import type { AccountScreen } from "./screens/account.js";
import type { ScanPanel } from "./screens/login.js";

export type Screen = "starting" | "offline" | "login" | "home" | "team" | "account" | "settings";
export type LoginTab = "scan" | "password";

export interface AppState {
  /** Loaded at start, replaced when the settings are saved. */
  preferences: PreferencesView | null;
  /** Where this run keeps a session, as the Rust side said last (the preferences, the login's
   * event, a session reached, the settings saved): kept here, apart from what told it, so the
   * warning that it is memory only stays on every screen that shows it until a report says the
   * keychain is used again. */
  storage: Storage | null;
  screen: Screen;
  /** Where leaving the settings goes back to; a restore, a login or a session's end that arrives
   * while they are open changes it to where it leads (see event_landing.ts). */
  screenBeforeSettings: Screen;
  /** The login tab last shown, shown again after a visit to the settings. */
  loginTab: LoginTab;
  /** The session of the home screen, kept while the settings are open over it. */
  session: SessionView | null;
  /** What the login screen says when it is next drawn (why the last session ended, a logout). */
  loginNotice: Notice | null;
  /** Set from the moment a logout or a leave starts ending the session shown until the next screen
   * is shown: a session reached meanwhile waits here for that action's outcome (see
   * holdWhileSessionEnds in main.ts). */
  sessionEnding: SessionEnding | null;
  /** The scan panel while the login screen shows it: the scan login's events update it in place. */
  scan: ScanPanel | null;
  /** The Account page while shown: "Link WeChat"'s events update it in place. */
  account: AccountScreen | null;
  /** Stops the countdowns of the screen shown; called before the next screen replaces it. */
  stopScreen: () => void;
  /** Asks the server again for what the shown screen got from it (the window regained focus). */
  refreshScreen: () => void;
}

/** A logout or a leave running, and what it keeps for its outcome. */
export interface SessionEnding {
  /** A session reached while the action ran (a password login sent before the session the action
   * ends was shown, answering only now): drawn if the action fails, dropped if it ends the
   * session. */
  reachedMeanwhile: SessionView | null;
}

export function initialState(): AppState {
  return {
    preferences: null,
    storage: null,
    screen: "starting",
    screenBeforeSettings: "starting",
    loginTab: "scan",
    session: null,
    loginNotice: null,
    sessionEnding: null,
    scan: null,
    account: null,
    stopScreen: () => {},
    refreshScreen: () => {},
  };
}
