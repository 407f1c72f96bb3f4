// The console's screens: starting / offline, login (scan or password), home and settings. Rust does
// the work and sends events; this module renders them and forwards the organizer's clicks.

import { h, initials, replaceChildren } from "./dom.js";
import { formatDateTime, roleName, setLanguage, t } from "./i18n.js";
import * as ipc from "./ipc.js";
import type { Language, PreferencesView, SessionEnded, SessionView, Storage, UiEvent } from "./ipc.js";

type Screen = "starting" | "offline" | "login" | "home" | "settings";
type LoginTab = "scan" | "password";

const main = document.getElementById("main") as HTMLElement;
const settingsButton = document.getElementById("open-settings") as HTMLButtonElement;
const brand = document.getElementById("brand") as HTMLElement;

let preferences: PreferencesView | null = null;
let screen: Screen = "starting";
let screenBeforeSettings: Screen = "starting";
let loginTab: LoginTab = "scan";
let session: SessionView | null = null;
/** A message shown on the login screen (why the last session ended, a logout, a decline...). */
let loginNotice: { text: string; tone: "info" | "warning" } | null = null;
let countdownTimer: number | undefined;
/** Ticks the "trying again in N s" line of the scan panel while the server is unreachable. */
let retryTimer: number | undefined;

// ---- events from Rust ----

function onEvent(event: UiEvent): void {
  switch (event.kind) {
    case "offline":
      if (screen === "login") {
        scanView.showOffline(event.retry_in_secs);
      } else if (screen !== "settings") {
        showOffline(event.retry_in_secs);
      }
      return;
    case "login_required":
      loginNotice = event.ended ? { text: endedText(event.ended), tone: "warning" } : null;
      showLogin("scan");
      return;
    case "home":
      showHome(event.session);
      return;
    case "qr":
      scanView.showQr(event.image, event.refresh_at_ms);
      return;
    case "waiting":
      scanView.setStatus("waiting", t.scanWaiting);
      return;
    case "scanned":
      scanView.showScanned(event.display_name, event.avatar);
      return;
    case "declined":
      scanView.setNotice(t.scanDeclined, "warning");
      return;
    case "not_organizer":
      scanView.setNotice(t.scanNotOrganizer, "error");
      return;
    case "expired":
      scanView.setNotice(t.scanExpired, "info");
      return;
  }
}

function endedText(ended: SessionEnded): string {
  switch (ended) {
    case "expired":
      return t.sessionExpired;
    case "revoked":
      return t.sessionRevoked;
    case "invalid":
      return t.sessionInvalid;
  }
}

function errorText(error: unknown): string {
  if (!ipc.isCommandError(error)) return t.unexpected(String(error));
  switch (error.code) {
    case "invalid_credentials":
      return t.invalidCredentials;
    case "too_many_attempts":
      return t.tooManyAttempts;
    case "not_organizer":
      return t.notOrganizerPassword;
    case "server_unreachable":
      return t.serverUnreachable;
    case "invalid_server_url":
      return t.invalidServerUrl(error.message);
    default:
      return t.unexpected(error.message);
  }
}

// ---- screens ----

function setScreen(next: Screen, ...content: Node[]): void {
  window.clearInterval(countdownTimer);
  window.clearInterval(retryTimer);
  screen = next;
  document.body.dataset.screen = next;
  settingsButton.hidden = next === "settings";
  replaceChildren(main, ...content);
  const focusTarget = main.querySelector<HTMLElement>("[data-autofocus]");
  focusTarget?.focus();
}

function storageBanner(storage: Storage): Node | null {
  if (storage.kind === "keychain") return null;
  return h("p", { class: "banner warning", id: "storage-notice", role: "status" }, t.memoryOnly(storage.problem));
}

function showStarting(): void {
  setScreen(
    "starting",
    h("section", { class: "center-card", id: "starting", "aria-busy": "true" }, h("div", { class: "spinner" }), h("p", {}, t.checkingSession)),
  );
}

function showOffline(retryInSecs: number): void {
  const server = preferences?.server_url ?? "";
  const detail = h("p", { id: "offline-detail" }, t.offlineBody(server, retryInSecs));
  setScreen(
    "offline",
    h(
      "section",
      { class: "center-card", id: "offline-notice", role: "alert" },
      h("div", { class: "offline-icon", "aria-hidden": "true" }, "⚠"),
      h("h1", {}, t.offlineTitle),
      detail,
    ),
  );
  countdown(retryInSecs, (left) => {
    detail.textContent = left > 0 ? t.offlineBody(server, left) : t.offlineRetrying(server);
  });
}

