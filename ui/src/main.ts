// The console's entry point and router. Rust does the work and sends events; this module keeps the
// app's state, decides which screen an event or a click leads to, and passes the scan login's
// events on to the scan panel. The screens themselves are drawn by the modules of screens/.

import { channelGate } from "./channel_gate.js";
import { h, replaceChildren, writeText } from "./dom.js";
import { keptUnderSettings, offlineLanding } from "./event_landing.js";
import { setLanguage, t } from "./i18n.js";
import { makeInert } from "./inert.js";
import * as ipc from "./ipc.js";
import type { Language, SessionEnded, SessionView, UiEvent } from "./ipc.js";
import { accountScreen } from "./screens/account.js";
import { homeScreen } from "./screens/home.js";
import type { Notice } from "./notice.js";
import { applyScanStep, loginScreen } from "./screens/login.js";
import { errorText } from "./screens/parts.js";
import type { Page } from "./screens/parts.js";
import { teamScreen } from "./screens/team.js";
import { settingsScreen } from "./screens/settings.js";
import { offlineScreen, startingScreen } from "./screens/starting.js";
import { initialState } from "./state.js";
import type { LoginTab, Screen, SessionEnding } from "./state.js";

const main = document.getElementById("main") as HTMLElement;
const settingsButton = document.getElementById("open-settings") as HTMLButtonElement;
const brand = document.getElementById("brand") as HTMLElement;
/** A polite live region outside #main that says what a held screen is doing (see holdStill). */
const holdStatus = document.getElementById("hold-status") as HTMLElement;

const app = initialState();
/** The newest channel of each background job is the one whose events are shown. */
const channels = channelGate();

// ---- events from Rust ----

function onEvent(event: UiEvent): void {
  switch (event.kind) {
    case "offline": {
      const landing = offlineLanding(app.screen);
      if (landing === "replace_screen") showOffline(event.retry_in_secs);
      if (landing === "scan_panel") app.scan?.showOffline(serverUrl(), event.retry_in_secs);
      return;
    }
    case "login_required":
      // The restore may have found the keychain locked or silent since the preferences were read:
      // the login screen warns that the next session lasts for this run only.
      app.storage = event.storage;
      arriveAtLogin(event.ended ? { kind: "session_ended", ended: event.ended } : null);
      return;
    case "home":
      arriveHome(event.session);
      return;
    case "qr":
    case "waiting":
    case "scanned":
    case "declined":
    case "not_organizer":
    case "expired":
    case "failing":
      if (app.scan) applyScanStep(app.scan, event, serverUrl(), "login");
      return;
    case "link":
      app.account?.linkStep(event.step, serverUrl());
      return;
    case "linked":
      app.account?.linked();
      return;
    case "link_stopped":
      app.account?.linkStopped(event.problem);
      return;
    case "scan_stopped":
      app.scan?.showStopped(event.problem);
      return;
    default: {
      // Every kind ipc.ts names is landed above; one from a newer Rust side is ignored.
      const unlanded: never = event;
      return unlanded;
    }
  }
}

// ---- screens ----

/**
 * Replaces the shown screen; `stop` ends the new screen's countdowns when it is replaced in turn,
 * `refresh` reloads what it shows from the server when the window regains focus.
 */
function setScreen(next: Screen, content: Node, stop: () => void = () => {}, refresh: () => void = () => {}): void {
  app.stopScreen();
  app.stopScreen = stop;
  app.refreshScreen = refresh;
  app.scan = null;
  app.account = null;
  app.screen = next;
  document.body.dataset.screen = next;
  settingsButton.hidden = next === "settings";
  // Whatever held the Settings (see holdStill) held them for the screen this one replaces; a
  // logout or a leave that held it is over, and a session it kept back is dropped (see
  // holdWhileSessionEnds).
  settingsButton.disabled = false;
  app.sessionEnding = null;
  writeText(holdStatus, "");
  replaceChildren(main, content);
  const focusTarget = main.querySelector<HTMLElement>("[data-autofocus]");
  focusTarget?.focus();
}

