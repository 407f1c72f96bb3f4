// The home screen of a logged-in organizer: who they are, until when, on which server; open the
// site in the browser already logged in, or log out; and the Devices section (screens/devices.ts).
// Its bar leads to the Team and Account pages.

import { h } from "../dom.js";
import { formatDateTime, roleName, t } from "../i18n.js";
import * as ipc from "../ipc.js";
import type { SessionEnded, SessionView, Storage } from "../ipc.js";
import type { Notice } from "../notice.js";
import { devicesSection } from "./devices.js";
import { avatarElement, errorText, handOverIfEnded, pagesBar, sayIn, storageBanner } from "./parts.js";
import type { Page } from "./parts.js";

export interface HomeActions {
  /** The session is over; `notice` tells the login screen how the logout went. */
  loggedOut(notice: Notice): void;
  /** The server says this console's session is over (ended from another device, expired); not
   * called while the logout runs, whose outcome decides (see homeScreen). */
  sessionEnded(ended: SessionEnded): void;
  /** Go to another page (Team, Account). */
  show(page: Page): void;
  /** Holds this screen, and the Settings entry around it, still while the logout runs, saying
   * `doing`; a session reached meanwhile (a password login answering late) is not drawn over it:
   * the logout's outcome decides. */
  holdStill(screen: HTMLElement, doing: string): () => void;
}

/** The home screen, warning when `storage` keeps the session for this run only; `refresh` asks
 * the server again for what it shows that can change elsewhere. */
export function homeScreen(view: SessionView, storage: Storage | null, actions: HomeActions): { element: HTMLElement; refresh: () => void } {
  let loggingOut = false;
  /** How this console's session ended, as an action answering during the logout found it. */
  let endedWhileLoggingOut: SessionEnded | null = null;
  // A session found ended during the logout (by "Open in browser", or the Devices section, on its
  // way when Log out was pressed) is most likely ended by the logout itself: the logout's outcome
  // says where the console goes, and the login is drawn once. It is handed over only if the logout
  // fails.
  const sessionEnded = (ended: SessionEnded): void => {
    if (loggingOut) endedWhileLoggingOut ??= ended;
    else actions.sessionEnded(ended);
  };
  const devices = devicesSection({ sessionEnded });
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
          sayIn(message, t.openedInBrowser);
        } catch (failure) {
          if (handOverIfEnded(failure, sessionEnded)) return;
          sayIn(message, errorText(failure), "error");
        }
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
        // Nothing else on the screen may run while the logout does (a second logout, "Open in
        // browser", a device's "Log out", a reload of the devices), nor after: whatever it
        // answers, the login screen follows. Nor may the Settings draw this screen afresh.
        loggingOut = true;
        actions.holdStill(element, t.loggingOut);
        logoutButton.textContent = t.loggingOut;
        let notice: Notice;
        try {
          const outcome = await ipc.logout();
          notice = { kind: "logged_out", revokedOnServer: outcome.revoked_on_server, keychainCleared: outcome.keychain_cleared };
        } catch (failure) {
          // It fails only when no session was held: one an action found ended first says how.
          if (endedWhileLoggingOut) {
            actions.sessionEnded(endedWhileLoggingOut);
            return;
          }
          notice = { kind: "logout_failed", failure };
        }
        actions.loggedOut(notice);
      },
    },
    t.logout,
  );
  const element = h(
    "section",
    { class: "card home-card", id: "home" },
    pagesBar("home", actions.show),
    storageBanner(storage),
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
    devices.element,
  );
  devices.refresh();
  return {
    element,
    refresh: () => {
      if (!loggingOut) devices.refresh();
    },
  };
}