function countdown(seconds: number, tick: (left: number) => void): void {
  const endsAt = Date.now() + seconds * 1000;
  window.clearInterval(countdownTimer);
  countdownTimer = window.setInterval(() => {
    const left = Math.max(0, Math.ceil((endsAt - Date.now()) / 1000));
    tick(left);
    if (left === 0) window.clearInterval(countdownTimer);
  }, 1000);
}

// The scan panel keeps references to its parts so events update them in place.
const scanView = {
  qr: null as HTMLImageElement | null,
  qrFrame: null as HTMLElement | null,
  status: null as HTMLElement | null,
  notice: null as HTMLElement | null,
  refresh: null as HTMLElement | null,
  refreshAtMs: 0,

  build(): HTMLElement {
    this.qr = h("img", { id: "qr-image", alt: t.qrAlt, width: "232", height: "232", hidden: true });
    this.qrFrame = h("div", { class: "qr-frame", id: "qr-frame", "data-state": "loading" }, this.qr, h("div", { class: "qr-placeholder" }, h("div", { class: "spinner" })));
    this.status = h("p", { class: "scan-status", id: "scan-status", "data-state": "loading", role: "status", "aria-live": "polite" }, t.scanLoadingQr);
    this.notice = h("p", { class: "banner", id: "scan-notice", role: "alert", hidden: true });
    this.refresh = h("p", { class: "muted small", id: "qr-refresh" });
    if (loginNotice) this.setNotice(loginNotice.text, loginNotice.tone);
    return h(
      "div",
      { class: "scan-panel", id: "scan-panel", role: "tabpanel", "aria-labelledby": "tab-scan" },
      this.notice,
      h("div", { class: "scan-layout" }, this.qrFrame, h("div", { class: "scan-text" }, h("h2", {}, t.scanTitle), h("p", { class: "muted" }, t.scanHint), this.status, this.refresh)),
    );
  },

  showQr(image: string, refreshAtMs: number): void {
    if (!this.qr || !this.qrFrame) return;
    this.qr.src = image;
    this.qr.hidden = false;
    if (this.refresh) this.refresh.hidden = false;
    this.qrFrame.dataset.state = "ready";
    this.refreshAtMs = refreshAtMs;
    this.tickRefresh();
    window.clearInterval(countdownTimer);
    countdownTimer = window.setInterval(() => this.tickRefresh(), 1000);
  },

  tickRefresh(): void {
    if (!this.refresh) return;
    const left = Math.max(0, Math.ceil((this.refreshAtMs - Date.now()) / 1000));
    this.refresh.textContent = t.qrRefreshesIn(left);
  },

  setStatus(state: string, text: string, avatar: string | null = null, name = ""): void {
    if (!this.status) return;
    if (state !== "offline") window.clearInterval(retryTimer);
    this.status.dataset.state = state;
    const picture = state === "scanned" ? avatarElement(avatar, name, "small") : null;
    replaceChildren(this.status, picture, h("span", {}, text));
    const hasQr = this.qr !== null && !this.qr.hidden;
    this.qrFrame?.setAttribute("data-state", !hasQr ? "loading" : state === "offline" ? "offline" : "ready");
  },

  showScanned(name: string, avatar: string | null): void {
    this.setNotice(null);
    // A scanned code waits for the phone's confirm instead of being refreshed on time.
    window.clearInterval(countdownTimer);
    if (this.refresh) this.refresh.hidden = true;
    this.setStatus("scanned", t.scanScanned(name), avatar, name);
  },

  showOffline(retryInSecs: number): void {
    const server = preferences?.server_url ?? "";
    this.setStatus("offline", t.offlineBody(server, retryInSecs));
    const endsAt = Date.now() + retryInSecs * 1000;
    window.clearInterval(retryTimer);
    retryTimer = window.setInterval(() => {
      const left = Math.max(0, Math.ceil((endsAt - Date.now()) / 1000));
      const line = this.status?.querySelector("span");
      if (line) line.textContent = left > 0 ? t.offlineBody(server, left) : t.offlineRetrying(server);
      if (left === 0) window.clearInterval(retryTimer);
    }, 1000);
  },

  setNotice(text: string | null, tone: "info" | "warning" | "error" = "info"): void {
    if (!this.notice) return;
    this.notice.hidden = text === null;
    this.notice.className = `banner ${tone}`;
    this.notice.textContent = text ?? "";
  },
};