/**
 * Holds `screen` still (see makeInert) while it runs an action that ends what it shows (a logout,
 * leaving the team, a password login), and the Settings entry with it, the one control outside
 * the screens (Escape only closes Settings already open): opened and closed meanwhile, the
 * Settings would draw that screen afresh, fully usable under a session still ending, or with the
 * login's failure said on the copy no longer shown. Inert takes the screen out of the
 * accessibility tree, what its busy button says ("Logging out…") included: `doing` is said in the
 * hold's live region instead. The returned function, for an action that failed, gives the screen
 * and the Settings back and takes those words away; the next screen shown does both anyway.
 */
function holdStill(screen: HTMLElement, doing: string): () => void {
  const releaseScreen = makeInert(screen);
  settingsButton.disabled = true;
  writeText(holdStatus, doing);
  return () => {
    releaseScreen();
    // A screen shown since has the Settings back already, and may be holding them itself, with
    // its own words said.
    if (!main.contains(screen)) return;
    settingsButton.disabled = false;
    writeText(holdStatus, "");
  };
}

/**
 * holdStill for an action that ends the session shown (a logout, leaving the team). A session
 * reached while it runs (a password login sent before a late scan login's session was shown,
 * answering only now) would draw a fresh, usable Home over it, on which the logout would then
 * land, or under which the user could act on a session being ended: it waits for the action's
 * outcome instead (see arriveHome). The next screen shown drops it: an action that ends the
 * session leads to the login, which matches the Rust side: its logout ends whichever session is
 * in effect when it runs, that login's included (which ended on the server the session it
 * replaced), and a password login sent before the logout and answered after it is ended, not put
 * in effect (it answers not_logged_in). An action that failed gives the screen back, and a
 * session reached meanwhile is drawn: it is the one in effect.
 */
function holdWhileSessionEnds(screen: HTMLElement, doing: string): () => void {
  const release = holdStill(screen, doing);
  const ending: SessionEnding = { reachedMeanwhile: null };
  app.sessionEnding = ending;
  return () => {
    release();
    // A screen shown since ended the hold, and dropped what it kept.
    if (app.sessionEnding !== ending) return;
    app.sessionEnding = null;
    if (ending.reachedMeanwhile) arriveHome(ending.reachedMeanwhile);
  };
}

function serverUrl(): string {
  return app.preferences?.server_url ?? "";
}

function showStarting(): void {
  setScreen("starting", startingScreen());
}

function showOffline(retryInSecs: number): void {
  const offline = offlineScreen(serverUrl(), retryInSecs);
  setScreen("offline", offline.element, offline.stop);
}

function showLogin(tab: LoginTab): void {
  app.session = null;
  app.loginTab = tab;
  const login = loginScreen(tab, app.loginNotice, app.storage, {
    showTab: (next) => {
      app.loginNotice = null;
      showLogin(next);
    },
    loggedIn: arriveHome,
    holdStill,
    newScanCode: () => void ipc.newScanCode(channels.open("scan_login", onEvent)),
    startScanLoginAgain: startScanLogin,
  });
  const scan = login.scan;
  setScreen("login", login.element, () => scan?.stop());
  app.scan = scan;
  if (scan) {
    startScanLogin();
  } else {
    void ipc.stopScanLogin();
  }
}

/** Starts the scan login, whose events the scan panel shown follows. */
function startScanLogin(): void {
  void ipc.startScanLogin(channels.open("scan_login", onEvent));
}

/** A session reached (restored, or a login finished): home, or under the Settings if open, or,
 * while a logout or a leave runs, once that action's outcome is known (see holdWhileSessionEnds). */
function arriveHome(view: SessionView): void {
  // Saving the session may have found the keychain failing: the warning stays after this session.
  app.storage = view.storage;
  if (app.sessionEnding) {
    app.sessionEnding.reachedMeanwhile = view;
    return;
  }
  if (!keptUnderSettings(app, { to: "home", session: view })) showHome(view);
}

/** No session (it ended, or the user logged out): the scan login saying why, or under the
 * Settings if open. */
