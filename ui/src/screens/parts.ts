// Pieces more than one screen shows: the banner about where the session is kept, a person's
// avatar, a command's error in words, and the bar that moves between Home, Team and Account.

import { h, initials, writeText } from "../dom.js";
import { codesWithDetail, isErrorCode } from "../error_words.js";
import { t } from "../i18n.js";
import * as ipc from "../ipc.js";
import type { SessionEnded, Storage } from "../ipc.js";

/** The warning that sessions are kept in memory for this run only; none while the keychain is
 * used (or before the console knows). */
export function storageBanner(storage: Storage | null): Node | null {
  if (storage === null || storage.kind === "keychain") return null;
  return h("p", { class: "banner warning", id: "storage-notice", role: "status" }, t.memoryOnly(storage.problem));
}

export function avatarElement(avatar: string | null, name: string, size: "small" | "medium" | "large"): HTMLElement {
  if (avatar) return h("img", { class: `avatar ${size}`, src: avatar, alt: "" });
  return h("span", { class: `avatar ${size} initials`, "aria-hidden": "true" }, initials(name));
}

/** How this console's session ended, when a command failed because the server says it is over
 * (the console has then forgotten it and the UI returns to the login screen). */
function sessionEndedBy(error: unknown): SessionEnded | null {
  if (!ipc.isCommandError(error)) return null;
  switch (error.code) {
    case "session_expired":
      return "expired";
    case "session_revoked":
      return "revoked";
    case "session_invalid":
      return "invalid";
    default:
      return null;
  }
}

/** Hands a failure that was this console's session ending to `sessionEnded` (the UI then leaves
 * the screen for the login screen); true when it was. */
export function handOverIfEnded(failure: unknown, sessionEnded: (ended: SessionEnded) => void): boolean {
  const ended = sessionEndedBy(failure);
  if (ended) sessionEnded(ended);
  return ended !== null;
}

/** Shows `text` in the banner `message` (hidden for `null`), announced only when it changed. */
export function sayIn(message: HTMLElement, text: string | null, tone: "info" | "error" = "info"): void {
  message.hidden = text === null;
  message.className = `banner ${tone}`;
  writeText(message, text ?? "");
}

/** What the UI says for a failed command: its own words for the code (with the server's detail
 * where only that names the field), or, for a code from a newer server than this build, the
 * server's. */
export function errorText(error: unknown): string {
  if (!ipc.isCommandError(error)) return t.unexpected(String(error));
  if (!isErrorCode(error.code)) return t.unexpected(error.message);
  const words = t.errors[error.code];
  return codesWithDetail.has(error.code) ? t.withDetail(words, error.message) : words;
}

export type Page = "home" | "team" | "account";

/** The bar at the top of the logged-in pages; `show` moves to another page. */
export function pagesBar(current: Page, show: (page: Page) => void): HTMLElement {
  const pages: [Page, string][] = [
    ["home", t.navHome],
    ["team", t.navTeam],
    ["account", t.navAccount],
  ];
  return h(
    "nav",
    { class: "pages", "aria-label": t.pagesLabel },
    ...pages.map(([page, label]) =>
      h(
        "button",
        {
          type: "button",
          class: "page-link",
          id: `nav-${page}`,
          "aria-current": page === current ? "page" : "false",
          onclick: () => {
            if (page !== current) show(page);
          },
        },
        label,
      ),
    ),
  );
}
