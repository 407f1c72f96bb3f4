// The home screen's Devices section: every live session of the user (this console, other consoles,
// browsers, the mini program) with where and when, "Log out" on each other one, and "Log out
// everywhere else" behind a confirmation that says how many sessions end. Rust holds the token and
// asks the server; this module only gets the list. A command that finds this console's own session
// over hands that to `sessionEnded`, which returns to the login screen with a notice (Home holds it
// back while its logout runs).

import { coalesced } from "../coalesce.js";
import { h, replaceChildren } from "../dom.js";
import { formatDateTime, t } from "../i18n.js";
import * as ipc from "../ipc.js";
import type { DeviceSession, SessionEnded } from "../ipc.js";
import { runRowAction } from "../row_action.js";
import { errorText, handOverIfEnded, sayIn } from "./parts.js";

export interface DevicesActions {
  /** This console's own session is over (ended from another device, expired). */
  sessionEnded(ended: SessionEnded): void;
}

export interface DevicesSection {
  element: HTMLElement;
  /** Asks the server for the list again (shown, and whenever the window regains focus). */
  refresh(): void;
}

export function devicesSection(actions: DevicesActions): DevicesSection {
  const list = h("ul", { class: "device-list", id: "device-list", "aria-labelledby": "devices-title", "aria-busy": "true" }, h("li", { class: "muted" }, t.devicesLoading));
  const message = h("p", { class: "banner", id: "devices-message", role: "status", hidden: true });
  const question = h("p", { id: "end-others-question" });
  const confirmButton = h("button", { type: "button", class: "danger", id: "confirm-end-others" });
  const cancelButton = h("button", { type: "button", class: "secondary", id: "cancel-end-others", autofocus: true }, t.cancel);
  const dialog = h("dialog", { class: "confirm", id: "end-others-dialog", "aria-labelledby": "end-others-question" }, question, h("div", { class: "actions" }, confirmButton, cancelButton));
  const endOthersButton = h("button", { type: "button", class: "secondary", id: "end-other-sessions", hidden: true }, t.endOthers);

  let sessions: DeviceSession[] = [];

  const say = (text: string | null, tone: "info" | "error" = "info"): void => sayIn(message, text, tone);

  const handOverEnded = (failure: unknown): boolean =>
    handOverIfEnded(failure, (ended) => actions.sessionEnded(ended));

  // A load that finds this console's session ended hands over to the login screen: none after it.
  const refresh = coalesced(async () => {
    try {
      render(await ipc.listSessions());
      return true;
    } catch (failure) {
      const ended = handOverEnded(failure);
      if (!ended) say(errorText(failure), "error");
      return !ended;
    } finally {
      list.setAttribute("aria-busy", "false");
    }
  });

  function render(next: DeviceSession[]): void {
    // This device first, the others as the server sorts them (newest first).
    sessions = [...next.filter((session) => session.current), ...next.filter((session) => !session.current)];
    const others = sessions.filter((session) => !session.current).length;
    endOthersButton.hidden = others === 0;
    replaceChildren(list, ...sessions.map(row));
  }

  function row(session: DeviceSession): HTMLElement {
    const name = session.device_name ?? t.unnamedDevice;
    const kind = t.clientKind(session.client);
    const details = h(
      "p",
      { class: "device-details muted small" },
      h("span", {}, `${t.deviceIp} ${session.ip}`),
      h("span", {}, `${t.deviceStarted} ${formatDateTime(session.created_at)}`),
      h("span", { class: "device-last-seen" }, `${t.deviceLastSeen} ${formatDateTime(session.last_seen_at)}`),
    );
    const title = h(
      "p",
      { class: "device-title" },
      h("span", { class: "device-name" }, name),
      h("span", { class: "chip kind" }, kind),
      session.current ? h("span", { class: "chip this-device" }, t.thisDevice) : null,
    );
    const endButton = session.current
      ? null
      : h("button", { type: "button", class: "secondary end-session", "aria-label": t.endSessionLabel(`${name} (${kind})`) }, t.endSession);
    endButton?.addEventListener("click", () => void endOne(session, name, endButton));
    return h(
      "li",
      { class: "device", "data-session-id": session.id, "data-client": session.client, "data-current": session.current ? "true" : "false" },
      h("div", { class: "device-text" }, title, details),
      endButton,
    );
  }

  async function endOne(session: DeviceSession, name: string, button: HTMLButtonElement): Promise<void> {
    const ended = await runRowAction(button, () => ipc.endSession(session.id));
    if (ended.ok) {
      say(t.endedSession(name));
    } else {
      if (handOverEnded(ended.failure)) return;
      say(errorText(ended.failure), "error");
    }
    await refresh();
    // The row is gone: keep the keyboard in the section rather than on the page's start.
    (list.querySelector<HTMLButtonElement>("button.end-session") ?? endOthersButton).focus();
  }

  function askToEndOthers(): void {
    const count = sessions.filter((session) => !session.current).length;
    if (count === 0) return;
    question.textContent = t.endOthersConfirm(count);
    confirmButton.textContent = t.endOthersYes(count);
    dialog.showModal();
    cancelButton.focus();
  }

  async function endOthers(): Promise<void> {
    dialog.close();
    endOthersButton.disabled = true;
    try {
      say(t.endedOthers(await ipc.endOtherSessions()));
    } catch (failure) {
      if (handOverEnded(failure)) return;
      say(errorText(failure), "error");
    }
    endOthersButton.disabled = false;
    await refresh();
  }

  endOthersButton.addEventListener("click", askToEndOthers);
  confirmButton.addEventListener("click", () => void endOthers());
  cancelButton.addEventListener("click", () => dialog.close());
  // Escape closes a modal dialog by itself; either way the keyboard goes back where it was.
  dialog.addEventListener("close", () => {
    if (!endOthersButton.hidden) endOthersButton.focus();
  });

  const element = h(
    "section",
    { class: "devices", id: "devices", "aria-labelledby": "devices-title" },
    h("div", { class: "devices-head" }, h("div", {}, h("h2", { id: "devices-title" }, t.devicesTitle), h("p", { class: "muted small" }, t.devicesHint)), endOthersButton),
    message,
    list,
    dialog,
  );
  return { element, refresh: () => void refresh() };
}