function arriveAtLogin(notice: Notice | null): void {
  if (keptUnderSettings(app, { to: "login", notice })) return;
  app.loginNotice = notice;
  showLogin("scan");
}

function showHome(view: SessionView): void {
  app.session = view;
  app.loginNotice = null;
  const home = homeScreen(view, app.storage, {
    loggedOut: arriveAtLogin,
    sessionEnded,
    show: showPage,
    holdStill: holdWhileSessionEnds,
  });
  setScreen("home", home.element, () => {}, home.refresh);
}

/** This user left the team, which ended this console's session on the server: it is forgotten
 * here too (the keychain's copy included), and the login says why. */
async function leaveConsole(): Promise<void> {
  // Fails only when this console holds no session any more: nothing is left to forget then.
  const outcome = await ipc.logout().catch(() => null);
  arriveAtLogin({ kind: "left_team", keychainCleared: outcome?.keychain_cleared ?? true });
}

/** The server says this console's session is over: back to the login with why. */
function sessionEnded(ended: SessionEnded): void {
  arriveAtLogin({ kind: "session_ended", ended });
}

function showPage(page: Page): void {
  switch (page) {
    case "home":
      if (app.session) showHome(app.session);
      else restart();
      return;
    case "team": {
      const team = teamScreen({ show: showPage, sessionEnded, leftTeam: () => void leaveConsole(), holdStill: holdWhileSessionEnds });
      setScreen("team", team.element, team.stop, team.refresh);
      return;
    }
    case "account": {
      const account = accountScreen({
        show: showPage,
        sessionEnded,
        startLink: () => void ipc.startLinkWechat(channels.open("link_wechat", onEvent)),
        stopLink: () => void ipc.stopLinkWechat(),
      });
      setScreen("account", account.element, account.stop, account.refresh);
      app.account = account;
      return;
    }
  }
}

function showSettings(): void {
  if (!app.preferences) return;
  app.screenBeforeSettings = app.screen;
  setScreen("settings", settingsScreen(app.preferences, app.storage, { save: saveSettings, close: leaveSettings }));
}

async function saveSettings(serverUrl: string, language: Language): Promise<void> {
  const serverBefore = app.preferences?.server_url;
  const saved = await ipc.savePreferences(serverUrl, language);
  app.preferences = saved;
  app.storage = saved.storage;
  setLanguage(saved.language);
  applyChrome();
  if (saved.server_url !== serverBefore) {
    restart();
  } else {
    leaveSettings();
  }
}

function leaveSettings(): void {
  switch (app.screenBeforeSettings) {
    case "home":
    case "team":
    case "account":
      if (app.session) {
        showPage(app.screenBeforeSettings);
        return;
      }
      restart();
      return;
    case "login":
      showLogin(app.loginTab);
      return;
    case "starting":
    case "offline":
    case "settings":
      restart();
      return;
  }
}

function applyChrome(): void {
  document.title = t.appName;
  brand.textContent = t.appName;
  settingsButton.textContent = t.settings;
  settingsButton.setAttribute("aria-label", t.settings);
}

function restart(): void {
  showStarting();
  void ipc.start(channels.open("restore", onEvent));
}

// Sessions can end on other devices while the console is in the background: look again when the
// window comes back (the webview's own focus and visibility events; the shell needs no listener).
window.addEventListener("focus", () => app.refreshScreen());
document.addEventListener("visibilitychange", () => {
  if (document.visibilityState === "visible") app.refreshScreen();
});

document.addEventListener("keydown", (event) => {
  if (event.key === "Escape" && app.screen === "settings") leaveSettings();
});

async function init(): Promise<void> {
  settingsButton.addEventListener("click", () => showSettings());
  app.preferences = await ipc.getPreferences();
  app.storage = app.preferences.storage;
  setLanguage(app.preferences.language);
  applyChrome();
  restart();
}

void init().catch((failure: unknown) => {
  replaceChildren(main, h("p", { class: "banner error" }, errorText(failure)));
});