function avatarElement(avatar: string | null, name: string, size: "small" | "large"): HTMLElement {
  if (avatar) return h("img", { class: `avatar ${size}`, src: avatar, alt: "" });
  return h("span", { class: `avatar ${size} initials`, "aria-hidden": "true" }, initials(name));
}

function showLogin(tab: LoginTab): void {
  session = null;
  loginTab = tab;
  const tabs = h(
    "div",
    { class: "tabs", role: "tablist" },
    tabButton("scan", t.tabScan),
    tabButton("password", t.tabPassword),
  );
  const panel = tab === "scan" ? scanView.build() : passwordPanel();
  const storage = preferences ? storageBanner(preferences.storage) : null;
  setScreen("login", h("section", { class: "card login-card", id: "login-screen", "data-tab": tab }, storage, tabs, panel));
  if (tab === "scan") {
    void ipc.startScanLogin(onEvent);
  } else {
    void ipc.stopScanLogin();
  }
}

function tabButton(tab: LoginTab, label: string): HTMLButtonElement {
  const selected = loginTab === tab;
  const button = h(
    "button",
    {
      type: "button",
      role: "tab",
      id: `tab-${tab}`,
      class: "tab",
      "aria-selected": selected ? "true" : "false",
      tabindex: selected ? "0" : "-1",
      onclick: () => {
        if (loginTab !== tab) {
          loginNotice = null;
          showLogin(tab);
          document.getElementById(`tab-${tab}`)?.focus();
        }
      },
      onkeydown: (event: Event) => {
        const key = (event as KeyboardEvent).key;
        if (key === "ArrowRight" || key === "ArrowLeft") {
          loginNotice = null;
          const other: LoginTab = tab === "scan" ? "password" : "scan";
          showLogin(other);
          document.getElementById(`tab-${other}`)?.focus();
        }
      },
    },
    label,
  );
  return button;
}

function passwordPanel(): HTMLElement {
  const login = h("input", { id: "login-input", name: "login", type: "text", autocomplete: "username", required: true, "data-autofocus": true });
  const password = h("input", { id: "password-input", name: "password", type: "password", autocomplete: "current-password", required: true });
  const error = h("p", { class: "banner error", id: "password-error", role: "alert", hidden: true });
  const submit = h("button", { type: "submit", class: "primary", id: "password-submit" }, t.passwordSubmit);
  const form = h(
    "form",
    {
      class: "password-form",
      id: "password-form",
      onsubmit: async (event: Event) => {
        event.preventDefault();
        submit.disabled = true;
        submit.textContent = t.passwordBusy;
        error.hidden = true;
        try {
          showHome(await ipc.passwordLogin(login.value, password.value));
        } catch (failure) {
          error.textContent = errorText(failure);
          error.hidden = false;
          submit.disabled = false;
          submit.textContent = t.passwordSubmit;
          password.select();
        }
      },
    },
    loginNotice ? h("p", { class: `banner ${loginNotice.tone}` }, loginNotice.text) : null,
    error,
    h("label", { for: "login-input" }, t.loginLabel),
    login,
    h("label", { for: "password-input" }, t.passwordLabel),
    password,
    submit,
  );
  return h("div", { class: "password-panel", role: "tabpanel", "aria-labelledby": "tab-password" }, form);
}

function showHome(view: SessionView): void {
  session = view;
  loginNotice = null;
  const message = h("p", { class: "banner info", id: "home-message", role: "status", hidden: true });
  const openButton = h(
    "button",
    {
      type: "button",
      class: "primary",
      id: "open-browser",
      "data-autofocus": true,
      onclick: async () => {
        openButton.disabled = true;
        try {
          await ipc.openInBrowser();
          message.className = "banner info";
          message.textContent = t.openedInBrowser;
        } catch (failure) {
          message.className = "banner error";
          message.textContent = errorText(failure);
        }
        message.hidden = false;
        openButton.disabled = false;
      },
    },
    t.openInBrowser,
  );
  const logoutButton = h(
    "button",
    {
      type: "button",
      class: "secondary",
      id: "logout",
      onclick: async () => {
        logoutButton.disabled = true;
        try {
          const outcome = await ipc.logout();
          const text = outcome.revoked_on_server ? t.loggedOut : t.loggedOutLocally;
          loginNotice = outcome.keychain_cleared
            ? { text, tone: "info" }
            : { text: `${text} ${t.keychainNotCleared}`, tone: "warning" };
        } catch (failure) {
          loginNotice = { text: errorText(failure), tone: "warning" };
        }
        showLogin("scan");
      },
    },
    t.logout,
  );
  setScreen(
    "home",
    h(
      "section",
      { class: "card home-card", id: "home" },
      storageBanner(view.storage),
      message,
      h(
        "div",
        { class: "profile" },
        avatarElement(view.avatar, view.display_name, "large"),
        h(
          "div",
          {},
          h("p", { class: "muted small" }, t.homeGreeting),
          h("h1", { id: "user-name" }, view.display_name),
          h("ul", { class: "roles", id: "user-roles", "aria-label": t.roles }, ...view.roles.map((role) => h("li", { class: "chip" }, roleName(role)))),
        ),
      ),
      h(
        "dl",
        { class: "facts" },
        h("dt", {}, t.sessionEnds),
        h("dd", { id: "session-ends", "data-expires-at": String(view.expires_at) }, formatDateTime(view.expires_at)),
        h("dt", {}, t.server),
        h("dd", { id: "session-server" }, view.server),
      ),
      h("div", { class: "actions" }, openButton, logoutButton),
      h("p", { class: "muted small" }, t.openInBrowserHint),
    ),
  );
}

function showSettings(): void {
  if (!preferences) return;
  screenBeforeSettings = screen;
  const current = preferences;
  const serverInput = h("input", { id: "server-url", type: "url", value: current.server_url, required: true, "data-autofocus": true, "aria-describedby": "server-url-hint" });
  const languageSelect = h(
    "select",
    { id: "language" },
    h("option", { value: "zh-CN", ...(current.language === "zh-CN" ? { selected: true } : {}) }, "简体中文"),
    h("option", { value: "en", ...(current.language === "en" ? { selected: true } : {}) }, "English"),
  );
  const message = h("p", { class: "banner", id: "settings-message", role: "status", hidden: true });
  const form = h(
    "form",
    {
      class: "settings-form",
      id: "settings-form",
      onsubmit: async (event: Event) => {
        event.preventDefault();
        try {
          const serverBefore = preferences?.server_url;
          preferences = await ipc.savePreferences(serverInput.value, languageSelect.value as Language);
          setLanguage(preferences.language);
          applyChrome();
          if (preferences.server_url !== serverBefore) {
            restart();
          } else {
            leaveSettings();
          }
        } catch (failure) {
          message.className = "banner error";
          message.textContent = errorText(failure);
          message.hidden = false;
        }
      },
    },
    h("h1", {}, t.settingsTitle),
    message,
    h("label", { for: "server-url" }, t.serverUrl),
    serverInput,
    h("p", { class: "muted small", id: "server-url-hint" }, current.server_from_env ? t.serverFromEnv : t.serverUrlHint),
    h("label", { for: "language" }, t.language),
    languageSelect,
    storageBanner(current.storage),
    h(
      "div",
      { class: "actions" },
      h("button", { type: "submit", class: "primary", id: "save-settings" }, t.save),
      h("button", { type: "button", class: "secondary", id: "close-settings", onclick: () => leaveSettings() }, t.back),
    ),
  );
  setScreen("settings", h("section", { class: "card settings-card" }, form));
}

function leaveSettings(): void {
  switch (screenBeforeSettings) {
    case "home":
      if (session) {
        showHome(session);
        return;
      }
      restart();
      return;
    case "login":
      showLogin(loginTab);
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
  void ipc.start(onEvent);
}

document.addEventListener("keydown", (event) => {
  if (event.key === "Escape" && screen === "settings") leaveSettings();
});

async function init(): Promise<void> {
  settingsButton.addEventListener("click", () => showSettings());
  preferences = await ipc.getPreferences();
  setLanguage(preferences.language);
  applyChrome();
  restart();
}

void init().catch((failure: unknown) => {
  replaceChildren(main, h("p", { class: "banner error" }, errorText(failure)));
});
